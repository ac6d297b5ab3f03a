/**
 * Event detection (src/monitor/events.ts) on hand-made observations: the pure rules, one by one.
 * The same rules run over real servers in test/monitor.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { finding, FINDINGS } from '../src/findings.js';
import { evaluate, type DomainState, type Observation } from '../src/monitor/events.js';

const D = 'example.test';
let clock = Date.parse('2026-01-01T00:00:00Z');
const tick = (): string => new Date((clock += 3_600_000)).toISOString();

function obs(over: Partial<Observation> = {}): Observation {
  return {
    at: tick(), verdict: 'pass', findings: [], recordId: 'id1', recordMissing: false, policySha256: 'aaa', policyText: 'x',
    mode: 'enforce', maxAge: 604800, mxPatterns: ['mx1.example.test'], mxHosts: ['mx1.example.test'], certs: [], elapsedMs: 5, ...over,
  };
}

/** Runs observations in order; returns every round's events. */
function run(list: Observation[], opts = {}): { rounds: ReturnType<typeof evaluate>['events'][]; state: DomainState | null } {
  let state: DomainState | null = null;
  const rounds = list.map((o) => {
    const r = evaluate(D, state, o, opts);
    state = r.state;
    return r.events;
  });
  return { rounds, state };
}

const codes = (events: { code: string; state: string }[]): string[] => events.map((e) => `${e.state}:${e.code}`);

describe('monitor events', () => {
  test('a configuration problem opens at once, alerts once while open, resolves once, with linked ids', () => {
    const bad = finding('mx-not-covered', 'MX mx2 is not covered', { host: 'mx2.example.test' });
    const { rounds } = run([obs(), obs({ findings: [bad] }), obs({ findings: [bad] }), obs({ findings: [bad] }), obs()]);
    assert.deepEqual(rounds.map(codes), [[], ['open:mx-not-covered'], [], [], ['resolved:mx-not-covered']]);
    const open = rounds[1]![0]!;
    const resolved = rounds[4]![0]!;
    assert.equal(open.subject, 'mx2.example.test');
    assert.equal(open.problem, resolved.problem);
    assert.notEqual(open.id, resolved.id);
    assert.equal(open.id, `${open.problem}.open`);
    assert.match(open.message, /Add an `mx:` line/, 'the message carries the fix');
    assert.match(open.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test('confirm: a one-round network failure never alerts; a persisting one opens after confirm rounds', () => {
    const down = finding('policy-host-unreachable', 'connection refused');
    const once = run([obs(), obs({ findings: [down] }), obs()], { confirm: 2 });
    assert.deepEqual(once.rounds.flat(), []);
    const persist = run([obs(), obs({ findings: [down] }), obs({ findings: [down] }), obs({ findings: [down] }), obs()], { confirm: 3 });
    assert.deepEqual(persist.rounds.map(codes), [[], [], [], ['open:policy-host-unreachable'], ['resolved:policy-host-unreachable']]);
    const immediate = run([obs({ findings: [down] })], { confirm: 1 });
    assert.deepEqual(immediate.rounds.map(codes), [['open:policy-host-unreachable']]);
  });

  test('a round with a network failure does not resolve problems it could not see', () => {
    const bad = finding('policy-syntax', 'line 2 is not a field');
    const down = finding('policy-fetch-timeout', 'no answer');
    const { rounds } = run([obs({ findings: [bad] }), obs({ findings: [down], mode: null, policySha256: null }), obs()], { confirm: 2 });
    assert.deepEqual(rounds.map(codes), [['open:policy-syntax'], [], ['resolved:policy-syntax']]);
  });

  test('policy-changed-same-id opens when the text changes under one id and resolves when the id changes', () => {
    const { rounds } = run([
      obs(), obs({ policySha256: 'bbb' }), obs({ policySha256: 'bbb' }), obs({ policySha256: 'bbb', recordId: 'id2' }),
    ]);
    assert.deepEqual(rounds.map(codes), [[], ['open:policy-changed-same-id'], [], ['resolved:policy-changed-same-id', 'notice:policy-id-changed']]);
    assert.match(rounds[1]![0]!.message, /Change the id/);
    assert.equal(rounds[1]![0]!.severity, 'error');
  });

  test('notices: id, mode and MX set changes; none on a first check', () => {
    const { rounds } = run([
      obs({ mode: 'testing' }),
      obs({ mode: 'enforce', recordId: 'id2', mxHosts: ['mx1.example.test', 'mx2.example.test'] }),
    ]);
    assert.deepEqual(rounds[0], []);
    assert.deepEqual(codes(rounds[1]!).sort(), ['notice:mode-changed', 'notice:mx-changed', 'notice:policy-id-changed']);
    const mx = rounds[1]!.find((e) => e.code === 'mx-changed')!;
    assert.match(mx.message, /added mx2\.example\.test/);
    assert.equal(mx.severity, 'info');
  });

  test('cache-expiry: lowering enforce says until when senders may hold the old policy', () => {
    const first = obs({ maxAge: 86400 });
    const lowered = obs({ mode: 'testing', recordId: 'id2' });
    const { rounds } = run([first, lowered]);
    const e = rounds[1]!.find((x) => x.code === 'cache-expiry');
    assert.ok(e, codes(rounds[1]!).join());
    const until = new Date(Date.parse(first.at) + 86400_000).toISOString();
    assert.ok(e.message.includes(until), e.message);
    assert.equal(e.state, 'notice');
    // Withdrawing the record, and changing the mx patterns, also count; testing → none does not.
    const withdrawn = run([obs(), obs({ recordId: null, recordMissing: true, mode: null, policySha256: null, findings: [finding('record-missing', 'gone')] })]);
    assert.ok(withdrawn.rounds[1]!.some((x) => x.code === 'cache-expiry'));
    const patterns = run([obs(), obs({ mxPatterns: ['mx9.example.test'], recordId: 'id2' })]);
    assert.match(patterns.rounds[1]!.find((x) => x.code === 'cache-expiry')?.message ?? '', /removed mx1\.example\.test; added mx9\.example\.test/);
    const testingToNone = run([obs({ mode: 'testing' }), obs({ mode: 'none', recordId: 'id2' })]);
    assert.ok(!testingToNone.rounds[1]!.some((x) => x.code === 'cache-expiry'));
  });

  test('certificates entering the expiry_days horizon open per host, and the check\'s fixed horizon is ignored', () => {
    const at = Date.parse('2026-03-01T00:00:00Z');
    const cert = (host: string, role: 'policy' | 'mx', days: number) => ({ host, role, validTo: new Date(at + days * 86_400_000 + 1000).toISOString(), daysLeft: days, valid: true });
    const o: Observation = {
      ...obs(), at: new Date(at).toISOString(),
      certs: [cert('mta-sts.example.test', 'policy', 20), cert('mx1.example.test', 'mx', 5)],
      findings: [finding('smtp-cert-expiring', 'expires in 5 days', { host: 'mx1.example.test' })],
    };
    const narrow = evaluate(D, null, o, { expiryDays: 3 });
    assert.deepEqual(narrow.events, []);
    const wide = evaluate(D, null, o, { expiryDays: 30 });
    assert.deepEqual(wide.events.map((e) => `${e.code}@${e.subject}`).sort(), ['policy-cert-expiring@mta-sts.example.test', 'smtp-cert-expiring@mx1.example.test']);
  });

  test('tlsrpt-failures: above the rate, or any certificate failure in enforce; carried while there is no data', () => {
    const day = (failure: number, types: Record<string, number> = {}) => ({ date: '2026-01-01', success: 1000 - failure, failure, resultTypes: types });
    assert.deepEqual(evaluate(D, null, obs(), { tlsrpt: day(5) }).events, [], '0.5% is under the 1% default');
    const high = evaluate(D, null, obs({ mode: 'testing' }), { tlsrpt: day(50, { 'starttls-not-supported': 50 }) });
    assert.deepEqual(codes(high.events), ['open:tlsrpt-failures']);
    assert.equal(high.events[0]!.severity, 'warning');
    const enforce = evaluate(D, null, obs(), { tlsrpt: day(1, { 'certificate-expired': 1 }) });
    assert.deepEqual(codes(enforce.events), ['open:tlsrpt-failures']);
    assert.equal(enforce.events[0]!.severity, 'error');
    // No data this round: still open; clean data: resolved.
    const carried = evaluate(D, enforce.state, obs(), { tlsrpt: null });
    assert.deepEqual(carried.events, []);
    const clean = evaluate(D, carried.state, obs(), { tlsrpt: day(0) });
    assert.deepEqual(codes(clean.events), ['resolved:tlsrpt-failures']);
  });

  test('every drift code is in the findings registry', () => {
    for (const code of ['policy-changed-same-id', 'policy-id-changed', 'mode-changed', 'mx-changed', 'cache-expiry', 'tlsrpt-failures', 'policy-cert-expiring', 'smtp-cert-expiring']) {
      assert.ok(code in FINDINGS, code);
    }
  });
});
