/** PolicyServer over real sockets: HTTPS/1.1 and HTTP/2 clients verifying against a test CA. */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { serializePolicy } from '../src/mtasts/policy.js';
import { policyId } from '../src/publish/records.js';
import { ConfigError, loadConfig, parseConfig } from '../src/serve/config.js';
import { PolicyServer } from '../src/serve/server.js';
import { createTestCA, type TestCA } from '../src/testworld/index.js';
import { captureLogger, certDir, h2Request, httpsRequest, tempDir } from './serve-helpers.js';

const POLICY_A = serializePolicy({ version: 'STSv1', mode: 'enforce', mx: ['mail.a.example', '*.mx.example.net'], maxAge: 1209600, extensions: [] });

function configText(domains: string[], extra = ''): string {
  return [
    'listen: { https: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0" }',
    'certificates: { dir: ./certs }',
    'log_level: debug',
    extra,
    'domains:',
    ...domains,
    '',
  ].join('\n');
}
const DOMAIN_A = '  a.example: { mode: enforce, mx: [mail.a.example, "*.mx.example.net"], max_age: 1209600 }';
const DOMAIN_B = '  b.example: { mode: testing, mx: [mx.b.example] }';

function getHttp(port: number, path: string): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    }).on('error', reject);
  });
}

describe('configuration validation', () => {
  const errorsOf = (text: string): string[] => {
    try {
      parseConfig(text, { file: 'serve.yaml' });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
    }
    return [];
  };

  test('a valid file loads; policy text is canonical and the id is its hash', () => {
    const c = parseConfig(configText([DOMAIN_A, DOMAIN_B]));
    const a = c.domains.get('a.example');
    assert.equal(a?.text, POLICY_A);
    assert.equal(a?.id, policyId(POLICY_A));
    assert.equal(c.hosts.get('mta-sts.b.example')?.policy.mode, 'testing');
    assert.equal(c.listen.admin?.port, 0);
    assert.equal(c.workers, 1);
  });

  test('every problem is reported with its line and column', () => {
    const errs = errorsOf([
      'listen: { https: "nowhere" }',            // 1
      'certificates: { dir: ./certs }',
      'workerz: 2',                              // 3
      'domains:',
      '  a.example: { mode: enforced, mx: [mx.a.example] }',       // 5
      '  b.example:',
      '    mode: enforce',
      '    mx: [good.b.example, "mx.*.b.example"]',               // 8
      '    max_age: 99999999999',                                // 9
      '  c.example: { mode: enforce }',                          // 10
      '  "not a domain": { mode: none }',                        // 11
    ].join('\n'));
    const has = (re: RegExp): void => assert.ok(errs.some((e) => re.test(e)), `${re} in\n${errs.join('\n')}`);
    has(/^1:\d+: listen\.https: expected "HOST:PORT"/);
    has(/^3:1: workerz: unknown key "workerz"/);
    has(/^5:\d+: domains\.a\.example\.mode: expected enforce, testing or none/);
    has(/^8:\d+: domains\.b\.example\.mx\.1: .*partial-label wildcard|^8:\d+: domains\.b\.example\.mx\.1: .*wildcard/);
    has(/^9:\d+: domains\.b\.example\.max_age: .*policy-max-age/);
    has(/^10:\d+: domains\.c\.example.*policy-mx-missing/);
    has(/^11:\d+: domains\.not a domain: not a valid domain name/);
  });

  test('YAML syntax errors and duplicate keys have line numbers', () => {
    assert.match(errorsOf('listen: { https: "127.0.0.1:0"\ndomains: [')[0] ?? '', /^\d+:\d+: YAML: /);
    assert.match(errorsOf(configText([DOMAIN_A, DOMAIN_A]))[0] ?? '', /^7:\d+: YAML: Map keys must be unique/);
  });

  test('ACME needs the http listener, accept_terms and a directory URL', () => {
    const errs = errorsOf([
      'listen: { https: "127.0.0.1:0" }',
      'certificates: { acme: { directory: "http://ca.example/dir", dir: ./acme } }',
      `domains:\n${DOMAIN_A}`,
    ].join('\n'));
    assert.ok(errs.some((e) => /accept_terms must be true/.test(e)), errs.join('\n'));
    assert.ok(errs.some((e) => /must be an https: URL/.test(e)), errs.join('\n'));
  });
});

describe('PolicyServer', () => {
  let ca: TestCA;
  let dir: string;
  let cfgFile: string;
  let server: PolicyServer;
  let port: number;
  const log = captureLogger('debug');

  before(async () => {
    ca = await createTestCA();
    dir = tempDir('mtasts-serve-');
    await certDir(ca, ['mta-sts.a.example'], { dir: join(dir, 'certs') });
    await certDir(ca, ['mta-sts.b.example', 'mta-sts.c.example'], { dir: join(dir, 'certs'), pem: true });
    cfgFile = join(dir, 'serve.yaml');
    writeFileSync(cfgFile, configText([DOMAIN_A, DOMAIN_B]));
    server = new PolicyServer({ config: loadConfig(cfgFile), logger: log.logger, watch: true, watchDebounceMs: 100, defaultMetrics: false });
    await server.start();
    port = server.addresses.https.port;
  });
  after(() => server.close(200));

  test('GET over HTTP/1.1: 200, text/plain; charset=utf-8, canonical text, ETag; TLS 1.3', async () => {
    const r = await httpsRequest(port, 'mta-sts.a.example', ca.certPem);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.body, POLICY_A);
    assert.equal(r.headers.etag, `"${policyId(POLICY_A)}"`);
    assert.equal(r.headers.location, undefined);
    assert.notEqual(r.alpn, 'h2'); // no ALPN offered: HTTP/1.1
    assert.equal(r.tlsVersion, 'TLSv1.3');
    assert.match(r.peerCertNames, /DNS:mta-sts\.a\.example/);
  });

  test('TLS 1.2 is accepted too', async () => {
    const r = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { maxVersion: 'TLSv1.2' });
    assert.equal(r.status, 200);
    assert.equal(r.tlsVersion, 'TLSv1.2');
  });

  test('HEAD has the headers and no body; If-None-Match gives 304', async () => {
    const h = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.equal(h.headers['content-length'], String(Buffer.byteLength(POLICY_A)));
    const etag = String(h.headers.etag);
    const c = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { headers: { 'if-none-match': `"x", ${etag}` } });
    assert.equal(c.status, 304);
    assert.equal(c.body, '');
    const miss = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { headers: { 'if-none-match': '"other"' } });
    assert.equal(miss.status, 200);
  });

  test('HTTP/2 through ALPN', async () => {
    const r = await h2Request(port, 'mta-sts.b.example', ca.certPem);
    try {
      assert.equal(r.alpn, 'h2');
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.body, serializePolicy({ version: 'STSv1', mode: 'testing', mx: ['mx.b.example'], maxAge: 604800, extensions: [] }));
      const head = await h2Request(port, 'mta-sts.b.example', ca.certPem, { method: 'HEAD', session: r.session });
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      const nf = await h2Request(port, 'mta-sts.b.example', ca.certPem, { path: '/', session: r.session });
      assert.equal(nf.status, 404);
    } finally {
      r.session.close();
    }
  });

  test('other paths, methods and unconfigured hosts: plain 404/405, never a redirect', async () => {
    const cases: [string, string, string, number][] = [
      ['mta-sts.a.example', 'GET', '/', 404],
      ['mta-sts.a.example', 'GET', '/.well-known/mta-sts.txt/', 404],
      ['mta-sts.a.example', 'GET', '/.well-known/MTA-STS.txt', 404],
      ['mta-sts.a.example', 'POST', '/.well-known/mta-sts.txt', 405],
      ['mta-sts.a.example', 'DELETE', '/.well-known/mta-sts.txt', 405],
      ['mta-sts.c.example', 'GET', '/.well-known/mta-sts.txt', 404], // a certificate exists, but no such domain is configured
    ];
    for (const [host, method, path, status] of cases) {
      // SNI names a configured host; the Host header names the one under test.
      const r = await httpsRequest(port, host, ca.certPem, { method, path, servername: 'mta-sts.a.example', headers: { host } });
      assert.equal(r.status, status, `${method} ${host}${path}`);
      assert.equal(r.headers.location, undefined);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
    }
    const post = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { method: 'POST', headers: { 'content-length': '0' } });
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('no SNI or an unknown SNI: the handshake is aborted, no certificate is shown', async () => {
    const attempt = (servername: string | undefined): Promise<string> => new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
      s.once('secureConnect', () => {
        const names = s.getPeerCertificate().subjectaltname ?? '';
        s.destroy();
        resolve(`connected: ${names}`);
      });
      s.once('error', (e) => resolve(`error: ${e.message}`));
    });
    assert.match(await attempt(undefined), /^error/);
    assert.match(await attempt('mta-sts.unknown.example'), /^error/);
    assert.match(await attempt('mta-sts.c.example'), /^error/); // a file exists but the domain is not configured
    assert.match(await attempt('mta-sts.b.example'), /^connected: DNS:mta-sts\.b\.example$/);
  });

  test('the http listener answers 404 without redirecting; admin has /healthz and /metrics', async () => {
    const p = await getHttp(server.addresses.http!.port, '/.well-known/mta-sts.txt');
    assert.equal(p.status, 404);
    const challenge = await getHttp(server.addresses.http!.port, '/.well-known/acme-challenge/nothing');
    assert.equal(challenge.status, 404);
    const admin = server.addresses.admin!;
    assert.equal(admin.address, '127.0.0.1');
    const h = await getHttp(admin.port, '/healthz');
    assert.equal(h.status, 200);
    assert.equal((JSON.parse(h.body) as { status: string }).status, 'ok');
    const m = await getHttp(admin.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /mtasts_serve_requests_total\{status="200",protocol="http\/1\.1"\} \d+/);
    assert.match(m.body, /mtasts_serve_domains 2/);
    assert.match(m.body, /mtasts_serve_certificate_expiry_seconds\{host="mta-sts\.a\.example"\} \d+/);
  });

  test('one JSON log line per request at debug level', async () => {
    const before = log.lines.length;
    await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { path: '/.well-known/mta-sts.txt?probe=1' });
    const lines = log.lines.slice(before).filter((l) => l.msg === 'request');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 20);
    assert.equal(lines[0]?.host, 'mta-sts.a.example');
    assert.equal(lines[0]?.status, 200);
  });

  test('reload on file change: new domain served, open HTTP/2 session keeps working; bad config rejected', async () => {
    const first = await h2Request(port, 'mta-sts.a.example', ca.certPem);
    assert.equal(first.status, 200);
    const reloads = (): number => log.lines.filter((l) => l.msg === 'configuration reloaded').length;
    const rejected = (): number => log.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration rejected')).length;
    const waitFor = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Replace the file the way editors do (write elsewhere, rename over).
      const r0 = reloads();
      writeFileSync(`${cfgFile}.new`, configText([DOMAIN_A.replace('enforce', 'testing'), DOMAIN_B, '  c.example: { mode: none }']));
      renameSync(`${cfgFile}.new`, cfgFile);
      await waitFor(() => reloads() > r0, 'the reload');
      const c = await httpsRequest(port, 'mta-sts.c.example', ca.certPem);
      assert.equal(c.status, 200);
      assert.match(c.body, /mode: none/);
      const again = await h2Request(port, 'mta-sts.a.example', ca.certPem, { session: first.session });
      assert.match(again.body, /mode: testing/, 'the same HTTP/2 session sees the new policy');

      // A broken file is rejected; the previous configuration keeps serving.
      const e0 = rejected();
      writeFileSync(cfgFile, configText(['  c.example: { mode: bogus }']));
      await waitFor(() => rejected() > e0, 'the rejection');
      const line = log.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration rejected')).at(-1);
      assert.match(String(line?.msg), /serve\.yaml:\d+:\d+: domains\.c\.example\.mode/);
      assert.equal(line?.level, 50);
      const still = await h2Request(port, 'mta-sts.c.example', ca.certPem, { session: first.session });
      assert.equal(still.status, 200);

      // A configured domain without a certificate is rejected too (explicit reload, as on SIGHUP).
      writeFileSync(cfgFile, configText([DOMAIN_A, '  d.example: { mode: none }']));
      assert.equal(await server.reload(), false);
      assert.equal((await httpsRequest(port, 'mta-sts.c.example', ca.certPem)).status, 200);
      writeFileSync(cfgFile, configText([DOMAIN_A, DOMAIN_B]));
      assert.equal(await server.reload(), true);
      assert.equal((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).body, POLICY_A);
    } finally {
      first.session.close();
    }
    assert.ok(readFileSync(cfgFile, 'utf8').includes('b.example'));
  });
});

describe('hostile clients', () => {
  let ca: TestCA;
  let server: PolicyServer;
  let port: number;
  before(async () => {
    ca = await createTestCA();
    const dir = tempDir('mtasts-serve-hostile-');
    await certDir(ca, ['mta-sts.a.example'], { dir });
    server = new PolicyServer({
      config: parseConfig([
        'listen: { https: "127.0.0.1:0", admin: false }',
        'certificates: { dir: . }',
        'log_level: silent',
        'limits: { max_connections: 300, handshake_timeout: 1.5, header_timeout: 1.5, idle_timeout: 3, max_header_bytes: 4096 }',
        `domains:\n${DOMAIN_A}`,
      ].join('\n'), { baseDir: dir }),
      defaultMetrics: false,
    });
    await server.start();
    port = server.addresses.https.port;
  });
  after(() => server.close(100));

  const openRaw = (n: number): Promise<net.Socket[]> => Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => { /* the server may drop it */ });
    s.once('error', reject);
  })));

  test('idle TCP sockets and slowloris clients do not stall a normal client, and are reaped', async () => {
    const idle = await openRaw(150);
    // Slowloris: finish TLS, then dribble an incomplete header block.
    const slow = await Promise.all(Array.from({ length: 40 }, () => new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'mta-sts.a.example', ca: ca.certPem, ALPNProtocols: ['http/1.1'] }, () => {
        s.write('GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.a.example\r\n');
        resolve(s);
      });
      s.on('error', () => { /* expected once the server gives up */ });
      s.once('error', reject);
    })));
    const drip = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('X-a: b\r\n'); }, 200);
    try {
      const t0 = Date.now();
      const r = await httpsRequest(port, 'mta-sts.a.example', ca.certPem);
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 2000, `normal client took ${Date.now() - t0} ms`);
      const h2 = await h2Request(port, 'mta-sts.a.example', ca.certPem);
      assert.equal(h2.status, 200);
      h2.session.close();

      // All of them are closed by the server within the handshake/header timeouts (+ checking interval).
      const closed = (s: net.Socket): Promise<void> => new Promise((resolve) => (s.destroyed || s.readyState === 'closed' ? resolve() : s.once('close', () => resolve())));
      const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('hostile sockets were not reaped')), 15_000).unref());
      await Promise.race([Promise.all([...idle, ...slow].map(closed)), deadline]);
    } finally {
      clearInterval(drip);
      for (const s of [...idle, ...slow]) s.destroy();
    }
  });

  test('oversized headers are refused; request bodies are not read', async () => {
    const big = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { headers: { 'x-big': 'a'.repeat(8000) } }).catch((e: Error) => e);
    assert.ok(big instanceof Error || big.status === 431, `got ${big instanceof Error ? big.message : big.status}`);
    const post = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { method: 'POST', headers: { 'content-length': '100000000' } });
    assert.equal(post.status, 405);
    assert.equal(post.headers.connection, 'close');
  });

  test('max_connections bounds open connections', async () => {
    const held = await openRaw(300);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const extra = await httpsRequest(port, 'mta-sts.a.example', ca.certPem, { timeoutMs: 1000 }).then(() => 'served', (e: Error) => e.message);
      assert.notEqual(extra, 'served');
    } finally {
      for (const s of held) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await httpsRequest(port, 'mta-sts.a.example', ca.certPem)).status, 200);
  });
});
