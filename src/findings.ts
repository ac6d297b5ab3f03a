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
export type Section = 'input' | 'record' | 'policy-host' | 'policy' | 'mx' | 'smtp' | 'tlsrpt' | 'consistency' | 'report';

/** The sections of a `check` report, in the order the CLI and the dashboard show them, with their titles. */
export const CHECK_SECTIONS: readonly { id: Section; title: string }[] = [
  { id: 'input', title: 'Input' },
  { id: 'record', title: 'DNS record' },
  { id: 'policy-host', title: 'Policy host' },
  { id: 'policy', title: 'Policy' },
  { id: 'mx', title: 'MX coverage' },
  { id: 'smtp', title: 'MX STARTTLS' },
  { id: 'tlsrpt', title: 'TLS-RPT' },
  { id: 'consistency', title: 'Consistency' },
];

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
  /** On a `findings-truncated` finding only: the code whose further findings were left out, and how many. */
  truncated?: { code: FindingCode; count: number };
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
  'findings-truncated': spec('info', 'input', 'More findings of one code than are worth listing: the first 20 are listed, this one counts the rest. Its severity is the highest among those not listed, and its section is theirs.',
    'Fix the listed findings of that code; the same fix usually clears the rest. Run again to see what remains.'),

  // --- _mta-sts TXT record -----------------------------------------------------------------
  'dns-timeout': spec('error', 'record', 'The DNS server did not answer in time.',
    'Check that the domain\'s authoritative servers answer over UDP and TCP, or raise --timeout.'),
  'dns-error': spec('error', 'record', 'The DNS lookup failed (SERVFAIL, REFUSED or a broken answer).',
    'Fix the zone or its DNSSEC signatures so that the name resolves.'),
  'dns-cname-loop': spec('error', 'record', 'Following CNAME records led back to a name already visited: the lookup can never end.',
    'Break the loop: point the last alias at a name that holds the records (TXT, MX, A/AAAA) itself.', 'RFC 1034 §3.6.2'),
  'dns-cname-too-deep': spec('error', 'record', 'A lookup went through more than 8 CNAME records in a row; mtasts (like most resolvers) gives up.',
    'Shorten the chain: point the alias (nearly) straight at the name that holds the records.', 'RFC 1034 §3.6.2'),
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

  // --- monitor: drift over time (events of `mtasts monitor`, docs/monitor.md) ---------------------
  'policy-id-changed': spec('info', 'consistency', 'Notice: the _mta-sts TXT id changed since the previous check, so senders will fetch the policy again.',
    'Nothing to do if you published a new policy; otherwise find out who changed the record.', 'RFC 8461 §3.1'),
  'mode-changed': spec('info', 'consistency', 'Notice: the policy mode changed since the previous check.',
    'Nothing to do if the change was planned (see `mtasts advise` before moving to enforce).', 'RFC 8461 §5'),
  'mx-changed': spec('info', 'consistency', 'Notice: the set of MX hosts in DNS changed since the previous check.',
    'Make sure the policy\'s mx patterns cover every new MX host before senders meet it.', 'RFC 8461 §4.1'),
  'cache-expiry': spec('warning', 'consistency', 'Notice: an enforce policy was weakened or withdrawn (mode lowered, mx patterns changed, record removed); senders that cached it keep applying it until its max_age runs out.',
    'Keep the old MX hosts working (with valid certificates) until the time given; to withdraw MTA-STS, publish mode none for at least the old max_age before removing the record.', 'RFC 8461 §5.1, §8.3'),
  'tlsrpt-failures': spec('warning', 'tlsrpt', 'Stored TLS-RPT reports for the last complete UTC day show failed sessions above the configured rate, or, in enforce, any policy-fetch or certificate failure.',
    'Look at the failing MX hosts and result types (`mtasts reports summary`) and fix them before senders stop delivering.', 'RFC 8460 §4.3'),

  // --- serve: configuration and certificates (reported by `mtasts serve` / `records`) --------------
  'config-invalid': spec('error', 'input', 'The `mtasts serve` configuration file has an error (YAML syntax, an unknown key, or a policy that senders would reject); a running server keeps its previous configuration.',
    'Fix the line named in the message; `mtasts serve --config FILE --check-config` validates without starting.'),
  'serve-certificate-missing': spec('error', 'policy-host', 'A configured policy host has no usable certificate (files missing, key not matching, or not covering mta-sts.<domain>).',
    'Put <host>.crt and <host>.key (or <host>.pem) for mta-sts.<domain> in certificates.dir, or use certificates.acme.', 'RFC 8461 §3.3'),
  'acme-order-failed': spec('error', 'policy-host', 'An ACME certificate order for a policy host failed; it is retried at the next check.',
    'Check that mta-sts.<domain> resolves to this server and that port 80 (listen.http) is reachable from the CA.', 'RFC 8555 §8.3'),
  // --- TLS-RPT reports: rejects (error) and leniencies (warning/info) of `mtasts reports import` ----
  'report-too-large': spec('error', 'report', 'A report is larger than the intake limit, compressed or after decompression (a decompression bomb is refused as soon as the limit is passed).',
    'Nothing to fix on your side if the sender is unknown; otherwise raise the limit only if real reports are this big.', 'RFC 8460 §5.4'),
  'report-format-unknown': spec('error', 'report', 'The input is neither JSON, gzip nor zip (recognised by content, not by the file name).',
    'Give a TLS-RPT report as .json, .json.gz or .zip, or a mail message holding one.', 'RFC 8460 §5.3'),
  'report-gzip-invalid': spec('error', 'report', 'The gzip data is corrupt or truncated.',
    'Ask the sender for the report again; the file cannot be read.', 'RFC 8460 §5.3'),
  'report-zip-invalid': spec('error', 'report', 'The zip archive is corrupt, encrypted, holds too many entries, or holds no report.',
    'Give the report JSON (or its gzip) instead of the archive.'),
  'report-not-json': spec('error', 'report', 'The report is empty or not valid JSON (or not UTF-8 text).',
    'The sender produced a broken report; nothing can be read from it.', 'RFC 8460 §4.4'),
  'report-too-deep': spec('error', 'report', 'The report JSON nests deeper than the intake limit (a report needs 5 levels).',
    'Nothing to fix: a real report never nests this deep.'),
  'report-too-many-elements': spec('error', 'report', 'The report JSON holds more values than the intake limit.',
    'Nothing to fix unless real reports from this sender are this big; then raise the limit.'),
  'report-not-object': spec('error', 'report', 'The top level of the report is not a JSON object.',
    'The sender produced something that is not a TLS-RPT report.', 'RFC 8460 §4.4'),
  'report-id-missing': spec('error', 'report', 'The report has no organization-name or report-id, so it cannot be told apart from other reports.',
    'The sender must fill in both; a report without them cannot be deduplicated.', 'RFC 8460 §4.4'),
  'report-date-invalid': spec('error', 'report', 'The date-range is missing, unreadable, or ends before it starts.',
    'The sender must give start-datetime and end-datetime as RFC 3339 date-times.', 'RFC 8460 §4.4'),
  'report-policies-missing': spec('error', 'report', 'The report has no policies, or an empty policies array.',
    'A report must describe at least one policy applied; this one says nothing.', 'RFC 8460 §4.4'),
  'report-count-invalid': spec('error', 'report', 'A session count is missing, negative or not an integer.',
    'The sender must give every summary total and failed-session-count as a non-negative integer.', 'RFC 8460 §4.4'),
  'report-policy-type-unknown': spec('error', 'report', 'A policy-type is not sts, tlsa or no-policy-found.',
    'The sender must use a registered policy type.', 'RFC 8460 §4.4'),
  'report-structure-invalid': spec('error', 'report', 'A policy or failure detail is not a JSON object, or failure-details is not an array.',
    'The sender produced a malformed report.', 'RFC 8460 §4.4'),
  'report-source-unreadable': spec('error', 'report', 'A path given to `mtasts reports import` does not exist or cannot be read.',
    'Check the path and its permissions.'),
  'report-source-empty': spec('error', 'report', 'A folder, Maildir or standard input given to `mtasts reports import` holds nothing to import.',
    'Point the import at the files or messages that hold the reports.'),
  'report-date-no-timezone': spec('info', 'report', 'The date-range has no timezone; it was read as UTC.',
    'Nothing to do; tell the sender that RFC 3339 date-times need a "Z" or an offset.', 'RFC 8460 §4.4'),
  'report-period-end-midnight': spec('info', 'report', 'The period ends at the next midnight instead of 23:59:59; the report is counted on the day it starts.',
    'Nothing to do; both forms are read the same way.', 'RFC 8460 §4.4'),
  'report-contact-null': spec('info', 'report', 'contact-info is null instead of a string or absent.',
    'Nothing to do; the report has no contact to reach.', 'RFC 8460 §4.4'),
  'report-policy-domain-missing': spec('warning', 'report', 'A policy has no policy-domain; the report is shown under the domain the intake knew (mail TLS-Report-Domain) or under none.',
    'Nothing to do; tell the sender that policy-domain is required.', 'RFC 8460 §4.4'),
  'report-policy-string-missing': spec('info', 'report', 'An sts or tlsa policy has no policy-string (or one that is not an array of strings).',
    'Nothing to do; you cannot see from the report which version of your policy the sender applied.', 'RFC 8460 §4.4'),
  'report-policy-string-not-array': spec('info', 'report', 'policy-string is one string instead of an array of strings; it was kept as one line.',
    'Nothing to do; tell the sender that policy-string is an array.', 'RFC 8460 §4.4'),
  'report-tlsa-policy-string-encoded': spec('info', 'report', 'A TLSA policy-string is JSON text inside a one-element array; it was decoded into the TLSA records.',
    'Nothing to do; this sender double-encodes TLSA records.', 'RFC 8460 §4.4'),
  'report-mx-host-missing': spec('info', 'report', 'An sts policy has no mx-host (or one that is neither a string nor an array).',
    'Nothing to do; the MX patterns of your policy are not repeated in this report.', 'RFC 8460 §4.4'),
  'report-mx-host-string': spec('info', 'report', 'mx-host is a string, as in RFC 8460 as first published, instead of an array (Errata 6241); it was read as a one-element array.',
    'Nothing to do.', 'RFC 8460 §4.4'),
  'report-failure-details-missing': spec('warning', 'report', 'A policy counts failed sessions but gives no failure-details, so the failures cannot be broken down by result type.',
    'Nothing to do; look at the totals, and at reports from other senders for the cause.', 'RFC 8460 §4.4'),
  'report-sending-ip-missing': spec('info', 'report', 'A failure detail has no sending-mta-ip.',
    'Nothing to do; the sending host is unknown for these sessions.', 'RFC 8460 §4.4'),
  'report-receiving-mx-missing': spec('info', 'report', 'A failure detail names neither receiving-mx-hostname nor receiving-ip.',
    'Nothing to do; the MX host the failure was about is unknown.', 'RFC 8460 §4.4'),
  'report-result-type-missing': spec('warning', 'report', 'A failure detail has no result-type; its sessions are counted under "unknown".',
    'Nothing to do; tell the sender that result-type is required.', 'RFC 8460 §4.4'),
  'report-result-type-unregistered': spec('info', 'report', 'A failure detail has a result-type that is not registered; it was kept as sent, not renamed or dropped.',
    'Look up the sender\'s meaning of the result type.', 'RFC 8460 §4.3'),
  'report-total-mismatch': spec('warning', 'report', 'A policy\'s total-failure-session-count disagrees with the sum of its failed-session-count values; both were kept as sent.',
    'Nothing to do; summaries use the totals, result types use the details.', 'RFC 8460 §4.4'),
  // --- TLS-RPT mail intake (.eml, mbox, Maildir, IMAP) ----------------------------------------------
  'mail-no-report': spec('error', 'report', 'A mail message holds no TLS-RPT report: no application/tlsrpt+gzip or +json part, no gzip, zip or JSON attachment, and no JSON body. The message is left unmarked (Maildir, IMAP).',
    'Nothing to do if the message is not a report (mail to the rua address that is not a report); otherwise look at the message: a report part may use an unusual media type.', 'RFC 8460 §5.3'),
  'mail-too-large': spec('error', 'report', 'A mail message is larger than the intake limit and was not read.',
    'Nothing to do for unknown senders; real report messages are far smaller. The limit follows the report size limit.', 'RFC 8460 §5.3'),
  'mail-malformed': spec('error', 'report', 'A mail message cannot be parsed as MIME.',
    'The message is broken; ask the sender for the report again.', 'RFC 8460 §5.3'),
  'mail-timeout': spec('error', 'report', 'Parsing a mail message took longer than the deadline and was abandoned.',
    'Nothing to do; a real report message parses in milliseconds.'),
  'imap-connect': spec('error', 'report', 'The IMAP server could not be reached, its certificate was not trusted, STARTTLS was not offered, or the login failed; nothing was imported.',
    'Check host, port, TLS settings (secure, starttls, ca) and the credentials.', 'RFC 9051 §6.2'),
  'imap-mailbox': spec('error', 'report', 'The IMAP mailbox to poll does not exist or cannot be opened.',
    'Check the mailbox name (case and hierarchy separator matter).', 'RFC 9051 §6.3.2'),
  'imap-command': spec('error', 'report', 'An IMAP command failed or timed out during a poll; messages already imported were marked, the rest are polled again next time.',
    'Check the server\'s logs; the next poll resumes where this one stopped.'),
  // --- TLS-RPT HTTPS endpoint (`mtasts reports receive`, `serve` reports:) -----------------------------
  'receive-media-type': spec('error', 'report', 'A report POST had a content type other than application/tlsrpt+json or application/tlsrpt+gzip; answered 415.',
    'Reporters must send one of the two registered media types.', 'RFC 8460 §5.4'),
  'receive-content-encoding': spec('error', 'report', 'A report POST used a content coding other than gzip or none; answered 415.',
    'Send the report uncompressed or as application/tlsrpt+gzip.', 'RFC 8460 §5.4'),
  'receive-method': spec('error', 'report', 'A request to the report path used a method other than POST; answered 405.',
    'Reports are submitted with POST.', 'RFC 8460 §5.4'),
  'receive-timeout': spec('error', 'report', 'A report POST body did not arrive within the deadline; answered 408 and the connection was closed.',
    'Nothing to do for a slow or hostile client; a reporter retries.', 'RFC 8460 §5.4'),
  'receive-aborted': spec('error', 'report', 'The client closed the connection before the report body was complete; nothing was stored.',
    'Nothing to do; a reporter retries.'),
  'receive-busy': spec('warning', 'report', 'Too many reports were being stored at once; answered 503 with Retry-After.',
    'Nothing to do for a burst; if it persists, check the database speed.', 'RFC 8460 §5.4'),
  'receive-store-unavailable': spec('error', 'report', 'The report database could not store a posted report; answered 503 so that the reporter retries.',
    'Check that the database (SQLite file or PostgreSQL) is reachable and writable.', 'RFC 8460 §5.4'),
  'receive-not-found': spec('info', 'report', 'A request to the standalone report endpoint was for a path other than the report path; answered 404.',
    'Publish the endpoint\'s full URL, path included, in the rua= of the _smtp._tls record.', 'RFC 8460 §3'),
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
  // A loop, not /[.\s]+$/: that regex backtracks quadratically on a long run of dots or spaces.
  let end = detail.length;
  while (end > 0 && /[.\s]/.test(detail[end - 1] ?? '')) end--;
  const detailText = detail.slice(0, end);
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

/** How many findings of one code are listed before the rest are counted in one `findings-truncated`. */
export const FINDINGS_PER_CODE = 20;

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

interface Dropped { code: FindingCode; count: number; severity: Severity; section: Section; firstLine?: number; lastLine?: number }

/**
 * Collects findings with a bound whatever the input: of each code, the first `limit` are kept, and
 * the rest only counted, into one `findings-truncated` finding at the place of the first one left
 * out, with their count, their highest severity (so `verdictOf` and `hasErrors` answer as for the
 * full list) and their section. A dropped finding is forgotten at once, so memory stays bounded
 * and time linear. Pushing a `findings-truncated` finding (from a list capped earlier) adds its
 * count instead of capping the summaries.
 *
 * @example
 * ```ts
 * const list = new FindingList();
 * for (const line of lines) list.push(finding('policy-syntax', `line ${line} ...`));
 * list.toArray(); // at most 20 policy-syntax findings, then one findings-truncated
 * ```
 */
export class FindingList {
  private readonly items: (Finding | Dropped)[] = [];
  private readonly kept = new Map<FindingCode, number>();
  private readonly dropped = new Map<FindingCode, Dropped>();
  private worst = -1;

  constructor(readonly limit = FINDINGS_PER_CODE) {}

  push(f: Finding): void {
    if (SEVERITY_RANK[f.severity] > this.worst) this.worst = SEVERITY_RANK[f.severity];
    if (f.code === 'findings-truncated' && f.truncated !== undefined) {
      this.drop(f, f.truncated.code, f.truncated.count);
      return;
    }
    const n = (this.kept.get(f.code) ?? 0) + 1;
    if (n <= this.limit) {
      this.kept.set(f.code, n);
      this.items.push(f);
    } else {
      this.drop(f, f.code, 1);
    }
  }

  /** True when some finding pushed, listed or not, is an error. */
  hasErrors(): boolean {
    return this.worst === SEVERITY_RANK.error;
  }

  /** Whether anything was left out. */
  get truncated(): boolean {
    return this.dropped.size > 0;
  }

  toArray(): Finding[] {
    return this.items.map((item) => ('message' in item ? item : this.summary(item)));
  }

  private drop(f: Finding, code: FindingCode, count: number): void {
    let d = this.dropped.get(code);
    if (d === undefined) {
      d = { code, count: 0, severity: f.severity, section: f.section };
      this.dropped.set(code, d);
      this.items.push(d);
    }
    d.count += count;
    if (SEVERITY_RANK[f.severity] > SEVERITY_RANK[d.severity]) d.severity = f.severity;
    if (f.line !== undefined) {
      d.firstLine = Math.min(d.firstLine ?? f.line, f.line);
      d.lastLine = Math.max(d.lastLine ?? f.line, f.line);
    }
  }

  private summary(d: Dropped): Finding {
    const lines = d.firstLine === undefined || d.lastLine === undefined ? ''
      : d.firstLine === d.lastLine ? ` (on line ${d.firstLine})` : ` (on lines ${d.firstLine} to ${d.lastLine})`;
    const f = finding('findings-truncated',
      `${d.count} more "${d.code}" finding${d.count === 1 ? ' is' : 's are'} not listed${lines}; only the first ${this.kept.get(d.code) ?? 0} are`,
      { severity: d.severity, section: d.section });
    f.truncated = { code: d.code, count: d.count };
    return f;
  }
}

/**
 * Bounds a list of findings with {@link FindingList}: at most `limit` of each code, then one
 * `findings-truncated` with the count of the rest. Returns the input array itself when nothing is
 * left out.
 *
 * @example
 * ```ts
 * const capped = capFindings(report.findings);
 * capped.find((f) => f.code === 'findings-truncated')?.truncated; // { code: 'mx-not-covered', count: 480 }
 * ```
 */
export function capFindings(findings: readonly Finding[], limit = FINDINGS_PER_CODE): Finding[] {
  const list = new FindingList(limit);
  for (const f of findings) list.push(f);
  return list.truncated ? list.toArray() : (findings as Finding[]);
}
