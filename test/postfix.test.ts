/**
 * End-to-end: a real Postfix (Debian package `postfix`) delivers through `mtasts resolver`.
 *
 * The test starts, all under one temp dir and all on loopback:
 * - the test world (DNS, policy HTTPS, SMTP MX hosts) with `acceptMail`, so that its `ok` SMTP
 *   server (127.0.0.1:world.smtpPort) accepts DATA and records each delivered message;
 *   `good.<run>.pf.test` (enforce, MX certificate valid) and `bad.<run>.pf.test` (enforce, MX
 *   certificate for `other.bad…` only: wrong name);
 * - a second DNS server on 127.83.0.53:53 sharing the world's zone. Postfix's smtp(8) looks up MX
 *   and A records with the libc resolver, which reads `/etc/resolv.conf` and always uses port 53,
 *   so the world DNS on its ephemeral port cannot be used directly, and `smtp_host_lookup = native`
 *   with a hosts file gives no MX records at all. An unusual loopback address keeps port 53 free
 *   on 127.0.0.1 for anything else on the machine (binding port 53 needs root or
 *   CAP_NET_BIND_SERVICE);
 * - `mtasts resolver` in-process on an ephemeral port (SQLite store in the temp dir);
 * - Postfix with its own config directory (`postfix -c DIR start`), queue and data directories,
 *   and `maillog_file` (postlogd) in the temp dir. Its smtp(8) runs chrooted (master.cf `y`) in
 *   the queue directory, where `etc/resolv.conf` says `nameserver 127.83.0.53`: the chroot is
 *   how Postfix itself isolates smtp(8), and it changes nothing else on the machine (no bind
 *   mount over /etc/resolv.conf, no namespaces). TLS files (`smtp_tls_CAfile` = world CA) are
 *   opened before the chroot, and the socketmap is TCP, so nothing else is needed inside.
 * - Port 25: the MX hosts listen on the world's ephemeral SMTP port, so `transport_maps` routes
 *   each test domain to `smtp:DOMAIN:PORT` — without brackets, so Postfix still looks up the MX
 *   records. The `smtp_tls_policy_maps` lookup key is then the next-hop `DOMAIN:PORT` (Postfix
 *   TLS_README: the table is indexed by the verbatim next-hop including a non-default port);
 *   `mtasts resolver` looks `DOMAIN:PORT` up as `DOMAIN` (see domainFromKey), so this is the same
 *   MTA-STS path a real `domain` next-hop on port 25 takes.
 * - `inet_interfaces = 127.83.0.1` (not loopback-only): Postfix refuses an MX that resolves to one
 *   of its own interface addresses ("mail for … loops back to myself"), and the world MX hosts are
 *   on 127.0.0.1. Mail is injected with `sendmail -C DIR`; no smtpd listener is needed.
 *
 * Asserts: the mail to good is delivered over TLS with SNI mx1.good… (the world SMTP server got
 * its DATA); the mail to bad stays in the queue, deferred, with a certificate-verification reason
 * (`postqueue -c DIR -j`), and never reached DATA.
 *
 * Requirements: Debian package `postfix`, and root (Postfix's master runs as root; port 53).
 * Skips with a message otherwise, except with CI=true, where a missing prerequisite fails.
 * Postfix is stopped and everything is removed in `after`, also on failure.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseResolverConfig } from '../src/resolver/config.js';
import { startSocketmapServer, type SocketmapServer } from '../src/resolver/server.js';
import { createWorld, startDnsServer, startSmtpServer, type DnsServer, type SmtpServer, type World } from '../src/testworld/index.js';
import { linuxMissing, rootMissing, skipUnless } from './prereq.js';

const POSTFIX = '/usr/sbin/postfix';
const DNS_ADDRESS = '127.83.0.53';
const MX_ADDRESS = '127.83.0.25';
const RUN = `r${process.pid}`;
const GOOD = `good.${RUN}.pf.test`;
const BAD = `bad.${RUN}.pf.test`;

// One line each; under CI=true skipUnless also adds a failing test (the end-to-end test itself is
// skipped either way).
const skip = skipUnless(
  linuxMissing(),
  existsSync(POSTFIX) ? undefined : 'Postfix is not installed (sudo apt-get install postfix)',
  rootMissing('Postfix\'s master runs as root, and the test DNS listens on port 53'),
);
const enabled = skip === false;

function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err: ExecFileException | null, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

interface QueueEntry {
  queue_name: string;
  queue_id: string;
  recipients: { address: string; delay_reason?: string }[];
}

let world: World | undefined;
let dns53: DnsServer | undefined;
let mx: SmtpServer | undefined;
let resolver: SocketmapServer | undefined;
let dir: string | undefined;
let configDir = '';
let postfixStarted = false;

async function queue(): Promise<QueueEntry[]> {
  const { stdout } = await run('/usr/sbin/postqueue', ['-c', configDir, '-j']);
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as QueueEntry);
}

async function maillog(): Promise<string> {
  return dir ? readFile(path.join(dir, 'maillog'), 'utf8').catch(() => '(no maillog)') : '';
}

before(async () => {
  if (!enabled) return;
  world = await createWorld();
  await world.addDomain({ domain: GOOD });
  await world.addDomain({ domain: BAD });
  // The MX hosts: one accepting server on MX_ADDRESS (see the header), valid certificate for
  // mx1.good…, a valid-but-wrong-name one (other.bad…) for mx1.bad….
  const toPair = (c: { chainPem: string; keyPem: string }) => ({ certPem: c.chainPem, keyPem: c.keyPem });
  mx = await startSmtpServer({
    variant: 'ok', address: MX_ADDRESS, port: 0, acceptMail: true,
    defaultCert: toPair(await world.ca.issue({ names: ['default.invalid'] })),
    certificates: new Map([
      [`mx1.${GOOD}`, toPair(await world.ca.issue({ names: [`mx1.${GOOD}`] }))],
      [`mx1.${BAD}`, toPair(await world.ca.issue({ names: [`other.${BAD}`] }))],
    ]),
  });
  for (const d of [GOOD, BAD]) world.dns.zone.set(`mx1.${d}`, [{ type: 'A', address: MX_ADDRESS }]);
  dns53 = await startDnsServer({ zone: world.dns.zone, address: DNS_ADDRESS, port: 53 });

  dir = await mkdtemp(path.join(tmpdir(), 'mtasts-postfix-'));
  await chmod(dir, 0o755); // the postfix user must reach the queue directory
  resolver = await startSocketmapServer(parseResolverConfig(`host: 127.0.0.1
port: 0
shutdown_timeout: 2
cache:
  type: sqlite
  options:
    filename: ${path.join(dir, 'policies.sqlite')}
default_zone:
  timeout: 5
dns_servers: ["${world.dnsServer}"]
ca_file: ${world.caFile}
https_port: ${world.httpsPort}
`), { logger: pino({ level: 'silent' }) });

  configDir = path.join(dir, 'etc');
  const queueDir = path.join(dir, 'queue');
  const dataDir = path.join(dir, 'data');
  await mkdir(configDir);
  await mkdir(path.join(queueDir, 'etc'), { recursive: true });
  await mkdir(dataDir);
  const postfixUid = Number((await run('id', ['-u', 'postfix'])).stdout.trim());
  const postfixGid = Number((await run('id', ['-g', 'postfix'])).stdout.trim());
  await chown(dataDir, postfixUid, postfixGid); // master.lock, tlsmgr's PRNG and session caches
  // The chroot of smtp(8): its resolver configuration, plus what Debian copies in for libc.
  await writeFile(path.join(queueDir, 'etc', 'resolv.conf'), `nameserver ${DNS_ADDRESS}\noptions timeout:2 attempts:2\n`);
  for (const f of ['services', 'hosts', 'nsswitch.conf', 'localtime']) {
    await copyFile(path.join('/etc', f), path.join(queueDir, 'etc', f)).catch(() => {});
  }
  const port = mx.port;
  await writeFile(path.join(configDir, 'main.cf'), `# written by test/postfix.test.ts
compatibility_level = 3.6
config_directory = ${configDir}
queue_directory = ${queueDir}
data_directory = ${dataDir}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-mtasts-test
maillog_file = ${path.join(dir, 'maillog')}
maillog_file_prefixes = ${dir}
myhostname = sender.pf.test
mydomain = pf.test
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
transport_maps = inline:{ ${GOOD}=smtp:${GOOD}:${port}, ${BAD}=smtp:${BAD}:${port} }
smtp_tls_security_level = may
smtp_tls_CAfile = ${world.caFile}
smtp_tls_loglevel = 1
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:${resolver.port}:postfix
smtp_connect_timeout = 10s
smtp_helo_timeout = 10s
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
`);
  await writeFile(path.join(configDir, 'master.cf'), `# written by test/postfix.test.ts; smtp and relay run chrooted in ${queueDir}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`);
  postfixStarted = true; // stop it in after() even if start fails half-way
  try {
    await run(POSTFIX, ['-c', configDir, 'start'], { timeoutMs: 60_000 });
  } catch (err) {
    // postfix(1) writes its fatal message to stderr only when that is a terminal: re-run the
    // check under script(1) to show it.
    const why = await run('script', ['-qc', `${POSTFIX} -c ${configDir} check`, '/dev/null']).then((r) => r.stdout, (e: Error) => e.message);
    throw new Error(`${(err as Error).message}\n${why}\nmaillog:\n${await maillog()}`);
  }
});

after(async () => {
  if (postfixStarted) {
    await run(POSTFIX, ['-c', configDir, 'stop'], { timeoutMs: 30_000 }).catch((err: Error) => {
      console.error(err.message);
    });
    // `postfix stop` only signals master; wait (up to 10 s) for it to exit so nothing outlives
    // the temp dir. The pid file stays behind, so poll the process.
    const pid = Number(await readFile(path.join(dir!, 'queue', 'pid', 'master.pid'), 'utf8').catch(() => ''));
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; pid > 0 && i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    if (pid > 0 && alive()) process.kill(pid, 'SIGKILL');
  }
  await resolver?.close().catch(() => {});
  await dns53?.close().catch(() => {});
  await mx?.close().catch(() => {});
  await world?.close().catch(() => {});
  // MTASTS_KEEP_POSTFIX_DIR=1 keeps the config, queue and maillog for debugging.
  if (dir && process.env.MTASTS_KEEP_POSTFIX_DIR !== '1') await rm(dir, { recursive: true, force: true });
  else if (dir) console.error(`kept ${dir}`);
});

test('Postfix delivers to an enforce domain with a correct MX certificate and defers a wrong one', { skip, timeout: 60_000 }, async () => {
  const server = mx!;
  const send = (to: string): Promise<unknown> => run('/usr/sbin/sendmail', ['-C', configDir, '-f', `sender@sender.pf.test`, '-t'], {
    input: `From: sender@sender.pf.test\nTo: ${to}\nSubject: mtasts e2e ${to}\nMessage-ID: <${to.replace('@', '.')}@sender.pf.test>\n\nHello ${to}\n`,
  });
  await send(`user@${GOOD}`);
  await send(`user@${BAD}`);

  const deadline = Date.now() + 45_000;
  let entries: QueueEntry[] = [];
  let delivered = false;
  let badDeferred: QueueEntry | undefined;
  while (Date.now() < deadline) {
    delivered = server.messages.some((m) => m.to.includes(`user@${GOOD}`));
    entries = await queue();
    badDeferred = entries.find((e) => e.queue_name === 'deferred' && e.recipients.some((r) => r.address === `user@${BAD}` && r.delay_reason));
    if (delivered && badDeferred && !entries.some((e) => e.recipients.some((r) => r.address === `user@${GOOD}`))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const diag = async (): Promise<string> => `queue: ${JSON.stringify(entries, null, 1)}\nmaillog:\n${await maillog()}`;

  // Delivered over TLS to the MX named by the policy, with that name as SNI.
  const msg = server.messages.find((m) => m.to.includes(`user@${GOOD}`));
  assert.ok(msg, `the mail to ${GOOD} was not delivered\n${await diag()}`);
  assert.equal(msg.secure, true, 'delivered without TLS');
  assert.equal(msg.servername, `mx1.${GOOD}`);
  assert.match(msg.data, new RegExp(`Subject: mtasts e2e user@${GOOD.replace(/\./g, '\\.')}`));
  assert.ok(!entries.some((e) => e.recipients.some((r) => r.address === `user@${GOOD}`)), `the mail to ${GOOD} is still queued\n${await diag()}`);

  // Deferred (not bounced), for a certificate reason, and nothing reached the MX's DATA.
  assert.ok(badDeferred, `the mail to ${BAD} is not deferred\n${await diag()}`);
  const reason = badDeferred.recipients.find((r) => r.address === `user@${BAD}`)!.delay_reason!;
  assert.match(reason, /certificate|TLS|verif/i, reason);
  assert.ok(!server.messages.some((m) => m.to.includes(`user@${BAD}`)), `the mail to ${BAD} was delivered despite the enforce policy`);

  // Both went through `mtasts resolver` (two policies fetched), and Postfix applied the policy:
  // "Verified" is logged only at the secure/verify levels (our default level here is `may`).
  assert.equal(resolver!.resolver.stats.fetches, 2);
  const log = await maillog();
  assert.match(log, new RegExp(`Verified TLS connection established to mx1\\.${GOOD.replace(/\./g, '\\.')}`), log);
});
