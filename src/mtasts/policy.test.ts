import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Finding } from '../findings.js';
import { MAX_AGE_LIMIT, mxPatternProblem, parsePolicy, serializePolicy, type Policy } from './policy.js';

const GOOD = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n';

const codes = (fs: readonly Finding[]): string[] => fs.map((f) => f.code);
const only = (fs: readonly Finding[], code: string): Finding => {
  const matching = fs.filter((f) => f.code === code);
  assert.equal(matching.length, 1, `expected one ${code}, got ${JSON.stringify(codes(fs))}`);
  return matching[0] as Finding;
};
/** A policy with the given lines (LF-terminated). */
const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join('');
/** The standard fields, with one line replaced or added. */
const withField = (line: string): string => lines('version: STSv1', 'mode: enforce', 'mx: mail.example.com', 'max_age: 604800', line);

describe('parsePolicy: valid policies', () => {
  test('a minimal enforce policy', () => {
    const r = parsePolicy(GOOD);
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.policy, { version: 'STSv1', mode: 'enforce', maxAge: 604800, mx: ['mail.example.com'], extensions: [] });
  });

  test('CRLF, LF, mixed terminators and no final terminator', () => {
    for (const text of [
      'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n',
      'version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmax_age: 604800\n',
      'version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800',
    ]) {
      const r = parsePolicy(text);
      assert.deepEqual(r.findings, [], JSON.stringify(text));
      assert.equal(r.policy?.maxAge, 604800);
    }
  });

  test('whitespace after the colon: none, spaces, tabs; trailing whitespace after values', () => {
    const r = parsePolicy('version:STSv1\nmode:\tenforce \t\nmx:   mail.example.com\t\nmax_age:604800  \n');
    assert.deepEqual(r.findings, []);
    assert.equal(r.policy?.mode, 'enforce');
    assert.deepEqual(r.policy?.mx, ['mail.example.com']);
  });

  test('fields may come in any order', () => {
    const r = parsePolicy(lines('max_age: 86400', 'mx: a.example.com', 'mode: enforce', 'version: STSv1'));
    assert.deepEqual(r.findings, []);
    assert.equal(r.policy?.maxAge, 86400);
  });

  test('mode none needs no mx', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: none', 'max_age: 604800'));
    assert.notEqual(r.policy, null);
    assert.deepEqual(codes(r.findings), ['policy-mode-none']);
    assert.deepEqual(r.policy?.mx, []);
  });

  test('mode testing is reported as info at the mode value', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: testing', 'mx: mail.example.com', 'max_age: 604800'));
    assert.equal(r.policy?.mode, 'testing');
    const f = only(r.findings, 'policy-mode-testing');
    assert.equal(f.severity, 'info');
    assert.deepEqual([f.line, f.column], [2, 7]);
  });

  test('several mx lines keep their order, lower-cased', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: enforce', 'mx: MX1.Example.com', 'mx: *.backup.example.net', 'mx: xn--bcher-kva.example', 'max_age: 604800'));
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.policy?.mx, ['mx1.example.com', '*.backup.example.net', 'xn--bcher-kva.example']);
  });
});

describe('parsePolicy: input and encoding', () => {
  test('empty input', () => {
    assert.deepEqual(codes(parsePolicy('').findings), ['policy-empty']);
    assert.deepEqual(codes(parsePolicy(new Uint8Array()).findings), ['policy-empty']);
    assert.deepEqual(codes(parsePolicy('\r\n\n  \n').findings), ['policy-empty']);
    assert.equal(parsePolicy('').policy, null);
  });

  test('UTF-8 bytes are decoded', () => {
    const r = parsePolicy(new TextEncoder().encode(withField('note: grüße ✓')));
    assert.notEqual(r.policy, null);
    assert.deepEqual(r.policy?.extensions, [{ name: 'note', value: 'grüße ✓' }]);
  });

  test('invalid UTF-8 points at the bad byte', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('version: STSv1\nmode: ü'), 0xff, 0x0a]);
    const r = parsePolicy(bytes);
    assert.equal(r.policy, null);
    const f = only(r.findings, 'policy-encoding');
    assert.match(f.message, /0xFF/);
    assert.deepEqual([f.line, f.column], [2, 8]);
  });

  test('overlong encodings and UTF-8-encoded surrogates are invalid', () => {
    assert.deepEqual(codes(parsePolicy(new Uint8Array([0x61, 0xc0, 0xaf])).findings), ['policy-encoding']);
    assert.deepEqual(codes(parsePolicy(new Uint8Array([0x61, 0xed, 0xa0, 0x80])).findings), ['policy-encoding']);
    assert.deepEqual(codes(parsePolicy(new Uint8Array([0x61, 0xe2, 0x82])).findings), ['policy-encoding']);
  });

  test('a lone surrogate in a string is an encoding error', () => {
    assert.deepEqual(codes(parsePolicy(withField('note: a\ud800b')).findings), ['policy-encoding']);
  });

  test('a UTF-8 BOM is a syntax error and says so', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(GOOD)]);
    const r = parsePolicy(bytes);
    assert.equal(r.policy, null);
    const f = only(r.findings, 'policy-syntax');
    assert.match(f.message, /byte order mark/);
    assert.deepEqual([f.line, f.column], [1, 1]);
    // The rest is still read: version is not reported missing.
    assert.ok(!codes(r.findings).includes('policy-version-missing'));
    assert.deepEqual(codes(parsePolicy(`\ufeff${GOOD}`).findings), ['policy-syntax']);
  });
});

describe('parsePolicy: line structure', () => {
  test('an empty line between fields', () => {
    const r = parsePolicy('version: STSv1\nmode: enforce\n\nmx: mail.example.com\nmax_age: 604800\n');
    assert.equal(r.policy, null);
    const f = only(r.findings, 'policy-syntax');
    assert.match(f.message, /between fields/);
    assert.equal(f.line, 3);
  });

  test('a blank extra line at the end is reported specifically', () => {
    for (const text of [`${GOOD}\n`, `${GOOD}\r\n`, `${GOOD}  \n`]) {
      const r = parsePolicy(text);
      assert.equal(r.policy, null, JSON.stringify(text));
      const f = only(r.findings, 'policy-syntax');
      assert.match(f.message, /only one line break/);
      assert.equal(f.line, 5);
    }
  });

  test('a blank first line', () => {
    const f = only(parsePolicy(`\n${GOOD}`).findings, 'policy-syntax');
    assert.match(f.message, /before the first field/);
    assert.equal(f.line, 1);
  });

  test('leading whitespace before a field name', () => {
    const r = parsePolicy('version: STSv1\n mode: enforce\nmx: mail.example.com\nmax_age: 604800\n');
    assert.equal(r.policy, null);
    const f = only(r.findings, 'policy-syntax');
    assert.match(f.message, /starts with whitespace/);
    assert.deepEqual([f.line, f.column], [2, 1]);
    // The field is still understood, so mode is not also reported missing.
    assert.deepEqual(codes(r.findings), ['policy-syntax']);
  });

  test('whitespace before the colon', () => {
    for (const line of ['mode : enforce', 'mode\t: enforce']) {
      const r = parsePolicy(lines('version: STSv1', line, 'mx: mail.example.com', 'max_age: 604800'));
      assert.equal(r.policy, null);
      const f = only(r.findings, 'policy-syntax');
      assert.match(f.message, /between the field name "mode" and ":"/);
      assert.deepEqual([f.line, f.column], [2, 5]);
    }
  });

  test('a line without a colon', () => {
    const r = parsePolicy(withField('this is not a field'));
    const f = only(r.findings, 'policy-syntax');
    assert.match(f.message, /no ":"/);
    assert.deepEqual([f.line, f.column], [5, 1]);
  });

  test('a line with no name before the colon', () => {
    const f = only(parsePolicy(withField(': value')).findings, 'policy-syntax');
    assert.match(f.message, /no field name/);
  });

  test('a lone CR is not a line terminator', () => {
    const r = parsePolicy('version: STSv1\rmode: enforce\nmx: mail.example.com\nmax_age: 604800\n');
    assert.equal(r.policy, null);
    const f = r.findings.find((x) => x.code === 'policy-syntax');
    assert.match(f?.message ?? '', /carriage return/);
    assert.deepEqual([f?.line, f?.column], [1, 15]);
  });

  test('a trailing CR without LF at the end of the text', () => {
    const r = parsePolicy(`${GOOD.slice(0, -1)}\r`);
    assert.equal(r.policy, null);
    assert.match(only(r.findings, 'policy-syntax').message, /carriage return/);
  });
});

describe('parsePolicy: field names', () => {
  test('names are case-sensitive: "Mode" is an extension and mode is missing', () => {
    const r = parsePolicy(lines('version: STSv1', 'Mode: enforce', 'mx: mail.example.com', 'max_age: 604800'));
    assert.equal(r.policy, null);
    const ext = only(r.findings, 'policy-extension-field');
    assert.equal(ext.severity, 'info');
    assert.match(ext.message, /case-sensitive/);
    assert.deepEqual([ext.line, ext.column], [2, 1]);
    assert.match(only(r.findings, 'policy-mode-missing').message, /"Mode" on line 2 does not count/);
  });

  test('unknown fields are kept and reported as info', () => {
    const r = parsePolicy(withField('x-comment: managed by ops'));
    assert.notEqual(r.policy, null);
    assert.deepEqual(r.policy?.extensions, [{ name: 'x-comment', value: 'managed by ops' }]);
    const f = only(r.findings, 'policy-extension-field');
    assert.deepEqual([f.line, f.column], [5, 1]);
  });

  test('a near-miss of max_age is pointed out', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: enforce', 'mx: mail.example.com', 'max-age: 604800'));
    assert.match(only(r.findings, 'policy-extension-field').message, /not "max_age"/);
    assert.ok(codes(r.findings).includes('policy-max-age-missing'));
  });

  test('extension names: 32 characters are fine, 33 are a syntax error', () => {
    const n32 = `a${'b'.repeat(31)}`;
    const ok = parsePolicy(withField(`${n32}: v`));
    assert.notEqual(ok.policy, null);
    assert.equal(ok.policy?.extensions[0]?.name, n32);
    const bad = parsePolicy(withField(`${n32}c: v`));
    assert.equal(bad.policy, null);
    assert.match(only(bad.findings, 'policy-syntax').message, /33 characters/);
  });

  test('extension names start with a letter or digit and use only ALPHA DIGIT _ - .', () => {
    assert.notEqual(parsePolicy(withField('9a_b-c.d: v')).policy, null);
    assert.match(only(parsePolicy(withField('_x: v')).findings, 'policy-syntax').message, /must start with a letter or digit/);
    assert.match(only(parsePolicy(withField('a/b: v')).findings, 'policy-syntax').message, /"\/"/);
    assert.match(only(parsePolicy(withField('max age: 5')).findings, 'policy-syntax').message, /a space/);
  });

  test('extension values: UTF-8 and inner spaces are fine; tabs, controls and empty values are not', () => {
    assert.deepEqual(parsePolicy(withField('note: a b  c ✓')).policy?.extensions, [{ name: 'note', value: 'a b  c ✓' }]);
    const tab = only(parsePolicy(withField('note: a\tb')).findings, 'policy-syntax');
    assert.match(tab.message, /tab/);
    assert.deepEqual([tab.line, tab.column], [5, 8]);
    assert.match(only(parsePolicy(withField('note: a\u0001b')).findings, 'policy-syntax').message, /control character/);
    assert.match(only(parsePolicy(withField('note: a\u007fb')).findings, 'policy-syntax').message, /control character/);
    assert.match(only(parsePolicy(withField('note:')).findings, 'policy-syntax').message, /no value/);
    assert.match(only(parsePolicy(withField('note:   ')).findings, 'policy-syntax').message, /no value/);
  });
});

describe('parsePolicy: duplicates', () => {
  test('two mode lines: the first counts', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: testing', 'mode: enforce', 'mx: mail.example.com', 'max_age: 604800'));
    assert.equal(r.policy?.mode, 'testing');
    const f = only(r.findings, 'policy-duplicate-field');
    assert.equal(f.severity, 'warning');
    assert.deepEqual([f.line, f.column], [3, 1]);
    assert.match(f.message, /"enforce".*line 2/);
  });

  test('an invalid first instance is not rescued by a valid second one', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: Enforce', 'mode: enforce', 'mx: mail.example.com', 'max_age: 604800'));
    assert.equal(r.policy, null);
    assert.deepEqual(codes(r.findings).sort(), ['policy-duplicate-field', 'policy-mode-invalid']);
  });

  test('duplicate max_age and version: first wins', () => {
    const r = parsePolicy(lines('version: STSv1', 'version: STSv2', 'mode: enforce', 'mx: mail.example.com', 'max_age: 604800', 'max_age: 86400'));
    assert.equal(r.policy?.maxAge, 604800);
    assert.equal(r.findings.filter((f) => f.code === 'policy-duplicate-field').length, 2);
  });

  test('duplicate extension fields: first wins', () => {
    const r = parsePolicy(`${withField('note: one')}note: two\n`);
    assert.deepEqual(r.policy?.extensions, [{ name: 'note', value: 'one' }]);
    assert.equal(only(r.findings, 'policy-duplicate-field').line, 6);
  });

  test('a duplicate that is not even an extension field is a syntax error', () => {
    const r = parsePolicy(`${GOOD}mode:\n`);
    assert.equal(r.policy, null);
    assert.deepEqual(codes(r.findings), ['policy-syntax']);
  });

  test('repeated mx (case-insensitive) is a warning and kept once', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: enforce', 'mx: mail.example.com', 'mx: MAIL.example.com', 'max_age: 604800'));
    assert.deepEqual(r.policy?.mx, ['mail.example.com']);
    const f = only(r.findings, 'policy-mx-duplicate');
    assert.deepEqual([f.line, f.column, f.severity], [4, 5, 'warning']);
  });
});

describe('parsePolicy: required fields', () => {
  test('missing version, mode, max_age', () => {
    const r = parsePolicy('mx: mail.example.com\n');
    assert.equal(r.policy, null);
    assert.deepEqual(codes(r.findings).sort(), ['policy-max-age-missing', 'policy-mode-missing', 'policy-version-missing']);
    for (const f of r.findings) assert.deepEqual([f.line, f.column], [1, 1]);
  });

  test('enforce or testing without mx', () => {
    for (const mode of ['enforce', 'testing']) {
      const r = parsePolicy(lines('version: STSv1', `mode: ${mode}`, 'max_age: 604800'));
      assert.equal(r.policy, null);
      assert.match(only(r.findings, 'policy-mx-missing').message, new RegExp(`mode is "${mode}"`));
    }
  });

  test('an invalid mode and no mx: mx is still required', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: strict', 'max_age: 604800'));
    assert.deepEqual(codes(r.findings).sort(), ['policy-mode-invalid', 'policy-mx-missing']);
  });
});

describe('parsePolicy: values', () => {
  test('version is case-sensitive', () => {
    const r = parsePolicy(lines('version: stsv1', 'mode: enforce', 'mx: mail.example.com', 'max_age: 604800'));
    const f = only(r.findings, 'policy-version-invalid');
    assert.match(f.message, /"stsv1".*case-sensitive/);
    assert.deepEqual([f.line, f.column], [1, 10]);
    assert.equal(only(parsePolicy(lines('version: STSv2', 'mode: none', 'max_age: 604800')).findings, 'policy-version-invalid').line, 1);
  });

  test('mode is case-sensitive', () => {
    const r = parsePolicy(lines('version: STSv1', 'mode: Enforce', 'mx: mail.example.com', 'max_age: 604800'));
    assert.equal(r.policy, null);
    const f = only(r.findings, 'policy-mode-invalid');
    assert.match(f.message, /"Enforce".*case-sensitive/);
    assert.deepEqual([f.line, f.column], [2, 7]);
  });

  test('empty mode value', () => {
    assert.match(only(parsePolicy(lines('version: STSv1', 'mode:', 'mx: a.example', 'max_age: 604800')).findings, 'policy-mode-invalid').message, /no value/);
  });

  const maxAge = (v: string) => parsePolicy(lines('version: STSv1', 'mode: enforce', 'mx: mail.example.com', `max_age: ${v}`));

  test('max_age 0 is grammatical but short', () => {
    const r = maxAge('0');
    assert.equal(r.policy?.maxAge, 0);
    const f = only(r.findings, 'policy-max-age-short');
    assert.deepEqual([f.severity, f.line, f.column], ['warning', 4, 10]);
  });

  test('max_age boundaries', () => {
    assert.deepEqual(maxAge('86400').findings, []);
    assert.deepEqual(codes(maxAge('86399').findings), ['policy-max-age-short']);
    assert.equal(maxAge(String(MAX_AGE_LIMIT)).policy?.maxAge, 31557600);
    assert.deepEqual(codes(maxAge('31557601').findings), ['policy-max-age-too-large']);
    assert.equal(maxAge('31557601').policy, null);
    assert.deepEqual(codes(maxAge('9999999999').findings), ['policy-max-age-too-large']);
    // Ten digits with leading zeros are fine.
    assert.equal(maxAge('0000604800').policy?.maxAge, 604800);
  });

  test('max_age that is not 1 to 10 digits', () => {
    for (const v of ['00000604800', '+5', '-1', '1e3', '1.5', '604800s', '6048 00', '０']) {
      const r = maxAge(v);
      assert.equal(r.policy, null, v);
      const f = only(r.findings, 'policy-max-age-invalid');
      assert.deepEqual([f.line, f.column], [4, 10], v);
    }
    assert.match(only(maxAge('00000604800').findings, 'policy-max-age-invalid').message, /11 digits/);
  });
});

describe('parsePolicy: mx values', () => {
  const mx = (v: string) => parsePolicy(lines('version: STSv1', 'mode: enforce', `mx: ${v}`, 'max_age: 604800'));

  test('valid patterns', () => {
    for (const v of ['mail.example.com', '*.example.com', 'mx', `${'a'.repeat(63)}.example`, 'xn--bcher-kva.example']) {
      assert.deepEqual(mx(v).findings, [], v);
    }
  });

  test('wildcard variants that are invalid', () => {
    for (const [v, why] of [
      ['*', /bare wildcard/],
      ['*.', /no domain after the wildcard/],
      ['a.*.example.com', /other than the leftmost/],
      ['*example.com', /partial-label wildcard/],
      ['mail*.example.com', /partial-label wildcard/],
      ['**.example.com', /"\*\*"/],
      ['*.*.example.com', /more than one "\*"/],
    ] as const) {
      const r = mx(v);
      assert.equal(r.policy, null, v);
      const f = only(r.findings, 'policy-mx-invalid');
      assert.match(f.message, why, v);
      assert.deepEqual([f.line, f.column], [3, 5], v);
    }
  });

  test('a trailing dot is invalid and says so', () => {
    const f = only(mx('mail.example.com.').findings, 'policy-mx-invalid');
    assert.match(f.message, /trailing dot.*"mail\.example\.com"/);
  });

  test('U-labels are rejected with the A-label suggested', () => {
    assert.match(only(mx('mx.bücher.example').findings, 'policy-mx-invalid').message, /A-label "mx\.xn--bcher-kva\.example"/);
    assert.match(only(mx('*.bücher.example').findings, 'policy-mx-invalid').message, /"\*\.xn--bcher-kva\.example"/);
  });

  test('label lengths: 63 ok, 64 invalid', () => {
    assert.match(only(mx(`${'a'.repeat(64)}.example`).findings, 'policy-mx-invalid').message, /64 characters/);
  });

  test('other grammar errors quote the value', () => {
    for (const v of ['-mx.example.com', 'mx-.example.com', 'mx..example.com', 'mx_1.example.com', 'mx.example.com:25', 'xn--zz.example', 'a b.example']) {
      const f = only(mx(v).findings, 'policy-mx-invalid');
      assert.ok(f.message.includes(`"${v}"`), `${v}: ${f.message}`);
    }
  });

  test('mxPatternProblem is null for valid values', () => {
    assert.equal(mxPatternProblem('*.Example.COM'), null);
    assert.notEqual(mxPatternProblem(''), null);
  });
});

describe('serializePolicy', () => {
  const policy: Policy = {
    version: 'STSv1',
    mode: 'testing',
    maxAge: 1209600,
    mx: ['mx1.example.com', '*.backup.example.net'],
    extensions: [{ name: 'note', value: 'grüße aus köln' }],
  };

  test('canonical form with CRLF', () => {
    assert.equal(
      serializePolicy(policy),
      'version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.backup.example.net\r\nmax_age: 1209600\r\nnote: grüße aus köln\r\n',
    );
  });

  test('mx is lower-cased', () => {
    assert.match(serializePolicy({ ...policy, mx: ['MX1.Example.COM'] }), /mx: mx1\.example\.com\r\n/);
  });

  test('round-trips through parsePolicy', () => {
    for (const p of [policy, { ...policy, mode: 'none' as const, mx: [], extensions: [] }, { ...policy, mode: 'enforce' as const }]) {
      const r = parsePolicy(serializePolicy(p));
      assert.deepEqual(r.policy, p);
      assert.ok(!r.findings.some((f) => f.severity !== 'info'));
    }
  });

  test('a parsed policy round-trips', () => {
    const parsed = parsePolicy(lines('mx: A.Example.com', 'max_age: 86400', 'mode: enforce', 'version: STSv1', 'x.y: z')).policy;
    assert.notEqual(parsed, null);
    if (parsed !== null) assert.deepEqual(parsePolicy(serializePolicy(parsed)).policy, parsed);
  });
});
