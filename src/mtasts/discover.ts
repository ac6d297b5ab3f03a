/**
 * Policy discovery as a sender does it (RFC 8461 §3): look up the `_mta-sts` TXT record; if there is
 * exactly one valid record, fetch the policy over HTTPS and parse it. This is the cold path of a
 * sending MTA (no cache); the resolver library builds its cache on top of it.
 *
 * @example
 * ```ts
 * const d = await discoverPolicy('example.com', { dns: new DnsClient() });
 * if (d.status === 'found') console.log(d.record.id, d.policy.mode);
 * ```
 */
import { dnsFailureCode, DnsLookupError } from '../dns/resolver.js';
import { finding, type Finding } from '../findings.js';
import { fetchPolicy, type FetchPolicyOptions } from './fetch.js';
import { parsePolicy, type Policy } from './policy.js';
import { selectStsRecord, type StsRecord } from './record.js';

export type Discovery =
  /** A valid record and a valid policy, fetched from a host with a valid certificate. */
  | { status: 'found'; record: StsRecord; policy: Policy; text: string; findings: Finding[] }
  /** No (single, valid) record: the domain has no MTA-STS policy (§3.1). */
  | { status: 'none'; record: null; findings: Finding[] }
  /** DNS did not answer: nothing can be concluded, a cached policy keeps applying (§5.1). */
  | { status: 'dns-failed'; record: null; findings: Finding[] }
  /** A record exists but no valid policy could be fetched (§3.3: treat as no policy unless cached). */
  | { status: 'fetch-failed'; record: StsRecord; findings: Finding[] };

export async function discoverPolicy(domain: string, options: FetchPolicyOptions): Promise<Discovery> {
  let txt: string[][];
  try {
    txt = await options.dns.txt(`_mta-sts.${domain}`);
  } catch (err) {
    if (err instanceof DnsLookupError && err.isNegativeAnswer) {
      return { status: 'none', record: null, findings: [finding('record-missing', `no TXT record at _mta-sts.${domain}`)] };
    }
    const code = dnsFailureCode(err);
    return { status: 'dns-failed', record: null, findings: [finding(code, (err as Error).message)] };
  }
  const selected = selectStsRecord(txt);
  if (!selected.record) return { status: 'none', record: null, findings: selected.findings };
  const record = selected.record;

  const fetched = await fetchPolicy(domain, options);
  const findings = [...selected.findings, ...fetched.findings];
  // RFC 8461 §3.3: only a fetch a sender would accept (trusted certificate, 200, text/plain) counts.
  if (!fetched.ok || fetched.body === undefined) return { status: 'fetch-failed', record, findings };
  const parsed = parsePolicy(new Uint8Array(fetched.body));
  findings.push(...parsed.findings);
  if (!parsed.policy) return { status: 'fetch-failed', record, findings };
  return { status: 'found', record, policy: parsed.policy, text: fetched.body.toString('utf8'), findings };
}
