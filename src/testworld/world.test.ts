/**
 * Proves the test world with ordinary clients (node:dns Resolver, https, raw net+tls SMTP), so
 * that checker tests built on it fail only for the checker's own reasons.
 */
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { existsSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { SCENARIOS, WORLD_ADDRESSES, createWorld, policyText, type World } from './index.js';
import { FINDINGS, type FindingCode } from '../findings.js';

function resolver(world: World, timeout = 2000): Resolver {
  const r = new Resolver({ timeout, tries: 1 });
  r.setServers([world.dnsServer]);
  return r;
}

async function dnsError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'ERROR';
  }
  return 'NO ERROR';
}

interface Fetched {
  res: IncomingMessage;
  body: string;
}

/** GETs https://<host>/<path> from the world's policy server the way the checker will. */
function get(world: World, host: string, opts: { path?: string; address?: string; ca?: string | false } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: opts.address ?? '127.0.0.1',
      port: world.httpsPort,
      servername: host,
      path: opts.path ?? '/.well-known/mta-sts.txt',
      headers: { Host: host },
      ca: opts.ca === false ? undefined : (opts.ca ?? world.caPem),
      rejectUnauthorized: opts.ca !== false,
      agent: false,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ res, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function tlsErrorCode(world: World, host: string): Promise<string> {
  try {
    await get(world, host);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'ERROR';
  }
  return 'NO ERROR';
}

/** Minimal SMTP client: reads complete (multi-line) replies. */
class SmtpClient {
  private buf = '';
  private waiters: ((reply: string) => void)[] = [];
  private replies: string[] = [];
  closed = false;

  constructor(public sock: net.Socket | tls.TLSSocket) {
    this.attach(sock);
  }

  static connect(world: World, address: string): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: address, port: world.smtpPort }, () => resolve(new SmtpClient(sock)));
      sock.once('error', reject);
    });
  }

  private attach(sock: net.Socket): void {
    sock.setEncoding('latin1');
    const onData = (chunk: string): void => {
      this.buf += chunk;
      let m: RegExpExecArray | null;
      // A reply ends with a line "NNN text" (space after the code), or any line if not SMTP.
      while ((m = /^(?:\d{3}-[^\n]*\n)*[^\n]*\n/.exec(this.buf))) {
        this.buf = this.buf.slice(m[0].length);
        const w = this.waiters.shift();
        if (w) w(m[0]);
        else this.replies.push(m[0]);
      }
    };
    sock.on('data', onData);
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }

  reply(timeoutMs = 2000): Promise<string> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for reply')), timeoutMs);
      this.waiters.push((r) => {
        clearTimeout(t);
        resolve(r);
      });
    });
  }

  async cmd(line: string): Promise<string> {
    this.sock.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS already answered 220: hand the socket to TLS. */
  async upgrade(servername: string, ca: string): Promise<tls.TLSSocket> {
    this.sock.removeAllListeners('data');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: this.sock, servername, ca }, () => resolve(s));
      s.once('error', reject);
    });
    this.sock = secure;
    this.buf = '';
    this.attach(secure);
    return secure;
  }
}

describe('test world', () => {
  let world: World;
  before(async () => {
    world = await createWorld({
      domains: [
        { domain: 'good.test' },
        { domain: 'multi.test', stsTxt: [['v=STSv1; ', 'id=123']], extraTxt: [['v=spf1 -all']] },
        { domain: 'big.test', extraTxt: Array.from({ length: 10 }, (_, i) => [`junk${i}=${'x'.repeat(200)}`]) },
        { domain: 'cname.test', stsCname: '_mta-sts.provider.test' },
        { domain: 'dead.test', dns: 'silent' },
        { domain: 'sf.test', dns: 'servfail' },
        { domain: 'nullmx.test', nullMx: true },
        { domain: 'bücher.test' },
        { domain: 'no-host.test', policyHost: 'missing', tlsrpt: null, stsTxt: null },
        { domain: 'unreach.test', policyHost: 'unreachable' },
        { domain: 'expired.test', policyCert: 'expired' },
        { domain: 'selfsigned.test', policyCert: 'self-signed' },
        { domain: 'wrongname.test', policyCert: 'wrong-name' },
        { domain: 'untrusted.test', policyCert: 'untrusted-ca' },
        { domain: 'wild.test', policyCert: 'wildcard' },
        { domain: 'chain.test', policyCert: 'intermediate' },
        { domain: 'nochain.test', policyCert: 'missing-intermediate' },
        { domain: 'redirect.test', http: { kind: 'redirect', location: 'https://elsewhere.test/x' } },
        { domain: 'loop.test', http: { kind: 'redirect-loop' } },
        { domain: 'octet.test', http: { kind: 'policy', contentType: 'application/octet-stream' } },
        { domain: 'huge.test', http: { kind: 'huge', bytes: 10 * 1024 * 1024 } },
        { domain: 'slow.test', http: { kind: 'slow' } },
        { domain: 'hang.test', http: { kind: 'hang' } },
        { domain: 'reset.test', http: { kind: 'reset' } },
        { domain: 'status.test', http: { kind: 'status', status: 503 } },
        {
          domain: 'mx.test',
          mx: [
            { host: 'ok.mx.test' },
            { host: 'nostarttls.mx.test', smtp: 'no-starttls' },
            { host: 'reject.mx.test', smtp: 'reject-starttls' },
            { host: 'hang.mx.test', smtp: 'hang' },
            { host: 'garbage.mx.test', smtp: 'garbage' },
            { host: 'refuse.mx.test', smtp: 'refuse' },
            { host: 'unreach.mx.test', smtp: 'unreachable' },
            { host: 'missing.mx.test', smtp: 'missing' },
            { host: 'expired.mx.test', cert: 'expired' },
            { host: 'wild.mx.test', cert: 'wildcard' },
          ],
        },
      ],
    });
  });
  after(() => world.close());

  describe('DNS', () => {
    test('TXT records, multi-string records and extra TXT', async () => {
      const r = resolver(world);
      const good = await r.resolveTxt('_mta-sts.good.test');
      assert.equal(good.length, 1);
      assert.match(good[0]!.join(''), /^v=STSv1; id=[0-9a-f]{20}$/);
      const multi = await r.resolveTxt('_mta-sts.multi.test');
      assert.deepEqual(multi.sort(), [['v=STSv1; ', 'id=123'], ['v=spf1 -all']].sort());
      assert.deepEqual(await r.resolveTxt('_smtp._tls.good.test'), [['v=TLSRPTv1; rua=mailto:tlsrpt@good.test']]);
    });

    test('a 2 KB TXT set arrives complete through the TCP fallback', async () => {
      const r = resolver(world);
      const before = world.dns.queryCount('_mta-sts.big.test', 'TXT');
      const txt = await r.resolveTxt('_mta-sts.big.test');
      assert.equal(txt.length, 11);
      assert.ok(txt.flat().join('').length > 2000);
      // One truncated UDP answer, then the same query over TCP.
      assert.equal(world.dns.queryCount('_mta-sts.big.test', 'TXT') - before, 2);
    });

    test('MX, A, null MX, IDN', async () => {
      const r = resolver(world);
      assert.deepEqual(await r.resolveMx('good.test'), [{ exchange: 'mx1.good.test', priority: 10 }]);
      assert.deepEqual(await r.resolve4('mx1.good.test'), ['127.0.0.1']);
      assert.deepEqual(await r.resolve4('mta-sts.good.test'), ['127.0.0.1']);
      assert.deepEqual(await r.resolve4('mta-sts.unreach.test'), [WORLD_ADDRESSES.unreachable]);
      assert.deepEqual(await r.resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
      assert.deepEqual(await r.resolveMx('xn--bcher-kva.test'), [{ exchange: 'mx1.xn--bcher-kva.test', priority: 10 }]);
      assert.deepEqual(await r.resolve4('nostarttls.mx.test'), [WORLD_ADDRESSES['no-starttls']]);
      assert.equal(await dnsError(r.resolve4('missing.mx.test')), 'ENOTFOUND');
    });

    test('CNAME chains are chased into the answer', async () => {
      const r = resolver(world);
      assert.deepEqual(await r.resolveCname('_mta-sts.cname.test'), ['_mta-sts.provider.test']);
      const txt = await r.resolveTxt('_mta-sts.cname.test');
      assert.equal(txt.length, 1);
      assert.match(txt[0]!.join(''), /^v=STSv1; id=/);
    });

    test('NXDOMAIN, NODATA, empty non-terminals', async () => {
      const r = resolver(world);
      assert.equal(await dnsError(r.resolveTxt('_mta-sts.no-host.test')), 'ENOTFOUND');
      assert.equal(await dnsError(r.resolve4('mta-sts.no-host.test')), 'ENOTFOUND');
      assert.equal(await dnsError(r.resolveTxt('_smtp._tls.no-host.test')), 'ENOTFOUND');
      assert.equal(await dnsError(r.resolve6('mx1.good.test')), 'ENODATA');
      assert.equal(await dnsError(r.resolveTxt('_tls.good.test')), 'ENODATA'); // parent of _smtp._tls
      assert.equal(await dnsError(r.resolveTxt('nothing.example')), 'ENOTFOUND');
    });

    test('silent names time out, servfail names fail', async () => {
      const r = resolver(world, 300);
      const t0 = Date.now();
      assert.equal(await dnsError(r.resolveTxt('_mta-sts.dead.test')), 'ETIMEOUT');
      assert.ok(Date.now() - t0 < 2000);
      assert.equal(await dnsError(r.resolveMx('dead.test')), 'ETIMEOUT');
      assert.equal(await dnsError(r.resolveTxt('_mta-sts.sf.test')), 'ESERVFAIL');
    });

    test('a TCP connection carries several queries, even split into pieces', async () => {
      const frames = ['good.test', 'mx1.good.test'].map((name, i) => {
        const q = dnsPacket.encode({ type: 'query', id: i + 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
        const f = Buffer.alloc(2 + q.length);
        f.writeUInt16BE(q.length, 0);
        q.copy(f, 2);
        return f;
      });
      const wire = Buffer.concat(frames);
      const sock = net.connect({ host: '127.0.0.1', port: world.dns.port });
      await new Promise((resolve) => sock.once('connect', resolve));
      for (let i = 0; i < wire.length; i += 7) sock.write(wire.subarray(i, i + 7)); // partial reads
      let got = Buffer.alloc(0);
      const answers = await new Promise<DecodedPacket[]>((resolve) => {
        sock.on('data', (c: Buffer) => {
          got = Buffer.concat([got, c]);
          const out: DecodedPacket[] = [];
          let off = 0;
          while (got.length >= off + 2 && got.length >= off + 2 + got.readUInt16BE(off)) {
            out.push(dnsPacket.decode(got.subarray(off + 2, off + 2 + got.readUInt16BE(off))));
            off += 2 + got.readUInt16BE(off);
          }
          if (out.length === 2) resolve(out);
        });
      });
      sock.destroy();
      assert.deepEqual(answers.map((a) => a.id), [1, 2]);
      assert.equal(answers[0]!.answers?.length, 0); // good.test has MX only: NODATA
      assert.equal(answers[0]!.flag_aa && answers[0]!.flag_ra && answers[0]!.flag_rd, true);
      assert.deepEqual(answers[1]!.answers?.map((a) => (a.type === 'A' ? a.data : a.type)), ['127.0.0.1']);
    });
  });

  describe('HTTPS policy host', () => {
    test('serves the default policy for a healthy domain', async () => {
      const { res, body } = await get(world, 'mta-sts.good.test');
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(body, policyText({ mx: ['mx1.good.test'] }));
      assert.equal(body, 'version: STSv1\r\nmode: enforce\r\nmx: mx1.good.test\r\nmax_age: 604800\r\n');
      const other = await get(world, 'mta-sts.good.test', { path: '/' });
      assert.equal(other.res.statusCode, 404);
      assert.ok(world.https.requestCount('mta-sts.good.test') >= 2);
    });

    test('the TXT id follows the policy text', async () => {
      const r = resolver(world);
      const a = (await r.resolveTxt('_mta-sts.good.test'))[0]!.join('');
      const b = (await r.resolveTxt('_mta-sts.wild.test'))[0]!.join('');
      assert.notEqual(a, b);
    });

    test('certificate variants fail verification the expected way', async () => {
      assert.equal(await tlsErrorCode(world, 'mta-sts.expired.test'), 'CERT_HAS_EXPIRED');
      assert.equal(await tlsErrorCode(world, 'mta-sts.selfsigned.test'), 'DEPTH_ZERO_SELF_SIGNED_CERT');
      assert.equal(await tlsErrorCode(world, 'mta-sts.wrongname.test'), 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.equal(await tlsErrorCode(world, 'mta-sts.untrusted.test'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.equal(await tlsErrorCode(world, 'mta-sts.nochain.test'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.equal((await get(world, 'mta-sts.wild.test')).res.statusCode, 200);
      assert.equal((await get(world, 'mta-sts.chain.test')).res.statusCode, 200);
      // Unknown SNI gets the default certificate, which names no real host.
      assert.equal(await tlsErrorCode(world, 'mta-sts.unknown.test'), 'ERR_TLS_CERT_ALTNAME_INVALID');
    });

    test('redirects, status codes, content type, reset', async () => {
      const red = await get(world, 'mta-sts.redirect.test');
      assert.equal(red.res.statusCode, 301);
      assert.equal(red.res.headers.location, 'https://elsewhere.test/x');
      const loop = await get(world, 'mta-sts.loop.test');
      assert.equal(loop.res.statusCode, 301);
      assert.equal(loop.res.headers.location, 'https://mta-sts.loop.test/.well-known/mta-sts.txt');
      assert.equal((await get(world, 'mta-sts.status.test')).res.statusCode, 503);
      const oct = await get(world, 'mta-sts.octet.test');
      assert.equal(oct.res.headers['content-type'], 'application/octet-stream');
      assert.match(oct.body, /^version: STSv1\r\n/);
      await assert.rejects(get(world, 'mta-sts.reset.test'), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
      assert.equal((await get(world, 'nobody.test', { ca: false })).res.statusCode, 404);
    });

    test('huge body: announces 10 MB and streams it', async () => {
      const n = await new Promise<{ len: string | undefined; read: number }>((resolve, reject) => {
        const req = https.get({
          host: '127.0.0.1', port: world.httpsPort, servername: 'mta-sts.huge.test', path: '/.well-known/mta-sts.txt',
          headers: { Host: 'mta-sts.huge.test' }, ca: world.caPem, agent: false,
        }, (res) => {
          let read = 0;
          res.on('data', (c: Buffer) => {
            read += c.length;
            if (read > 64 * 1024) {
              req.destroy(); // stop like a size-limited client
              resolve({ len: res.headers['content-length'], read });
            }
          });
        });
        req.on('error', (e) => (e.message.includes('aborted') ? undefined : reject(e)));
      });
      assert.equal(n.len, String(10 * 1024 * 1024));
      assert.ok(n.read > 64 * 1024);
    });

    test('slow body trickles, hang never answers', async () => {
      const slow = await new Promise<{ first: number; bytes: number }>((resolve, reject) => {
        const t0 = Date.now();
        const req = https.get({
          host: '127.0.0.1', port: world.httpsPort, servername: 'mta-sts.slow.test', path: '/.well-known/mta-sts.txt',
          headers: { Host: 'mta-sts.slow.test' }, ca: world.caPem, agent: false,
        }, (res) => {
          res.once('data', (c: Buffer) => {
            req.destroy();
            resolve({ first: Date.now() - t0, bytes: c.length });
          });
        });
        req.on('error', (e) => (e.message.includes('aborted') ? undefined : reject(e)));
      });
      assert.equal(slow.bytes, 1);
      assert.ok(slow.first >= 800 && slow.first < 3000, `first byte after ${slow.first} ms`);

      const hang = await new Promise<string>((resolve) => {
        const req = https.get({
          host: '127.0.0.1', port: world.httpsPort, servername: 'mta-sts.hang.test', path: '/.well-known/mta-sts.txt',
          headers: { Host: 'mta-sts.hang.test' }, ca: world.caPem, agent: false, timeout: 300,
        }, () => resolve('answered'));
        req.on('timeout', () => {
          req.destroy();
          resolve('timeout');
        });
        req.on('error', () => undefined);
      });
      assert.equal(hang, 'timeout');
      assert.ok(world.https.requestCount('mta-sts.hang.test') >= 1);
    });

    test('unreachable address refuses connections', async () => {
      await assert.rejects(get(world, 'mta-sts.unreach.test', { address: WORLD_ADDRESSES.unreachable }),
        (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    });
  });

  describe('SMTP', () => {
    test('ok: EHLO, STARTTLS, verified handshake with SNI, EHLO again, QUIT', async () => {
      const c = await SmtpClient.connect(world, WORLD_ADDRESSES.ok);
      assert.match(await c.reply(), /^220 /);
      const ehlo = await c.cmd('EHLO client.test');
      assert.match(ehlo, /^250-/);
      assert.match(ehlo, /^250[- ]STARTTLS\r$/m);
      assert.match(await c.cmd('STARTTLS'), /^220 /);
      const secure = await c.upgrade('ok.mx.test', world.caPem);
      assert.equal(secure.authorized, true);
      assert.deepEqual(secure.getPeerCertificate().subjectaltname, 'DNS:ok.mx.test');
      const ehlo2 = await c.cmd('EHLO client.test');
      assert.doesNotMatch(ehlo2, /STARTTLS/);
      assert.match(await c.cmd('QUIT'), /^221 /);
    });

    test('ok: per-SNI certificate variants', async () => {
      const handshake = async (sni: string): Promise<tls.TLSSocket> => {
        const c = await SmtpClient.connect(world, WORLD_ADDRESSES.ok);
        await c.reply();
        await c.cmd('EHLO client.test');
        await c.cmd('STARTTLS');
        return c.upgrade(sni, world.caPem);
      };
      await assert.rejects(handshake('expired.mx.test'), (e: NodeJS.ErrnoException) => e.code === 'CERT_HAS_EXPIRED');
      const wild = await handshake('wild.mx.test');
      assert.equal(wild.getPeerCertificate().subjectaltname, 'DNS:*.mx.test');
      wild.destroy();
      await assert.rejects(handshake('not-configured.test'), (e: NodeJS.ErrnoException) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
    });

    test('no-starttls and reject-starttls', async () => {
      const a = await SmtpClient.connect(world, WORLD_ADDRESSES['no-starttls']);
      assert.match(await a.reply(), /^220 /);
      const ehlo = await a.cmd('EHLO client.test');
      assert.match(ehlo, /^250 /m);
      assert.doesNotMatch(ehlo, /STARTTLS/);
      assert.match(await a.cmd('STARTTLS'), /^502 /);
      a.sock.destroy();

      const b = await SmtpClient.connect(world, WORLD_ADDRESSES['reject-starttls']);
      await b.reply();
      assert.match(await b.cmd('EHLO client.test'), /STARTTLS/);
      assert.match(await b.cmd('STARTTLS'), /^454 /);
      b.sock.destroy();
    });

    test('hang, garbage, refuse, unreachable', async () => {
      const h = await SmtpClient.connect(world, WORLD_ADDRESSES.hang);
      await assert.rejects(h.reply(300), /timeout/);
      h.sock.destroy();

      const g = await SmtpClient.connect(world, WORLD_ADDRESSES.garbage);
      assert.match(await g.reply(), /^HTTP\/1\.1 400/);
      await new Promise((resolve) => (g.closed ? resolve(null) : g.sock.once('close', resolve)));

      const r = await SmtpClient.connect(world, WORLD_ADDRESSES.refuse);
      assert.match(await r.reply(), /^554 /);
      assert.match(await r.cmd('EHLO client.test'), /^503 /);
      assert.match(await r.cmd('QUIT'), /^221 /);

      await assert.rejects(SmtpClient.connect(world, WORLD_ADDRESSES.unreachable), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    });

    test('100 concurrent STARTTLS sessions', async () => {
      const one = async (): Promise<boolean> => {
        const c = await SmtpClient.connect(world, WORLD_ADDRESSES.ok);
        await c.reply();
        await c.cmd('EHLO client.test');
        await c.cmd('STARTTLS');
        const s = await c.upgrade('ok.mx.test', world.caPem);
        const ok = s.authorized;
        await c.cmd('QUIT');
        s.destroy();
        return ok;
      };
      const results = await Promise.all(Array.from({ length: 100 }, one));
      assert.ok(results.every(Boolean));
    });
  });

  describe('world management', () => {
    test('addDomain and removeDomain take effect live', async () => {
      const r = resolver(world);
      assert.equal(await dnsError(r.resolveTxt('_mta-sts.late.test')), 'ENOTFOUND');
      await world.addDomain({ domain: 'late.test', policy: policyText({ mode: 'testing', mx: ['mx1.late.test'] }) });
      assert.equal((await r.resolveTxt('_mta-sts.late.test')).length, 1);
      const { body } = await get(world, 'mta-sts.late.test');
      assert.match(body, /mode: testing/);
      // Replacing a domain swaps its configuration.
      await world.addDomain({ domain: 'late.test', policyCert: 'expired' });
      assert.equal(await tlsErrorCode(world, 'mta-sts.late.test'), 'CERT_HAS_EXPIRED');
      world.removeDomain('late.test');
      assert.equal(await dnsError(r.resolveTxt('_mta-sts.late.test')), 'ENOTFOUND');
      assert.equal(await dnsError(r.resolveMx('late.test')), 'ENOTFOUND');
      assert.ok(!world.domains().includes('late.test'));
    });

    test('1000 domains are added quickly', async () => {
      const t0 = Date.now();
      for (let i = 0; i < 1000; i++) await world.addDomain({ domain: `bulk${i}.test` });
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      const r = resolver(world);
      assert.deepEqual(await r.resolveMx('bulk999.test'), [{ exchange: 'mx1.bulk999.test', priority: 10 }]);
      assert.equal((await get(world, 'mta-sts.bulk500.test')).res.statusCode, 200);
      for (let i = 0; i < 1000; i++) world.removeDomain(`bulk${i}.test`);
    });

    test('caFile holds the CA', () => {
      assert.ok(existsSync(world.caFile));
    });
  });
});

test('scenarios are well-formed and consistent with finding severities', () => {
  const names = new Set<string>();
  for (const s of SCENARIOS) {
    assert.ok(!names.has(s.name), `duplicate scenario ${s.name}`);
    names.add(s.name);
    for (const c of s.expect.codes) assert.ok(c in FINDINGS, `${s.name}: unknown code ${c}`);
    const sev = s.expect.codes.map((c: FindingCode) => FINDINGS[c].severity);
    if (sev.includes('error')) assert.equal(s.expect.verdict, 'fail', s.name);
    else if (sev.includes('warning')) assert.notEqual(s.expect.verdict, 'pass', s.name);
  }
  assert.ok(SCENARIOS.length >= 30);
});

test('a world with every scenario starts and closes, leaving no handles behind', async () => {
  const count = (): Map<string, number> => {
    const m = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) if (/TCP|UDP|Timeout/.test(r)) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };
  const baseline = count();
  const world = await createWorld({ domains: SCENARIOS.map((s) => s.spec) });
  const caFile = world.caFile;
  // Exercise some lazily created state: TLS contexts, a hung request, an SMTP session.
  await get(world, 'mta-sts.good.test');
  const hung = https.get({
    host: '127.0.0.1', port: world.httpsPort, servername: 'mta-sts.hang.test', path: '/.well-known/mta-sts.txt',
    headers: { Host: 'mta-sts.hang.test' }, ca: world.caPem, agent: false,
  });
  hung.on('error', () => undefined);
  const slow = https.get({
    host: '127.0.0.1', port: world.httpsPort, servername: 'mta-sts.slow-body.test', path: '/.well-known/mta-sts.txt',
    headers: { Host: 'mta-sts.slow-body.test' }, ca: world.caPem, agent: false,
  }, (res) => res.on('data', () => undefined).on('error', () => undefined));
  slow.on('error', () => undefined);
  const smtp = await SmtpClient.connect(world, WORLD_ADDRESSES.hang);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await world.close();
  await world.close(); // idempotent
  smtp.sock.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(existsSync(caFile), false);
  assert.deepEqual(count(), baseline);
});
