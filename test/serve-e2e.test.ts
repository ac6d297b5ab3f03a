/**
 * End to end: `mtasts check` passes against every domain served by `mtasts serve`. The test world
 * provides DNS, the MX hosts (SMTP `ok`) and the CA; the policy comes from our PolicyServer, and the
 * DNS publishes exactly what `mtasts records` prints (id = content hash of the served policy).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkDomains } from '../src/check/check.js';
import { policyId } from '../src/publish/records.js';
import { loadConfig } from '../src/serve/config.js';
import { PolicyServer } from '../src/serve/server.js';
import { createWorld, type World } from '../src/testworld/index.js';
import { captureLogger, certDir, runCli, tempDir } from './serve-helpers.js';

const DOMAINS = ['alpha.test', 'beta.test', 'gamma.test'];
let world: World;
let server: PolicyServer;
let cfg: string;

before(async () => {
  world = await createWorld({
    domains: [
      { domain: 'alpha.test', mx: [{ host: 'mx1.alpha.test' }, { host: 'mx2.alpha.test' }] },
      { domain: 'beta.test', mx: [{ host: 'mail.beta.test' }] },
      { domain: 'gamma.test', mx: [{ host: 'a.mx.gamma.test' }, { host: 'b.mx.gamma.test' }] },
    ],
  });
  const dir = tempDir('mtasts-e2e-');
  await certDir(world.ca, DOMAINS.map((d) => `mta-sts.${d}`), { dir: join(dir, 'certs') });
  cfg = join(dir, 'serve.yaml');
  writeFileSync(cfg, [
    'listen: { https: "127.0.0.1:0", admin: false }',
    'certificates: { dir: ./certs }',
    'tlsrpt: [mailto:tlsrpt@reports.test]',
    'target: { a: [127.0.0.1] }',
    'domains:',
    '  alpha.test: { mode: enforce, mx: ["*.alpha.test"], max_age: 1209600 }',
    '  beta.test: { mode: enforce, mx: [mail.beta.test], max_age: 604800, tlsrpt: ["https://reports.beta.test/v1"] }',
    '  gamma.test: { mode: testing, mx: ["*.mx.gamma.test"], max_age: 86400 }',
    '',
  ].join('\n'));
  server = new PolicyServer({ config: loadConfig(cfg), logger: captureLogger('info').logger, defaultMetrics: false });
  await server.start();
});
after(async () => {
  await server?.close(100);
  await world?.close();
});

test('check passes for every domain served, with the records that `records` prints', async () => {
  // Publish what `mtasts records --json` says, replacing the world's own records for these names.
  const out = await runCli(['records', '--config', cfg, '--json']);
  assert.equal(out.code, 0, out.err);
  const published = out.lines.map((l) => JSON.parse(l) as { domain: string; id: string; policyText: string; records: { name: string; type: string; data: string; text?: string }[] });
  assert.deepEqual(published.map((p) => p.domain).sort(), DOMAINS);
  for (const p of published) {
    assert.equal(p.id, policyId(p.policyText));
    const byName = new Map<string, { type: string; data: string; text?: string }[]>();
    for (const r of p.records) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    for (const [name, rrs] of byName) {
      world.dns.zone.set(name, rrs.map((r) => (r.type === 'TXT' ? { type: 'TXT' as const, data: [r.text ?? ''] } : { type: 'A' as const, address: r.data })));
    }
  }

  const reports = await checkDomains(DOMAINS, {
    dnsServers: [world.dnsServer], ca: [world.caPem], httpsPort: server.addresses.https.port, smtpPort: world.smtpPort, timeoutMs: 10_000,
  });
  for (const r of reports) {
    assert.equal(r.verdict, 'pass', `${r.domain}: ${r.findings.map((f) => `${f.code} ${f.message}`).join('\n')}`);
    const served = published.find((p) => p.domain === r.domain);
    assert.equal(r.policy?.text, served?.policyText, 'the policy came from PolicyServer');
    assert.equal(r.record?.record?.id, served?.id);
    assert.equal(r.policy?.status, 200);
  }
  assert.ok(reports.find((r) => r.domain === 'gamma.test')?.findings.some((f) => f.code === 'policy-mode-testing'));
});
