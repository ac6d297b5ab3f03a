import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchingPattern, mxPatternMatches } from './mx.js';

describe('mxPatternMatches', () => {
  test('exact patterns, case-insensitive', () => {
    assert.equal(mxPatternMatches('mail.example.com', 'mail.example.com'), true);
    assert.equal(mxPatternMatches('Mail.Example.COM', 'mail.example.com'), true);
    assert.equal(mxPatternMatches('mail.example.com', 'MAIL.EXAMPLE.COM'), true);
    assert.equal(mxPatternMatches('mail.example.com', 'mail2.example.com'), false);
  });

  test('a trailing dot on the host is ignored', () => {
    assert.equal(mxPatternMatches('mail.example.com', 'mail.example.com.'), true);
    assert.equal(mxPatternMatches('*.example.com', 'mail.example.com.'), true);
  });

  test('a wildcard matches exactly one extra leftmost label', () => {
    assert.equal(mxPatternMatches('*.example.com', 'mail.example.com'), true);
    assert.equal(mxPatternMatches('*.example.com', 'example.com'), false);
    assert.equal(mxPatternMatches('*.example.com', 'a.b.example.com'), false);
    assert.equal(mxPatternMatches('*.example.com', 'mail.example.net'), false);
    assert.equal(mxPatternMatches('*.example.com', 'mailexample.com'), false);
  });

  test('U-label hosts are compared in A-label form', () => {
    assert.equal(mxPatternMatches('mx.xn--bcher-kva.example', 'mx.bücher.example'), true);
    assert.equal(mxPatternMatches('*.xn--bcher-kva.example', 'MX.Bücher.example.'), true);
  });

  test('invalid hosts never match', () => {
    assert.equal(mxPatternMatches('*.example.com', '.example.com'), false);
    assert.equal(mxPatternMatches('*.example.com', 'a..example.com'), false);
    assert.equal(mxPatternMatches('*.example.com', 'a_b.example.com'), false);
    assert.equal(mxPatternMatches('example.com', ''), false);
  });

  test('invalid patterns never match', () => {
    assert.equal(mxPatternMatches('*', 'example'), false);
    assert.equal(mxPatternMatches('**.example.com', 'a.example.com'), false);
    assert.equal(mxPatternMatches('*mail.example.com', 'xmail.example.com'), false);
    assert.equal(mxPatternMatches('a.*.example.com', 'a.b.example.com'), false);
    assert.equal(mxPatternMatches('mail.example.com.', 'mail.example.com'), false);
  });
});

describe('matchingPattern', () => {
  const patterns = ['mx1.example.com', '*.backup.example.net'];

  test('returns the pattern as written', () => {
    assert.equal(matchingPattern(patterns, 'MX1.example.com.'), 'mx1.example.com');
    assert.equal(matchingPattern(patterns, 'b1.backup.example.net'), '*.backup.example.net');
  });

  test('null when nothing matches', () => {
    assert.equal(matchingPattern(patterns, 'mx2.example.com'), null);
    assert.equal(matchingPattern(patterns, 'backup.example.net'), null);
    assert.equal(matchingPattern([], 'mx1.example.com'), null);
  });
});
