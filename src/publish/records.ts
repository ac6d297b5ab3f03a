/**
 * What a domain owner publishes: a proposed policy (from the domain's MX records), its record id
 * derived from the policy's canonical text, and the DNS records in zone-file syntax.
 *
 * The id is a content hash: the first 32 hex digits of SHA-256 over the canonical policy text
 * (`serializePolicy`). RFC 8461 §3.1 asks for a new id whenever the policy changes; a hash of the
 * text changes exactly then, and never when the policy stays the same.
 *
 * @example
 * ```ts
 * const policy = proposePolicy(['mx1.example.net', 'mx2.example.net']); // mx: *.example.net
 * const recs = publishRecords({ domain: 'example.com', policy, tlsrpt: ['mailto:tls@example.com'] });
 * console.log(formatZone(recs));
 * ```
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { toALabel } from '../dns/name.js';
import { parsePolicy, serializePolicy, type Policy, type PolicyMode } from '../mtasts/policy.js';
import { parseStsRecord } from '../mtasts/record.js';
import { parseTlsRptRecord } from '../tlsrpt/record.js';

/** RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT). */
export const POLICY_ID_LENGTH = 32;

/** The record id of a policy: a content hash of its canonical text, 32 lower-case hex digits. */
export function policyId(policy: Policy | string): string {
  const text = typeof policy === 'string' ? policy : serializePolicy(policy);
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, POLICY_ID_LENGTH);
}

/** Parent of a host name (everything after the first label), or null for a single label. */
function parentOf(host: string): string | null {
  const i = host.indexOf('.');
  return i < 0 ? null : host.slice(i + 1);
}

/**
 * mx patterns covering the given MX hosts, in order of first appearance: one per host, except
 * that two or more hosts sharing the exact same parent of at least two labels become one
 * `*.parent` pattern. RFC 8461 §4.1: a wildcard matches exactly one leftmost label, so
 * `a.b.example.net` is never folded into `*.example.net`; and a one-label parent (`*.com`) would
 * accept any host under a public suffix, so it is never proposed.
 */
export function proposeMxPatterns(hosts: readonly string[]): string[] {
  const names = [...new Set(hosts.map((h) => h.replace(/\.$/, '').toLowerCase()).filter((h) => h !== ''))];
  const byParent = new Map<string, string[]>();
  for (const h of names) {
    const p = parentOf(h);
    if (p === null) continue;
    byParent.set(p, [...(byParent.get(p) ?? []), h]);
  }
  const out: string[] = [];
  for (const h of names) {
    const p = parentOf(h);
    const siblings = p === null ? [] : byParent.get(p) ?? [];
    const pattern = p !== null && siblings.length >= 2 && p.includes('.') ? `*.${p}` : h;
    if (!out.includes(pattern)) out.push(pattern);
  }
  return out;
}

/** A policy for `init`: mode testing, max_age one week, mx patterns from {@link proposeMxPatterns}. */
export function proposePolicy(mxHosts: readonly string[], opts: { mode?: PolicyMode; maxAge?: number } = {}): Policy {
  return { version: 'STSv1', mode: opts.mode ?? 'testing', mx: proposeMxPatterns(mxHosts), maxAge: opts.maxAge ?? 604800, extensions: [] };
}

/** The address records (or CNAME) that make `mta-sts.<domain>` reach the policy server. */
export type HostTarget = { cname: string } | { a?: string[]; aaaa?: string[] };

export interface ZoneEntry {
  /** Owner name with the trailing dot. */
  name: string;
  type: 'TXT' | 'A' | 'AAAA' | 'CNAME';
  ttl: number;
  /** The record data as it appears in a zone file (TXT strings quoted). */
  data: string;
  /** For TXT records, the unquoted text. */
  text?: string;
  /** Why the record is there. */
  comment: string;
}

export interface PublishInput {
  domain: string;
  policy: Policy;
  /** TLS-RPT report URIs (RFC 8460 §3 rua); no record when empty. */
  tlsrpt?: readonly string[];
  target?: HostTarget;
  ttl?: number;
}

export interface DomainRecords {
  domain: string;
  id: string;
  policyText: string;
  records: ZoneEntry[];
  /** Set when no target is configured: what to publish by hand for mta-sts.<domain>. */
  targetHint?: string;
}

/** Quotes TXT data for a zone file, splitting at 255 bytes (RFC 1035 §3.3.14 character-strings). */
function quoteTxt(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(text.slice(i, i + 255));
  return parts.map((p) => `"${p.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(' ');
}

/**
 * The DNS records for one policy domain. Throws when the policy, the TLS-RPT URIs or the target
 * are invalid, judged by the project's own parsers.
 */
export function publishRecords(input: PublishInput): DomainRecords {
  const domain = toALabel(input.domain);
  if (domain === null) throw new Error(`"${input.domain}" is not a valid domain name`);
  const ttl = input.ttl ?? 3600;
  const text = serializePolicy(input.policy);
  const parsed = parsePolicy(text);
  const policyErrors = parsed.findings.filter((f) => f.severity === 'error');
  if (parsed.policy === null) throw new Error(`the policy for ${domain} is invalid: ${policyErrors.map((f) => f.message).join('; ')}`);
  const id = policyId(text);
  const records: ZoneEntry[] = [];

  const sts = `v=STSv1; id=${id}`;
  // RFC 8461 §3.1: the record must parse; built here, so this only guards the builder itself.
  if (parseStsRecord(sts).record === null) throw new Error(`internal: built an invalid _mta-sts record ${sts}`);
  records.push({ name: `_mta-sts.${domain}.`, type: 'TXT', ttl, data: quoteTxt(sts), text: sts, comment: 'MTA-STS: a policy exists; id changes with the policy (RFC 8461 §3.1)' });

  const rua = [...(input.tlsrpt ?? [])];
  if (rua.length > 0) {
    const rpt = `v=TLSRPTv1; rua=${rua.join(',')}`;
    const r = parseTlsRptRecord(rpt);
    if (r.record === null) {
      throw new Error(`the TLS-RPT addresses for ${domain} are invalid: ${r.findings.filter((f) => f.severity === 'error').map((f) => f.message).join('; ')}`);
    }
    records.push({ name: `_smtp._tls.${domain}.`, type: 'TXT', ttl, data: quoteTxt(rpt), text: rpt, comment: 'TLS-RPT: where senders report TLS failures (RFC 8460 §3)' });
  }

  const host = `mta-sts.${domain}.`;
  const out: DomainRecords = { domain, id, policyText: text, records };
  const t = input.target;
  if (t && 'cname' in t) {
    const target = toALabel(t.cname);
    if (target === null) throw new Error(`target cname "${t.cname}" is not a valid host name`);
    records.push({ name: host, type: 'CNAME', ttl, data: `${target}.`, comment: 'the policy host (RFC 8461 §3.3)' });
  } else if (t && ((t.a?.length ?? 0) > 0 || (t.aaaa?.length ?? 0) > 0)) {
    for (const a of t.a ?? []) {
      if (isIP(a) !== 4) throw new Error(`target a "${a}" is not an IPv4 address`);
      records.push({ name: host, type: 'A', ttl, data: a, comment: 'the policy host (RFC 8461 §3.3)' });
    }
    for (const a of t.aaaa ?? []) {
      if (isIP(a) !== 6) throw new Error(`target aaaa "${a}" is not an IPv6 address`);
      records.push({ name: host, type: 'AAAA', ttl, data: a, comment: 'the policy host (RFC 8461 §3.3)' });
    }
  } else {
    out.targetHint = `publish an A/AAAA record (or a CNAME) for ${host} pointing at the server running \`mtasts serve\``;
  }
  return out;
}

/** Zone-file lines for one or more domains, with `;` comments. */
export function formatZone(all: readonly DomainRecords[]): string {
  const lines: string[] = [];
  for (const d of all) {
    lines.push(`; ${d.domain} (policy id ${d.id})`);
    for (const r of d.records) lines.push(`${r.name} ${r.ttl} IN ${r.type} ${r.data}`);
    if (d.targetHint !== undefined) lines.push(`; ${d.targetHint}`);
    lines.push('');
  }
  return lines.join('\n').replace(/\n+$/, '\n');
}
