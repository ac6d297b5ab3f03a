/**
 * IMAP polling against a real Dovecot (Debian package `dovecot-imapd`), started by the test as a
 * foreground child (`dovecot -F -c DIR/dovecot.conf`) with everything under one temp dir: its own
 * base_dir and state_dir, a passwd-file passdb, a static userdb, Maildir storage, and one IMAP
 * listener on a free loopback port with STARTTLS (a certificate from a CA minted for the run).
 * As root the usual `dovecot`/`dovenull` users run its services; as any other user every service
 * runs as that user (no chroot). Messages are delivered with IMAP APPEND through imapflow.
 *
 * Asserts: reports are imported and flagged \Seen only after commit; messages without a report,
 * and every message when the store fails, stay unseen; already-seen messages are skipped; a
 * `processedMailbox` receives processed messages; wrong CA and wrong password are clear errors.
 *
 * Skips with a one-line reason when Dovecot is not installed, except under CI=true (fails).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import { DnsClient } from '../src/dns/resolver.js';
import { ImapPollError, pollImap, type ImapSourceConfig } from '../src/reports/mail/index.js';
import { createTestCA, freePort, startDnsServer, Zone, type DnsServer } from '../src/testworld/index.js';
import { MAIL_SAMPLES, mimeMessage, openStore, reportJson, tempDir, unique } from './reports-intake-helpers.js';

const DOVECOT = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((p) => existsSync(p));
const missing = process.platform !== 'linux' ? 'needs Linux' : DOVECOT === undefined ? 'Dovecot is not installed (Debian package `dovecot-imapd`)' : undefined;
if (missing && process.env.CI === 'true') {
  test('Dovecot prerequisites (CI=true)', () => assert.fail(`CI=true but ${missing}`));
}
const skip = missing ? `${missing}; skipped${process.env.CI === 'true' ? '' : ' (with CI=true this fails instead)'}` : undefined;

const USER = 'tlsrpt';
const PASS = `pw-${process.pid}`;
const SERVERNAME = 'imap.test';

interface Dovecot {
  port: number;
  caPem: string;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

async function startDovecot(dir: string): Promise<Dovecot> {
  const root = process.getuid?.() === 0;
  const me = userInfo();
  const group = root ? 'dovecot' : (await promisify(execFile)('id', ['-gn'])).stdout.trim();
  const mailUser = root ? 'dovecot' : me.username;
  for (const d of ['run', 'state', 'home']) mkdirSync(path.join(dir, d), { recursive: true });
  const ca = await createTestCA({ commonName: `mtasts imap test CA ${process.pid}` });
  const leaf = await ca.issue({ names: [SERVERNAME] });
  writeFileSync(path.join(dir, 'cert.pem'), leaf.chainPem);
  writeFileSync(path.join(dir, 'key.pem'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(path.join(dir, 'passwd'), `${USER}:{PLAIN}${PASS}\n`);
  const port = await freePort();
  const conf = [
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    'log_path = /dev/stderr',
    'protocols = imap',
    'listen = 127.0.0.1',
    'ssl = required',
    `ssl_cert = <${dir}/cert.pem`,
    `ssl_key = <${dir}/key.pem`,
    'ssl_min_protocol = TLSv1.2',
    'auth_mechanisms = plain login',
    'auth_failure_delay = 0',
    'first_valid_uid = 1',
    'first_valid_gid = 1',
    `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/passwd\n}`,
    `userdb {\n  driver = static\n  args = uid=${mailUser} gid=${group} home=${dir}/home/%u\n}`,
    'mail_location = maildir:~/Maildir',
    `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n${root ? '' : '  chroot =\n'}}`,
    'service pop3-login {\n  inet_listener pop3 {\n    port = 0\n  }\n}',
    'service submission-login {\n  inet_listener submission {\n    port = 0\n  }\n}',
    ...(root ? [] : [
      `default_internal_user = ${me.username}`,
      `default_internal_group = ${group}`,
      `default_login_user = ${me.username}`,
      'service anvil {\n  chroot =\n}',
      'service stats {\n  unix_listener stats-reader {\n    user =\n    group =\n  }\n  unix_listener stats-writer {\n    user =\n    group =\n  }\n}',
    ]),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'dovecot.conf'), conf);
  if (root) {
    // The mail user (dovecot) must reach its home inside our temp dir.
    chmodSync(dir, 0o755);
    chownSync(path.join(dir, 'home'), Number((await promisify(execFile)('id', ['-u', 'dovecot'])).stdout), Number((await promisify(execFile)('id', ['-g', 'dovecot'])).stdout));
  }
  const child = spawn(DOVECOT!, ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a Dovecot behind, even when the test process ends early.
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr?.on('data', (c: Buffer) => { output += c.toString(); });
  // Ready when the listener greets.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dovecot exited (${child.exitCode}):\n${output}`);
    const greeting = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.setTimeout(1000, () => s.destroy());
      s.on('data', (d) => { got += d.toString(); if (got.includes('\n')) s.destroy(); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(''));
    });
    if (greeting.startsWith('* OK')) break;
    if (Date.now() > deadline) throw new Error(`dovecot did not come up on port ${port}:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, caPem: ca.certPem, child, log: () => output,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(t); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

describe('IMAP polling on a real Dovecot', { skip }, () => {
  const tmp = tempDir('mtasts-imap-');
  let dovecot: Dovecot;
  let dnsServer: DnsServer;
  let dns: DnsClient;
  let cfg: ImapSourceConfig;

  before(async () => {
    dovecot = await startDovecot(tmp.dir);
    dnsServer = await startDnsServer({ zone: new Zone() });
    dns = new DnsClient({ servers: [dnsServer.hostPort], timeoutMs: 2000 });
    cfg = { host: '127.0.0.1', port: dovecot.port, servername: SERVERNAME, ca: [dovecot.caPem], user: USER, pass: PASS, timeoutMs: 10_000 };
  });
  after(async () => {
    await dovecot?.stop();
    await dnsServer?.close();
    tmp.cleanup();
  });

  /** A second IMAP session for delivering (APPEND) and inspecting flags, as a mail client would. */
  async function withClient<T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> {
    const c = new ImapFlow({
      host: '127.0.0.1', port: dovecot.port, secure: false, doSTARTTLS: true, servername: SERVERNAME,
      tls: { ca: [dovecot.caPem] }, auth: { user: USER, pass: PASS }, logger: false, connectionTimeout: 10_000, socketTimeout: 10_000,
    });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.logout();
    }
  }

  async function flagsBySubject(mailbox: string): Promise<Map<string, string[]>> {
    return withClient(async (c) => {
      const out = new Map<string, string[]>();
      const lock = await c.getMailboxLock(mailbox);
      try {
        for await (const m of c.fetch('1:*', { envelope: true, flags: true })) out.set(m.envelope?.subject ?? '', [...(m.flags ?? [])].sort());
      } catch (err) {
        if (!/Invalid messageset|No messages/i.test((err as Error).message)) throw err;
      } finally {
        lock.release();
      }
      return out;
    });
  }

  test('imports unseen reports, flags them \\Seen after commit, leaves the rest; a second poll finds nothing new', async () => {
    const mailbox = `Box${process.pid}`;
    const sample = readFileSync(path.join(MAIL_SAMPLES, '01_google_2022_mox-example.eml'));
    const seenId = unique('seen');
    await withClient(async (c) => {
      await c.mailboxCreate(mailbox);
      await c.append(mailbox, sample, []);
      await c.append(mailbox, mimeMessage({ subject: 'no report', body: { type: 'text/plain', content: 'hello' } }), []);
      await c.append(mailbox, mimeMessage({ subject: 'fresh', parts: [{ type: 'application/tlsrpt+json', content: reportJson({ id: unique('fresh') }) }] }), []);
      await c.append(mailbox, mimeMessage({ subject: 'already seen', parts: [{ type: 'application/tlsrpt+json', content: reportJson({ id: seenId }) }] }), ['\\Seen']);
    });
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    try {
      const items = await pollImap(store, { ...cfg, mailbox }, { dns });
      assert.deepEqual(items.map((i) => [i.source, i.status, i.code]), [
        [`imap://127.0.0.1/${mailbox};UID=1`, 'imported', undefined],
        [`imap://127.0.0.1/${mailbox};UID=2`, 'rejected', 'mail-no-report'],
        [`imap://127.0.0.1/${mailbox};UID=3`, 'imported', undefined],
      ]);
      assert.ok(!items.some((i) => i.reportId === seenId), 'a \\Seen message is not fetched');
      const flags = await flagsBySubject(mailbox);
      assert.deepEqual(flags.get('no report'), []);
      assert.deepEqual(flags.get('fresh'), ['\\Seen']);
      assert.deepEqual(flags.get('already seen'), ['\\Seen']);
      assert.equal([...flags.values()].filter((f) => f.includes('\\Seen')).length, 3);
      assert.equal(flags.size, 4, 'nothing deleted');

      const again = await pollImap(store, { ...cfg, mailbox }, { dns });
      assert.deepEqual(again.map((i) => [i.status, i.code]), [['rejected', 'mail-no-report']]);
    } finally {
      await store.close();
    }
  });

  test('with processedMailbox, processed messages are moved there (created when missing); with a custom flag, only that flag is set', async () => {
    const mailbox = `Move${process.pid}`;
    const done = `Done${process.pid}`;
    await withClient(async (c) => {
      await c.mailboxCreate(mailbox);
      await c.append(mailbox, mimeMessage({ subject: 'to move', parts: [{ type: 'application/tlsrpt+gzip', content: (await import('node:zlib')).gzipSync(reportJson()) }] }), []);
      await c.append(mailbox, mimeMessage({ subject: 'stays', body: { type: 'text/plain', content: 'nothing' } }), []);
    });
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    try {
      const items = await pollImap(store, { ...cfg, mailbox, processedMailbox: done }, { dns });
      assert.deepEqual(items.map((i) => i.status), ['imported', 'rejected']);
      assert.deepEqual([...(await flagsBySubject(mailbox)).keys()], ['stays']);
      assert.deepEqual([...(await flagsBySubject(done)).keys()], ['to move']);

      const flagged = `Flag${process.pid}`;
      await withClient(async (c) => {
        await c.mailboxCreate(flagged);
        await c.append(flagged, mimeMessage({ subject: 'kw', parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] }), []);
      });
      const byFlag = await pollImap(store, { ...cfg, mailbox: flagged, flag: '$TLSRPTImported' }, { dns });
      assert.deepEqual(byFlag.map((i) => i.status), ['imported']);
      assert.deepEqual((await flagsBySubject(flagged)).get('kw'), ['$TLSRPTImported']);
      assert.deepEqual(await pollImap(store, { ...cfg, mailbox: flagged, flag: '$TLSRPTImported' }, { dns }), []);
    } finally {
      await store.close();
    }
  });

  test('when the store fails, nothing is marked', async () => {
    const mailbox = `Fail${process.pid}`;
    await withClient(async (c) => {
      await c.mailboxCreate(mailbox);
      await c.append(mailbox, mimeMessage({ subject: 'precious', parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] }), []);
    });
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    await store.close();
    const outcome = await pollImap(store, { ...cfg, mailbox }, { dns }).then((items) => items.map((i) => i.status), (err: Error) => err.message);
    assert.ok(typeof outcome === 'string' || !outcome.includes('imported'), String(outcome));
    assert.deepEqual((await flagsBySubject(mailbox)).get('precious'), []);
  });

  test('an untrusted certificate, a wrong password and a missing mailbox are clear errors', async () => {
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    try {
      const other = await createTestCA({ commonName: 'someone else' });
      await assert.rejects(pollImap(store, { ...cfg, ca: [other.certPem] }, { dns }), (err: unknown) => err instanceof ImapPollError && err.code === 'imap-connect');
      await assert.rejects(pollImap(store, { ...cfg, mailbox: 'NoSuchBox' }, { dns }), (err: unknown) => err instanceof ImapPollError && err.code === 'imap-mailbox');
      // Last: after a failed login Dovecot's anvil delays further logins from this address.
      await assert.rejects(pollImap(store, { ...cfg, pass: 'wrong' }, { dns }), (err: unknown) => err instanceof ImapPollError && err.code === 'imap-connect' && /auth/i.test(err.message));
    } finally {
      await store.close();
    }
  });

  test('a port that never greets times out', async () => {
    const silent = net.createServer(() => { /* accept and say nothing */ });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    try {
      const started = Date.now();
      await assert.rejects(pollImap(store, { ...cfg, port: (silent.address() as net.AddressInfo).port, timeoutMs: 500 }, { dns }), ImapPollError);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await store.close();
      silent.close();
    }
  });
});
