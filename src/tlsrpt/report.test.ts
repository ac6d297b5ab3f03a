import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FINDINGS } from '../findings.js';
import { countedPolicyType, parseReport, scanJsonBounds, type ReportParseResult } from './report.js';

const FIXTURES = path.join(import.meta.dirname, '../../test/fixtures/tlsrpt');

/** A report that follows RFC 8460 §4.4 to the letter (mx-host as an array, Errata 6241). */
function base(): Record<string, any> {
  return {
    'organization-name': 'Sender Inc.',
    'date-range': { 'start-datetime': '2024-05-01T00:00:00Z', 'end-datetime': '2024-05-01T23:59:59Z' },
    'contact-info': 'tlsrpt@sender.example',
    'report-id': 'r-1',
    policies: [{
      policy: {
        'policy-type': 'sts',
        'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.example.com', 'max_age: 86400'],
        'policy-domain': 'example.com',
        'mx-host': ['mx.example.com'],
      },
      summary: { 'total-successful-session-count': 10, 'total-failure-session-count': 2 },
      'failure-details': [{
        'result-type': 'certificate-expired', 'sending-mta-ip': '192.0.2.1', 'receiving-ip': '198.51.100.1',
        'receiving-mx-hostname': 'mx.example.com', 'failed-session-count': 2,
      }],
    }],
  };
}

const parse = (v: unknown): ReportParseResult => parseReport(JSON.stringify(v));
const codes = (r: ReportParseResult): string[] => r.warnings.map((w) => w.code);

test('a by-the-book report parses without warnings', () => {
  const r = parse(base());
  assert.equal(r.error, undefined);
  assert.deepEqual(r.warnings, []);
  const p = r.report!.policies[0]!;
  assert.equal(r.report!.organizationName, 'Sender Inc.');
  assert.equal(r.report!.startDatetime, '2024-05-01T00:00:00.000Z');
  assert.deepEqual([p.policyType, p.policyDomain, p.successfulSessions, p.failedSessions], ['sts', 'example.com', 10, 2]);
  assert.equal(p.failureDetails[0]!.receivingMxHostname, 'mx.example.com');
});

test('the ten shared samples all parse, with the warnings their quirks call for', () => {
  const expected: Record<string, string[]> = {
    '01': ['report-mx-host-string'],
    '02': ['report-total-mismatch', 'report-period-end-midnight'],
    '06': ['report-date-no-timezone'],
    '07': ['report-tlsa-policy-string-encoded'],
    '08': ['report-sending-ip-missing'],
    '09': ['report-contact-null', 'report-period-end-midnight'],
    '10': ['report-period-end-midnight'],
  };
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 10);
  for (const f of files) {
    const r = parseReport(readFileSync(path.join(FIXTURES, f)));
    assert.equal(r.error, undefined, `${f}: ${r.error?.message}`);
    for (const code of expected[f.slice(0, 2)] ?? []) assert.ok(codes(r).includes(code), `${f} lacks ${code}: ${codes(r).join(',')}`);
    for (const w of r.warnings) assert.ok(w.code in FINDINGS, `${w.code} is in the findings registry`);
  }
  const tlsa = parseReport(readFileSync(path.join(FIXTURES, '07_microsoft_2024_tlsa-double-encoded.json'))).report!.policies[1]!;
  assert.equal(tlsa.policyType, 'tlsa');
  assert.equal(tlsa.policyString.length, 13);
  assert.match(tlsa.policyString[0]!, /^2 1 1 0254/);
});

test('leniencies: each is accepted and recorded as a warning with a code', () => {
  const cases: [string, (r: Record<string, any>) => void, (x: ReportParseResult) => void][] = [
    ['report-date-no-timezone', (r) => { r['date-range'] = { 'start-datetime': '2024-05-01T00:00:00', 'end-datetime': '2024-05-01T23:59:59' }; },
      (x) => assert.equal(x.report!.endDatetime, '2024-05-01T23:59:59.000Z')],
    ['report-period-end-midnight', (r) => { r['date-range']['end-datetime'] = '2024-05-02T00:00:00Z'; }, () => {}],
    ['report-contact-null', (r) => { r['contact-info'] = null; }, (x) => assert.equal(x.report!.contactInfo, null)],
    ['report-policy-domain-missing', (r) => { delete r.policies[0].policy['policy-domain']; }, (x) => assert.equal(x.report!.policies[0]!.policyDomain, null)],
    ['report-policy-string-missing', (r) => { delete r.policies[0].policy['policy-string']; }, (x) => assert.deepEqual(x.report!.policies[0]!.policyString, [])],
    ['report-mx-host-missing', (r) => { delete r.policies[0].policy['mx-host']; }, (x) => assert.deepEqual(x.report!.policies[0]!.mxHost, [])],
    ['report-mx-host-string', (r) => { r.policies[0].policy['mx-host'] = '*.example.com'; }, (x) => assert.deepEqual(x.report!.policies[0]!.mxHost, ['*.example.com'])],
    ['report-failure-details-missing', (r) => { delete r.policies[0]['failure-details']; }, (x) => assert.equal(x.report!.policies[0]!.failedSessions, 2)],
    ['report-sending-ip-missing', (r) => { delete r.policies[0]['failure-details'][0]['sending-mta-ip']; }, (x) => assert.equal(x.report!.policies[0]!.failureDetails[0]!.sendingMtaIp, null)],
    ['report-receiving-mx-missing', (r) => {
      delete r.policies[0]['failure-details'][0]['receiving-mx-hostname'];
      delete r.policies[0]['failure-details'][0]['receiving-ip'];
    }, () => {}],
    ['report-tlsa-policy-string-encoded', (r) => {
      r.policies[0].policy['policy-type'] = 'tlsa';
      r.policies[0].policy['policy-string'] = [JSON.stringify(['3 1 1 AB', '3 1 1 CD'])];
    }, (x) => assert.deepEqual(x.report!.policies[0]!.policyString, ['3 1 1 AB', '3 1 1 CD'])],
    ['report-result-type-unregistered', (r) => { r.policies[0]['failure-details'][0]['result-type'] = 'x-new-failure'; },
      (x) => assert.equal(x.report!.policies[0]!.failureDetails[0]!.resultType, 'x-new-failure')],
    ['report-total-mismatch', (r) => { r.policies[0].summary['total-failure-session-count'] = 5; },
      (x) => { assert.equal(x.report!.policies[0]!.failedSessions, 5); assert.equal(x.report!.policies[0]!.failureDetails[0]!.failedSessionCount, 2); }],
  ];
  for (const [code, mutate, check] of cases) {
    const r = base();
    mutate(r);
    const x = parse(r);
    assert.equal(x.error, undefined, `${code}: ${x.error?.message}`);
    assert.deepEqual(codes(x), [code], `${code}: got ${codes(x).join(',')}`);
    assert.ok(code in FINDINGS);
    check(x);
  }
});

test('a timezone offset is applied; an empty failure-details array with zero failures is fine', () => {
  const r = base();
  r['date-range']['start-datetime'] = '2024-05-01T02:00:00+02:00';
  r.policies[0].summary['total-failure-session-count'] = 0;
  r.policies[0]['failure-details'] = [];
  const x = parse(r);
  assert.equal(x.report!.startDatetime, '2024-05-01T00:00:00.000Z');
  assert.deepEqual(x.warnings, []);
});

test('rejects: each strict rule has its own code, and nothing is returned', () => {
  const cases: [string, string | ((r: Record<string, any>) => unknown)][] = [
    ['report-not-json', '{"organization-name": '],
    ['report-not-json', '   '],
    ['report-not-object', '[1, 2]'],
    ['report-id-missing', (r) => { delete r['report-id']; }],
    ['report-id-missing', (r) => { r['organization-name'] = 7; }],
    ['report-date-invalid', (r) => { delete r['date-range']; }],
    ['report-date-invalid', (r) => { r['date-range']['start-datetime'] = 'yesterday'; }],
    ['report-date-invalid', (r) => { r['date-range']['end-datetime'] = '2024-04-01T00:00:00Z'; }],
    ['report-policies-missing', (r) => { r.policies = []; }],
    ['report-policies-missing', (r) => { delete r.policies; }],
    ['report-count-invalid', (r) => { r.policies[0].summary['total-successful-session-count'] = -1; }],
    ['report-count-invalid', (r) => { r.policies[0].summary['total-failure-session-count'] = 1.5; }],
    ['report-count-invalid', (r) => { r.policies[0].summary['total-failure-session-count'] = '2'; }],
    ['report-count-invalid', (r) => { delete r.policies[0].summary; }],
    ['report-count-invalid', (r) => { r.policies[0]['failure-details'][0]['failed-session-count'] = -2; }],
    ['report-policy-type-unknown', (r) => { r.policies[0].policy['policy-type'] = 'dane'; }],
    ['report-structure-invalid', (r) => { r.policies[0] = 'sts'; }],
    ['report-structure-invalid', (r) => { r.policies[0]['failure-details'] = { a: 1 }; }],
  ];
  for (const [code, make] of cases) {
    let text: string;
    if (typeof make === 'string') text = make;
    else {
      const r = base();
      make(r);
      text = JSON.stringify(r);
    }
    const x = parseReport(text);
    assert.equal(x.report, null, code);
    assert.equal(x.error?.code, code, `${text.slice(0, 80)}: got ${x.error?.code}`);
    assert.ok(code in FINDINGS, code);
    assert.ok(x.error!.message.length > 10);
  }
});

test('bounds: size, depth and element count are refused before JSON.parse builds anything', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  assert.equal(parseReport(deep).error?.code, 'report-too-deep');
  const many = `[${'0,'.repeat(2_000_000)}0]`;
  assert.equal(parseReport(many).error?.code, 'report-too-many-elements');
  assert.equal(parseReport('{}', { maxJsonBytes: 1, maxDepth: 32, maxElements: 10 }).error?.code, 'report-too-large');
  // Strings with brackets and escaped quotes inside are not nesting.
  const r = base();
  r['report-id'] = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{';
  assert.equal(parse(r).error, undefined);
  // Escaped backslashes before a quote: `"\\\\"` ends the string, `"\\""` does not.
  const limits = { maxJsonBytes: 1 << 20, maxDepth: 3, maxElements: 1000 };
  assert.equal(parseReport('{"a":"x\\\\","b":[[[[]]]]}', limits).error?.code, 'report-too-deep');
  assert.equal(parseReport('{"a":"x\\"[[[[]]]]"}', limits).error?.code, 'report-id-missing');
  assert.equal(scanJsonBounds('["a\\\\\\"[[[[[[", 1]', limits), null);
});

test('warnings stay bounded: one per code, however many details repeat a quirk', () => {
  const r = base();
  r.policies[0]['failure-details'] = Array.from({ length: 5000 }, () => ({ 'result-type': 'validation-failure', 'failed-session-count': 1 }));
  r.policies[0].summary['total-failure-session-count'] = 5000;
  const x = parse(r);
  assert.deepEqual(codes(x).sort(), ['report-receiving-mx-missing', 'report-sending-ip-missing']);
  assert.match(x.warnings[0]!.message, /and 4999 more/);
});

test('parsing is linear: 10x the failure details takes far less than 100x the time', () => {
  const make = (n: number): string => {
    const r = base();
    r.policies[0]['failure-details'] = Array.from({ length: n }, (_, i) => ({ 'result-type': 'validation-failure', 'sending-mta-ip': `192.0.2.${i % 250}`, 'receiving-mx-hostname': 'mx.example.com', 'failed-session-count': 1 }));
    r.policies[0].summary['total-failure-session-count'] = n;
    return JSON.stringify(r);
  };
  const time = (text: string): number => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 3; i++) parseReport(text);
    return Number(process.hrtime.bigint() - t0);
  };
  const small = make(2000);
  const big = make(20_000);
  time(small);
  const ratio = time(big) / time(small);
  assert.ok(ratio < 40, `10x input took ${ratio.toFixed(1)}x the time`);
});

test('countedPolicyType prefers sts, then tlsa, then no-policy-found', () => {
  assert.equal(countedPolicyType(['tlsa', 'sts']), 'sts');
  assert.equal(countedPolicyType(['tlsa', 'no-policy-found']), 'tlsa');
  assert.equal(countedPolicyType(['no-policy-found']), 'no-policy-found');
});

test('the fast reading of YYYY-MM-DDTHH:MM:SSZ dates gives what the general one gives, edge values included', () => {
  const values = ['2025-01-01T00:00:00Z', '2025-02-28T23:59:59Z', '2025-02-29T00:00:00Z', '2024-02-29T12:00:00Z', '2025-01-01T24:00:00Z',
    '2025-01-01T23:59:60Z', '2025-13-01T00:00:00Z', '2025-00-10T00:00:00Z', '2025-01-00T00:00:00Z', '0050-01-01T00:00:00Z',
    '1000-01-01T00:00:00Z', '9999-12-28T23:59:59Z', '2025-01-01t00:00:00Z', '2025-01-01T00:00:00z', '2025-01-31T00:00:00Z'];
  const startOf = (v: string): [string | undefined, string | undefined] => {
    const r = base();
    r['date-range'] = { 'start-datetime': v, 'end-datetime': '9999-12-31T23:59:59Z' };
    const p = parseReport(JSON.stringify(r));
    return [p.report?.startDatetime, p.error?.code];
  };
  // A leading space is trimmed by the general reading and keeps the value off the fast one.
  for (const v of values) assert.deepEqual(startOf(v), startOf(` ${v}`), v);
  assert.deepEqual(startOf('2025-01-01T00:00:00Z'), ['2025-01-01T00:00:00.000Z', undefined]);
});
