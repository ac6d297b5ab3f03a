import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeDomainError, isALabelDomain, parseDomainArgument, toALabel } from './name.js';

const label63 = 'a'.repeat(63);
const label64 = 'a'.repeat(64);

describe('toALabel', () => {
  test('lower-cases and drops one trailing dot', () => {
    assert.equal(toALabel('Example.COM.'), 'example.com');
    assert.equal(toALabel('MX1.Example.com'), 'mx1.example.com');
  });

  test('two trailing dots are not a name', () => {
    assert.equal(toALabel('example.com..'), null);
  });

  test('converts U-labels to A-labels', () => {
    assert.equal(toALabel('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(toALabel('BÜCHER.example.'), 'xn--bcher-kva.example');
    assert.equal(toALabel('münchen.de'), 'xn--mnchen-3ya.de');
  });

  test('keeps valid A-labels and rejects xn-- labels that do not decode', () => {
    assert.equal(toALabel('XN--BCHER-KVA.example'), 'xn--bcher-kva.example');
    assert.equal(toALabel('xn--zz.example'), null);
    assert.equal(toALabel('xn----.example'), null);
  });

  test('a single label is grammatical', () => {
    assert.equal(toALabel('localhost'), 'localhost');
  });

  test('rejects names outside the RFC 5321 Domain grammar', () => {
    for (const bad of ['', '.', 'a..b', '.a.com', '-a.com', 'a-.com', 'a_b.com', 'a b.com', 'http://x', '*.example.com', 'bü_cher.com', '-bücher.com']) {
      assert.equal(toALabel(bad), null, bad);
    }
  });

  test('labels of 63 characters are fine, 64 are not', () => {
    assert.equal(toALabel(`${label63}.com`), `${label63}.com`);
    assert.equal(toALabel(`${label64}.com`), null);
  });

  test('the whole name is at most 253 characters', () => {
    const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');
    assert.equal(name253.length, 253);
    assert.equal(toALabel(name253), name253);
    assert.equal(toALabel(`${name253}a`), null);
    // 253 characters plus the trailing dot is still fine.
    assert.equal(toALabel(`${name253}.`), name253);
  });

  test('ASCII names are not reinterpreted as IPv4 addresses', () => {
    // The URL host parser would turn this into 127.0.0.1.
    assert.equal(toALabel('0x7f.1'), '0x7f.1');
  });
});

describe('isALabelDomain', () => {
  test('accepts A-label names, case-insensitively', () => {
    assert.equal(isALabelDomain('mail.example.com'), true);
    assert.equal(isALabelDomain('MAIL.Example.COM'), true);
    assert.equal(isALabelDomain('xn--bcher-kva.example'), true);
    assert.equal(isALabelDomain('a1-b2.example'), true);
    assert.equal(isALabelDomain('com'), true);
  });

  test('does not convert: U-labels and trailing dots are rejected', () => {
    assert.equal(isALabelDomain('bücher.example'), false);
    assert.equal(isALabelDomain('example.com.'), false);
  });

  test('rejects xn-- labels that do not round-trip', () => {
    assert.equal(isALabelDomain('xn--zz.example'), false);
    assert.equal(isALabelDomain('xn--a.com'), false);
    // Decodes to "-bücher": a U-label may not start with a hyphen.
    assert.equal(isALabelDomain('xn---bcher-4ya.com'), false);
  });

  test('label length 63 vs 64', () => {
    assert.equal(isALabelDomain(`${label63}.example`), true);
    assert.equal(isALabelDomain(`${label64}.example`), false);
  });

  test('rejects hyphens at label edges, underscores and wildcards', () => {
    for (const bad of ['-a.com', 'a-.com', 'a.-b.com', '_dmarc.example.com', '*.example.com', 'a..b', '']) {
      assert.equal(isALabelDomain(bad), false, bad);
    }
  });
});

describe('describeDomainError', () => {
  test('quotes the offending label', () => {
    assert.match(describeDomainError('-a.com') ?? '', /label "-a" starts with a hyphen/);
    assert.match(describeDomainError('a_b.com') ?? '', /"_"/);
    assert.match(describeDomainError(`${label64}.com`) ?? '', /64 characters/);
    assert.match(describeDomainError('a..b') ?? '', /empty label/);
    assert.equal(describeDomainError('a.b'), null);
  });
});

describe('parseDomainArgument', () => {
  test('normalizes valid input', () => {
    assert.deepEqual(parseDomainArgument('Example.COM.'), { ok: true, domain: 'example.com' });
    assert.deepEqual(parseDomainArgument('bücher.example'), { ok: true, domain: 'xn--bcher-kva.example' });
    assert.deepEqual(parseDomainArgument('  example.org  '), { ok: true, domain: 'example.org' });
  });

  const rejects = (input: string, pattern: RegExp): void => {
    const r = parseDomainArgument(input);
    assert.equal(r.ok, false, input);
    if (!r.ok) assert.match(r.error, pattern, input);
  };

  test('rejects URLs and suggests the host', () => {
    rejects('http://x', /is a URL/);
    rejects('https://mail.example.com/path', /mail\.example\.com/);
    rejects('example.com/path', /is a URL/);
  });

  test('rejects e-mail addresses', () => {
    rejects('user@example.com', /e-mail address.*example\.com/);
  });

  test('rejects empty input and empty labels', () => {
    rejects('', /empty/);
    rejects('   ', /empty/);
    rejects('a..b', /empty label/);
    rejects('example.com..', /empty label/);
    rejects('.', /root/);
    rejects('.example.com', /starts with a dot/);
  });

  test('rejects hyphens at label edges, underscores, spaces', () => {
    rejects('-a.com', /"-a" starts with a hyphen/);
    rejects('a-.com', /"a-" ends with a hyphen/);
    rejects('_mta-sts.example.com', /"_"/);
    rejects('bü_cher.example', /"_"/);
    rejects('exa mple.com', /whitespace/);
  });

  test('rejects IP addresses', () => {
    rejects('192.0.2.1', /IP address/);
    rejects('2001:db8::1', /IP address/);
    rejects('[2001:db8::1]', /IP address/);
    rejects('1.2.3', /IP address/);
    rejects('example.123', /all-numeric/);
  });

  test('rejects labels that are too long and broken A-labels', () => {
    rejects(`${label64}.com`, /64 characters/);
    rejects('xn--zz.example', /not a valid A-label/);
  });

  test('accepts a 63-character label', () => {
    assert.deepEqual(parseDomainArgument(`${label63}.com`), { ok: true, domain: `${label63}.com` });
  });
});
