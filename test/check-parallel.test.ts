/**
 * `check` over worker threads (src/check/parallel.ts): the same reports, in the same order, with the
 * same exit status as one thread; observations from a state file reach the workers; `--workers`
 * is validated and `auto` stays on one thread for small batches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkDomains } from '../src/check/check.js';
import { AUTO_MIN_DOMAINS, checkDomainsParallel, resolveWorkers } from '../src/check/parallel.js';
import { DnsClient } from '../src/dns/resolver.js';
import { createWorld, SCENARIOS, type World } from '../src/testworld/index.js';
import { runCli } from './cli-harness.js';

/** A report without what differs from run to run (durations, the time of the check and what counts from it). */
const VOLATILE = new Set(['elapsedMs', 'checkedAt', 'daysLeft']);
function stable(line: string): unknown {
  return JSON.parse(line, (key, value: unknown) => (VOLATILE.has(key) ? undefined : value));
}

describe('check over worker threads', () => {
  let world: World;
  let base: string[];
  // Every scenario but those that wait for a timeout (they would only make the test slow, and
  // flaky on a loaded machine), plus an invalid input: errors, warnings and passes in one batch.
  const timesOut = (codes: string[]): boolean => codes.some((c) => c.endsWith('-timeout'));
  const inputs = [...SCENARIOS.filter((s) => !timesOut(s.expect.codes)).map((s) => s.name), 'not a domain'];

  before(async () => {
    world = await createWorld({ domains: SCENARIOS.map((s) => s.spec) });
    base = ['--dns', world.dnsServer, '--ca-file', world.caFile, '--https-port', String(world.httpsPort), '--timeout', '10', '--no-smtp', '--json', '--concurrency', '40'];
  });
  after(async () => {
    await world?.close();
  });

  test('--workers 3 prints the same reports in the same order with the same exit status as --workers 1', async () => {
    const [one, three] = await Promise.all([
      runCli(['check', ...base, '--workers', '1', ...inputs]),
      runCli(['check', ...base, '--workers', '3', ...inputs]),
    ]);
    assert.equal(one.lines.length, inputs.length, one.err);
    assert.equal(three.lines.length, inputs.length, three.err);
    assert.equal(three.code, one.code);
    assert.equal(one.code, 1); // the catalogue holds broken deployments
    assert.deepEqual(three.lines.map((l) => (JSON.parse(l) as { input: string }).input), inputs);
    for (let i = 0; i < inputs.length; i++) {
      assert.deepEqual(stable(three.lines[i]!), stable(one.lines[i]!), `report ${i} (${inputs[i]}) differs`);
    }
    // Nothing went wrong inside a worker.
    assert.doesNotMatch(three.out, /internal-error/);
  });

  test('earlier observations reach the workers: a policy changed under the same id is found', async () => {
    const dns = new DnsClient({ servers: [world.dnsServer], timeoutMs: 10_000 });
    const common = { ca: [world.caPem], httpsPort: world.httpsPort, timeoutMs: 10_000, smtp: false, concurrency: 4 };
    const names = ['good.test', 'wildcard-mx.test', 'good.test', 'good.test'];
    const [first] = await checkDomains(['good.test'], { ...common, dns });
    assert.ok(first?.observation.id, 'good.test has an id');
    const previous = { id: first.observation.id, policySha256: '0'.repeat(64), checkedAt: '2026-01-01T00:00:00.000Z' };
    const seen: number[] = [];
    const reports = await checkDomainsParallel(names, {
      ...common, dns, workers: 2,
      previousByDomain: new Map([['good.test', previous]]),
      onReport: (_r, index) => seen.push(index),
    });
    assert.deepEqual(reports.map((r) => r.domain), names);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
    for (const i of [0, 2, 3]) assert.ok(reports[i]!.findings.some((f) => f.code === 'policy-changed-same-id'), `report ${i}`);
    assert.ok(!reports[1]!.findings.some((f) => f.code === 'policy-changed-same-id'));
  });

  test('--workers: auto or a whole number, else a usage error (exit 2)', async () => {
    for (const bad of ['0', 'two', '-1', '1.5', '']) {
      const r = await runCli(['check', '--workers', bad, 'x.test']);
      assert.equal(r.code, 2, `--workers ${bad}`);
      assert.match(r.err, /--workers/);
    }
  });

  test('auto: one thread for small batches, never more threads than domains or concurrency', () => {
    assert.equal(resolveWorkers('auto', AUTO_MIN_DOMAINS - 1, 100), 1);
    assert.ok(resolveWorkers('auto', 10_000, 100) >= 1);
    assert.equal(resolveWorkers(8, 3, 100), 3);
    assert.equal(resolveWorkers(8, 1000, 2), 2);
    assert.equal(resolveWorkers(4, 1000, 100), 4);
  });
});
