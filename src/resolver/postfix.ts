/**
 * Postfix `smtp_tls_policy_maps` replies over socketmap, as postfix-mta-sts-resolver gives them,
 * with the RFC corrections documented in docs/resolver.md:
 *
 * - `OK secure match=H1:H2 servername=hostname` for `enforce` (and `testing` with strict_testing);
 *   `NOTFOUND ` otherwise.
 * - Wildcards: in a Postfix `match=` list a pattern `.example.com` matches names at any depth
 *   below example.com, while an MTA-STS `*.example.com` matches exactly one label (RFC 8461 §4.1).
 *   Postfix cannot express the latter, so the match list is written from the domain's current MX
 *   hosts: each MX host that matches a policy pattern under RFC 8461 rules is listed by its exact
 *   name (exact names in `match=` are compared exactly; a wildcard certificate still matches them),
 *   plus every non-wildcard pattern of the policy. Wildcard patterns are never passed on as `.suffix`.
 * - `mx` values are validated before they reach Postfix: only LDH A-label names may appear, so a
 *   policy cannot inject `:` list separators, whitespace or extra attributes into the reply.
 * - Postfix 3.10 TLSRPT attributes when the zone has `tlsrpt: true`: policy_type=sts,
 *   policy_domain, one `{ policy_string = LINE }` per policy line, one mx_host_pattern per pattern.
 */
import { isALabelDomain } from '../dns/name.js';
import { mxMatcher } from '../mtasts/mx.js';
import type { Resolution } from './resolver.js';

export interface ZoneConfig {
  strictTesting: boolean;
  /** Seconds, for DNS lookups and the policy fetch. */
  timeout: number;
  requireSni: boolean;
  tlsrpt: boolean;
}

export const DEFAULT_ZONE: ZoneConfig = { strictTesting: false, timeout: 4, requireSni: true, tlsrpt: false };

/** Postfix's default socketmap_max_reply_size. */
export const MAX_REPLY = 100_000;

/** A name that can match no certificate: the policy matches none of the domain's MX hosts. */
export const NO_MATCH_NAME = 'no-mx-matches-the-mta-sts-policy.invalid';

/**
 * The domain a socketmap key names, or null when MTA-STS does not apply to it: parent-domain
 * probes (`.example.com`), bracketed next-hops (`[host]:port`, no MX lookup: no MTA-STS), IP
 * addresses, and anything that is not a domain name. A `:port` suffix on a domain next-hop is
 * dropped (`smtp:example.com:2525` still delivers to example.com's MX hosts).
 */
export function domainFromKey(key: string): string | null {
  let k = key.trim().toLowerCase();
  if (k === '' || k.startsWith('.') || k.startsWith('[')) return null;
  const colon = k.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(k.slice(colon + 1))) return null;
    k = k.slice(0, colon);
  }
  if (k.endsWith('.')) k = k.slice(0, -1);
  if (/^[\d.]+$/.test(k)) return null;
  return isALabelDomain(k) ? k : null;
}

/** Safe for a Postfix match list: LDH labels and dots only. */
function safeName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(name) && isALabelDomain(name);
}

/** The exact names to put in `match=`, following RFC 8461 §4.1 one-label wildcards. */
export function matchList(patterns: readonly string[], mxHosts: readonly string[] | null): string[] {
  const out = new Set<string>();
  for (const p of patterns) if (!p.startsWith('*.') && safeName(p)) out.add(p);
  const matches = mxMatcher(patterns);
  for (const h of mxHosts ?? []) {
    const host = h.toLowerCase().replace(/\.$/, '');
    if (!safeName(host)) continue;
    if (matches(host) !== null) out.add(host);
  }
  return out.size > 0 ? [...out] : [NO_MATCH_NAME];
}

/** `{ policy_string = LINE }` is safe only when the line has no braces or control characters. */
function policyStringAttrs(text: string): string[] | null {
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  if (lines.some((l) => /[{}\x00-\x1f\x7f]/.test(l) || l !== l.trim())) return null;
  return lines.map((l) => `{ policy_string = ${l} }`);
}

export interface Reply {
  /** The socketmap reply payload (`OK ...` or `NOTFOUND `). */
  text: string;
  kind: 'secure' | 'notfound';
  /** Why, for logs. */
  why: string;
}

export function renderReply(res: Resolution, zone: ZoneConfig, mxHosts: readonly string[] | null): Reply {
  const p = res.policy;
  if (!p) return { text: 'NOTFOUND ', kind: 'notfound', why: res.reason };
  const mode = p.policy.mode;
  if (mode === 'none') return { text: 'NOTFOUND ', kind: 'notfound', why: 'mode none' };
  if (mode === 'testing' && !zone.strictTesting) return { text: 'NOTFOUND ', kind: 'notfound', why: 'mode testing' };
  const parts = ['OK secure', `match=${matchList(p.policy.mx, mxHosts).join(':')}`];
  if (zone.requireSni) parts.push('servername=hostname');
  if (zone.tlsrpt) {
    parts.push('policy_type=sts', `policy_domain=${res.domain}`);
    const patterns = p.policy.mx.filter((m) => safeName(m.startsWith('*.') ? m.slice(2) : m));
    const strings = policyStringAttrs(p.text);
    const withStrings = [...parts, ...(strings ?? []), ...patterns.map((m) => `mx_host_pattern=${m}`)].join(' ');
    if (strings && Buffer.byteLength(withStrings) <= MAX_REPLY) return { text: withStrings, kind: 'secure', why: `mode ${mode}` };
    parts.push(...patterns.map((m) => `mx_host_pattern=${m}`));
  }
  return { text: parts.join(' '), kind: 'secure', why: `mode ${mode}` };
}
