import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Finding } from '../findings.js';
import { isTlsRptCandidate, parseTlsRptRecord, ruaUriProblem, selectTlsRptRecord } from './record.js';

const codes = (fs: readonly Finding[]): string[] => fs.map((f) => f.code);
const only = (fs: readonly Finding[], code: string): Finding => {
  const matching = fs.filter((f) => f.code === code);
  assert.equal(matching.length, 1, `expected one ${code}, got ${JSON.stringify(codes(fs))}`);
  return matching[0] as Finding;
};

describe('parseTlsRptRecord', () => {
  test('a mailto: record', () => {
    const text = 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com';
    const r = parseTlsRptRecord(text);
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.record, { version: 'TLSRPTv1', rua: ['mailto:tlsrpt@example.com'], extensions: [], raw: text });
  });

  test('several URIs, with and without whitespace around ","', () => {
    for (const text of [
      'v=TLSRPTv1; rua=mailto:a@example.com,https://reports.example.net/tlsrpt',
      'v=TLSRPTv1;rua=mailto:a@example.com , https://reports.example.net/tlsrpt ;',
      'v=TLSRPTv1 ; rua=mailto:a@example.com,\thttps://reports.example.net/tlsrpt',
    ]) {
      const r = parseTlsRptRecord(text);
      assert.deepEqual(r.findings, [], text);
      assert.deepEqual(r.record?.rua, ['mailto:a@example.com', 'https://reports.example.net/tlsrpt'], text);
    }
  });

  test('mailto: with hfields and percent-encoding', () => {
    const r = parseTlsRptRecord('v=TLSRPTv1; rua=mailto:tls%2Breports@example.com?subject=TLS%20report');
    assert.deepEqual(r.findings, []);
    assert.equal(r.record?.rua.length, 1);
  });

  test('http: is rejected', () => {
    const r = parseTlsRptRecord('v=TLSRPTv1; rua=http://reports.example.com/x');
    assert.equal(r.record, null);
    const f = only(r.findings, 'tlsrpt-rua-invalid');
    assert.match(f.message, /"http:" \(use https:\)/);
    assert.equal(f.column, 17);
  });

  test('other schemes and non-URIs are rejected', () => {
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; rua=ftp://x.example/').findings, 'tlsrpt-rua-invalid').message, /only mailto: and https:/);
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; rua=reports@example.com').findings, 'tlsrpt-rua-invalid').message, /not a URI/);
  });

  test('mailto: without an address is rejected', () => {
    for (const uri of ['mailto:', 'mailto:?subject=x', 'mailto:reports', 'mailto:@example.com', 'mailto:a@', 'mailto:a@b..c']) {
      const r = parseTlsRptRecord(`v=TLSRPTv1; rua=${uri}`);
      assert.equal(r.record, null, uri);
      assert.deepEqual(codes(r.findings), ['tlsrpt-rua-invalid'], uri);
    }
  });

  test('https: needs a host', () => {
    assert.deepEqual(codes(parseTlsRptRecord('v=TLSRPTv1; rua=https:/path').findings), ['tlsrpt-rua-invalid']);
    assert.deepEqual(codes(parseTlsRptRecord('v=TLSRPTv1; rua=https://').findings), ['tlsrpt-rua-invalid']);
  });

  test('an unencoded comma splits the URI in two', () => {
    // "...?a=1,b=2" is two URIs, and "b=2" is not one.
    const r = parseTlsRptRecord('v=TLSRPTv1; rua=https://r.example/x?a=1,b=2');
    assert.equal(r.record, null);
    const f = only(r.findings, 'tlsrpt-rua-invalid');
    assert.match(f.message, /"b=2"/);
    assert.equal(f.column, 41);
    // Percent-encoded, the same URI is fine.
    assert.deepEqual(parseTlsRptRecord('v=TLSRPTv1; rua=https://r.example/x?a=1%2Cb=2').record?.rua, ['https://r.example/x?a=1%2Cb=2']);
  });

  test('empty entries and whitespace inside a URI', () => {
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a@example.com,').findings, 'tlsrpt-rua-invalid').message, /empty entry/);
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com').findings, 'tlsrpt-rua-invalid').message, /whitespace/);
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; rua=').findings, 'tlsrpt-rua-invalid').message, /empty/);
  });

  test('characters that must be percent-encoded', () => {
    assert.match(ruaUriProblem('mailto:a@example.com?subject=a"b') ?? '', /"""/);
    assert.match(ruaUriProblem('https://r.example/%zz') ?? '', /two hex digits/);
    assert.match(ruaUriProblem('https://r.example/ü') ?? '', /percent-encoded/);
    assert.equal(ruaUriProblem('HTTPS://r.example/a'), null);
    assert.equal(ruaUriProblem('MAILTO:a@example.com'), null);
  });

  test('rua is required', () => {
    const r = parseTlsRptRecord('v=TLSRPTv1;');
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['tlsrpt-rua-missing']);
    assert.match(only(parseTlsRptRecord('v=TLSRPTv1; RUA=mailto:a@example.com').findings, 'tlsrpt-rua-missing').message, /case-sensitive/);
    assert.deepEqual(codes(parseTlsRptRecord('v=TLSRPTv1').findings), ['tlsrpt-rua-missing']);
  });

  test('extension fields are kept', () => {
    const r = parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a@example.com; x-note=hello');
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.record?.extensions, [{ name: 'x-note', value: 'hello' }]);
  });

  test('a second rua is ignored with a warning', () => {
    const r = parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com');
    assert.deepEqual(r.record?.rua, ['mailto:a@example.com']);
    const f = only(r.findings, 'tlsrpt-syntax');
    assert.equal(f.severity, 'warning');
    assert.match(f.message, /one rua field/);
  });

  test('grammar errors', () => {
    const cases: [string, RegExp, number][] = [
      ['v=TLSRPTv1 rua=mailto:a@example.com', /expected ";"/, 12],
      ['v=TLSRPTv1; rua=mailto:a@example.com ', /ends with whitespace/, 37],
      ['v=TLSRPTv1;; rua=mailto:a@example.com', /empty field/, 12],
      ['v=TLSRPTv1; rua=mailto:a@example.com; x=', /empty value/, 41],
      ['v=TLSRPTv1; rua =mailto:a@example.com', /whitespace between "rua" and "="/, 16],
      ['v=TLSRPTv2; rua=mailto:a@example.com', /does not begin with "v=TLSRPTv1"/, 1],
    ];
    for (const [text, why, column] of cases) {
      const r = parseTlsRptRecord(text);
      assert.equal(r.record, null, text);
      const f = only(r.findings, 'tlsrpt-syntax');
      assert.match(f.message, why, text);
      assert.equal(f.column, column, text);
    }
  });
});

describe('selectTlsRptRecord', () => {
  test('concatenates strings and ignores other records', () => {
    const r = selectTlsRptRecord([['v=spf1 -all'], ['v=TLSRPTv1; rua=mailto:', 'tlsrpt@example.com']]);
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.record?.rua, ['mailto:tlsrpt@example.com']);
  });

  test('no record', () => {
    assert.deepEqual(codes(selectTlsRptRecord([]).findings), ['tlsrpt-missing']);
    const r = selectTlsRptRecord([['v=tlsrptv1; rua=mailto:a@example.com']]);
    assert.equal(r.record, null);
    assert.match(only(r.findings, 'tlsrpt-missing').message, /case-sensitive/);
  });

  test('more than one record', () => {
    const r = selectTlsRptRecord([['v=TLSRPTv1; rua=mailto:a@example.com'], ['v=TLSRPTv1; rua=mailto:b@example.com']]);
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['tlsrpt-multiple']);
  });

  test('candidates', () => {
    assert.equal(isTlsRptCandidate('v=TLSRPTv1;rua=x'), true);
    assert.equal(isTlsRptCandidate('v=TLSRPTv1 ; rua=x'), true);
    assert.equal(isTlsRptCandidate('v=TLSRPTv10; rua=x'), false);
    assert.equal(isTlsRptCandidate('V=TLSRPTv1; rua=x'), false);
  });
});
