/**
 * The SMTP TLS Reporting TXT record at `_smtp._tls.<domain>` (RFC 8460 §3).
 *
 * ```
 * tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
 * field-delim      = *WSP ";" *WSP
 * tlsrpt-field     = tlsrpt-rua / tlsrpt-extension
 * tlsrpt-version   = %s"v=TLSRPTv1"
 * tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 * tlsrpt-uri       = URI
 * tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 * tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 * tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 * ```
 *
 * Only `mailto:` and `https:` report URIs are defined; "," and ";" inside a URI must be
 * percent-encoded, since they separate URIs and fields.
 *
 * @example
 * ```ts
 * parseTlsRptRecord('v=TLSRPTv1; rua=mailto:tlsrpt@example.com').record?.rua; // ["mailto:tlsrpt@example.com"]
 * ```
 */

import { isIP } from 'node:net';
import { toALabel } from '../dns/name.js';
import { finding, FindingList, type Finding } from '../findings.js';
import { badExtValueChar, charName, columnMapper, q as quoteShort, quoteList, scanTagRecord, type ScannedField } from '../mtasts/record.js';

export interface TlsRptRecord {
  version: 'TLSRPTv1';
  /** Report URIs in record order. */
  rua: string[];
  extensions: { name: string; value: string }[];
  /** The record text as parsed (strings concatenated). */
  raw: string;
}

const VERSION = 'v=TLSRPTv1';

const q = (s: string, max = 80): string => quoteShort(s, max);

/** RFC 3986 §2: the characters a URI may contain, besides "%" HEXDIG HEXDIG (1 = allowed, by char code). */
const URI_CHARS = Uint8Array.from({ length: 128 }, (_, c) => (/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]/.test(String.fromCharCode(c)) ? 1 : 0));
const isHexDigit = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Is `domain` a usable mail domain: a host name or an address literal (`[192.0.2.1]`)? */
function validMailDomain(domain: string): boolean {
  if (domain.startsWith('[') && domain.endsWith(']')) {
    const inner = domain.slice(1, -1);
    return isIP(inner.replace(/^IPv6:/i, '')) !== 0;
  }
  return toALabel(domain) !== null && !domain.endsWith('.');
}

/**
 * Says what is wrong with one rua URI, or returns null when it is a valid `mailto:` URI with an
 * address (RFC 6068) or an `https:` URI with a host (RFC 8460 §3).
 */
export function ruaUriProblem(uri: string): string | null {
  if (uri === '') return 'the rua list has an empty entry (a stray ",")';
  const ws = /[ \t]/.exec(uri);
  if (ws !== null) return `${q(uri)} contains whitespace; separate URIs with ","`;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):([\s\S]*)$/.exec(uri);
  if (m === null) return `${q(uri)} is not a URI (it has no scheme such as "mailto:" or "https:")`;
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x25) { // "%"
      if (!isHexDigit(rest.charCodeAt(i + 1)) || !isHexDigit(rest.charCodeAt(i + 2))) return `${q(uri)} has a "%" that is not followed by two hex digits`;
      i += 2;
      continue;
    }
    if (c >= 0x80 || URI_CHARS[c] !== 1) {
      const c = String.fromCodePoint(rest.codePointAt(i) ?? 0);
      return `${q(uri)} contains ${charName(c)}, which must be percent-encoded in a URI`;
    }
  }
  if (scheme === 'mailto') {
    // RFC 6068: mailto:addr-spec *("," addr-spec) ["?" hfields]; RFC 8460 needs an address.
    const to = rest.split('?')[0] ?? '';
    if (to === '') return `${q(uri)} has no e-mail address`;
    let decoded: string;
    try {
      decoded = decodeURIComponent(to);
    } catch {
      return `${q(uri)} has invalid percent-encoding`;
    }
    for (const addr of decoded.split(',')) {
      const at = addr.lastIndexOf('@');
      const local = at === -1 ? '' : addr.slice(0, at);
      const domain = at === -1 ? '' : addr.slice(at + 1);
      if (at === -1 || local === '' || !validMailDomain(domain)) {
        return `${q(uri)}: ${q(addr)} is not an e-mail address`;
      }
    }
    return null;
  }
  if (scheme === 'https') {
    if (!rest.startsWith('//')) return `${q(uri)} has no host: write "https://host/path"`;
    let host: string;
    try {
      host = new URL(uri).hostname;
    } catch {
      return `${q(uri)} is not a valid https: URI`;
    }
    if (host === '') return `${q(uri)} has no host: write "https://host/path"`;
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (isIP(bare) === 0 && toALabel(host) === null) return `${q(uri)} has the invalid host name ${q(host)}`;
    return null;
  }
  const hint = scheme === 'http' ? ' (use https:)' : '';
  return `${q(uri)} uses the scheme "${m[1] ?? ''}:"${hint}; only mailto: and https: are defined`;
}

/**
 * Parses one TLS-RPT TXT record (strings already concatenated) against the RFC 8460 §3 grammar.
 * The record is null when any finding is an error. Findings carry the 1-based column in `text`.
 */
export function parseTlsRptRecord(text: string): { record: TlsRptRecord | null; findings: Finding[] } {
  const findings = new FindingList();
  const scan = scanTagRecord(text, VERSION, ['rua']);
  const columnOf = columnMapper(text);
  let rua: string[] | undefined;
  let ruaSeen = false;
  const extensions: { name: string; value: string }[] = [];
  const seen = new Map<string, ScannedField>();

  for (const f of scan.fields) {
    const column = columnOf(f.nameIndex);
    const earlier = seen.get(f.name) ?? (f.name === 'v' ? { name: 'v', value: 'TLSRPTv1', nameIndex: 0, valueIndex: 2 } : undefined);
    if (earlier !== undefined) {
      // RFC 8460 §3 does not define repeated fields; like MTA-STS, use the first and warn.
      findings.push(finding('tlsrpt-syntax',
        `"${f.name}" appears more than once (${q(`${f.name}=${f.value}`, 60)} at column ${column} is ignored; the first "${f.name}" counts)${f.name === 'rua' ? '; list all URIs in one rua field' : ''}`,
        { column, severity: 'warning' }));
      continue;
    }
    seen.set(f.name, f);
    if (f.name === 'rua') {
      ruaSeen = true;
      if (f.value === '') {
        findings.push(finding('tlsrpt-rua-invalid', 'rua is empty', { column: columnOf(f.valueIndex) }));
        continue;
      }
      // RFC 8460 §3: tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri); "," inside a URI must be encoded.
      const uris: string[] = [];
      let ok = true;
      let offset = f.valueIndex;
      for (const part of f.value.split(',')) {
        const lead = /^[ \t]*/.exec(part)?.[0].length ?? 0;
        const uri = part.trim();
        const problem = ruaUriProblem(uri);
        if (problem !== null) {
          findings.push(finding('tlsrpt-rua-invalid', problem, { column: columnOf(offset + lead) }));
          ok = false;
        } else {
          uris.push(uri);
        }
        offset += part.length + 1;
      }
      if (ok) rua = uris;
      continue;
    }
    // RFC 8460 §3: tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E).
    if (f.value === '') {
      findings.push(finding('tlsrpt-syntax', `the field "${f.name}" has an empty value`, { column: columnOf(f.valueIndex) }));
      continue;
    }
    const bad = badExtValueChar(f.value);
    if (bad !== -1) {
      const ch = String.fromCodePoint(f.value.codePointAt(bad) ?? 0);
      findings.push(finding('tlsrpt-syntax', `the value of "${f.name}" contains ${charName(ch)}, which is not allowed in a field value`,
        { column: columnOf(f.valueIndex + bad) }));
      continue;
    }
    // RFC 8460 §3: unknown fields are ignored by senders.
    extensions.push({ name: f.name, value: f.value });
  }

  if (scan.error !== null) {
    findings.push(finding('tlsrpt-syntax', scan.error.detail, { column: columnOf(scan.error.index) }));
  } else if (!ruaSeen) {
    // RFC 8460 §3: rua is required.
    const variant = scan.fields.find((f) => f.name.toLowerCase() === 'rua');
    findings.push(finding('tlsrpt-rua-missing',
      variant === undefined ? `the record ${q(text)} has no "rua" field` : `the record has "${variant.name}" but no "rua" field (field names are case-sensitive)`,
      { column: columnOf(text.length) }));
  }

  const ok = !findings.hasErrors() && rua !== undefined;
  return { record: ok && rua !== undefined ? { version: 'TLSRPTv1', rua, extensions, raw: text } : null, findings: findings.toArray() };
}

/** True when a TXT record begins with "v=TLSRPTv1;" (whitespace before ";" tolerated, as for MTA-STS). */
export function isTlsRptCandidate(text: string): boolean {
  return /^v=TLSRPTv1[ \t]*(?:;|$)/.test(text);
}

/**
 * Picks the TLS-RPT record among all TXT records at `_smtp._tls.<domain>` (each a list of strings,
 * concatenated without spaces). RFC 8460 §3: records not beginning with "v=TLSRPTv1;" are
 * discarded; more than one left means no record.
 */
export function selectTlsRptRecord(txt: readonly (readonly string[])[]): { record: TlsRptRecord | null; findings: Finding[] } {
  const texts = txt.map((strings) => strings.join(''));
  const candidates = texts.filter(isTlsRptCandidate);
  const others = texts.filter((t) => !isTlsRptCandidate(t));
  if (candidates.length === 0) {
    let detail = texts.length === 0 ? 'there are no TXT records at _smtp._tls' : `none of the ${texts.length} TXT record${texts.length === 1 ? '' : 's'} begins with "v=TLSRPTv1;"`;
    const near = others.find((t) => t.toLowerCase().startsWith(VERSION.toLowerCase()));
    if (near !== undefined) {
      detail += near.startsWith(VERSION)
        ? ` (${q(near, 60)} needs ";" right after "${VERSION}")`
        : ` (${q(near, 60)} starts with "${near.slice(0, VERSION.length)}": the version tag is case-sensitive, write "${VERSION}")`;
    }
    return { record: null, findings: [finding('tlsrpt-missing', detail)] };
  }
  if (candidates.length > 1) {
    return {
      record: null,
      findings: [finding('tlsrpt-multiple', `${candidates.length} TXT records begin with "v=TLSRPTv1": ${quoteList(candidates)}`)],
    };
  }
  return parseTlsRptRecord(candidates[0] ?? '');
}
