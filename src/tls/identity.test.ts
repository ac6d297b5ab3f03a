import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { certificateMatchesHost, dnsNamesOf, hostMatchesDnsId } from './identity.js';

describe('dnsNamesOf', () => {
  test('keeps only DNS entries, lower-cased', () => {
    assert.deepEqual(
      dnsNamesOf('DNS:a.example, DNS:*.B.Example, IP Address:1.2.3.4, email:a@b.example, URI:https://x.example/y'),
      ['a.example', '*.b.example'],
    );
  });

  test('empty and missing input', () => {
    assert.deepEqual(dnsNamesOf(undefined), []);
    assert.deepEqual(dnsNamesOf(''), []);
    assert.deepEqual(dnsNamesOf('IP Address:192.0.2.1'), []);
  });

  test('decodes values Node quotes because of special characters', () => {
    // Node writes a comma inside a value as a JSON string with \u002c.
    assert.deepEqual(dnsNamesOf('DNS:"evil\\u002cx.example", DNS:good.example'), ['evil,x.example', 'good.example']);
    assert.deepEqual(dnsNamesOf('DNS:"a\\"b.example", DNS:c.example'), ['a"b.example', 'c.example']);
  });

  test('a quoted comma does not split the entry', () => {
    const names = dnsNamesOf('DNS:"x.example, DNS:mta-sts.victim.example", DNS:real.example');
    assert.deepEqual(names, ['x.example, dns:mta-sts.victim.example', 'real.example']);
    assert.equal(certificateMatchesHost(names, 'mta-sts.victim.example'), null);
  });

  test('a single entry without separator', () => {
    assert.deepEqual(dnsNamesOf('DNS:mx.example.com'), ['mx.example.com']);
  });
});

describe('hostMatchesDnsId', () => {
  test('exact names, case-insensitive, trailing dots ignored', () => {
    assert.equal(hostMatchesDnsId('mx.example.com', 'mx.example.com'), true);
    assert.equal(hostMatchesDnsId('MX.Example.COM', 'mx.example.com'), true);
    assert.equal(hostMatchesDnsId('mx.example.com.', 'MX.EXAMPLE.COM'), true);
    assert.equal(hostMatchesDnsId('mx.example.com', 'mx.example.com.'), true);
    assert.equal(hostMatchesDnsId('mx.example.com', 'mx2.example.com'), false);
    assert.equal(hostMatchesDnsId('mx.example.com', 'example.com'), false);
  });

  test('a wildcard matches exactly one leftmost label', () => {
    assert.equal(hostMatchesDnsId('mta-sts.example.com', '*.example.com'), true);
    assert.equal(hostMatchesDnsId('example.com', '*.example.com'), false);
    assert.equal(hostMatchesDnsId('a.b.example.com', '*.example.com'), false);
    assert.equal(hostMatchesDnsId('mx.other.com', '*.example.com'), false);
  });

  test('partial-label wildcards never match', () => {
    assert.equal(hostMatchesDnsId('foo.example.com', 'f*.example.com'), false);
    assert.equal(hostMatchesDnsId('foox.example.com', '*x.example.com'), false);
    assert.equal(hostMatchesDnsId('foo.example.com', 'f*o.example.com'), false);
  });

  test('wildcards only in the leftmost label, and never over a single label', () => {
    assert.equal(hostMatchesDnsId('a.b.example.com', 'a.*.example.com'), false);
    assert.equal(hostMatchesDnsId('example.com', '*.com'), false);
    assert.equal(hostMatchesDnsId('a.b.example.com', '*.*.example.com'), false);
    assert.equal(hostMatchesDnsId('x', '*'), false);
  });

  test('U-label hosts are converted to A-labels', () => {
    assert.equal(hostMatchesDnsId('mx.bücher.example', 'mx.xn--bcher-kva.example'), true);
    assert.equal(hostMatchesDnsId('mta-sts.bücher.example', '*.xn--bcher-kva.example'), true);
    assert.equal(hostMatchesDnsId('bücher.example', '*.example'), false);
    assert.equal(hostMatchesDnsId('xn--bcher-kva.example', '*.example'), false);
  });

  test('invalid hosts and empty identifiers never match', () => {
    assert.equal(hostMatchesDnsId('a..example.com', '*.example.com'), false);
    assert.equal(hostMatchesDnsId('mx.example.com', ''), false);
    assert.equal(hostMatchesDnsId('', '*.example.com'), false);
  });
});

describe('certificateMatchesHost', () => {
  test('returns the matching DNS-ID', () => {
    const names = ['www.example.com', '*.example.com'];
    assert.equal(certificateMatchesHost(names, 'mta-sts.example.com'), '*.example.com');
    assert.equal(certificateMatchesHost(names, 'www.example.com'), 'www.example.com');
    assert.equal(certificateMatchesHost(names, 'example.com'), null);
    assert.equal(certificateMatchesHost([], 'example.com'), null);
  });

  test('works on names parsed from a subjectAltName string', () => {
    const names = dnsNamesOf('DNS:MX1.Example.com, IP Address:192.0.2.1');
    assert.equal(certificateMatchesHost(names, 'mx1.example.com.'), 'mx1.example.com');
    assert.equal(certificateMatchesHost(names, '192.0.2.1'), null);
  });
});
