/**
 * `mtasts resolver`: the socketmap server over TCP and a unix socket against the test world, its
 * postfix-mta-sts-resolver configuration, reply format, wildcard and mx handling, metrics and
 * graceful shutdown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseResolverConfig } from '../src/resolver/config.js';
import { encodeNetstring, NetstringDecoder } from '../src/resolver/netstring.js';
import { domainFromKey, matchList, NO_MATCH_NAME } from '../src/resolver/postfix.js';
import { startSocketmapServer, type SocketmapServer } from '../src/resolver/server.js';
import { createWorld, policyText, type World } from '../src/testworld/index.js';

const quiet = pino({ level: 'silent' });
let world: World;
let dir: string;
const D = `${process.pid}.sm.test`;

before(async () => {
  world = await createWorld();
  dir = await mkdtemp(path.join(tmpdir(), 'mtasts-sm-'));
  await world.addDomain({ domain: `good.${D}` });
  await world.addDomain({
    domain: `wild.${D}`,
    mx: [{ host: `a.wild.${D}` }, { host: `b.c.wild.${D}` }],
    policy: policyText({ mx: [`*.wild.${D}`] }),
  });
  await world.addDomain({ domain: `testing.${D}`, policy: policyText({ mode: 'testing', mx: [`mx1.testing.${D}`] }) });
  await world.addDomain({ domain: `none.${D}`, policy: policyText({ mode: 'none', mx: [] }) });
  await world.addDomain({ domain: `nosts.${D}`, stsTxt: null });
});
after(async () => {
  await world.close();
  await rm(dir, { recursive: true, force: true });
});

function yamlFor(extra: string, shutdown = 2): string {
  return `host: 127.0.0.1
port: 0
shutdown_timeout: ${shutdown}
cache_grace: 60
cache:
  type: sqlite
  options:
    filename: ${path.join(dir, `c-${Math.random().toString(36).slice(2)}.sqlite`)}
default_zone:
  strict_testing: false
  timeout: 3
zones:
  strict:
    strict_testing: true
    require_sni: false
  rpt:
    tlsrpt: true
dns_servers: ["${world.dnsServer}"]
ca_file: ${world.caFile}
https_port: ${world.httpsPort}
${extra}`;
}

/** A socketmap client: sends all requests at once (pipelined) and returns the replies in order. */
async function query(target: { port?: number; path?: string }, requests: string[]): Promise<string[]> {
  const sock = target.path ? net.connect(target.path) : net.connect(target.port!, '127.0.0.1');
  const decoder = new NetstringDecoder(200_000);
  const replies: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socketmap timeout')), 15_000);
    sock.on('connect', () => sock.write(Buffer.concat(requests.map((r) => encodeNetstring(r)))));
    sock.on('data', (c: Buffer) => {
      for (const r of decoder.push(c)) replies.push(r.toString('utf8'));
      if (replies.length === requests.length) {
        clearTimeout(timer);
        sock.end();
        resolve(replies);
      }
    });
    sock.on('error', reject);
  });
}

describe('socketmap server', () => {
  let server: SocketmapServer;
  before(async () => {
    server = await startSocketmapServer(parseResolverConfig(yamlFor('metrics:\n  host: 127.0.0.1\n  port: 0\n')), { logger: quiet });
  });
  after(async () => server.close());

  test('replies in the form Postfix expects, in order, over one connection', async () => {
    const replies = await query({ port: server.port! }, [
      `postfix good.${D}`,
      `postfix nosts.${D}`,
      `postfix none.${D}`,
      `postfix testing.${D}`,
      `strict testing.${D}`,
      `postfix .good.${D}`,
      'postfix [127.0.0.1]:25',
      `postfix good.${D}:2525`,
    ]);
    assert.deepEqual(replies, [
      `OK secure match=mx1.good.${D} servername=hostname`,
      'NOTFOUND ',
      'NOTFOUND ',
      'NOTFOUND ',
      `OK secure match=mx1.testing.${D}`,
      'NOTFOUND ',
      'NOTFOUND ',
      `OK secure match=mx1.good.${D} servername=hostname`,
    ]);
  });

  test('a wildcard matches exactly one label: only the MX hosts it covers are listed, never ".suffix"', async () => {
    const [reply] = await query({ port: server.port! }, [`postfix wild.${D}`]);
    assert.equal(reply, `OK secure match=a.wild.${D} servername=hostname`);
  });

  test('Postfix 3.10 TLSRPT attributes carry the policy text and patterns', async () => {
    const [reply] = await query({ port: server.port! }, [`rpt wild.${D}`]);
    assert.ok(reply!.startsWith(`OK secure match=a.wild.${D} servername=hostname policy_type=sts policy_domain=wild.${D} `), reply);
    assert.ok(reply!.includes('{ policy_string = version: STSv1 } { policy_string = mode: enforce }'), reply);
    assert.ok(reply!.endsWith(`mx_host_pattern=*.wild.${D}`), reply);
  });

  test('metrics are served', async () => {
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    const body = await res.text();
    assert.match(body, /mtasts_resolver_requests_total\{zone="default",reply="secure"\} \d+/);
    assert.match(body, /mtasts_resolver_fetches_total \d+/);
  });

  test('a malformed netstring closes the connection; others are unaffected', async () => {
    const sock = net.connect(server.port!, '127.0.0.1');
    await new Promise<void>((resolve) => {
      sock.on('connect', () => sock.write('xx:garbage,'));
      sock.on('close', () => resolve());
      sock.on('error', () => {});
    });
    assert.deepEqual(await query({ port: server.port! }, [`postfix nosts.${D}`]), ['NOTFOUND ']);
  });
});

describe('socketmap server on a unix socket, graceful shutdown', () => {
  test('answers on the socket with its mode, and finishes in-flight lookups before closing', async () => {
    const sockPath = path.join(dir, 'mta-sts.sock');
    const cfg = parseResolverConfig(yamlFor(`path: ${sockPath}\nmode: 0660\n`, 10));
    const server = await startSocketmapServer(cfg, { logger: quiet });
    assert.equal((await stat(sockPath)).mode & 0o777, 0o660);
    assert.deepEqual(await query({ path: sockPath }, [`postfix good.${D}`]), [`OK secure match=mx1.good.${D} servername=hostname`]);
    // A slow policy host: the lookup is in flight when shutdown starts, and still gets its answer.
    await world.addDomain({ domain: `slow.${D}`, http: { kind: 'hang' } });
    const pending = query({ path: sockPath }, [`postfix slow.${D}`]);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await server.close();
    assert.deepEqual(await pending, ['NOTFOUND ']);
    assert.ok(Date.now() - t0 < 10_000);
  });
});

describe('configuration and keys', () => {
  test('postfix-mta-sts-resolver keys, YAML 1.1 octal mode, defaults', () => {
    const c = parseResolverConfig(`
host: 0.0.0.0
port: 8461
path: /run/mta-sts.sock
mode: 0666
reuse_port: true
shutdown_timeout: 20
cache_grace: 60
proactive_policy_fetching:
  enabled: true
  interval: 86400
  concurrency_limit: 100
  grace_ratio: 2
cache:
  type: redis
  options:
    url: redis://127.0.0.1:6379/0
default_zone:
  strict_testing: false
  timeout: 4
  require_sni: true
zones:
  myzone:
    strict_testing: true
    timeout: 4
`);
    assert.equal(c.mode, 0o666);
    assert.equal(c.path, '/run/mta-sts.sock');
    assert.deepEqual(c.cache, { type: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: 'mtasts:policy:' });
    assert.equal(c.zones.get('myzone')?.strictTesting, true);
    assert.equal(c.zones.get('myzone')?.requireSni, true);
    assert.equal(parseResolverConfig('').cache.type, 'sqlite');
    assert.throws(() => parseResolverConfig('cache:\n  type: memcached\n'), /not supported/);
    assert.throws(() => parseResolverConfig('default_zone:\n  timeout: fast\n'), /timeout/);
  });

  test('socketmap keys and match lists', () => {
    assert.equal(domainFromKey('Example.COM.'), 'example.com');
    assert.equal(domainFromKey('example.com:2525'), 'example.com');
    assert.equal(domainFromKey('.example.com'), null);
    assert.equal(domainFromKey('[mx.example.com]:25'), null);
    assert.equal(domainFromKey('192.0.2.1'), null);
    assert.equal(domainFromKey('bad key'), null);
    assert.deepEqual(matchList(['*.example.net', 'mx.example.com'], ['a.example.net', 'a.b.example.net']), ['mx.example.com', 'a.example.net']);
    assert.deepEqual(matchList(['*.example.net'], ['a.b.example.net']), [NO_MATCH_NAME]);
    assert.deepEqual(matchList(['*.example.net'], null), [NO_MATCH_NAME]);
  });
});
