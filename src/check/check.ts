/**
 * `check`: an end-to-end look at one domain's MTA-STS deployment, from the sender's side.
 *
 * For each domain, in parallel where the data allows: the `_mta-sts` TXT record (RFC 8461 §3.1), the
 * policy fetch over HTTPS (§3.3) and its text (§3.2), the MX records and whether the policy's
 * patterns cover them (§4.1), a STARTTLS probe of every MX (§4.2), and the TLS-RPT record (RFC 8460
 * §3). The result is a list of findings and a verdict: `fail` with any error, `warn` with warnings
 * only, `pass` otherwise.
 *
 * @example
 * ```ts
 * const report = await checkDomain('example.com', { timeoutMs: 10_000 });
 * console.log(report.verdict, report.findings.map((f) => f.code));
 * ```
 */
import { createHash } from 'node:crypto';
import { parseDomainArgument } from '../dns/name.js';
import { DnsClient, dnsFailureCode, DnsLookupError, type MxRecord } from '../dns/resolver.js';
import { capFindings, finding, verdictOf, type Finding, type Verdict } from '../findings.js';
import { fetchPolicy, type PolicyFetchResult } from '../mtasts/fetch.js';
import { mxMatcher } from '../mtasts/mx.js';
import { parsePolicy, type Policy } from '../mtasts/policy.js';
import { selectStsRecord, type StsRecord } from '../mtasts/record.js';
import { probeMx, type MxProbeResult } from '../smtp/probe.js';
import { selectTlsRptRecord, type TlsRptRecord } from '../tlsrpt/record.js';
import { trustStore, type TrustMode, type TrustStore } from '../tls/trust.js';

export interface CheckOptions {
  /** DNS client to use; built from `dnsServers` and `timeoutMs` when absent. */
  dns?: DnsClient;
  /** DNS servers as HOST[:PORT] (default: the system's). */
  dnsServers?: readonly string[];
  /** Extra trusted CA certificates (PEM), added to the default store; ignored when `trust` is given. */
  ca?: readonly string[];
  /** The CAs to trust (src/tls/trust.ts); default: bundled roots + NODE_EXTRA_CA_CERTS + `ca`. */
  trust?: TrustStore;
  /** Deadline for each network step (one DNS lookup, the policy fetch, one MX probe), in ms. */
  timeoutMs?: number;
  /** Probe the MX hosts over SMTP (default true). */
  smtp?: boolean;
  httpsPort?: number;
  smtpPort?: number;
  /** Refuse non-public addresses (for services that check domains named by untrusted users). */
  blockPrivate?: boolean;
  ehloName?: string;
  /** What an earlier check saw for this domain, to detect a policy changed under the same id. */
  previous?: Observation;
  now?: () => Date;
}

/** What a check saw, kept between runs to detect a policy that changed while the id did not. */
export interface Observation {
  id: string | null;
  policySha256: string | null;
  checkedAt: string;
}

export interface MxCoverage {
  host: string;
  preference: number;
  /** The policy pattern that accepts this host, or null. */
  pattern: string | null;
}

export interface DomainReport {
  /** The domain as checked (A-label). */
  domain: string;
  /** The domain as given. */
  input: string;
  verdict: Verdict;
  findings: Finding[];
  record: { name: string; txt: string[][]; cname: string | null; record: StsRecord | null } | null;
  policy: {
    url: string;
    addresses: string[];
    address?: string;
    status?: number;
    contentType?: string;
    location?: string;
    tlsVersion?: string;
    certificate?: PolicyFetchResult['certificate'];
    text?: string;
    parsed: Policy | null;
  } | null;
  mx: MxCoverage[];
  smtp: MxProbeResult[];
  tlsrpt: { txt: string[][]; record: TlsRptRecord | null } | null;
  observation: Observation;
  /** The trust store certificates were checked against: its mode and description. */
  trust?: { mode: TrustMode; store: string };
  elapsedMs: number;
}

export async function checkDomain(input: string, options: CheckOptions = {}): Promise<DomainReport> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const parsed = parseDomainArgument(input);
  if (!parsed.ok) {
    const findings = [finding('input-domain-invalid', `"${input}": ${parsed.error}`)];
    return {
      domain: input, input, verdict: verdictOf(findings), findings, record: null, policy: null, mx: [], smtp: [],
      tlsrpt: null, observation: { id: null, policySha256: null, checkedAt: now().toISOString() }, elapsedMs: Date.now() - started,
    };
  }
  const domain = parsed.domain;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dns = options.dns ?? new DnsClient({ ...(options.dnsServers ? { servers: options.dnsServers } : {}), timeoutMs });
  const trust = options.trust ?? trustStore({ extraPem: options.ca ?? [], extraLabel: 'extra CA certificates' });
  const common = {
    dns, timeoutMs, now, trust,
    ...(options.blockPrivate ? { blockPrivate: true } : {}),
  };

  const recordTask = lookupRecord(dns, domain);
  const fetchTask = fetchPolicy(domain, { ...common, ...(options.httpsPort ? { port: options.httpsPort } : {}) });
  const mxTask = dns.mx(domain).then(
    (records) => ({ records, error: null as DnsLookupError | Error | null }),
    (error: Error) => ({ records: [] as MxRecord[], error }),
  );
  const probesTask = mxTask.then(({ records }) =>
    options.smtp === false
      ? []
      : Promise.all(
          records
            .filter((r) => r.exchange !== '' && r.exchange !== '.')
            .map((r) => probeMx(r.exchange, {
              ...common,
              ...(options.smtpPort ? { port: options.smtpPort } : {}),
              ...(options.ehloName ? { ehloName: options.ehloName } : {}),
            })),
        ),
  );
  const tlsrptTask = dns.txt(`_smtp._tls.${domain}`).then(
    (txt) => ({ txt, error: null as Error | null }),
    (error: Error) => ({ txt: [] as string[][], error }),
  );

  const [record, fetched, mx, probes, tlsrpt] = await Promise.all([recordTask, fetchTask, mxTask, probesTask, tlsrptTask]);
  const findings: Finding[] = [...record.findings];

  // The policy: fetch findings, then the text itself.
  findings.push(...fetched.findings);
  let policy: Policy | null = null;
  let text: string | undefined;
  if (fetched.body !== undefined) {
    text = fetched.body.toString('utf8');
    const result = parsePolicy(new Uint8Array(fetched.body));
    findings.push(...result.findings);
    policy = result.policy;
  }

  // MX coverage (RFC 8461 §4.1): every MX must match a pattern, and every pattern should match an MX.
  const coverage: MxCoverage[] = [];
  if (mx.error) {
    const e = mx.error;
    if (e instanceof DnsLookupError && e.isNegativeAnswer) {
      findings.push(finding('mx-none', `${domain} has no MX records (${e.kind})`));
    } else if (e instanceof DnsLookupError && (e.kind === 'cname-loop' || e.kind === 'cname-too-deep')) {
      findings.push(finding(dnsFailureCode(e), `MX lookup: ${e.message}`, { section: 'mx' }));
    } else {
      findings.push(finding('mx-lookup-failed', e.message));
    }
  } else if (mx.records.length === 1 && (mx.records[0]?.exchange === '' || mx.records[0]?.exchange === '.')) {
    findings.push(finding('mx-null', `${domain} publishes a null MX (RFC 7505)`));
  } else {
    // Linear in MX hosts plus patterns, however many of each (the patterns are indexed once).
    const match = policy ? mxMatcher(policy.mx) : () => null;
    for (const r of mx.records) {
      coverage.push({ host: r.exchange, preference: r.preference, pattern: match(r.exchange) });
    }
    const used = new Set(coverage.map((c) => c.pattern));
    const listed = (items: string[]): string => (items.length > 10 ? `${items.slice(0, 10).join(', ')} and ${items.length - 10} more` : items.join(', '));
    if (policy && policy.mode !== 'none') {
      const patterns = listed(policy.mx);
      for (const c of coverage) {
        if (c.pattern === null) {
          findings.push(finding('mx-not-covered', `MX ${c.host} (preference ${c.preference}) matches none of the policy's mx patterns (${patterns})`, { host: c.host }));
        }
      }
      const hosts = listed(coverage.map((c) => c.host)) || 'none';
      for (const pattern of policy.mx) {
        if (!used.has(pattern)) {
          findings.push(finding('mx-pattern-unused', `mx pattern "${pattern}" matches none of the MX hosts (${hosts})`));
        }
      }
    }
  }
  for (const p of probes) findings.push(...p.findings);

  // TLS-RPT (RFC 8460 §3), and testing mode without it (RFC 8461 §5: testing exists to get reports).
  let tlsrptRecord: TlsRptRecord | null = null;
  if (tlsrpt.error && !(tlsrpt.error instanceof DnsLookupError && tlsrpt.error.isNegativeAnswer)) {
    findings.push(finding('tlsrpt-lookup-failed', tlsrpt.error.message));
  } else {
    const selected = selectTlsRptRecord(tlsrpt.txt);
    tlsrptRecord = selected.record;
    const missing = selected.findings.some((f) => f.code === 'tlsrpt-missing');
    if (missing && policy?.mode === 'testing') {
      findings.push(...selected.findings.filter((f) => f.code !== 'tlsrpt-missing'));
      findings.push(finding('testing-without-tlsrpt', `${domain} has mode testing but no TLS-RPT record at _smtp._tls.${domain}`));
    } else {
      findings.push(...selected.findings);
    }
  }

  // Consistency over time (RFC 8461 §3.1): a changed policy needs a new id.
  const observation: Observation = {
    id: record.record?.id ?? null,
    policySha256: fetched.body ? createHash('sha256').update(fetched.body).digest('hex') : null,
    checkedAt: now().toISOString(),
  };
  const prev = options.previous;
  if (prev && prev.id !== null && prev.id === observation.id && prev.policySha256 !== null
      && observation.policySha256 !== null && prev.policySha256 !== observation.policySha256) {
    findings.push(finding('policy-changed-same-id', `the policy served for ${domain} differs from the one seen at ${prev.checkedAt}, but the id is still "${observation.id}"`));
  }

  const report: DomainReport = {
    domain,
    input,
    verdict: verdictOf(findings),
    // Bounded output: at most 20 findings of each code (e.g. one per MX host), then a count.
    findings: capFindings(findings),
    record: { name: `_mta-sts.${domain}`, txt: record.txt, cname: record.cname, record: record.record },
    policy: {
      url: fetched.url,
      addresses: fetched.addresses,
      ...(fetched.address !== undefined ? { address: fetched.address } : {}),
      ...(fetched.status !== undefined ? { status: fetched.status } : {}),
      ...(fetched.contentType !== undefined ? { contentType: fetched.contentType } : {}),
      ...(fetched.location !== undefined ? { location: fetched.location } : {}),
      ...(fetched.tlsVersion !== undefined ? { tlsVersion: fetched.tlsVersion } : {}),
      ...(fetched.certificate !== undefined ? { certificate: fetched.certificate } : {}),
      ...(text !== undefined ? { text } : {}),
      parsed: policy,
    },
    mx: coverage,
    smtp: probes,
    tlsrpt: { txt: tlsrpt.txt, record: tlsrptRecord },
    observation,
    trust: { mode: trust.mode, store: trust.description },
    elapsedMs: Date.now() - started,
  };
  return report;
}

/** The `_mta-sts` TXT record, with DNS failures turned into findings. */
async function lookupRecord(dns: DnsClient, domain: string) {
  const name = `_mta-sts.${domain}`;
  const [txt, cname] = await Promise.allSettled([dns.txt(name), dns.cname(name)]);
  const findings: Finding[] = [];
  const aliasOf = cname.status === 'fulfilled' ? cname.value : null;
  if (aliasOf) findings.push(finding('record-cname', `${name} is a CNAME to ${aliasOf}`));
  if (txt.status === 'rejected') {
    const err = txt.reason as Error;
    if (err instanceof DnsLookupError && err.isNegativeAnswer) {
      findings.push(finding('record-missing', `no TXT record at ${name} (${err.kind === 'nxdomain' ? 'the name does not exist' : 'the name has no TXT records'})`));
    } else {
      findings.push(finding(dnsFailureCode(err), err.message));
    }
    return { txt: [] as string[][], cname: aliasOf, record: null as StsRecord | null, findings };
  }
  const selected = selectStsRecord(txt.value);
  findings.push(...selected.findings);
  return { txt: txt.value, cname: aliasOf, record: selected.record, findings };
}

export interface CheckManyOptions extends CheckOptions {
  /** How many domains are checked at once (default 10). */
  concurrency?: number;
  /** Earlier observations by domain (A-label), e.g. from a state file. */
  previousByDomain?: ReadonlyMap<string, Observation>;
  /** Called as each domain completes (in completion order). */
  onReport?: (report: DomainReport, index: number) => void;
}

/** Checks many domains with bounded concurrency; results come back in input order. */
export async function checkDomains(inputs: readonly string[], options: CheckManyOptions = {}): Promise<DomainReport[]> {
  const concurrency = Math.max(1, options.concurrency ?? 10);
  const dns = options.dns ?? new DnsClient({
    ...(options.dnsServers ? { servers: options.dnsServers } : {}),
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  const results: DomainReport[] = new Array(inputs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const index = next++;
      const input = inputs[index]!;
      // The input is parsed here only to find its earlier observation (checkDomain parses it anyway).
      const parsed = options.previousByDomain ? parseDomainArgument(input) : null;
      const previous = parsed?.ok ? options.previousByDomain?.get(parsed.domain) : undefined;
      const report = await checkOrReport(input, { ...options, dns, ...(previous ? { previous } : {}) });
      results[index] = report;
      options.onReport?.(report, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, worker));
  return results;
}

/** checkDomain that never rejects: an unexpected error becomes an `internal-error` report. */
export async function checkOrReport(input: string, options: CheckOptions): Promise<DomainReport> {
  try {
    return await checkDomain(input, options);
  } catch (err) {
    return internalErrorReport(input, `checking ${input}: ${(err as Error).stack ?? String(err)}`);
  }
}

/** The report of a domain whose check failed unexpectedly (verdict fail, one `internal-error`). */
export function internalErrorReport(input: string, message: string): DomainReport {
  const parsed = parseDomainArgument(input);
  return {
    domain: parsed.ok ? parsed.domain : input, input, verdict: 'fail', findings: [finding('internal-error', message)], record: null, policy: null,
    mx: [], smtp: [], tlsrpt: null, observation: { id: null, policySha256: null, checkedAt: new Date().toISOString() }, elapsedMs: 0,
  };
}
