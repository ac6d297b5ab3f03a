/**
 * Matching MX host names against the `mx` patterns of an MTA-STS policy (RFC 8461 §4.1).
 *
 * A pattern is either a host name (`mail.example.com`), matched exactly, or a wildcard
 * `*.example.com`, which matches exactly one additional leftmost label: `mail.example.com` but
 * neither `example.com` nor `a.b.example.com`. Comparison is case-insensitive.
 */

import { isALabelDomain, toALabel } from '../dns/name.js';

/**
 * True when the MX `host` matches the policy `pattern`.
 *
 * The host may carry a trailing dot (as in DNS answers) and may be given as a U-label; it is
 * normalized with {@link toALabel}, and an invalid host never matches. The pattern must be a valid
 * policy mx value (a Domain with an optional leading `*.`); anything else never matches.
 */
export function mxPatternMatches(pattern: string, host: string): boolean {
  const h = toALabel(host);
  if (h === null) return false;
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) {
    const base = p.slice(2);
    if (!isALabelDomain(base)) return false;
    // RFC 8461 §4.1: "*.example.com" matches "mail.example.com" but not "example.com" and not
    // "a.b.example.com": the wildcard covers exactly one label.
    const dot = h.indexOf('.');
    if (dot <= 0) return false;
    return h.slice(dot + 1) === base;
  }
  if (!isALabelDomain(p)) return false;
  return p === h;
}

/** Returns the first pattern in `mxPatterns` that matches `host` (as written), or null. */
export function matchingPattern(mxPatterns: readonly string[], host: string): string | null {
  return mxMatcher(mxPatterns)(host);
}

/**
 * Indexes `mxPatterns` once for many hosts: building costs time linear in the patterns, and each
 * lookup time linear in the host name, whatever the number of patterns. The function returns what
 * {@link matchingPattern} returns: the first pattern (as written) that matches, or null.
 */
export function mxMatcher(mxPatterns: readonly string[]): (host: string) => string | null {
  // Lower-cased name (or wildcard base) -> index of the first pattern with it.
  const exact = new Map<string, number>();
  const wild = new Map<string, number>();
  mxPatterns.forEach((pattern, index) => {
    const p = pattern.toLowerCase();
    const [table, name] = p.startsWith('*.') ? [wild, p.slice(2)] : [exact, p];
    if (!table.has(name) && isALabelDomain(name)) table.set(name, index);
  });
  return (host) => {
    const h = toALabel(host);
    if (h === null) return null;
    const dot = h.indexOf('.');
    // RFC 8461 §4.1: a wildcard covers exactly one leftmost label.
    const a = exact.get(h);
    const b = dot > 0 ? wild.get(h.slice(dot + 1)) : undefined;
    const index = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    return index === undefined ? null : (mxPatterns[index] ?? null);
  };
}
