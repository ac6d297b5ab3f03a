/**
 * ACME (RFC 8555) against pebble, the ACME test server (Debian package `pebble`): certificates are
 * obtained through HTTP-01 on our http listener, served by SNI, and renewed when they run short.
 * pebble resolves names through the test world's DNS and validates on our http listener's port.
 *
 * Skipped (one line, listed at the end of `npm test`) when pebble or openssl is absent, except under
 * CI=true, where that is a failure (test/prereq.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/serve/config.js';
import { PolicyServer } from '../src/serve/server.js';
import { createWorld, type World } from '../src/testworld/index.js';
import { captureLogger, h2Request, httpsRequest, tempDir } from './serve-helpers.js';
import { freePort } from '../src/testworld/ports.js';
import { commandMissing, findCommand, skipUnless } from './prereq.js';

const PEBBLE = findCommand('pebble');
// One line; under CI=true a missing pebble or openssl fails (skipUnless adds a failing test).
const skip = skipUnless(commandMissing('pebble', 'sudo apt-get install pebble'), commandMissing('openssl', 'sudo apt-get install openssl'));


function get(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('ACME certificates from pebble', { skip }, () => {
  let world: World;
  let pebble: ChildProcess;
  let pebbleOut = '';
  let dir: string;
  let pebbleCa: string;
  let server: PolicyServer;
  const log = captureLogger('info');
  const VALIDITY_S = 40;

  before(async () => {
    if (PEBBLE === undefined) throw new Error('pebble is not installed');
    world = await createWorld();
    for (const d of ['acme-a.test', 'acme-b.test']) {
      world.dns.zone.set(`mta-sts.${d}`, [{ type: 'A', address: '127.0.0.1' }]);
    }
    dir = tempDir('mtasts-acme-');
    // pebble's own HTTPS certificate (for its ACME API), self-signed for 127.0.0.1.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=pebble', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(dir, 'pebble.key'), '-out', join(dir, 'pebble.crt')], { stdio: 'ignore' });
    const [acmePort, mgmtPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, 'pebble.crt'), privateKey: join(dir, 'pebble.key'),
        // HTTP-01 validation connects to mta-sts.<domain>:httpPort, i.e. our http listener.
        httpPort, tlsPort: await freePort(), ocspResponderURL: '', externalAccountBindingRequired: false,
        certificateValidityPeriod: VALIDITY_S,
      },
    }));
    pebble = spawn(PEBBLE, ['-config', join(dir, 'pebble.json'), '-dnsserver', world.dnsServer], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pebble.stdout?.on('data', (c: Buffer) => { pebbleOut += c.toString(); });
    pebble.stderr?.on('data', (c: Buffer) => { pebbleOut += c.toString(); });
    const selfCa = (await import('node:fs')).readFileSync(join(dir, 'pebble.crt'), 'utf8');
    await waitFor('pebble to listen', () => get(`https://127.0.0.1:${acmePort}/dir`, selfCa).then(() => true, () => undefined), 20_000);

    writeFileSync(join(dir, 'serve.yaml'), [
      `listen: { https: "127.0.0.1:0", http: "127.0.0.1:${httpPort}", admin: "127.0.0.1:0" }`,
      'certificates:',
      '  acme:',
      `    directory: "https://127.0.0.1:${acmePort}/dir"`,
      '    email: hostmaster@acme-a.test',
      '    accept_terms: true',
      '    dir: ./acme',
      '    ca_file: ./pebble.crt',
      `    renew_before: ${VALIDITY_S - 12}`,
      '    check_interval: 1',
      'domains:',
      '  acme-a.test: { mode: enforce, mx: [mx.acme-a.test] }',
      '  acme-b.test: { mode: testing, mx: [mx.acme-b.test] }',
      '',
    ].join('\n'));
    server = new PolicyServer({ config: loadConfig(join(dir, 'serve.yaml')), logger: log.logger, defaultMetrics: false });
    await server.start();
    // pebble's issuing root, random per run.
    pebbleCa = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, selfCa);
  });

  after(async () => {
    await server?.close(100);
    pebble?.kill('SIGTERM');
    await world?.close();
  });

  const serial = async (host: string): Promise<string> => {
    const r = await httpsRequest(server.addresses.https.port, host, pebbleCa);
    assert.equal(r.status, 200);
    return r.peerCertNames;
  };

  test('certificates are obtained through HTTP-01 and served by SNI, verified against the CA', async () => {
    try {
      await waitFor('both certificates', () => (server.servedHosts().length === 2 ? true : undefined), 60_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlogs: ${JSON.stringify(log.lines.slice(-5))}\npebble: ${pebbleOut.slice(-2000)}`);
    }
    for (const host of ['mta-sts.acme-a.test', 'mta-sts.acme-b.test']) {
      assert.equal(await serial(host), `DNS:${host}`);
    }
    const h2 = await h2Request(server.addresses.https.port, 'mta-sts.acme-b.test', pebbleCa);
    assert.equal(h2.status, 200);
    assert.match(h2.body, /mode: testing/);
    h2.session.close();
    assert.ok(log.lines.some((l) => l.msg === 'ACME certificate issued' && l.host === 'mta-sts.acme-a.test'));
  });

  test('a short-lived certificate is renewed before it expires', async () => {
    const issued = (): Record<string, unknown>[] => log.lines.filter((l) => l.msg === 'ACME certificate issued' && l.host === 'mta-sts.acme-a.test');
    const first = issued()[0];
    assert.ok(first, 'first certificate');
    const renewal = await waitFor('the renewal', () => issued().find((l) => l.why === 'renewal'), 45_000);
    assert.notEqual(renewal.serial, first.serial);
    // A new connection gets the new certificate.
    const cert = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.addresses.https.port, servername: 'mta-sts.acme-a.test', headers: { host: 'mta-sts.acme-a.test' }, path: '/.well-known/mta-sts.txt', ca: pebbleCa, agent: false }, (res) => {
        const s = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
        res.resume();
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    const serials = issued().filter((l) => l.why === 'renewal').map((l) => String(l.serial).toUpperCase());
    assert.ok(serials.includes(cert.toUpperCase()), `served ${cert}, renewed ${serials.join(',')}`);
  });
});
