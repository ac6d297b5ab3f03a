/**
 * The catalogue of example deployments shown by `mtasts demo` and checked by the scenario tests:
 * one healthy domain, then one domain per typical mistake. `expect.codes` lists the finding codes
 * that must appear (others may too); `expect.verdict` follows the severities in src/findings.ts.
 */
import type { FindingCode, Verdict } from '../findings.js';
import { policyText, type DomainSpec } from './world.js';

export interface Scenario {
  /** The domain as typed by a user (U-label for IDN examples). */
  name: string;
  /** One line: what this deployment shows. */
  description: string;
  spec: DomainSpec;
  expect: { verdict: Verdict; codes: FindingCode[] };
}

const MB = 1024 * 1024;

const sc = (
  domain: string,
  description: string,
  spec: Omit<DomainSpec, 'domain'>,
  verdict: Verdict,
  codes: FindingCode[] = [],
): Scenario => ({ name: domain, description, spec: { domain, ...spec }, expect: { verdict, codes } });

/** 2 KB of unrelated TXT records: too big for a 512-byte (or 1232-byte EDNS) UDP answer. */
const bigTxt = Array.from({ length: 10 }, (_, i) => [`site-verification-${i}=${'x'.repeat(190)}`]);

export const SCENARIOS: Scenario[] = [
  sc('good.test', 'healthy: TXT record, policy served over valid HTTPS, MX with STARTTLS and a valid certificate', {}, 'pass'),
  sc('wildcard-mx.test', 'a `*.mx.` wildcard policy pattern covering two MX hosts with a wildcard certificate', {
    policy: policyText({ mx: ['*.mx.wildcard-mx.test'] }),
    mx: [
      { host: 'a.mx.wildcard-mx.test', cert: 'wildcard' },
      { host: 'b.mx.wildcard-mx.test', cert: 'wildcard' },
    ],
  }, 'pass'),
  sc('txt-cname.test', 'the _mta-sts record is delegated by CNAME to a provider', {
    stsCname: '_mta-sts.sts-provider.test',
  }, 'pass', ['record-cname']),
  sc('bücher.test', 'an internationalized domain given as a U-label (xn--bcher-kva.test), healthy', {}, 'pass'),
  sc('big-txt.test', 'healthy, but 2 KB of other TXT records at _mta-sts force DNS over TCP', { extraTxt: bigTxt }, 'pass'),
  sc('chain.test', 'healthy, with certificates issued by an intermediate CA and served with their chain', {
    policyCert: 'intermediate',
    mx: [{ host: 'mx1.chain.test', cert: 'intermediate' }],
  }, 'pass'),
  sc('null-mx.test', 'a domain that receives no mail: null MX and a mode none policy', { nullMx: true }, 'pass', ['mx-null']),

  // --- the TXT record
  sc('no-txt.test', 'no _mta-sts TXT record: senders never look for the policy', { stsTxt: null }, 'fail', ['record-missing']),
  sc('multi-txt.test', 'two v=STSv1 TXT records: senders must ignore MTA-STS', {
    stsTxt: [['v=STSv1; id=20240101T000000'], ['v=STSv1; id=20240202T000000']],
  }, 'fail', ['record-multiple']),
  sc('bad-txt.test', 'the record id contains characters other than letters and digits', {
    stsTxt: [['v=STSv1; id=bad_id!']],
  }, 'fail', ['record-id-invalid']),
  sc('dns-dead.test', 'the DNS server never answers for this domain', { dns: 'silent' }, 'fail', ['dns-timeout']),
  sc('dns-servfail.test', 'the DNS server answers SERVFAIL for this domain', { dns: 'servfail' }, 'fail', ['dns-error']),

  // --- the policy host
  sc('no-policy-host.test', 'mta-sts.<domain> has no address record', { policyHost: 'missing' }, 'fail', ['policy-host-unresolvable']),
  sc('unreachable-policy-host.test', 'mta-sts.<domain> points at an address where nothing listens', {
    policyHost: 'unreachable',
  }, 'fail', ['policy-host-unreachable']),
  sc('expired-cert.test', 'the policy host certificate has expired', { policyCert: 'expired' }, 'fail', ['policy-cert-expired']),
  sc('not-yet-valid-cert.test', 'the policy host certificate is not valid yet', { policyCert: 'not-yet-valid' }, 'fail', ['policy-cert-expired']),
  sc('wrong-name-cert.test', 'the policy host certificate is for another name', { policyCert: 'wrong-name' }, 'fail', ['policy-cert-name']),
  sc('self-signed.test', 'the policy host certificate is self-signed', { policyCert: 'self-signed' }, 'fail', ['policy-cert-untrusted']),
  sc('missing-intermediate.test', 'the policy host does not send the intermediate certificate', {
    policyCert: 'missing-intermediate',
  }, 'fail', ['policy-cert-untrusted']),
  sc('redirect.test', 'the policy URL redirects elsewhere (senders must not follow)', {
    http: { kind: 'redirect', location: 'https://www.redirect.test/mta-sts.txt' },
  }, 'fail', ['policy-redirect']),
  sc('redirect-loop.test', 'the policy URL redirects to itself', { http: { kind: 'redirect-loop' } }, 'fail', ['policy-redirect']),
  sc('not-found.test', 'the policy URL answers 404', { http: { kind: 'status', status: 404 } }, 'fail', ['policy-http-status']),
  sc('server-error.test', 'the policy URL answers 500', { http: { kind: 'status', status: 500 } }, 'fail', ['policy-http-status']),
  sc('wrong-type.test', 'the policy is served as application/octet-stream', {
    http: { kind: 'policy', contentType: 'application/octet-stream' },
  }, 'fail', ['policy-content-type']),
  sc('huge-body.test', 'the policy URL serves 10 MB', { http: { kind: 'huge', bytes: 10 * MB } }, 'fail', ['policy-too-large']),
  sc('slow-body.test', 'the policy host sends one byte per second', { http: { kind: 'slow' } }, 'fail', ['policy-fetch-timeout']),
  sc('hang.test', 'the policy host accepts the request and never answers', { http: { kind: 'hang' } }, 'fail', ['policy-fetch-timeout']),
  sc('reset.test', 'the policy host drops the connection on request', { http: { kind: 'reset' } }, 'fail', ['policy-http-error']),

  // --- the policy text
  sc('bad-policy.test', 'a policy line with a space before the colon', {
    policy: 'version: STSv1\r\nmode : enforce\r\nmx: mx1.bad-policy.test\r\nmax_age: 604800\r\n',
  }, 'fail', ['policy-syntax']),
  sc('short-max-age.test', 'max_age of one hour', { policy: policyText({ mx: ['mx1.short-max-age.test'], maxAge: 3600 }) }, 'warn', ['policy-max-age-short']),
  sc('testing-no-tlsrpt.test', 'mode testing without a TLS-RPT record: nobody hears about failures', {
    policy: policyText({ mode: 'testing', mx: ['mx1.testing-no-tlsrpt.test'] }),
    tlsrpt: null,
  }, 'warn', ['testing-without-tlsrpt']),
  sc('bad-tlsrpt.test', 'the TLS-RPT record has an rua that is neither mailto: nor https:', {
    tlsrpt: [['v=TLSRPTv1; rua=ftp://reports.bad-tlsrpt.test/']],
  }, 'fail', ['tlsrpt-rua-invalid']),

  // --- MX coverage
  sc('mx-not-covered.test', 'the policy lists mx1 but DNS also has mx2', {
    policy: policyText({ mx: ['mx1.mx-not-covered.test'] }),
    mx: [{ host: 'mx1.mx-not-covered.test' }, { host: 'mx2.mx-not-covered.test' }],
  }, 'fail', ['mx-not-covered']),
  sc('pattern-unused.test', 'the policy still lists a retired MX host', {
    policy: policyText({ mx: ['mx1.pattern-unused.test', 'old.pattern-unused.test'] }),
  }, 'warn', ['mx-pattern-unused']),

  // --- SMTP on each MX
  sc('no-starttls.test', 'the MX does not offer STARTTLS', { mx: [{ host: 'mx1.no-starttls.test', smtp: 'no-starttls' }] }, 'fail', ['smtp-no-starttls']),
  sc('reject-starttls.test', 'the MX offers STARTTLS but answers it with 454', {
    mx: [{ host: 'mx1.reject-starttls.test', smtp: 'reject-starttls' }],
  }, 'fail', ['smtp-starttls-rejected']),
  sc('mx-wrong-name.test', 'the MX certificate is for another name', { mx: [{ host: 'mx1.mx-wrong-name.test', cert: 'wrong-name' }] }, 'fail', ['smtp-cert-name']),
  sc('mx-expired.test', 'the MX certificate has expired', { mx: [{ host: 'mx1.mx-expired.test', cert: 'expired' }] }, 'fail', ['smtp-cert-expired']),
  sc('mx-untrusted.test', 'the MX certificate comes from an unknown CA', { mx: [{ host: 'mx1.mx-untrusted.test', cert: 'untrusted-ca' }] }, 'fail', ['smtp-cert-untrusted']),
  sc('mx-self-signed.test', 'the MX certificate is self-signed', { mx: [{ host: 'mx1.mx-self-signed.test', cert: 'self-signed' }] }, 'fail', ['smtp-cert-untrusted']),
  sc('mx-expiring.test', 'the MX certificate expires in 3 days', { mx: [{ host: 'mx1.mx-expiring.test', cert: 'expiring-soon' }] }, 'warn', ['smtp-cert-expiring']),
  sc('mx-hang.test', 'the MX accepts connections but never greets', { mx: [{ host: 'mx1.mx-hang.test', smtp: 'hang' }] }, 'fail', ['smtp-timeout']),
  sc('mx-garbage.test', 'the MX port answers with an HTTP error instead of SMTP', { mx: [{ host: 'mx1.mx-garbage.test', smtp: 'garbage' }] }, 'fail', ['smtp-protocol']),
  sc('mx-refuse.test', 'the MX greets with 554 (no service)', { mx: [{ host: 'mx1.mx-refuse.test', smtp: 'refuse' }] }, 'fail', ['smtp-protocol']),
  sc('mx-unreachable.test', 'nothing listens on the MX address', { mx: [{ host: 'mx1.mx-unreachable.test', smtp: 'unreachable' }] }, 'fail', ['smtp-unreachable']),
  sc('mx-no-address.test', 'the MX host name has no address record', { mx: [{ host: 'mx1.mx-no-address.test', smtp: 'missing' }] }, 'fail', ['smtp-unresolvable']),
];
