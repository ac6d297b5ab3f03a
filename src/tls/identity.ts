/**
 * RFC 6125 DNS-ID matching, used for both the policy host (`mta-sts.<domain>`, RFC 8461 §3.3) and
 * MX certificates (RFC 8461 §4.1).
 *
 * Only subjectAltName dNSName entries (DNS-IDs) are considered: RFC 8461 §3.3 and §4.1 require the
 * name to be in a DNS-ID, so the Subject CN is never used. A wildcard is allowed only as the whole
 * leftmost label (`*.example.com`) and stands for exactly one non-empty label.
 */

import { toALabel } from '../dns/name.js';

/**
 * Extracts the DNS names from Node's subjectAltName string (`X509Certificate.subjectAltName` or
 * `PeerCertificate.subjectaltname`), e.g. `DNS:a.example, DNS:*.b.example, IP Address:1.2.3.4`.
 *
 * Entries are separated by `", "`. Node quotes a value that contains a comma, quote, backslash,
 * apostrophe or control character as a JSON string (`DNS:"evil\u002cx.example"`); such values are
 * decoded. Names are lower-cased; other entry types (IP Address, email, URI, ...) are skipped.
 */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const s = subjectAltName;
  const names: string[] = [];
  let i = 0;
  while (i < s.length) {
    // Entry type runs up to the first ":" (types such as "IP Address" contain spaces).
    const colon = s.indexOf(':', i);
    if (colon === -1) break;
    const type = s.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (s[j] === '"') {
      // A JSON-quoted value: find the closing quote, skipping backslash escapes.
      let k = j + 1;
      while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
      const literal = s.slice(j, k + 1);
      try {
        const parsed: unknown = JSON.parse(literal);
        value = typeof parsed === 'string' ? parsed : literal;
      } catch {
        value = literal.slice(1, -1);
      }
      j = k + 1;
      // Skip anything up to the separator (there should be nothing).
      const comma = s.indexOf(',', j);
      j = comma === -1 ? s.length : comma;
    } else {
      const comma = s.indexOf(',', j);
      const end = comma === -1 ? s.length : comma;
      value = s.slice(j, end);
      j = end;
    }
    if (type === 'DNS') names.push(value.trim().toLowerCase());
    // Skip the ", " separator.
    i = j + 1;
    while (s[i] === ' ') i += 1;
  }
  return names;
}

function stripOneDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/**
 * True when `host` matches the presented identifier `dnsId` (RFC 6125 §6.4).
 *
 * Case-insensitive; one trailing dot on either side is ignored; the host may be a U-label and is
 * converted to its A-label first. A `*` is honoured only as the complete leftmost label and matches
 * exactly one non-empty label; partial-label wildcards (`f*.example.com`, `*x.example.com`) never
 * match, and neither do wildcards with fewer than two labels after the `*` (`*.com`).
 */
export function hostMatchesDnsId(host: string, dnsId: string): boolean {
  const h = toALabel(host);
  if (h === null) return false;
  const id = stripOneDot(dnsId.trim()).toLowerCase();
  if (id === '') return false;
  const idLabels = id.split('.');
  if (idLabels.some((l) => l === '')) return false;
  if (!id.includes('*')) return id === h;

  // RFC 6125 §6.4.3 lets clients refuse partial-label wildcards, and RFC 8461 §4.1 only defines a
  // whole leftmost-label wildcard: so the only accepted form is "*." followed by a name without "*".
  const [first, ...rest] = idLabels;
  if (first !== '*' || rest.some((l) => l.includes('*'))) return false;
  // A wildcard over a single label ("*.com") is too broad to honour.
  if (rest.length < 2) return false;
  const hostLabels = h.split('.');
  // The wildcard stands for exactly one label, so the label counts must be equal.
  if (hostLabels.length !== idLabels.length) return false;
  const [hostFirst, ...hostRest] = hostLabels;
  if (hostFirst === undefined || hostFirst === '') return false;
  return hostRest.join('.') === rest.join('.');
}

/**
 * Returns the first DNS-ID in `dnsNames` (as given) that matches `host`, or null when none does.
 * Only subjectAltName DNS names count: RFC 8461 §3.3 / §4.1 do not allow falling back to the
 * Subject CN.
 */
export function certificateMatchesHost(dnsNames: string[], host: string): string | null {
  for (const name of dnsNames) {
    if (hostMatchesDnsId(host, name)) return name;
  }
  return null;
}
