/**
 * Findings: every problem mtasts reports carries a stable machine-readable code, a severity, and a
 * human message that ends with how to fix it. The registry below is the single source of truth;
 * `docs/findings.md` is generated from it (`npm run docs:findings`) and a test keeps the two in sync.
 *
 * Codes are stable: scripts match on them. Add new codes freely; never rename or reuse one.
 *
 * @example
 * ```ts
 * const f = finding('policy-mx-missing', 'no "mx" field in a policy with mode enforce');
 * f.severity; // "error"
 * ```
 */

export type Severity = 'error' | 'warning' | 'info';

/** Which part of a deployment a finding is about; `check` groups its report by these. */
export type Section = 'input' | 'record' | 'policy-host' | 'policy' | 'mx' | 'smtp' | 'tlsrpt' | 'consistency';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  section: Section;
  /** What is wrong, then how to fix it. */
  message: string;
  /** The RFC section that the rule comes from, e.g. "RFC 8461 §3.2". */
  rfc?: string;
  /** 1-based position in the linted text, where the finding points at one. */
  line?: number;
  column?: number;
  /** The MX host a finding is about (sections `mx` and `smtp`). */
  host?: string;
}

interface FindingSpec {
  severity: Severity;
  section: Section;
  /** One line: what the finding means. */
  meaning: string;
  /** One line: how to fix it. */
  fix: string;
  rfc?: string;
}

const spec = (
  severity: Severity,
  section: Section,
  meaning: string,
  fix: string,
  rfc?: string,
): FindingSpec => (rfc === undefined ? { severity, section, meaning, fix } : { severity, section, meaning, fix, rfc });

/** The registry of all finding codes. Order here is the order of the docs table. */
export const FINDINGS = {
  // --- input -------------------------------------------------------------------------------
  'input-domain-invalid': spec('error', 'input', 'The domain given to mtasts is not a valid domain name.',
    'Give a domain name such as example.com (U-labels are converted to A-labels).', 'RFC 5321 §4.1.2'),
  'address-not-public': spec('error', 'input', 'A host resolved only to loopback, private or other non-public addresses, which this service refuses to contact.',
    'Publish public addresses for the host; non-public targets are refused to keep the service from being used to probe internal networks.'),
  'internal-error': spec('error', 'input', 'mtasts hit an unexpected error while checking.',
    'Report this as a bug with the command line that produced it.'),

  // --- _mta-sts TXT record -----------------------------------------------------------------
  'dns-timeout': spec('error', 'record', 'The DNS server did not answer in time.',
    'Check that the domain\'s authoritative servers answer over UDP and TCP, or raise --timeout.'),
  'dns-error': spec('error', 'record', 'The DNS lookup failed (SERVFAIL, REFUSED or a broken answer).',
    'Fix the zone or its DNSSEC signatures so that the name resolves.'),
  'record-missing': spec('error', 'record', 'No TXT record starting with "v=STSv1;" at _mta-sts.<domain>: senders see no MTA-STS policy.',
    'Publish a TXT record such as `_mta-sts.example.com. TXT "v=STSv1; id=20240101T000000"`.', 'RFC 8461 §3.1'),
  'record-multiple': spec('error', 'record', 'More than one TXT record starts with "v=STSv1;": senders must then ignore MTA-STS entirely.',
    'Delete all but one _mta-sts TXT record.', 'RFC 8461 §3.1'),
  'record-syntax': spec('error', 'record', 'The _mta-sts TXT record does not follow the grammar: senders treat the domain as having no policy.',
    'Write the record as `v=STSv1; id=<1-32 letters or digits>` with fields separated by ";".', 'RFC 8461 §3.1'),
  'record-id-missing': spec('error', 'record', 'The _mta-sts TXT record has no id field.',
    'Add `id=<1-32 letters or digits>` and change it whenever the policy changes.', 'RFC 8461 §3.1'),
  'record-id-invalid': spec('error', 'record', 'The id is not 1 to 32 ASCII letters and digits.',
    'Use only A-Z, a-z and 0-9 in the id, at most 32 of them (a timestamp such as 20240101T000000 works).', 'RFC 8461 §3.1'),
  'record-duplicate-field': spec('warning', 'record', 'A field appears more than once in the TXT record; only the first counts.',
    'Remove the repeated field.', 'RFC 8461 §3.1'),
  'record-extension': spec('info', 'record', 'The TXT record carries an extension field that senders ignore.',
    'Nothing to do unless the field was meant to be something else.', 'RFC 8461 §3.1'),
  'record-other-txt': spec('info', 'record', 'A TXT record at _mta-sts.<domain> does not start with "v=STSv1;" and is ignored by senders.',
    'Remove it if it was meant as an MTA-STS record.', 'RFC 8461 §3.1'),
  'record-cname': spec('info', 'record', 'The _mta-sts name is a CNAME; the record was found by following it.',
    'Nothing to do: delegating the record by CNAME is allowed.', 'RFC 8461 §3.1'),

  // --- policy host (HTTPS) -----------------------------------------------------------------
  'policy-host-unresolvable': spec('error', 'policy-host', 'mta-sts.<domain> has no A or AAAA record, so no policy can be fetched.',
    'Publish an A/AAAA (or CNAME) record for mta-sts.<domain> pointing at your policy web server.', 'RFC 8461 §3.3'),
  'policy-host-unreachable': spec('error', 'policy-host', 'No address of mta-sts.<domain> accepted an HTTPS connection.',
    'Make the policy web server listen on port 443 on every published address.', 'RFC 8461 §3.3'),
  'policy-fetch-timeout': spec('error', 'policy-host', 'The policy fetch did not complete within the time limit.',
    'Serve the small policy file promptly; senders give up on slow servers.', 'RFC 8461 §3.3'),
  'policy-tls-handshake': spec('error', 'policy-host', 'The TLS handshake with the policy host failed.',
    'Serve HTTPS with TLS 1.2 or later and a complete certificate chain on mta-sts.<domain>.', 'RFC 8461 §3.3'),
  'policy-cert-name': spec('error', 'policy-host', 'The policy host\'s certificate has no DNS name matching mta-sts.<domain>.',
    'Get a certificate whose subjectAltName lists mta-sts.<domain> (or *.<domain>).', 'RFC 8461 §3.3, RFC 6125 §6.4'),
  'policy-cert-untrusted': spec('error', 'policy-host', 'The policy host\'s certificate does not chain to a trusted root (self-signed, unknown CA or missing intermediate).',
    'Use a certificate from a public CA and serve the intermediate certificates too.', 'RFC 8461 §3.3'),
  'policy-cert-expired': spec('error', 'policy-host', 'The policy host\'s certificate has expired or is not yet valid.',
    'Renew the certificate for mta-sts.<domain>.', 'RFC 8461 §3.3'),
  'policy-cert-expiring': spec('warning', 'policy-host', 'The policy host\'s certificate expires soon.',
    'Renew the certificate, or automate renewal (ACME).', 'RFC 8461 §3.3'),
  'policy-redirect': spec('error', 'policy-host', 'The policy URL answers with a redirect; senders must not follow redirects.',
    'Serve the policy directly at https://mta-sts.<domain>/.well-known/mta-sts.txt with status 200.', 'RFC 8461 §3.3'),
  'policy-http-status': spec('error', 'policy-host', 'The policy URL answered with a status other than 200.',
    'Serve the policy file at exactly /.well-known/mta-sts.txt with status 200.', 'RFC 8461 §3.3'),
  'policy-content-type': spec('error', 'policy-host', 'The policy is not served with Content-Type text/plain; senders may refuse it.',
    'Configure the web server to send `Content-Type: text/plain` for mta-sts.txt.', 'RFC 8461 §3.2'),
  'policy-too-large': spec('error', 'policy-host', 'The policy body is larger than 64 KiB; senders stop reading it.',
    'Serve only the policy text; a real policy is a few hundred bytes.', 'RFC 8461 §3.3'),
  'policy-http-error': spec('error', 'policy-host', 'The policy host broke the HTTP protocol (malformed response or connection reset).',
    'Check the web server and any proxy in front of it.', 'RFC 8461 §3.3'),

  // --- policy text ---------------------------------------------------------------------------
  'policy-encoding': spec('error', 'policy', 'The policy is not valid UTF-8.',
    'Save the policy file as plain ASCII or UTF-8.', 'RFC 8461 §3.2'),
  'policy-empty': spec('error', 'policy', 'The policy file is empty.',
    'Write the version, mode, mx and max_age fields.', 'RFC 8461 §3.2'),
  'policy-syntax': spec('error', 'policy', 'A line of the policy is not a `key: value` field: senders reject the whole policy.',
    'Write each line as `name: value` (lower-case names, no spaces before the colon, no blank lines).', 'RFC 8461 §3.2'),
  'policy-version-missing': spec('error', 'policy', 'The policy has no version field.',
    'Add `version: STSv1` as the first line.', 'RFC 8461 §3.2'),
  'policy-version-invalid': spec('error', 'policy', 'The version field is not exactly "STSv1".',
    'Write `version: STSv1` (case-sensitive).', 'RFC 8461 §3.2'),
  'policy-mode-missing': spec('error', 'policy', 'The policy has no mode field.',
    'Add `mode: testing` (then `enforce` once reports are clean).', 'RFC 8461 §3.2'),
  'policy-mode-invalid': spec('error', 'policy', 'The mode is not one of enforce, testing or none (lower case).',
    'Write `mode: enforce`, `mode: testing` or `mode: none`.', 'RFC 8461 §3.2'),
  'policy-max-age-missing': spec('error', 'policy', 'The policy has no max_age field.',
    'Add `max_age: 604800` (one week) or longer.', 'RFC 8461 §3.2'),
  'policy-max-age-invalid': spec('error', 'policy', 'max_age is not 1 to 10 decimal digits.',
    'Write max_age as a whole number of seconds, e.g. `max_age: 604800`.', 'RFC 8461 §3.2'),
  'policy-max-age-too-large': spec('error', 'policy', 'max_age is above 31557600 seconds (one year), the largest value allowed.',
    'Use at most `max_age: 31557600`.', 'RFC 8461 §3.2'),
  'policy-max-age-short': spec('warning', 'policy', 'max_age is under one day: senders re-fetch often and a short outage of the policy host leaves mail unprotected.',
    'Use a week or more (`max_age: 604800`); RFC 8461 suggests weeks or longer.', 'RFC 8461 §3.2'),
  'policy-mx-missing': spec('error', 'policy', 'The policy has no mx field although its mode is not none.',
    'Add one `mx:` line per MX host (or `*.` wildcard) that receives mail for the domain.', 'RFC 8461 §3.2'),
  'policy-mx-invalid': spec('error', 'policy', 'An mx value is not a valid A-label domain name with an optional whole leftmost "*." wildcard.',
    'Write host names such as `mx1.example.com` or `*.example.net`; write IDNs in A-label (xn--) form.', 'RFC 8461 §3.2'),
  'policy-mx-duplicate': spec('warning', 'policy', 'The same mx pattern is listed twice.',
    'Remove the repeated mx line.', 'RFC 8461 §3.2'),
  'policy-duplicate-field': spec('warning', 'policy', 'A field other than mx appears more than once; senders use only the first.',
    'Keep one instance of the field, with the value you mean.', 'RFC 8461 §3.2'),
  'policy-extension-field': spec('info', 'policy', 'The policy has a field that is not defined by RFC 8461; senders ignore it.',
    'Nothing to do unless it is a misspelling of version, mode, mx or max_age.', 'RFC 8461 §3.2'),
  'policy-mode-testing': spec('info', 'policy', 'The policy is in testing mode: failures are reported, not enforced.',
    'Switch to `mode: enforce` once TLS-RPT reports show no failures.', 'RFC 8461 §5'),
  'policy-mode-none': spec('info', 'policy', 'The policy mode is none: senders stop applying MTA-STS to this domain.',
    'Nothing to do if you are withdrawing MTA-STS; otherwise use testing or enforce.', 'RFC 8461 §8.3'),

  // --- MX coverage ----------------------------------------------------------------------------
  'mx-lookup-failed': spec('error', 'mx', 'The MX records of the domain could not be looked up.',
    'Fix the domain\'s DNS so that MX queries are answered.', 'RFC 8461 §4'),
  'mx-none': spec('warning', 'mx', 'The domain has no MX records; MTA-STS only protects delivery to MX hosts.',
    'Publish MX records for the hosts that receive mail.', 'RFC 8461 §4'),
  'mx-null': spec('info', 'mx', 'The domain publishes a null MX (it accepts no mail).',
    'Nothing to do; an MTA-STS policy is not needed for a domain that receives no mail.', 'RFC 7505'),
  'mx-not-covered': spec('error', 'mx', 'An MX host is not matched by any mx pattern in the policy: enforcing senders will not deliver to it.',
    'Add an `mx:` line for this host (or a `*.` wildcard of its parent).', 'RFC 8461 §4.1'),
  'mx-pattern-unused': spec('warning', 'mx', 'An mx pattern in the policy matches none of the domain\'s MX hosts.',
    'Remove stale patterns, or check for a typo (a wildcard matches exactly one label).', 'RFC 8461 §4.1'),

  // --- SMTP STARTTLS per MX ---------------------------------------------------------------------
  'smtp-unresolvable': spec('error', 'smtp', 'The MX host name has no A or AAAA record.',
    'Publish an address for the MX host or remove the MX record.', 'RFC 5321 §5.1'),
  'smtp-unreachable': spec('error', 'smtp', 'No address of the MX host accepted a connection on the SMTP port.',
    'Make the MX listen on port 25 on every published address.', 'RFC 5321 §5.1'),
  'smtp-timeout': spec('error', 'smtp', 'The MX host did not complete the SMTP and STARTTLS exchange in time.',
    'Check that the MX answers promptly (no tarpitting of the greeting).', 'RFC 5321 §4.5.3.2'),
  'smtp-protocol': spec('error', 'smtp', 'The MX host answered with something that is not valid SMTP, or refused the session.',
    'Check the MX host\'s SMTP service.', 'RFC 5321 §4.2'),
  'smtp-no-starttls': spec('error', 'smtp', 'The MX host does not offer STARTTLS: senders applying the policy will not deliver to it.',
    'Enable STARTTLS on the MX with a certificate for its host name.', 'RFC 8461 §4.2, RFC 3207'),
  'smtp-starttls-rejected': spec('error', 'smtp', 'The MX host offered STARTTLS but refused the STARTTLS command.',
    'Check the MX host\'s TLS configuration (certificate and key loaded).', 'RFC 3207 §4'),
  'smtp-tls-handshake': spec('error', 'smtp', 'The TLS handshake with the MX host failed.',
    'Serve TLS 1.2 or later with a complete certificate chain on the MX.', 'RFC 8461 §4.2'),
  'smtp-cert-name': spec('error', 'smtp', 'The MX certificate has no DNS name matching the MX host name.',
    'Get a certificate whose subjectAltName lists the MX host name exactly as in the MX record.', 'RFC 8461 §4.1, RFC 6125 §6.4'),
  'smtp-cert-untrusted': spec('error', 'smtp', 'The MX certificate does not chain to a trusted root (self-signed, unknown CA or missing intermediate).',
    'Use a certificate from a public CA and send the intermediate certificates too.', 'RFC 8461 §4.1'),
  'smtp-cert-expired': spec('error', 'smtp', 'The MX certificate has expired or is not yet valid.',
    'Renew the MX certificate.', 'RFC 8461 §4.1'),
  'smtp-cert-expiring': spec('warning', 'smtp', 'The MX certificate expires soon.',
    'Renew the MX certificate, or automate renewal.', 'RFC 8461 §4.1'),
  'smtp-tls-old': spec('warning', 'smtp', 'The MX negotiated a TLS version below 1.2.',
    'Enable TLS 1.2 and 1.3 on the MX.', 'RFC 8996'),

  // --- TLS-RPT --------------------------------------------------------------------------------
  'tlsrpt-missing': spec('warning', 'tlsrpt', 'No TLS-RPT record at _smtp._tls.<domain>: you will not hear about delivery failures.',
    'Publish `_smtp._tls.example.com. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"`.', 'RFC 8460 §3'),
  'tlsrpt-multiple': spec('error', 'tlsrpt', 'More than one TXT record starts with "v=TLSRPTv1;": senders ignore them all.',
    'Delete all but one _smtp._tls TXT record.', 'RFC 8460 §3'),
  'tlsrpt-syntax': spec('error', 'tlsrpt', 'The TLS-RPT record does not follow the grammar.',
    'Write it as `v=TLSRPTv1; rua=mailto:reports@example.com`.', 'RFC 8460 §3'),
  'tlsrpt-rua-missing': spec('error', 'tlsrpt', 'The TLS-RPT record has no rua field.',
    'Add `rua=mailto:...` or `rua=https://...`.', 'RFC 8460 §3'),
  'tlsrpt-rua-invalid': spec('error', 'tlsrpt', 'A rua URI is not a mailto: or https: URI.',
    'Use `mailto:address` or `https://host/path`; percent-encode "," and ";" inside URIs.', 'RFC 8460 §3'),
  'tlsrpt-lookup-failed': spec('warning', 'tlsrpt', 'The TLS-RPT record could not be looked up (DNS error).',
    'Fix the DNS for _smtp._tls.<domain>.', 'RFC 8460 §3'),
  'testing-without-tlsrpt': spec('warning', 'tlsrpt', 'The policy is in testing mode but there is no TLS-RPT record, so testing produces no reports.',
    'Publish a TLS-RPT record, or move to enforce once you are sure.', 'RFC 8461 §5, RFC 8460 §3'),

  // --- consistency over time --------------------------------------------------------------------
  'policy-changed-same-id': spec('error', 'consistency', 'The policy text changed but the TXT id did not: senders that cached the old policy keep using it.',
    'Change the id in the _mta-sts TXT record every time the policy changes.', 'RFC 8461 §3.1'),

  // --- serve: configuration and certificates (reported by `mtasts serve` / `records`) --------------
  'config-invalid': spec('error', 'input', 'The `mtasts serve` configuration file has an error (YAML syntax, an unknown key, or a policy that senders would reject); a running server keeps its previous configuration.',
    'Fix the line named in the message; `mtasts serve --config FILE --check-config` validates without starting.'),
  'serve-certificate-missing': spec('error', 'policy-host', 'A configured policy host has no usable certificate (files missing, key not matching, or not covering mta-sts.<domain>).',
    'Put <host>.crt and <host>.key (or <host>.pem) for mta-sts.<domain> in certificates.dir, or use certificates.acme.', 'RFC 8461 §3.3'),
  'acme-order-failed': spec('error', 'policy-host', 'An ACME certificate order for a policy host failed; it is retried at the next check.',
    'Check that mta-sts.<domain> resolves to this server and that port 80 (listen.http) is reachable from the CA.', 'RFC 8555 §8.3'),
} as const satisfies Record<string, FindingSpec>;

export type FindingCode = keyof typeof FINDINGS;

export interface FindingExtra {
  line?: number;
  column?: number;
  host?: string;
  /** Override the registry severity (e.g. a warning downgraded to info in context). */
  severity?: Severity;
  /** Override the section, for codes that occur in several (a DNS timeout while probing an MX). */
  section?: Section;
}

/** Builds a finding: `detail` says what exactly is wrong; the registry adds how to fix it. */
export function finding(code: FindingCode, detail: string, extra: FindingExtra = {}): Finding {
  const s: FindingSpec = FINDINGS[code];
  const detailText = detail.replace(/[.\s]+$/, '');
  const f: Finding = {
    code,
    severity: extra.severity ?? s.severity,
    section: extra.section ?? s.section,
    message: `${detailText}. ${s.fix}`,
  };
  if (s.rfc !== undefined) f.rfc = s.rfc;
  if (extra.line !== undefined) f.line = extra.line;
  if (extra.column !== undefined) f.column = extra.column;
  if (extra.host !== undefined) f.host = extra.host;
  return f;
}

export type Verdict = 'pass' | 'warn' | 'fail';

/** pass: no errors or warnings; warn: warnings only; fail: at least one error. */
export function verdictOf(findings: readonly Finding[]): Verdict {
  if (findings.some((f) => f.severity === 'error')) return 'fail';
  if (findings.some((f) => f.severity === 'warning')) return 'warn';
  return 'pass';
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
