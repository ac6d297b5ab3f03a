/**
 * Domain names as MTA-STS uses them.
 *
 * MTA-STS policies, MX host names and certificate DNS-IDs are all compared in A-label form: the
 * RFC 5321 §4.1.2 `Domain` grammar (letters, digits and hyphens; no leading or trailing hyphen in a
 * label) with internationalized labels written as `xn--` Punycode A-labels (RFC 5890).
 *
 * ```
 * Domain     = sub-domain *("." sub-domain)
 * sub-domain = Let-dig [Ldh-str]
 * Let-dig    = ALPHA / DIGIT
 * Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
 * ```
 *
 * Pure functions: no DNS lookups happen here.
 */

import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

/** RFC 1035 §2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_LENGTH = 63;
/** RFC 1035 §2.3.4 limits a name to 255 octets on the wire, i.e. 253 characters in text form. */
export const MAX_NAME_LENGTH = 253;

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;

/** True when `s` contains only ASCII characters. */
export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/**
 * An `xn--` label must be a real A-label: its Punycode must decode, and re-encoding the decoded
 * U-label must give the label back (RFC 5890 §2.3.2.1).
 */
function aLabelRoundTrips(label: string): boolean {
  const lower = label.toLowerCase();
  const unicode = domainToUnicode(lower);
  if (unicode === '' || unicode === lower || isAscii(unicode)) return false;
  // RFC 5891 §4.2.3.1: a U-label neither starts nor ends with a hyphen, nor has "--" in positions 3-4.
  if (unicode.startsWith('-') || unicode.endsWith('-') || unicode.slice(2, 4) === '--') return false;
  return domainToASCII(unicode) === lower;
}

/**
 * Says what is wrong with an ASCII name under the RFC 5321 §4.1.2 `Domain` grammar (no trailing
 * dot), or returns null when it is grammatical. The text quotes the offending part and has no
 * trailing period, ready for a finding's detail.
 */
export function describeDomainError(name: string): string | null {
  if (name === '') return 'the name is empty';
  if (!isAscii(name)) return `"${name}" contains non-ASCII characters; it must be in A-label (xn--) form`;
  if (name.length > MAX_NAME_LENGTH) {
    return `"${name.slice(0, 40)}…" is ${name.length} characters long; a domain name is at most ${MAX_NAME_LENGTH}`;
  }
  if (name.startsWith('.')) return `"${name}" starts with a dot`;
  if (name.endsWith('.')) return `"${name}" ends with a dot (trailing dot not allowed here)`;
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return `"${name}" has an empty label (two dots in a row)`;
    if (label.length > MAX_LABEL_LENGTH) {
      return `label "${label}" is ${label.length} characters long; a label is at most ${MAX_LABEL_LENGTH}`;
    }
    const bad = /[^a-z0-9-]/i.exec(label);
    if (bad !== null) {
      const ch = bad[0];
      const shown = ch === ' ' ? 'a space' : /[\x00-\x1f\x7f]/.test(ch) ? `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : `"${ch}"`;
      return `label "${label}" contains ${shown}; only letters, digits and hyphens are allowed`;
    }
    if (label.startsWith('-')) return `label "${label}" starts with a hyphen`;
    if (label.endsWith('-')) return `label "${label}" ends with a hyphen`;
    if (!LABEL_RE.test(label)) return `label "${label}" is not a valid label`;
    if (/^xn--/i.test(label) && !aLabelRoundTrips(label)) {
      return `label "${label}" starts with "xn--" but is not a valid A-label (its Punycode does not decode to a valid U-label)`;
    }
  }
  return null;
}

/**
 * True when `name` is already an ASCII domain name in the RFC 5321 §4.1.2 `Domain` grammar
 * (case-insensitive, no trailing dot), with every `xn--` label a valid A-label. Nothing is
 * converted: U-labels make this false.
 */
export function isALabelDomain(name: string): boolean {
  return describeDomainError(name) === null;
}

/**
 * Normalizes a domain name to lower-case A-label form, or returns null when it is not a valid name.
 *
 * One trailing dot (as in DNS answers) is dropped. Names with non-ASCII characters are converted
 * with IDNA (UTS #46 via `domainToASCII`). Pure-ASCII names are not passed through the URL host
 * parser, so that inputs like `0x7f.1` are not reinterpreted as IPv4 addresses. A single label
 * (`localhost`) is grammatical and accepted.
 */
export function toALabel(name: string): string | null {
  let n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '') return null;
  if (isAscii(n)) {
    n = n.toLowerCase();
  } else {
    const converted = domainToASCII(n.toLowerCase());
    if (converted === '') return null;
    n = converted.toLowerCase();
  }
  return describeDomainError(n) === null ? n : null;
}

export type DomainArgumentResult = { ok: true; domain: string } | { ok: false; error: string };

/**
 * Validates a domain given on the command line and returns it in lower-case A-label form.
 *
 * Accepts `Example.COM.` and `bücher.example`; rejects URLs, e-mail addresses, IP addresses,
 * empty labels, leading or trailing hyphens, `_` and other characters outside letters, digits and
 * hyphens, and all-numeric top-level labels. The error says exactly what is wrong.
 */
export function parseDomainArgument(input: string): DomainArgumentResult {
  const raw = input.trim();
  const fail = (error: string): DomainArgumentResult => ({ ok: false, error });
  if (raw === '') return fail('the domain is empty');
  if (/\s/.test(raw)) return fail(`"${raw}" contains whitespace; give a single domain name`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || raw.includes('/')) {
    let host = '';
    try {
      host = new URL(raw).hostname;
    } catch {
      host = '';
    }
    return fail(`"${raw}" is a URL, not a domain name${host !== '' ? `; give just the host name, e.g. ${host}` : ''}`);
  }
  if (raw.includes('@')) {
    const after = raw.slice(raw.lastIndexOf('@') + 1);
    return fail(`"${raw}" looks like an e-mail address; give the domain after "@"${after !== '' ? ` (${after})` : ''}`);
  }
  const unbracketed = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(unbracketed) !== 0) return fail(`"${raw}" is an IP address; MTA-STS needs a domain name`);
  if (raw.endsWith('..')) return fail(`"${raw}" has an empty label (two dots in a row)`);
  const withoutDot = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (withoutDot === '') return fail(`"${raw}" is the DNS root, not a domain`);

  let ascii: string;
  if (isAscii(withoutDot)) {
    ascii = withoutDot.toLowerCase();
  } else {
    // U-labels: first check the parts IDNA would silently accept or map, then convert.
    if (withoutDot.startsWith('.')) return fail(`"${raw}" starts with a dot`);
    if (withoutDot.split('.').some((l) => l === '')) return fail(`"${raw}" has an empty label (two dots in a row)`);
    if (withoutDot.includes('_')) {
      return fail(`"${raw}" contains "_"; only letters, digits and hyphens are allowed in host names`);
    }
    for (const label of withoutDot.split('.')) {
      if (label.startsWith('-')) return fail(`label "${label}" starts with a hyphen`);
      if (label.endsWith('-')) return fail(`label "${label}" ends with a hyphen`);
    }
    const converted = domainToASCII(withoutDot.toLowerCase());
    if (converted === '') return fail(`"${raw}" cannot be converted to an A-label (it is not a valid internationalized domain name)`);
    ascii = converted.toLowerCase();
  }
  const problem = describeDomainError(ascii);
  if (problem !== null) return fail(problem);
  const labels = ascii.split('.');
  const tld = labels[labels.length - 1] ?? '';
  // RFC 3696 §2: a top-level domain is never all-numeric, so such a name is an address or a typo.
  if (/^[0-9]+$/.test(tld)) {
    return fail(labels.every((l) => /^[0-9]+$/.test(l))
      ? `"${raw}" looks like an IP address; MTA-STS needs a domain name`
      : `"${raw}" ends in the all-numeric label "${tld}", which cannot be a top-level domain`);
  }
  return { ok: true, domain: ascii };
}
