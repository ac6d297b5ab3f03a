/**
 * `check` against every example deployment of the test world: each must get its verdict and its
 * findings, and none may take much longer than the configured timeout (hostile servers included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkDomains, type DomainReport } from '../src/check/check.js';
import { DnsClient } from '../src/dns/resolver.js';
import { createWorld, SCENARIOS, type World } from '../src/testworld/index.js';

const TIMEOUT_MS = 2000;

describe('check over the scenario catalogue', () => {
  let world: World;
  let reports: DomainReport[];

  before(async () => {
    world = await createWorld({ domains: SCENARIOS.map((s) => s.spec) });
    reports = await checkDomains(SCENARIOS.map((s) => s.name), {
      dns: new DnsClient({ servers: [world.dnsServer], timeoutMs: TIMEOUT_MS }),
      ca: [world.caPem],
      httpsPort: world.httpsPort,
      smtpPort: world.smtpPort,
      timeoutMs: TIMEOUT_MS,
      concurrency: 40,
    });
  });
  after(async () => {
    await world?.close();
  });

  for (const [i, s] of SCENARIOS.entries()) {
    test(`${s.name}: ${s.expect.verdict} ${s.expect.codes.join(', ')}`, () => {
      const r = reports[i]!;
      const codes = r.findings.map((f) => f.code);
      for (const code of s.expect.codes) assert.ok(codes.includes(code), `${s.name}: expected ${code}, got ${codes.join(', ') || 'nothing'}`);
      assert.equal(r.verdict, s.expect.verdict, `${s.name}: findings ${JSON.stringify(r.findings, null, 1)}`);
      // Every finding explains itself and says how to fix it.
      for (const f of r.findings) {
        assert.ok(f.message.length > 20, `${f.code} has a message`);
        assert.ok(['error', 'warning', 'info'].includes(f.severity));
      }
      // Never hangs: each step is bounded by the timeout, and steps run in parallel.
      assert.ok(r.elapsedMs < TIMEOUT_MS * 3 + 1000, `${s.name} took ${r.elapsedMs} ms`);
    });
  }

  test('a healthy domain reports what it saw', () => {
    const r = reports[SCENARIOS.findIndex((s) => s.name === 'good.test')]!;
    assert.equal(r.record?.record?.version, 'STSv1');
    assert.equal(r.policy?.status, 200);
    assert.equal(r.policy?.parsed?.mode, 'enforce');
    assert.equal(r.policy?.certificate?.valid, true);
    assert.deepEqual(r.mx.map((m) => m.pattern !== null), [true]);
    assert.equal(r.smtp.length, 1);
    assert.equal(r.smtp[0]!.ok, true);
    assert.equal(r.smtp[0]!.starttls, true);
    assert.match(r.smtp[0]!.tlsVersion ?? '', /^TLSv1\.[23]$/);
    assert.ok(r.tlsrpt?.record?.rua[0]?.startsWith('mailto:'));
  });

  test('the IDN domain is checked under its A-label', () => {
    const i = SCENARIOS.findIndex((s) => /[^\x00-\x7f]/.test(s.name));
    assert.ok(i >= 0, 'the catalogue has an IDN example');
    assert.match(reports[i]!.domain, /^xn--/);
  });

  test('the redirect is reported with its target, never followed', () => {
    const r = reports[SCENARIOS.findIndex((s) => s.name === 'redirect.test')]!;
    const f = r.findings.find((x) => x.code === 'policy-redirect');
    assert.ok(f);
    assert.ok(r.policy?.location, 'the Location is kept');
    assert.ok(f.message.includes(r.policy.location!), f.message);
  });

  test('a certificate for the wrong name is reported as that, not as untrusted', () => {
    for (const [name, prefix] of [['wrong-name-cert.test', 'policy'], ['mx-wrong-name.test', 'smtp']] as const) {
      const codes = reports[SCENARIOS.findIndex((s) => s.name === name)]!.findings.map((f) => f.code);
      assert.ok(codes.includes(`${prefix}-cert-name`), `${name}: ${codes.join()}`);
      assert.ok(!codes.includes(`${prefix}-cert-untrusted`), `${name}: ${codes.join()}`);
    }
  });

  test('a 10 MB body is cut off at 64 KiB, not read whole', () => {
    const r = reports[SCENARIOS.findIndex((s) => s.name === 'huge-body.test')]!;
    assert.ok(r.findings.some((f) => f.code === 'policy-too-large'));
    assert.equal(r.policy?.text, undefined);
    assert.ok(r.elapsedMs < TIMEOUT_MS, `took ${r.elapsedMs} ms`);
  });
});
