/**
 * Trust stores (src/tls/trust.ts): each route by which a CA can be trusted is tested with a per-run
 * test CA that only that route provides, through the real CLI in a child process (the environment
 * is read at start-up, as an administrator would set it): NODE_EXTRA_CA_CERTS (check, resolve and
 * the resolver daemon), SSL_CERT_FILE and SSL_CERT_DIR with `--trust system`, and the negative:
 * the CA absent, the certificate untrusted, and the store named in the finding.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError as ResolverConfigError, parseResolverConfig } from '../src/resolver/config.js';
import { encodeNetstring, NetstringDecoder } from '../src/resolver/netstring.js';
import { parseConfig as parseServeConfig } from '../src/serve/config.js';
import { createTestCA } from '../src/testworld/ca.js';
import { createWorld, type World } from '../src/testworld/index.js';
import { DEFAULT_SYSTEM_FILE, trustStore } from '../src/tls/trust.js';

const ENTRY = fileURLToPath(new URL('./trust-cli-entry.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const D = `${process.pid}.trust.test`;

/** The parent's environment without any trust variable, plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) delete env[k];
  return { ...env, ...extra };
}

interface ChildRun { code: number | null; out: string; err: string }

function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timeout: ${args.join(' ')}\n${err}`)); }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

let world: World;
let dir: string;
let emptyDir: string;
let hashDir: string;
let otherCaFile: string;
let opensslOk = true;

before(async () => {
  world = await createWorld();
  await world.addDomain({ domain: `good.${D}` });
  dir = mkdtempSync(path.join(tmpdir(), 'mtasts-trust-'));
  emptyDir = path.join(dir, 'empty');
  mkdirSync(emptyDir);
  // A CA directory in OpenSSL's hashed layout: <subject hash>.0 → the CA file.
  hashDir = path.join(dir, 'hashed');
  mkdirSync(hashDir);
  try {
    const hash = execFileSync('openssl', ['x509', '-hash', '-noout', '-in', world.caFile], { encoding: 'utf8' }).trim();
    assert.match(hash, /^[0-9a-f]{8}$/);
    symlinkSync(world.caFile, path.join(hashDir, `${hash}.0`));
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    opensslOk = false;
  }
  writeFileSync(path.join(hashDir, 'README'), 'not a certificate, and not a hashed name: ignored\n');
  otherCaFile = path.join(dir, 'other-ca.pem');
  writeFileSync(otherCaFile, (await createTestCA({ commonName: 'Some Other CA' })).certPem);
});
after(async () => {
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const checkArgs = (...extra: string[]): string[] => [
  'check', '--json', '--dns', world.dnsServer, '--https-port', String(world.httpsPort), '--smtp-port', String(world.smtpPort), '--timeout', '10', ...extra, `good.${D}`,
];
type Report = { verdict: string; findings: { code: string; message: string }[]; trust: { mode: string; store: string } };
const parse = (r: ChildRun): Report => {
  assert.ok(r.out.trim() !== '', `no output; stderr: ${r.err}`);
  return JSON.parse(r.out.trim().split('\n')[0]!) as Report;
};
const codes = (j: Report): string[] => j.findings.map((f) => f.code);

describe('trust store routes (CLI in a child process)', { concurrency: true }, () => {
  test('NODE_EXTRA_CA_CERTS alone: check passes (policy fetch and STARTTLS probe), and --json names the store', async () => {
    const r = await runChild(checkArgs(), envWith({ NODE_EXTRA_CA_CERTS: world.caFile }));
    const j = parse(r);
    assert.equal(j.verdict, 'pass', JSON.stringify(j.findings));
    assert.equal(r.code, 0);
    assert.deepEqual(j.trust, { mode: 'bundled', store: `bundled roots + NODE_EXTRA_CA_CERTS (${world.caFile})` });
  });

  test('no route provides the CA: untrusted, and the findings name the store', async () => {
    const r = await runChild(checkArgs(), envWith({}));
    const j = parse(r);
    assert.equal(r.code, 1);
    assert.ok(codes(j).includes('policy-cert-untrusted') && codes(j).includes('smtp-cert-untrusted'), codes(j).join());
    for (const f of j.findings.filter((x) => x.code.endsWith('-cert-untrusted'))) assert.match(f.message, /is not trusted by bundled roots: /);
    assert.deepEqual(j.trust, { mode: 'bundled', store: 'bundled roots' });
  });

  test('--trust system with SSL_CERT_FILE alone: passes; the CA is not in the bundled roots', async () => {
    const r = await runChild(checkArgs('--no-smtp', '--trust', 'system'), envWith({ SSL_CERT_FILE: world.caFile, SSL_CERT_DIR: emptyDir }));
    const j = parse(r);
    assert.equal(j.verdict, 'pass', JSON.stringify(j.findings));
    assert.equal(j.trust.mode, 'system');
    assert.match(j.trust.store, new RegExp(`^system store \\(SSL_CERT_FILE ${world.caFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, SSL_CERT_DIR `));
  });

  test('--trust system with SSL_CERT_DIR (hashed links) alone: passes', async (t) => {
    if (!opensslOk) return t.skip('openssl not found (needed to compute the subject hash)');
    const r = await runChild(checkArgs('--no-smtp', '--trust', 'system'), envWith({ SSL_CERT_DIR: hashDir, SSL_CERT_FILE: path.join(dir, 'absent.pem') }));
    const j = parse(r);
    assert.equal(j.verdict, 'pass', JSON.stringify(j.findings));
    assert.match(j.trust.store, /SSL_CERT_DIR .*hashed/);
  });

  test('--trust system without the CA (another CA in SSL_CERT_FILE): untrusted, the system store named', async () => {
    const r = await runChild(checkArgs('--no-smtp', '--trust', 'system'), envWith({ SSL_CERT_FILE: otherCaFile, SSL_CERT_DIR: emptyDir }));
    const j = parse(r);
    const f = j.findings.find((x) => x.code === 'policy-cert-untrusted');
    assert.ok(f, codes(j).join());
    assert.match(f.message, new RegExp(`not trusted by system store \\(SSL_CERT_FILE ${otherCaFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('--trust bundled ignores SSL_CERT_FILE; an unknown mode is a usage error', async () => {
    const [bundled, bad] = await Promise.all([
      runChild(checkArgs('--no-smtp', '--trust', 'bundled'), envWith({ SSL_CERT_FILE: world.caFile })),
      runChild(checkArgs('--trust', 'everything'), envWith({})),
    ]);
    assert.ok(codes(parse(bundled)).includes('policy-cert-untrusted'));
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, /--trust needs bundled, system or both/);
  });

  test('resolve: NODE_EXTRA_CA_CERTS fetches the policy; without it the output names the store', async () => {
    const args = ['resolve', '--dns', world.dnsServer, '--https-port', String(world.httpsPort), '--smtp-port', String(world.smtpPort), `good.${D}`];
    const [withCa, without] = await Promise.all([
      runChild(args, envWith({ NODE_EXTRA_CA_CERTS: world.caFile })),
      runChild(args, envWith({})),
    ]);
    assert.match(withCa.out, /policy id \S+, mode enforce \(fetched\)/, withCa.out + withCa.err);
    assert.match(withCa.out, /: deliver/);
    assert.match(without.out, /no MTA-STS policy applies \(fetch-failed\)/, without.out);
    assert.match(without.out, /policy-cert-untrusted: the policy host certificate for mta-sts\.good\.\S+ is not trusted by bundled roots: /);
  });
});

describe('resolver daemon with NODE_EXTRA_CA_CERTS', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  /** Starts `mtasts resolver` in a child process; resolves with its port once it listens. */
  const startDaemon = (env: NodeJS.ProcessEnv, name: string): Promise<number> => {
    const config = path.join(dir, `${name}.yml`);
    writeFileSync(config, `host: 127.0.0.1\nport: 0\ncache:\n  type: internal\ndefault_zone:\n  timeout: 5\ndns_servers: ["${world.dnsServer}"]\nhttps_port: ${world.httpsPort}\nlog_level: warn\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'resolver', '--config', config], { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`resolver did not start: ${err}`)), 60_000);
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      child.on('close', (code) => { clearTimeout(timer); reject(new Error(`resolver exited ${code}: ${err}`)); });
    });
  };
  const ask = (port: number, request: string): Promise<string> => new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const decoder = new NetstringDecoder(100_000);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('socketmap timeout')); }, 20_000);
    sock.on('connect', () => sock.write(encodeNetstring(request)));
    sock.on('data', (c: Buffer) => {
      const [reply] = decoder.push(c);
      if (reply) { clearTimeout(timer); sock.end(); resolve(reply.toString('utf8')); }
    });
    sock.on('error', reject);
  });

  test('answers a secure policy with the CA from NODE_EXTRA_CA_CERTS, NOTFOUND without it', async () => {
    const [withCa, without] = await Promise.all([
      startDaemon(envWith({ NODE_EXTRA_CA_CERTS: world.caFile }), 'with-ca'),
      startDaemon(envWith({}), 'without-ca'),
    ]);
    assert.equal(await ask(withCa, `postfix good.${D}`), `OK secure match=mx1.good.${D} servername=hostname`);
    assert.equal(await ask(without, `postfix good.${D}`), 'NOTFOUND ');
  });
});

describe('trustStore()', () => {
  test('sources are read, described, deduplicated and cached', async () => {
    const env = { NODE_EXTRA_CA_CERTS: world.caFile, SSL_CERT_FILE: world.caFile, SSL_CERT_DIR: emptyDir };
    const both = trustStore({ mode: 'both', env });
    assert.ok(both.certificates.includes(world.caPem.trim()));
    assert.equal(both.certificates.filter((c) => c === world.caPem.trim()).length, 1, 'the CA from two sources is kept once');
    assert.match(both.description, /^bundled roots \+ system store \(SSL_CERT_FILE .*\) \+ NODE_EXTRA_CA_CERTS \(/);
    assert.equal(trustStore({ mode: 'both', env }), both, 'built once');
    const bundled = trustStore({ env: {} });
    assert.ok(!bundled.certificates.includes(world.caPem.trim()));
    assert.equal(bundled.description, 'bundled roots');
  });

  test('a missing or oversized file is named, not fatal; non-hashed names in a directory are skipped', async () => {
    const big = path.join(dir, 'big.pem');
    writeFileSync(big, Buffer.alloc(17 * 1024 * 1024, 0x41));
    const s = trustStore({ mode: 'system', env: { SSL_CERT_FILE: big, SSL_CERT_DIR: `${path.join(dir, 'nowhere')}:${emptyDir}` } });
    assert.equal(s.certificates.length, 0);
    assert.match(s.description, /larger than/);
    assert.match(s.description, /ENOENT/);
    const extra = trustStore({ env: { NODE_EXTRA_CA_CERTS: path.join(dir, 'absent.pem') } });
    assert.match(extra.description, /NODE_EXTRA_CA_CERTS \(.*absent\.pem: ENOENT\)/);
    if (opensslOk) {
      const h = trustStore({ mode: 'system', env: { SSL_CERT_FILE: path.join(dir, 'absent.pem'), SSL_CERT_DIR: hashDir } });
      assert.equal(h.certificates.length, 1); // the <hash>.0 link; README is ignored
    }
  });

  test('the Debian system store, when present, is read by default', (t) => {
    const s = trustStore({ mode: 'system', env: {} });
    const file = s.sources.find((x) => x.kind === 'system-file');
    if (file?.error === 'ENOENT') return t.skip(`${DEFAULT_SYSTEM_FILE} absent (package ca-certificates)`);
    assert.ok(s.certificates.length > 50, `${s.certificates.length} certificates`);
    assert.match(s.description, /^system store \(\/etc\/ssl\/certs\/ca-certificates\.crt/);
  });
});

describe('trust in configuration files', () => {
  test('resolver: trust defaults to bundled, accepts system and both, refuses anything else', () => {
    assert.equal(parseResolverConfig('cache: { type: internal }').trust, 'bundled');
    assert.equal(parseResolverConfig('trust: system').trust, 'system');
    assert.equal(parseResolverConfig('trust: both').trust, 'both');
    assert.throws(() => parseResolverConfig('trust: everything'), (e: unknown) => e instanceof ResolverConfigError && /trust must be bundled, system or both/.test(e.message));
  });

  test('serve: certificates.acme.trust is parsed and checked', () => {
    const text = (trust: string): string => [
      'listen: { https: "127.0.0.1:0", http: "127.0.0.1:0" }',
      `certificates: { acme: { directory: "https://ca.example/dir", accept_terms: true, dir: ./acme, trust: ${trust} } }`,
      'domains:',
      '  a.example: { mode: enforce, mx: [mail.a.example], max_age: 1209600 }',
    ].join('\n');
    const cfg = parseServeConfig(text('both'), { file: 'serve.yaml' });
    assert.equal(cfg.certificates.kind === 'acme' ? cfg.certificates.trust : undefined, 'both');
    assert.throws(() => parseServeConfig(text('nope'), { file: 'serve.yaml' }), (e: unknown) => /expected bundled, system or both/.test(JSON.stringify(e) + String(e)));
  });
});
