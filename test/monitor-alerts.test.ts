/**
 * Alert delivery (src/monitor/alerts.ts) against real servers on loopback: a webhook that fails
 * (HTTP 500, then a timeout) before it accepts, with a restart of the outbox in between; an SMTP
 * server (smtp-server) with STARTTLS under a per-run test CA and AUTH; and, on PostgreSQL, two
 * outboxes draining one table at once without sending any delivery twice.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { AlertOutbox, backoffMs, deliveryId, digestHtml, outboxSummary, renderPayload, summaryLine, webhookChannel, type AlertPayload } from '../src/monitor/alerts.js';
import type { AlertsConfig } from '../src/monitor/config.js';
import type { MonitorEvent } from '../src/monitor/events.js';
import { openDatabase, type SqlDatabase } from '../src/store/sql.js';
import { createTestCA } from '../src/testworld/ca.js';

const PG_DSN = process.env.MTASTS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `${process.pid}_${Date.now().toString(36)}`;

function event(i: number, over: Partial<MonitorEvent> = {}): MonitorEvent {
  return {
    id: `p${i}.open`, domain: `d${i}.example`, code: 'smtp-cert-expiring', state: 'open', severity: 'warning',
    message: `MX mx.d${i}.example certificate expires in 5 days; renew it`, at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
    subject: `mx.d${i}.example`, problem: `p${i}`, ...over,
  };
}

interface Received { body: Buffer; headers: http.IncomingHttpHeaders }

/** A webhook whose answer to each request is chosen by `behave` (by request number). */
async function webhook(behave: (n: number, res: http.ServerResponse) => void): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ body: Buffer.concat(chunks), headers: req.headers });
      behave(got.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alert outbox: webhooks', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'mtasts-alerts-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('a webhook that fails twice (500, then a timeout) still receives every event, signed, after a restart', async () => {
    const secret = 's3cret';
    const hook = await webhook((n, res) => {
      if (n === 1) { res.statusCode = 500; res.end('busy'); return; }
      if (n === 2) return; // never answers: the client's timeout must fire
      res.statusCode = 204;
      res.end();
    });
    const file = path.join(dir, 'webhook.db');
    const cfg: AlertsConfig = { webhooks: [{ url: hook.url, secret, timeoutMs: 400 }] };
    const opts = { retryBaseMs: 300, retryMaxMs: 600 };
    let db = await openDatabase(file);
    let outbox = new AlertOutbox(db, cfg, undefined, opts);
    await outbox.init();
    const round1 = [event(1), event(2, { state: 'resolved', id: 'p2.resolved', openedAt: '2025-12-30T00:00:00.000Z' }), event(3, { state: 'notice', code: 'mx-changed', id: 'n3.notice', severity: 'info' })];
    const round2 = [event(4)];
    await db.transaction(async (tx) => {
      await outbox.enqueue(tx, round1, 'r-1');
      await outbox.enqueue(tx, round1, 'r-1'); // the same round again adds nothing
    });
    await db.transaction((tx) => outbox.enqueue(tx, round2, 'r-2'));
    assert.equal((await outbox.pending()).length, 2);

    // Attempt 1: HTTP 500. The other round's row waits for the channel's next attempt instead.
    assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 1 });
    let pending = await outbox.pending();
    assert.equal(pending.length, 2);
    assert.match(pending.find((p) => p.roundId === 'r-1')!.lastError ?? '', /HTTP 500/);
    // Not due yet: nothing is sent.
    assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 0 });
    assert.equal(hook.got.length, 1);

    // Attempt 2: a timeout.
    await sleep(350);
    const t0 = Date.now();
    assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 1 });
    assert.ok(Date.now() - t0 >= 350, 'waited for the timeout');
    pending = await outbox.pending();
    assert.match(pending.find((p) => p.roundId === 'r-1')!.lastError ?? '', /timed out/);
    const summary = await outboxSummary(db);
    assert.equal(summary.pending, 2);
    assert.ok(summary.failing >= 1);
    assert.match(summary.lastError ?? '', /timed out|HTTP 500/);
    assert.equal(pending.find((p) => p.roundId === 'r-1')!.attempts, 2);

    // Restart: a new database handle and outbox on the same file deliver what was pending.
    await db.close();
    db = await openDatabase(file);
    outbox = new AlertOutbox(db, cfg, undefined, opts);
    await outbox.init();
    await sleep(650);
    assert.deepEqual(await outbox.deliverDue(), { delivered: 2, failed: 0 });
    assert.equal((await outbox.pending()).length, 0);
    assert.equal((await outboxSummary(db)).pending, 0);
    assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 0 });
    await db.close();
    await hook.close();

    // 4 requests: round 1 three times (same bytes, same delivery id), then round 2 once.
    assert.equal(hook.got.length, 4);
    const r1 = hook.got.slice(0, 3);
    for (const g of r1) {
      assert.deepEqual(g.body, r1[0]!.body);
      assert.equal(g.headers['x-mtasts-delivery'], deliveryId('r-1', webhookChannel(hook.url)));
    }
    const events = new Set<string>();
    for (const g of [hook.got[2]!, hook.got[3]!]) {
      assert.equal(g.headers['content-type'], 'application/json');
      const expected = `sha256=${createHmac('sha256', secret).update(g.body).digest('hex')}`;
      assert.equal(g.headers['x-mtasts-signature'], expected);
      const payload = JSON.parse(g.body.toString('utf8')) as AlertPayload;
      assert.equal(typeof payload.text, 'string');
      assert.ok(!payload.text.includes('\n'));
      for (const e of payload.events) events.add(e.id);
    }
    assert.deepEqual([...events].sort(), ['n3.notice', 'p1.open', 'p2.resolved', 'p4.open']);
    const last = JSON.parse(hook.got[2]!.body.toString('utf8')) as AlertPayload;
    assert.match(last.text, /^mtasts: 3 events \(1 opened, 1 resolved, 1 notice\): d1\.example smtp-cert-expiring \(mx\.d1\.example\) opened/);
    assert.deepEqual(last.events[1], round1[1]);
  });

  test('without a secret there is no signature; an endless 2xx response is read only up to the bound', async () => {
    const hook = await webhook((_n, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = (): void => { while (res.write(chunk)); res.once('drain', pump); };
      pump();
    });
    const db = await openDatabase(path.join(dir, 'endless.db'));
    const outbox = new AlertOutbox(db, { webhooks: [{ url: hook.url, timeoutMs: 5000 }] });
    await outbox.init();
    await db.transaction((tx) => outbox.enqueue(tx, [event(7)], 'r-7'));
    const t0 = Date.now();
    assert.deepEqual(await outbox.deliverDue(), { delivered: 1, failed: 0 });
    assert.ok(Date.now() - t0 < 4000, 'did not wait for the endless body');
    assert.equal(hook.got[0]!.headers['x-mtasts-signature'], undefined);
    await db.close();
    await hook.close();
  });

  test('channels are independent: a dead webhook does not hold back a live one', async () => {
    const live = await webhook((_n, res) => res.end());
    const dead = await webhook(() => {});
    await dead.close(); // connection refused from now on
    const db = await openDatabase(path.join(dir, 'channels.db'));
    const outbox = new AlertOutbox(db, { webhooks: [{ url: dead.url, timeoutMs: 1000 }, { url: live.url }] });
    await outbox.init();
    await db.transaction(async (tx) => {
      await outbox.enqueue(tx, [event(1)], 'r-a');
      await outbox.enqueue(tx, [event(2)], 'r-b');
    });
    const r = await outbox.deliverDue();
    assert.deepEqual(r, { delivered: 2, failed: 1 }, 'one attempt on the dead channel, then its other row waits');
    assert.equal(live.got.length, 2);
    const pending = await outbox.pending();
    assert.deepEqual(pending.map((p) => p.channel), [webhookChannel(dead.url), webhookChannel(dead.url)]);
    assert.deepEqual(pending.map((p) => p.attempts).sort(), [0, 1]);
    await db.close();
    await live.close();
  });

  test('a claim left by a process that died blocks its row only until the claim expires', async () => {
    const hook = await webhook((_n, res) => res.end());
    const db = await openDatabase(path.join(dir, 'claims.db'));
    const outbox = new AlertOutbox(db, { webhooks: [{ url: hook.url }] });
    await outbox.init();
    await db.transaction((tx) => outbox.enqueue(tx, [event(1)], 'r-c'));
    const later = new Date(Date.now() + 60_000).toISOString();
    await db.run("UPDATE monitor_outbox SET claimed_until = ?, claim = 'dead-process'", [later]);
    assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 0 });
    assert.equal(hook.got.length, 0);
    await db.run('UPDATE monitor_outbox SET claimed_until = ?', [new Date(Date.now() - 1000).toISOString()]);
    assert.deepEqual(await outbox.deliverDue(), { delivered: 1, failed: 0 });
    assert.equal(hook.got.length, 1);
    await db.close();
    await hook.close();
  });

  test('backoff doubles, is capped, and is jittered into [half, all]', () => {
    assert.equal(backoffMs(1, 1000, 60_000, () => 1), 1000);
    assert.equal(backoffMs(3, 1000, 60_000, () => 1), 4000);
    assert.equal(backoffMs(30, 1000, 60_000, () => 1), 60_000);
    assert.equal(backoffMs(3, 1000, 60_000, () => 0), 2000);
  });

  test('payload and digest renderings: one line, bounded, escaped', () => {
    const evil = event(9, { message: '<script>alert(1)</script>\r\nBcc: x@y', domain: 'd9.example' });
    const many = Array.from({ length: 50 }, (_, i) => event(i));
    assert.match(summaryLine(many), /\+47 more$/);
    assert.ok(!summaryLine([evil]).includes('\n'));
    assert.equal(JSON.parse(renderPayload([evil])).events[0].message, evil.message);
    const html = digestHtml([evil], 'd-1');
    assert.ok(!html.includes('<script>'));
    assert.ok(html.includes('&#60;script&#62;'));
  });
});

describe('alert outbox: email digest over SMTP with STARTTLS and AUTH', () => {
  test('the SMTP server receives one digest per round, with every event and its fix', async () => {
    const ca = await createTestCA();
    const cert = await ca.issue({ names: ['localhost'] });
    const received: { raw: Buffer; auth: string | undefined; secure: boolean }[] = [];
    let authFailures = 0;
    const server = new SMTPServer({
      key: cert.keyPem, cert: cert.chainPem, authMethods: ['PLAIN', 'LOGIN'], logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === 'alerts' && auth.password === 'p@ss word') return cb(null, { user: 'alerts' });
        authFailures++;
        return cb(new Error('bad credentials'));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({ raw: Buffer.concat(chunks), auth: session.user as string | undefined, secure: session.secure });
          cb();
        });
      },
    });
    // Both address families: "localhost" may resolve to ::1 or 127.0.0.1.
    await new Promise<void>((r) => server.listen(0, r));
    const port = (server.server.address() as AddressInfo).port;
    const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-alerts-smtp-'));
    const db = await openDatabase(path.join(dir, 'mail.db'));
    try {
      const cfg: AlertsConfig = {
        webhooks: [],
        email: {
          smtp: `smtp://alerts:${encodeURIComponent('p@ss word')}@localhost:${port}`, from: 'mtasts@example.test', to: ['ops@example.test', 'oncall@example.test'],
          starttls: 'required', ca: [ca.certPem], timeoutMs: 5000,
        },
      };
      // Without the test CA the certificate is not trusted: the delivery fails and stays pending.
      const untrusting = new AlertOutbox(db, { ...cfg, email: { ...cfg.email!, ca: [] } }, undefined, { retryBaseMs: 1, retryMaxMs: 1 });
      await untrusting.init();
      const events = [event(1), event(2, { state: 'resolved', id: 'p2.resolved', message: 'resolved: the certificate of mx.d2.example was renewed' })];
      await db.transaction((tx) => untrusting.enqueue(tx, events, 'r-mail'));
      assert.deepEqual(await untrusting.deliverDue(), { delivered: 0, failed: 1 });
      assert.match((await untrusting.pending())[0]!.lastError ?? '', /SMTP/);
      assert.equal(received.length, 0);

      await sleep(5);
      const outbox = new AlertOutbox(db, cfg);
      assert.deepEqual(await outbox.deliverDue(), { delivered: 1, failed: 0 });
      assert.equal(received.length, 1);
      assert.equal(received[0]!.auth, 'alerts');
      assert.equal(received[0]!.secure, true, 'STARTTLS was used');
      assert.equal(authFailures, 0);
      const mail = await simpleParser(received[0]!.raw);
      assert.match(mail.subject ?? '', /^\[mtasts\] 2 events: 1 opened, 1 resolved \(d1\.example, d2\.example\)$/);
      assert.equal(mail.from?.text, 'mtasts@example.test');
      assert.deepEqual((Array.isArray(mail.to) ? mail.to : [mail.to]).flatMap((t) => t!.value.map((v) => v.address)), ['ops@example.test', 'oncall@example.test']);
      const text = mail.text ?? '';
      for (const e of events) {
        assert.ok(text.includes(e.id), `event id ${e.id} in the digest`);
        assert.ok(text.includes(e.message), 'the message with its fix');
      }
      assert.match(text, /OPENED warning d1\.example: smtp-cert-expiring \(mx\.d1\.example\)/);
      assert.match(mail.html || '', /<table/);
      const delivery = deliveryId('r-mail', 'email');
      assert.equal(mail.messageId, `<${delivery}@mtasts.monitor>`);
      assert.equal(mail.headers.get('x-mtasts-delivery'), delivery);
      assert.equal((await outbox.pending()).length, 0);
    } finally {
      await db.close();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('starttls: required fails against a server that does not offer STARTTLS', async () => {
    const server = new SMTPServer({ disabledCommands: ['STARTTLS'], authOptional: true, logger: false, onData(s, _x, cb) { s.resume(); s.on('end', () => cb()); } });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.server.address() as AddressInfo).port;
    const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-alerts-smtp-'));
    const db = await openDatabase(path.join(dir, 'mail.db'));
    try {
      const outbox = new AlertOutbox(db, { webhooks: [], email: { smtp: `smtp://127.0.0.1:${port}`, from: 'a@example.test', to: ['b@example.test'], starttls: 'required', timeoutMs: 3000 } });
      await outbox.init();
      await db.transaction((tx) => outbox.enqueue(tx, [event(1)], 'r-x'));
      assert.deepEqual(await outbox.deliverDue(), { delivered: 0, failed: 1 });
      assert.match((await outbox.pending())[0]!.lastError ?? '', /STARTTLS/i);
    } finally {
      await db.close();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Skips locally, fails under CI, when PostgreSQL is not reachable. */
async function pgOrSkip(t: TestContext): Promise<pg.Client | null> {
  const admin = new pg.Client({ connectionString: PG_DSN, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    return admin;
  } catch (err) {
    const msg = `PostgreSQL at ${PG_DSN} is not reachable (${(err as Error).message})`;
    if (process.env.CI === 'true') assert.fail(`${msg}; CI must provide it`);
    t.skip(`${msg}: skipped (runs under CI=true)`);
    return null;
  }
}

test('PostgreSQL: two outboxes draining one table at once send each delivery exactly once', async (t) => {
  const admin = await pgOrSkip(t);
  if (!admin) return;
  const schema = `mtasts_alerts_${RUN}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${PG_DSN}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const hook = await webhook((_n, res) => setTimeout(() => { res.statusCode = 200; res.end('ok'); }, 5));
  const dbs: SqlDatabase[] = [];
  try {
    const a = await openDatabase(url);
    const b = await openDatabase(url);
    dbs.push(a, b);
    const cfg: AlertsConfig = { webhooks: [{ url: hook.url, secret: 'k' }] };
    const outA = new AlertOutbox(a, cfg, undefined, { batchSize: 5 });
    const outB = new AlertOutbox(b, cfg, undefined, { batchSize: 5 });
    await Promise.all([outA.init(), outB.init()]);
    const ROUNDS = 40;
    for (let i = 0; i < ROUNDS; i++) await a.transaction((tx) => outA.enqueue(tx, [event(i)], `r-${String(i).padStart(3, '0')}`));
    const [ra, rb] = await Promise.all([outA.deliverDue(), outB.deliverDue()]);
    assert.equal(ra.delivered + rb.delivered, ROUNDS);
    assert.equal(ra.failed + rb.failed, 0);
    const ids = hook.got.map((g) => g.headers['x-mtasts-delivery']);
    assert.equal(ids.length, ROUNDS, 'no delivery sent twice');
    assert.equal(new Set(ids).size, ROUNDS);
    assert.equal((await outA.pending()).length, 0);
  } finally {
    for (const d of dbs) await d.close();
    await hook.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});
