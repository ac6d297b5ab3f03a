import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Finding } from '../findings.js';
import { isStsCandidate, parseStsRecord, scanTagRecord, selectStsRecord } from './record.js';

const codes = (fs: readonly Finding[]): string[] => fs.map((f) => f.code);
const only = (fs: readonly Finding[], code: string): Finding => {
  const matching = fs.filter((f) => f.code === code);
  assert.equal(matching.length, 1, `expected one ${code}, got ${JSON.stringify(codes(fs))}`);
  return matching[0] as Finding;
};

describe('parseStsRecord', () => {
  test('a plain record', () => {
    const r = parseStsRecord('v=STSv1; id=20240101T000000');
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.record, { version: 'STSv1', id: '20240101T000000', extensions: [], raw: 'v=STSv1; id=20240101T000000' });
  });

  test('whitespace around ";" and a trailing ";" are allowed', () => {
    for (const text of ['v=STSv1;id=abc', 'v=STSv1 ; id=abc', 'v=STSv1\t;\tid=abc', 'v=STSv1;   id=abc;', 'v=STSv1; id=abc ;  ', 'v=STSv1; id=abc;']) {
      const r = parseStsRecord(text);
      assert.deepEqual(r.findings, [], text);
      assert.equal(r.record?.id, 'abc', text);
    }
  });

  test('trailing whitespace without ";" is a syntax error', () => {
    const r = parseStsRecord('v=STSv1; id=abc ');
    assert.equal(r.record, null);
    const f = only(r.findings, 'record-syntax');
    assert.match(f.message, /ends with whitespace/);
    assert.equal(f.column, 16);
  });

  test('missing id', () => {
    for (const text of ['v=STSv1', 'v=STSv1;', 'v=STSv1; ', 'v=STSv1; foo=bar']) {
      const r = parseStsRecord(text);
      assert.equal(r.record, null, text);
      assert.ok(codes(r.findings).includes('record-id-missing'), text);
    }
  });

  test('"ID=" is an extension (names are case-sensitive), so id is missing', () => {
    const r = parseStsRecord('v=STSv1; ID=abc');
    assert.equal(r.record, null);
    assert.match(only(r.findings, 'record-extension').message, /case-sensitive/);
    assert.match(only(r.findings, 'record-id-missing').message, /"ID"/);
  });

  test('id of 32 characters is fine, 33 is not', () => {
    assert.equal(parseStsRecord(`v=STSv1; id=${'a'.repeat(32)}`).record?.id, 'a'.repeat(32));
    const r = parseStsRecord(`v=STSv1; id=${'a'.repeat(33)}`);
    assert.equal(r.record, null);
    assert.match(only(r.findings, 'record-id-invalid').message, /33 characters/);
  });

  test('id with characters other than letters and digits', () => {
    const r = parseStsRecord('v=STSv1; id=abc-def');
    assert.equal(r.record, null);
    const f = only(r.findings, 'record-id-invalid');
    assert.match(f.message, /"abc-def" contains "-"/);
    assert.equal(f.column, 16);
    assert.ok(codes(parseStsRecord('v=STSv1; id=2024.01').findings).includes('record-id-invalid'));
    assert.ok(codes(parseStsRecord('v=STSv1; id=').findings).includes('record-id-invalid'));
  });

  test('duplicate id: the first counts, with a warning', () => {
    const r = parseStsRecord('v=STSv1; id=first; id=second');
    assert.equal(r.record?.id, 'first');
    const f = only(r.findings, 'record-duplicate-field');
    assert.equal(f.severity, 'warning');
    assert.equal(f.column, 20);
  });

  test('a repeated version tag is a duplicate field', () => {
    const r = parseStsRecord('v=STSv1; v=STSv1; id=abc');
    assert.equal(r.record?.id, 'abc');
    assert.deepEqual(codes(r.findings), ['record-duplicate-field']);
  });

  test('extension fields are kept and reported', () => {
    const r = parseStsRecord('v=STSv1; id=abc; foo.bar-1=x:y/z');
    assert.deepEqual(r.record?.extensions, [{ name: 'foo.bar-1', value: 'x:y/z' }]);
    assert.equal(only(r.findings, 'record-extension').column, 18);
  });

  test('extension names: 32 characters ok, 33 a syntax error', () => {
    const n32 = `x${'y'.repeat(31)}`;
    assert.equal(parseStsRecord(`v=STSv1; id=abc; ${n32}=1`).record?.extensions[0]?.name, n32);
    assert.match(only(parseStsRecord(`v=STSv1; id=abc; ${n32}z=1`).findings, 'record-syntax').message, /33 characters/);
  });

  test('extension values exclude "=" and non-ASCII, and may not be empty', () => {
    assert.match(only(parseStsRecord('v=STSv1; id=abc; x=a=b').findings, 'record-syntax').message, /"="/);
    assert.match(only(parseStsRecord('v=STSv1; id=abc; x=ü').findings, 'record-syntax').message, /U\+00FC|"ü"/);
    assert.match(only(parseStsRecord('v=STSv1; id=abc; x=').findings, 'record-syntax').message, /empty value/);
  });

  test('grammar errors carry the column', () => {
    const cases: [string, RegExp, number][] = [
      ['v=STSv1 id=abc', /expected ";"/, 9],
      ['v=STSv1;; id=abc', /empty field/, 9],
      ['v=STSv1; id = abc', /whitespace between "id" and "="/, 12],
      ['v=STSv1; id=abc def', /expected ";"/, 17],
      ['v=STSv1; _x=1; id=abc', /must start with a letter or digit/, 10],
      ['v=STSv1; id', /no "="/, 12],
      ['v=STSv1x; id=abc', /expected ";"/, 8],
      ['V=STSv1; id=abc', /does not begin with "v=STSv1"/, 1],
    ];
    for (const [text, why, column] of cases) {
      const r = parseStsRecord(text);
      assert.equal(r.record, null, text);
      const f = only(r.findings, 'record-syntax');
      assert.match(f.message, why, text);
      assert.equal(f.column, column, text);
    }
  });
});

describe('isStsCandidate', () => {
  test('what begins an MTA-STS record', () => {
    assert.equal(isStsCandidate('v=STSv1; id=1'), true);
    assert.equal(isStsCandidate('v=STSv1 ; id=1'), true);
    assert.equal(isStsCandidate('v=STSv1'), true);
    assert.equal(isStsCandidate('V=STSv1; id=1'), false);
    assert.equal(isStsCandidate('v=stsv1; id=1'), false);
    assert.equal(isStsCandidate('v=STSv10; id=1'), false);
    assert.equal(isStsCandidate(' v=STSv1; id=1'), false);
    assert.equal(isStsCandidate('v=spf1 -all'), false);
  });
});

describe('selectStsRecord', () => {
  test('multi-string records are concatenated without spaces', () => {
    const r = selectStsRecord([['v=STSv1; id=', 'abc']]);
    assert.equal(r.record?.id, 'abc');
    assert.deepEqual(r.candidates, ['v=STSv1; id=abc']);
    assert.deepEqual(r.findings, []);
  });

  test('other TXT records are discarded with an info each', () => {
    const r = selectStsRecord([['google-site-verification=xyz'], ['v=STSv1; id=1'], ['V=STSv1; id=2']]);
    assert.equal(r.record?.id, '1');
    assert.deepEqual(codes(r.findings), ['record-other-txt', 'record-other-txt']);
    assert.match(r.findings[1]?.message ?? '', /case-sensitive/);
  });

  test('no records, or no candidates', () => {
    assert.deepEqual(codes(selectStsRecord([]).findings), ['record-missing']);
    const r = selectStsRecord([['V=STSv1; id=1']]);
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['record-other-txt', 'record-missing']);
  });

  test('two candidates mean no record', () => {
    const r = selectStsRecord([['v=STSv1; id=1'], ['v=STSv1 ; id=2']]);
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['record-multiple']);
    assert.equal(r.candidates.length, 2);
  });

  test('a bare "v=STSv1" is a candidate without id', () => {
    const r = selectStsRecord([['v=STSv1']]);
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['record-id-missing']);
  });

  test('an invalid single candidate gives its findings', () => {
    const r = selectStsRecord([['v=STSv1; id=abc-def']]);
    assert.equal(r.record, null);
    assert.deepEqual(codes(r.findings), ['record-id-invalid']);
  });
});

describe('scanTagRecord', () => {
  test('list fields run to ";"', () => {
    const s = scanTagRecord('v=X1; a=1 , 2 ; b=3', 'v=X1', ['a']);
    assert.equal(s.error, null);
    assert.deepEqual(s.fields.map((f) => [f.name, f.value]), [['a', '1 , 2'], ['b', '3']]);
  });
});
