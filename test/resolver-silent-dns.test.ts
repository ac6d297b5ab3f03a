/**
 * `mtasts resolver` when DNS goes silent: a cached policy still answers, and the reply waits for
 * one lookup timeout, not one per lookup — the `_mta-sts` TXT check and the MX lookup a reply
 * needs run at once (measured through the socketmap server, over TCP).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { parseResolverConfig } from '../src/resolver/config.js';
import { encodeNetstring, NetstringDecoder } from '../src/resolver/netstring.js';
import { startSocketmapServer, type SocketmapServer } from '../src/resolver/server.js';
import { createWorld, type World } from '../src/testworld/index.js';

const D = `${process.pid}.silent.test`;

function ask(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const decoder = new NetstringDecoder(100_000);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('socketmap timeout')); }, 15_000);
    sock.on('connect', () => sock.write(encodeNetstring(request)));
    sock.on('data', (c: Buffer) => {
      const [reply] = decoder.push(c);
      if (reply) { clearTimeout(timer); sock.end(); resolve(reply.toString('utf8')); }
    });
    sock.on('error', reject);
  });
}

describe('resolver replies when DNS is silent', () => {
  let world: World;
  let dir: string;
  let server: SocketmapServer;
  before(async () => {
    world = await createWorld({ domains: [{ domain: `cached.${D}` }, { domain: `fresh.${D}` }] });
    dir = await mkdtemp(path.join(tmpdir(), 'mtasts-silent-'));
    // cache_grace 0: every request checks the TXT record (and the MX hosts) again.
    server = await startSocketmapServer(parseResolverConfig(`host: 127.0.0.1
port: 0
cache_grace: 0
cache:
  type: internal
default_zone:
  timeout: 1
dns_servers: ["${world.dnsServer}"]
ca_file: ${world.caFile}
https_port: ${world.httpsPort}
`), { logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a cached policy answers within one timeout (TXT and MX lookups in parallel)', async () => {
    const domain = `cached.${D}`;
    const expected = `OK secure match=mx1.${domain} servername=hostname`;
    assert.equal(await ask(server.port!, `postfix ${domain}`), expected); // fetched and cached
    world.dns.zone.setBehaviour(domain, 'silent', { subtree: true });
    try {
      const mxBefore = world.dns.queryCount(domain, 'MX');
      const started = performance.now();
      const reply = await ask(server.port!, `postfix ${domain}`);
      const elapsed = performance.now() - started;
      // The cached policy applies (RFC 8461 §3.3); the MX hosts are unknown, so the policy's patterns are listed.
      assert.match(reply, /^OK secure match=/);
      assert.ok(world.dns.queryCount(domain, 'MX') > mxBefore, 'the MX lookup was made');
      // One timeout (1 s) plus a margin for a loaded machine; one after the other would take 2 s or more.
      assert.ok(elapsed >= 900 && elapsed < 1800, `reply after ${Math.round(elapsed)} ms`);
    } finally {
      world.dns.zone.setBehaviour(domain, 'ok', { subtree: true });
    }
  });

  test('without a cached policy a silent DNS gives NOTFOUND after one timeout', async () => {
    const domain = `fresh.${D}`;
    world.dns.zone.setBehaviour(domain, 'silent', { subtree: true });
    try {
      const started = performance.now();
      assert.equal(await ask(server.port!, `postfix ${domain}`), 'NOTFOUND ');
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1800, `reply after ${Math.round(elapsed)} ms`);
    } finally {
      world.dns.zone.setBehaviour(domain, 'ok', { subtree: true });
    }
  });
});
