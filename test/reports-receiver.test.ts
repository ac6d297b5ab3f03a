/**
 * The RFC 8460 §5.4 HTTPS report endpoint: status codes (201/200/400/405/404/413/415/408), size
 * limits before and after decompression, slow clients, dedupe across file, mail and POST, the
 * `reports:` section of `mtasts serve`, and the `mtasts reports receive` process killed with
 * SIGKILL right after its 2xx (the report is in the database after restart).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DnsClient } from '../src/dns/resolver.js';
import { importReports } from '../src/reports/import.js';
import { DEFAULT_LIMITS, type IntakeLimits } from '../src/reports/ingest.js';
import { importMessage } from '../src/reports/mail/index.js';
import { startReportReceiver, statusForRejection, type ReportReceiver } from '../src/reports/receiver.js';
import { ReportStore } from '../src/reports/store.js';
import { parseConfig } from '../src/serve/config.js';
import { PolicyServer } from '../src/serve/server.js';
import { createTestCA, startDnsServer, Zone, type DnsServer, type TestCA } from '../src/testworld/index.js';
import { PG_URL, requireService } from './prereq.js';
import { certDir, runCli } from './serve-helpers.js';
import { gz, mimeMessage, openStore, reportJson, tempDir, unique } from './reports-intake-helpers.js';

const ENTRY = new URL('./serve-cli-entry.ts', import.meta.url).pathname;
const NAME = 'reports.test';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

/** POSTs `body` to `url` (HTTP or HTTPS, trusting `ca` for `servername`). */
function post(url: string, body: Buffer | string | null, opts: {
  type?: string; method?: string; ca?: string; servername?: string; headers?: Record<string, string>; chunked?: boolean;
} = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === null ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.type !== undefined) headers['content-type'] = opts.type;
    if (data !== undefined && !opts.chunked) headers['content-length'] = String(data.length);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request({
      host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'POST', headers, agent: false, timeout: 10_000,
      ...(u.protocol === 'https:' ? { ca: opts.ca, servername: opts.servername ?? NAME } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, unknown> = {};
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = { text }; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    if (data !== undefined && opts.chunked) {
      // Several chunks, so the server sees a streamed body without a declared length.
      for (let i = 0; i < data.length; i += 16 * 1024) req.write(data.subarray(i, i + 16 * 1024));
      req.end();
    } else {
      req.end(data);
    }
  });
}

async function count(store: ReportStore, reportId?: string): Promise<number> {
  const rows = await store.db.query<{ n: number | string }>(
    `SELECT COUNT(*) AS n FROM ${store.tables.reports}${reportId ? ' WHERE report_id = ?' : ''}`, reportId ? [reportId] : []);
  return Number(rows[0]!.n);
}

const tmp = tempDir('mtasts-receiver-');
let ca: TestCA;
let cert: { chainPem: string; keyPem: string };

before(async () => {
  ca = await createTestCA({ commonName: `receiver test CA ${process.pid}` });
  cert = await ca.issue({ names: [NAME] });
});
after(() => tmp.cleanup());

describe('startReportReceiver over HTTPS', () => {
  const LIMITS: IntakeLimits = { ...DEFAULT_LIMITS, maxCompressedBytes: 64 * 1024, maxJsonBytes: 512 * 1024 };
  let store: ReportStore;
  let receiver: ReportReceiver;

  before(async () => {
    store = await openStore(tmp.dir, `${unique('db')}.db`);
    receiver = await startReportReceiver({ store, listen: '127.0.0.1:0', path: '/tlsrpt', cert: cert.chainPem, key: cert.keyPem, limits: LIMITS });
  });
  after(async () => {
    await receiver.close();
    await store.close();
  });

  const send = (body: Buffer | string | null, opts: Parameters<typeof post>[2] = {}, url = receiver.url): Promise<Reply> => post(url, body, { ca: ca.certPem, ...opts });

  test('application/tlsrpt+json: 201 when new, 200 for the duplicate; stored once', async () => {
    const id = unique('json');
    const first = await send(reportJson({ id }), { type: 'application/tlsrpt+json' });
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.deepEqual([first.json.status, first.json.reportId], ['imported', id]);
    const again = await send(reportJson({ id }), { type: 'application/tlsrpt+json' });
    assert.equal(again.status, 200);
    assert.equal(again.json.status, 'duplicate');
    assert.equal(await count(store, id), 1);
    assert.ok(receiver.url.startsWith('https://127.0.0.1:'));
  });

  test('application/tlsrpt+gzip, with parameters in the media type and a gzip content coding', async () => {
    const id = unique('gz');
    const r = await send(gz(reportJson({ id })), { type: 'Application/TLSRPT+gzip; charset=utf-8' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id2 = unique('ce');
    const coded = await send(gz(reportJson({ id: id2 })), { type: 'application/tlsrpt+json', headers: { 'content-encoding': 'gzip' } });
    assert.equal(coded.status, 201, JSON.stringify(coded.json));
    assert.equal(await count(store, id), 1);
    assert.equal(await count(store, id2), 1);
  });

  test('415 for other media types and content codings, nothing stored', async () => {
    const before = await count(store);
    for (const type of ['application/json', 'text/plain', 'application/gzip', undefined]) {
      const r = await send(reportJson(), type === undefined ? {} : { type });
      assert.equal(r.status, 415, String(type));
      assert.equal(r.json.code, 'receive-media-type');
    }
    const br = await send(reportJson(), { type: 'application/tlsrpt+json', headers: { 'content-encoding': 'br' } });
    assert.equal(br.status, 415);
    assert.equal(await count(store), before);
  });

  test('400 for malformed reports, with the reject code; nothing stored', async () => {
    const before = await count(store);
    const cases: [string | Buffer, string][] = [
      ['{"organization-name": "x", "policies": [', 'application/tlsrpt+json'],
      ['[]', 'application/tlsrpt+json'],
      [JSON.stringify({ 'organization-name': 'x', 'report-id': 'y', 'date-range': { 'start-datetime': '2024-01-01T00:00:00Z', 'end-datetime': '2024-01-01T23:59:59Z' }, policies: [] }), 'application/tlsrpt+json'],
      [Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7]), 'application/tlsrpt+gzip'],
      ['', 'application/tlsrpt+json'],
    ];
    for (const [body, type] of cases) {
      const r = await send(body, { type });
      assert.equal(r.status, 400, `${String(body).slice(0, 40)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.status, 'rejected');
      assert.equal(typeof r.json.code, 'string');
    }
    assert.equal(await count(store), before);
  });

  test('413 before decompression: declared length, and a streamed (chunked) body over the limit', async () => {
    const big = Buffer.alloc(LIMITS.maxCompressedBytes + 1, 0x20);
    const declared = await send(big, { type: 'application/tlsrpt+json' });
    assert.equal(declared.status, 413);
    assert.equal(declared.json.code, 'report-too-large');
    const streamed = await send(Buffer.alloc(LIMITS.maxCompressedBytes * 3, 0x20), { type: 'application/tlsrpt+json', chunked: true }).catch((err: Error) => err);
    // The server answers 413 as soon as the limit is passed; the client may see the answer or a reset.
    if (!(streamed instanceof Error)) assert.equal(streamed.status, 413);
    else assert.match(streamed.message, /EPIPE|ECONNRESET|socket hang up/);
  });

  test('413 after decompression: a gzip bomb within the compressed limit', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20), { level: 9 });
    assert.ok(bomb.length < LIMITS.maxCompressedBytes, `bomb is ${bomb.length} bytes`);
    const started = process.cpuUsage();
    const r = await send(bomb, { type: 'application/tlsrpt+gzip' });
    assert.equal(r.status, 413, JSON.stringify(r.json));
    assert.match(String(r.json.code), /too-large/);
    const cpu = process.cpuUsage(started);
    assert.ok((cpu.user + cpu.system) / 1000 < 1000, 'refused quickly');
  });

  test('405 for other methods on the path, 404 elsewhere', async () => {
    const get = await send(null, { method: 'GET' });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    const other = await send(reportJson(), { type: 'application/tlsrpt+json' }, receiver.url.replace('/tlsrpt', '/other'));
    assert.equal(other.status, 404);
  });

  test('statusForRejection follows the decoder: size and element limits are 413', () => {
    assert.equal(statusForRejection('report-too-large'), 413);
    assert.equal(statusForRejection('report-too-many-elements'), 413);
    assert.equal(statusForRejection('report-not-json'), 400);
    assert.equal(statusForRejection(undefined), 400);
  });
});

/** The same report POSTed by several senders' retries at once: exactly one 201, the rest 200, one row. */
async function concurrentPosts(store: ReportStore): Promise<void> {
  const receiver = await startReportReceiver({ store, listen: '127.0.0.1:0' });
  try {
    const id = unique('race');
    const body = gz(reportJson({ id }));
    const replies = await Promise.all(Array.from({ length: 6 }, () => post(receiver.url, body, { type: 'application/tlsrpt+gzip' })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 201]);
    assert.equal(await count(store, id), 1);
  } finally {
    await receiver.close();
  }
}

describe('concurrent POSTs of one report', () => {
  test('SQLite', async () => {
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    try {
      await concurrentPosts(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL', async (t) => {
    const store = await requireService(t, `PostgreSQL at ${PG_URL}`, () => ReportStore.open(PG_URL, { tablePrefix: `tlsrpt_rcv${process.pid}_` }));
    if (store === undefined) return;
    try {
      await concurrentPosts(store);
    } finally {
      await store.dropTables();
      await store.close();
    }
  });
});

describe('slow clients (plain HTTP receiver, as behind a proxy)', () => {
  let store: ReportStore;
  let receiver: ReportReceiver;
  before(async () => {
    store = await openStore(tmp.dir, `${unique('db')}.db`);
    receiver = await startReportReceiver({ store, listen: '127.0.0.1:0', bodyTimeoutMs: 400, headersTimeoutMs: 400 });
  });
  after(async () => {
    await receiver.close();
    await store.close();
  });

  function raw(text: string): Promise<{ response: string; ms: number }> {
    return new Promise((resolve) => {
      const started = Date.now();
      const s = net.connect(receiver.address.port, '127.0.0.1', () => s.write(text));
      let response = '';
      s.on('data', (d) => { response += d.toString(); });
      s.on('close', () => resolve({ response, ms: Date.now() - started }));
      s.on('error', () => { /* reset after the answer */ });
      s.setTimeout(8000, () => s.destroy());
    });
  }

  test('a body that stops arriving gets 408 and the connection closed', async () => {
    assert.ok(receiver.url.startsWith('http://'));
    const { response, ms } = await raw('POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 1000\r\n\r\n{"organization-name"');
    assert.match(response, /^HTTP\/1\.1 408 /);
    assert.match(response, /receive-timeout/);
    assert.ok(ms < 5000, `${ms} ms`);
  });

  test('headers that stop arriving: the connection is closed', async () => {
    const { response, ms } = await raw('POST /tlsrpt HTTP/1.1\r\nHost: x\r\n');
    assert.ok(response === '' || /^HTTP\/1\.1 408 /.test(response), response);
    assert.ok(ms < 5000, `${ms} ms`);
  });
});

describe('dedupe across paths: file, mail and POST', () => {
  let zone: DnsServer;
  before(async () => { zone = await startDnsServer({ zone: new Zone() }); });
  after(async () => { await zone.close(); });

  test('the same report by file, mail and POST counts once', async () => {
    const store = await openStore(tmp.dir, `${unique('db')}.db`);
    const receiver = await startReportReceiver({ store, listen: '127.0.0.1:0', cert: cert.chainPem, key: cert.keyPem });
    try {
      const id = unique('x3');
      const json = reportJson({ id, org: 'Three Ways Inc.' });
      const file = path.join(tmp.dir, `${id}.json.gz`);
      writeFileSync(file, gz(json));
      const byFile = await importReports(store, [file]);
      assert.deepEqual(byFile.map((i) => i.status), ['imported']);
      const dns = new DnsClient({ servers: [zone.hostPort], timeoutMs: 1000 });
      const byMail = await importMessage(store, mimeMessage({ subject: 'Report-ID: <other@x>', parts: [{ type: 'application/tlsrpt+gzip', content: gz(json), filename: 'different-name.json.gz' }] }), 'm.eml', { dns });
      assert.deepEqual(byMail.map((i) => i.status), ['duplicate']);
      const byPost = await post(receiver.url, json, { type: 'application/tlsrpt+json', ca: ca.certPem });
      assert.equal(byPost.status, 200);
      assert.equal(byPost.json.status, 'duplicate');
      assert.equal(await count(store, id), 1);
    } finally {
      await receiver.close();
      await store.close();
    }
  });
});

describe('`reports:` in mtasts serve', () => {
  test('POST /tlsrpt on a served host stores the report (HTTP/1.1); the policy is still served', async () => {
    const dir = path.join(tmp.dir, unique('serve'));
    await certDir(ca, ['mta-sts.a.example'], { dir: path.join(dir, 'certs') });
    const yaml = [
      'listen: { https: "127.0.0.1:0", admin: false }',
      'certificates: { dir: ./certs }',
      'reports: { path: /tlsrpt, db: ./reports.db }',
      'domains:',
      '  a.example: { mode: testing, mx: [mx.a.example] }',
      '',
    ].join('\n');
    const config = parseConfig(yaml, { file: path.join(dir, 'serve.yaml'), baseDir: dir });
    assert.deepEqual(config.reports, { path: '/tlsrpt', db: path.join(dir, 'reports.db') });
    const server = new PolicyServer({ config, defaultMetrics: false, logger: (await import('pino')).default({ level: 'silent' }) });
    await server.start();
    let closed = false;
    try {
      const url = `https://127.0.0.1:${server.addresses.https.port}/tlsrpt`;
      const id = unique('serve');
      const r = await post(url, gz(reportJson({ id })), { type: 'application/tlsrpt+gzip', ca: ca.certPem, servername: 'mta-sts.a.example', headers: { host: 'mta-sts.a.example' } });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      // HTTP/2 (ALPN h2), as a sender's HTTP client may well negotiate.
      const id2 = unique('h2');
      const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const session = http2.connect(`https://127.0.0.1:${server.addresses.https.port}`, { ca: ca.certPem, servername: 'mta-sts.a.example' });
        session.on('error', reject);
        const req = session.request({ ':method': 'POST', ':path': '/tlsrpt', ':authority': 'mta-sts.a.example', 'content-type': 'application/tlsrpt+json' });
        let status = 0;
        let body = '';
        req.on('response', (h) => { status = Number(h[':status']); });
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => { session.close(); resolve({ status, body }); });
        req.on('error', reject);
        req.end(reportJson({ id: id2 }));
      });
      assert.equal(h2.status, 201, h2.body);
      const bad = await post(url, 'x', { type: 'text/plain', ca: ca.certPem, servername: 'mta-sts.a.example', headers: { host: 'mta-sts.a.example' } });
      assert.equal(bad.status, 415);
      const policy = await post(`https://127.0.0.1:${server.addresses.https.port}/.well-known/mta-sts.txt`, null, { method: 'GET', ca: ca.certPem, servername: 'mta-sts.a.example', headers: { host: 'mta-sts.a.example' } });
      assert.equal(policy.status, 200);
      // close() also closes the report store, so the database can be reopened here.
      await server.close();
      closed = true;
      const store = await ReportStore.open(path.join(dir, 'reports.db'));
      try {
        assert.equal(await count(store, id), 1);
        assert.equal(await count(store, id2), 1);
      } finally {
        await store.close();
      }
    } finally {
      if (!closed) await server.close();
    }
  });

  test('config errors name the line: bad path, unknown key', () => {
    assert.throws(() => parseConfig('listen: { https: "127.0.0.1:0" }\ncertificates: { dir: . }\nreports:\n  path: tlsrpt\n  dbx: x\ndomains:\n  a.example: { mode: testing, mx: [mx.a.example] }\n'),
      (err: Error & { issues?: { line: number; message: string }[] }) => {
        const issues = err.issues ?? [];
        assert.ok(issues.some((i) => i.line === 4 && /reports\.path/.test(i.message)), JSON.stringify(issues));
        assert.ok(issues.some((i) => i.line === 5 && /unknown key "dbx"/.test(i.message)), JSON.stringify(issues));
        return true;
      });
  });
});

describe('mtasts reports receive (a real process)', () => {
  interface Proc { child: ChildProcess; url: Promise<string>; logs: Record<string, unknown>[]; stderr(): string }

  function startReceive(args: string[]): Proc {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'reports', 'receive', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: Record<string, unknown>[] = [];
    let err = '';
    child.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
    const url = new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (c: Buffer) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) {
          if (!l.startsWith('{')) continue;
          const o = JSON.parse(l) as Record<string, unknown>;
          logs.push(o);
          if (typeof o.url === 'string') resolve(o.url);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${err}`)));
      setTimeout(() => reject(new Error(`not listening after 30 s: ${err}`)), 30_000).unref();
    });
    return { child, url, logs, stderr: () => err };
  }

  const exited = (c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve({ code: c.exitCode, signal: c.signalCode });
    c.once('exit', (code, signal) => resolve({ code, signal }));
  });

  test('killed with SIGKILL as soon as it answered 201: the report is in the database after restart', async () => {
    const dir = path.join(tmp.dir, unique('kill'));
    mkdirSync(dir, { recursive: true });
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(certFile, cert.chainPem);
    writeFileSync(keyFile, cert.keyPem);
    const db = path.join(dir, 'reports.db');
    const p = startReceive(['--listen', '127.0.0.1:0', '--cert', certFile, '--key', keyFile, '--db', db]);
    try {
      const url = await p.url;
      assert.ok(url.startsWith('https://'));
      const id = unique('kill');
      const body = gz(reportJson({ id }));
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(url);
        const req = https.request({
          host: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: ca.certPem, servername: NAME, agent: false,
          headers: { 'content-type': 'application/tlsrpt+gzip', 'content-length': String(body.length) },
        }, (res) => {
          // The very moment the status line arrives: no grace for the process to finish anything.
          p.child.kill('SIGKILL');
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 201);
      const { signal } = await exited(p.child);
      assert.equal(signal, 'SIGKILL');
      const store = await ReportStore.open(db);
      try {
        assert.equal(await count(store, id), 1);
      } finally {
        await store.close();
      }
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });

  test('plain HTTP without --cert; SIGTERM drains and exits 0', async () => {
    const dir = path.join(tmp.dir, unique('term'));
    const db = path.join(dir, 'r.db');
    const p = startReceive(['--listen', '127.0.0.1:0', '--path', '/rpt', '--db', db]);
    try {
      const url = await p.url;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/rpt$/);
      const r = await post(url, reportJson(), { type: 'application/tlsrpt+json' });
      assert.equal(r.status, 201);
      p.child.kill('SIGTERM');
      const { code } = await exited(p.child);
      assert.equal(code, 0, p.stderr());
      assert.ok(p.logs.some((l) => l.msg === 'shutting down'));
      assert.ok(p.logs.some((l) => l.msg === 'report request' && l.status === 201));
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runCli(['reports', 'receive'])).code, 2);
    assert.equal((await runCli(['reports', 'receive', '--listen', 'nonsense'])).code, 2);
    assert.equal((await runCli(['reports', 'receive', '--listen', '127.0.0.1:0', '--cert', 'x.pem'])).code, 2);
    assert.equal((await runCli(['reports', 'receive', '--listen', '127.0.0.1:0', '--path', 'no-slash'])).code, 2);
  });
});
