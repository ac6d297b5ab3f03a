/**
 * The MTA-STS policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
 * (RFC 8461 §3.2): line-separated `name: value` fields.
 *
 * ```
 * sts-policy-record      = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
 * sts-policy-field-delim = ":" *WSP
 * sts-policy-version     = %s"version" sts-policy-field-delim %s"STSv1"
 * sts-policy-mode        = %s"mode" sts-policy-field-delim ( %s"testing" / %s"enforce" / %s"none" )
 * sts-policy-mx          = %s"mx" sts-policy-field-delim ["*."] Domain
 * sts-policy-max-age     = %s"max_age" sts-policy-field-delim 1*10(DIGIT)
 * sts-policy-extension   = sts-policy-ext-name sts-policy-field-delim sts-policy-ext-value
 * sts-policy-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 * sts-policy-term        = LF / CRLF
 * sts-policy-ext-value   = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 * sts-policy-vchar       = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
 * ```
 *
 * Field names and the version and mode values are case-sensitive (RFC 7405 `%s`). A field named
 * like a known one but spelled differently (`Mode`) is an extension field, which senders ignore.
 * Where the grammar is ambiguous (`mode: Enforce` also matches `sts-policy-extension`), a line
 * whose name is exactly a known field name is judged as that field.
 *
 * @example
 * ```ts
 * const { policy, findings } = parsePolicy('version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n');
 * policy?.mx; // ["mx.example.com"]
 * ```
 */

import { describeDomainError, isAscii, toALabel } from '../dns/name.js';
import { finding, FindingList, type Finding, type FindingCode } from '../findings.js';

export type PolicyMode = 'enforce' | 'testing' | 'none';

export interface PolicyExtension {
  name: string;
  value: string;
}

export interface Policy {
  version: 'STSv1';
  mode: PolicyMode;
  /** Seconds a sender may cache the policy. */
  maxAge: number;
  /** mx patterns, lower-cased, duplicates removed, in file order. */
  mx: string[];
  /** Fields not defined by RFC 8461, first instance of each name only. */
  extensions: PolicyExtension[];
}

export interface PolicyParseResult {
  /** The policy, or null when any finding has severity error. */
  policy: Policy | null;
  /** Bounded: at most 20 of each code, then one `findings-truncated` (see `FindingList`). */
  findings: Finding[];
}

export interface PolicyParseOptions {
  /**
   * Read at most this many bytes (default {@link POLICY_MAX_BYTES}, what senders read): a longer
   * input gets `policy-too-large`, and only its lines within the bound are parsed. `Infinity`
   * parses everything.
   */
  maxBytes?: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (one year). */
export const MAX_AGE_LIMIT = 31557600;
/** RFC 8461 §3.3: senders may stop reading a policy body beyond 64 KiB. */
export const POLICY_MAX_BYTES = 64 * 1024;
/** Below one day, max_age earns a warning. */
const MAX_AGE_SHORT = 86400;

const MODES: readonly PolicyMode[] = ['enforce', 'testing', 'none'];
const KNOWN_FIELDS = ['version', 'mode', 'mx', 'max_age'] as const;
type KnownField = (typeof KNOWN_FIELDS)[number];
const MAX_NAME_LENGTH = 32;

const isWsp = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** 1-based column of UTF-16 index `idx` in `line`, counted in code points. */
function columnOf(line: string, idx: number): number {
  let col = 1;
  for (let i = 0; i < idx && i < line.length; i++) {
    const c = line.charCodeAt(i);
    // Skip the low half of a surrogate pair: one code point, one column.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < idx) {
      const d = line.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    col++;
  }
  return col;
}

/** Names a character for a message: `"x"`, or `U+0009 (tab)` for invisible ones. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp === 0x09) return `${hex} (tab)`;
  if (cp === 0x0d) return `${hex} (carriage return)`;
  if (cp === 0x20) return 'a space';
  if (cp === 0xfeff) return `${hex} (byte order mark)`;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) return `${hex} (control character)`;
  return `"${ch}"`;
}

/** Shortens a long value for quoting in a message; looks at no more than `max` characters of it. */
function quote(s: string, max = 60): string {
  if (s.length <= max) return `"${s}"`;
  let out = '';
  let n = 0;
  for (const ch of s) {
    if (n === max) return `"${out}…"`;
    out += ch;
    n++;
  }
  return `"${out}"`;
}

/**
 * RFC 8461 §3.3: senders read at most 64 KiB of a policy. Returns the UTF-16 length of the longest
 * prefix of `text` that ends with a line feed and is at most `maxBytes` in UTF-8 (or that ends on
 * a character boundary, when no line feed comes first), and the UTF-8 size of the whole text; null
 * when the whole text fits.
 */
function boundText(text: string, maxBytes: number): { keep: number; size: number } | null {
  if (text.length <= maxBytes / 3) return null; // at most 3 UTF-8 bytes per UTF-16 unit
  let bytes = 0;
  let keep = -1;
  let lastLf = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const len = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (keep === -1 && bytes + len > maxBytes) keep = lastLf !== -1 ? lastLf + 1 : i;
    bytes += len;
    if (pair) i++;
    if (c === 0x0a && keep === -1) lastLf = i;
  }
  return keep === -1 ? null : { keep, size: bytes };
}

/** As {@link boundText}, for bytes: the length of the prefix to parse, cut after a line feed when there is one. */
function boundBytes(b: Uint8Array, maxBytes: number): number | null {
  if (b.length <= maxBytes) return null;
  const lf = b.lastIndexOf(0x0a, maxBytes - 1);
  if (lf !== -1) return lf + 1;
  let cut = maxBytes;
  while (cut > 0 && ((b[cut] ?? 0) & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
  return cut;
}

/**
 * Index of the first character not allowed in `sts-policy-ext-value`, or -1. Inside a value only
 * SP, %x21-7E and non-ASCII characters are allowed: no tabs, no control characters, no DEL.
 */
function badValueChar(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x20 || (c >= 0x21 && c <= 0x7e) || c >= 0x80) continue;
    return i;
  }
  return -1;
}

/**
 * Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629 §4), or -1.
 * Rejects overlong forms, surrogates and code points above U+10FFFF.
 */
function invalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c === 0xe0) { need = 2; lo = 0xa0; }
    else if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) need = 2;
    else if (c === 0xed) { need = 2; hi = 0x9f; }
    else if (c === 0xf0) { need = 3; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else if (c === 0xf4) { need = 3; hi = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++) {
      const t = b[i + k];
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (t === undefined || t < min || t > max) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * Says what is wrong with an mx value (`["*."] Domain`, RFC 8461 §3.2), or returns null when it is
 * valid. U-labels are rejected with the A-label to use instead.
 */
export function mxPatternProblem(value: string): string | null {
  const v = value;
  if (v === '') return 'mx has no value';
  const wild = v.startsWith('*.');
  if (!isAscii(v)) {
    const base = wild ? v.slice(2) : v;
    const a = base.includes('*') ? null : toALabel(base);
    if (a !== null) {
      return `mx ${quote(v)} contains non-ASCII characters (U-labels); write the A-label "${wild ? '*.' : ''}${a}" instead`;
    }
    return `mx ${quote(v)} contains non-ASCII characters and is not a valid internationalized domain name`;
  }
  if (v === '*') return 'mx "*" is a bare wildcard; a wildcard must be followed by a domain, as in "*.example.com"';
  if (v === '*.') return 'mx "*." has no domain after the wildcard';
  if (wild) {
    if (v.slice(2).includes('*')) {
      return `mx ${quote(v)} has more than one "*"; a wildcard may only be the whole leftmost label, as in "*.example.com"`;
    }
  } else if (v.includes('*')) {
    const dot = v.indexOf('.');
    const first = dot === -1 ? v : v.slice(0, dot);
    if (v.startsWith('**')) return `mx ${quote(v)} starts with "**"; a wildcard is a single "*." before the domain`;
    if (first.includes('*')) {
      return `mx ${quote(v)} has the partial-label wildcard ${quote(first)}; "*" must be the whole leftmost label, as in "*.example.com"`;
    }
    return `mx ${quote(v)} has "*" in a label other than the leftmost; a wildcard may only be the whole leftmost label`;
  }
  const base = wild ? v.slice(2) : v;
  if (base.endsWith('.')) {
    return `mx ${quote(v)} has a trailing dot; policy mx values are written without it (${quote(withoutTrailingDots(v))})`;
  }
  const problem = describeDomainError(base);
  return problem === null ? null : `mx ${quote(v)} is not a valid domain name: ${problem}`;
}

/** `v` without its trailing dots (a loop: the regex /\.+$/ backtracks quadratically on runs of dots). */
function withoutTrailingDots(v: string): string {
  let end = v.length;
  while (end > 0 && v.charCodeAt(end - 1) === 0x2e) end--;
  return v.slice(0, end);
}

/** One line read as `name: value`; columns are 1-based, in code points. */
interface ParsedLine {
  name: string;
  /** The value without the leading and trailing whitespace the grammar allows. */
  value: string;
  line: number;
  nameColumn: number;
  valueColumn: number;
  /** The whole line, and the UTF-16 index of the value in it, to locate bad characters. */
  raw: string;
  valueIndex: number;
}

/**
 * Parses an MTA-STS policy (RFC 8461 §3.2) from text or raw bytes.
 *
 * Bytes must be UTF-8; nothing is stripped, so a byte order mark is reported as a syntax error.
 * Every finding carries the 1-based line and column (in characters) it points at; findings about
 * a missing field point at line 1, column 1. The policy is null iff any finding is an error.
 */
export function parsePolicy(input: string | Uint8Array, options: PolicyParseOptions = {}): PolicyParseResult {
  const findings = new FindingList();
  const fail = (): PolicyParseResult => ({ policy: null, findings: findings.toArray() });
  const add = (code: FindingCode, detail: string, line: number, column: number): void => {
    findings.push(finding(code, detail, { line, column }));
  };

  // --- size bound --------------------------------------------------------------------------
  // RFC 8461 §3.3: senders stop reading a policy beyond their size limit (64 KiB), so a longer one
  // is an error; the lines within the bound are still parsed, to report what else is wrong.
  const maxBytes = options.maxBytes ?? POLICY_MAX_BYTES;
  let tooLarge: { size: number; kept: number } | null = null;
  if (typeof input === 'string') {
    const cut = boundText(input, maxBytes);
    if (cut !== null) {
      tooLarge = { size: cut.size, kept: Buffer.byteLength(input.slice(0, cut.keep), 'utf8') };
      input = input.slice(0, cut.keep);
    }
  } else {
    const cut = boundBytes(input, maxBytes);
    if (cut !== null) {
      tooLarge = { size: input.length, kept: cut };
      input = input.subarray(0, cut);
    }
  }
  if (tooLarge !== null) {
    const keptLines = typeof input === 'string' ? countLf(input) : countLfBytes(input);
    findings.push(finding('policy-too-large',
      `the policy is ${tooLarge.size} bytes, more than the ${maxBytes} that senders read; only the first ${tooLarge.kept} bytes (${keptLines} complete line${keptLines === 1 ? '' : 's'}) were checked`,
      { line: keptLines + 1, column: 1 }));
  }

  // --- decoding ----------------------------------------------------------------------------
  let text: string;
  if (typeof input === 'string') {
    text = input;
    // A JS string may hold lone surrogates, which have no UTF-8 encoding.
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.exec(text);
    if (lone !== null) {
      const before = text.slice(0, lone.index);
      const line = before.split('\n').length;
      const lineStart = before.lastIndexOf('\n') + 1;
      add('policy-encoding', `the text contains a lone surrogate ${describeChar(lone[0])}, which is not valid Unicode`,
        line, columnOf(text.slice(lineStart), lone.index - lineStart));
      return fail();
    }
  } else {
    const bad = invalidUtf8Offset(input);
    if (bad !== -1) {
      let line = 1;
      let lineStart = 0;
      for (let i = 0; i < bad; i++) {
        if (input[i] === 0x0a) {
          line++;
          lineStart = i + 1;
        }
      }
      const prefix = new TextDecoder('utf-8').decode(input.subarray(lineStart, bad));
      const byte = (input[bad] ?? 0).toString(16).toUpperCase().padStart(2, '0');
      add('policy-encoding', `byte 0x${byte} at offset ${bad} is not valid UTF-8`, line, columnOf(prefix, prefix.length));
      return fail();
    }
    try {
      // ignoreBOM: keep a BOM in the text so that it is reported, not silently dropped.
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      add('policy-encoding', 'the policy is not valid UTF-8', 1, 1);
      return fail();
    }
  }

  if (text === '') {
    add('policy-empty', 'the policy is empty (0 bytes)', 1, 1);
    return fail();
  }
  if (/^[ \t\r\n]*$/.test(text)) {
    add('policy-empty', 'the policy contains only whitespace and line breaks', 1, 1);
    return fail();
  }

  // --- lines -----------------------------------------------------------------------------------
  // RFC 8461 §3.2: sts-policy-term = LF / CRLF, and one final terminator is optional.
  const pieces = text.split('\n');
  const lines: string[] = pieces.map((p, i) => (i < pieces.length - 1 && p.endsWith('\r') ? p.slice(0, -1) : p));
  if (pieces.length > 1 && lines[lines.length - 1] === '') lines.pop();

  const isBlank = (l: string): boolean => /^[ \t]*$/.test(l);
  let lastField = lines.length - 1;
  while (lastField >= 0 && isBlank(lines[lastField] ?? '')) lastField--;
  const parsed: ParsedLine[] = [];
  for (let idx = 0; idx < lines.length; idx++) {
    const L = lines[idx] ?? '';
    const lineNo = idx + 1;
    if (isBlank(L)) {
      const what = L === '' ? `line ${lineNo} is empty` : `line ${lineNo} contains only whitespace`;
      if (idx > lastField) {
        const n = lines.length - idx;
        add('policy-syntax', `${what}: the policy may end with only one line break, but ${n === 1 ? 'a blank line follows' : `${n} blank lines follow`} the last field`, lineNo, 1);
        break;
      }
      add('policy-syntax', `${what}: blank lines are not allowed ${idx === 0 ? 'before the first field' : 'between fields'}`, lineNo, 1);
      continue;
    }
    // RFC 8461 §3.2: lines end in LF or CRLF; a CR anywhere else is not allowed.
    const cr = L.indexOf('\r');
    if (cr !== -1) {
      add('policy-syntax', `line ${lineNo} contains a carriage return (U+000D) that is not followed by a line feed; end lines with LF or CRLF`,
        lineNo, columnOf(L, cr));
      // A CR at the very end is still parsed for further diagnostics; one inside the line is not.
      if (cr !== L.length - 1) continue;
    }
    const p = parseLine(cr === -1 ? L : L.slice(0, -1), lineNo, add);
    if (p !== null) parsed.push(p);
  }

  // --- fields --------------------------------------------------------------------------------
  const first = new Map<string, ParsedLine>();
  let version: ParsedLine | undefined;
  let mode: PolicyMode | undefined;
  let modeLine: ParsedLine | undefined;
  let modeValid = false;
  let maxAge: number | undefined;
  let maxAgeSeen = false;
  const mx: string[] = [];
  const mxSeen = new Set<string>();
  let mxLines = 0;
  const extensions: PolicyExtension[] = [];

  /** Generic sts-policy-ext-value check: 1+ characters, no tabs or control characters inside. */
  const checkExtValue = (f: ParsedLine): boolean => {
    if (f.value === '') {
      add('policy-syntax', `field "${f.name}" has no value`, f.line, f.valueColumn);
      return false;
    }
    const bad = badValueChar(f.value);
    if (bad !== -1) {
      const ch = String.fromCodePoint(f.value.codePointAt(bad) ?? 0);
      add('policy-syntax', `the value of "${f.name}" contains ${describeChar(ch)}, which is not allowed in a field value`,
        f.line, columnOf(f.raw, f.valueIndex + bad));
      return false;
    }
    return true;
  };

  for (const f of parsed) {
    const known = (KNOWN_FIELDS as readonly string[]).includes(f.name) ? (f.name as KnownField) : null;
    if (known === 'mx') {
      // RFC 8461 §3.2: mx is the one field that may repeat.
      mxLines++;
      const problem = mxPatternProblem(f.value);
      if (problem !== null) {
        add('policy-mx-invalid', problem, f.line, f.valueColumn);
        continue;
      }
      const lower = f.value.toLowerCase();
      if (mxSeen.has(lower)) {
        add('policy-mx-duplicate', `mx ${quote(f.value)} is listed more than once`, f.line, f.valueColumn);
        continue;
      }
      mxSeen.add(lower);
      mx.push(lower);
      continue;
    }

    const earlier = first.get(f.name);
    if (earlier !== undefined) {
      // RFC 8461 §3.2: for every field but mx, senders use only the first instance.
      if (checkExtValue(f)) {
        add('policy-duplicate-field',
          `field "${f.name}" appears again on line ${f.line} (value ${quote(f.value)}); only the first instance, on line ${earlier.line} (value ${quote(earlier.value)}), counts`,
          f.line, f.nameColumn);
      }
      continue;
    }
    first.set(f.name, f);

    switch (known) {
      case 'version': {
        version = f;
        if (f.value !== 'STSv1') {
          const hint = f.value.toLowerCase() === 'stsv1' ? ' (the value is case-sensitive)' : '';
          add('policy-version-invalid', f.value === '' ? 'version has no value' : `version is ${quote(f.value)}, not "STSv1"${hint}`,
            f.line, f.valueColumn);
        }
        break;
      }
      case 'mode': {
        modeLine = f;
        if ((MODES as readonly string[]).includes(f.value)) {
          mode = f.value as PolicyMode;
          modeValid = true;
        } else {
          const hint = (MODES as readonly string[]).includes(f.value.toLowerCase()) ? ' (the value is case-sensitive)' : '';
          add('policy-mode-invalid', f.value === '' ? 'mode has no value' : `mode is ${quote(f.value)}, not one of "enforce", "testing" or "none"${hint}`,
            f.line, f.valueColumn);
        }
        break;
      }
      case 'max_age': {
        maxAgeSeen = true;
        const v = f.value;
        if (!/^[0-9]+$/.test(v)) {
          add('policy-max-age-invalid', v === '' ? 'max_age has no value' : `max_age ${quote(v)} is not a whole number of seconds (digits only)`,
            f.line, f.valueColumn);
        } else if (v.length > 10) {
          // RFC 8461 §3.2: max_age is 1*10(DIGIT).
          add('policy-max-age-invalid', `max_age ${quote(v, 20)} has ${v.length} digits; at most 10 are allowed`, f.line, f.valueColumn);
        } else {
          const n = Number(v);
          if (n > MAX_AGE_LIMIT) {
            // RFC 8461 §3.2: values up to 31557600 are allowed.
            add('policy-max-age-too-large', `max_age ${v} is above ${MAX_AGE_LIMIT} seconds`, f.line, f.valueColumn);
          } else {
            maxAge = n;
            if (n < MAX_AGE_SHORT) {
              add('policy-max-age-short', `max_age ${v} is under one day (${MAX_AGE_SHORT} seconds)`, f.line, f.valueColumn);
            }
          }
        }
        break;
      }
      default: {
        // RFC 8461 §3.2: unknown fields are allowed and ignored by senders.
        if (!checkExtValue(f)) break;
        extensions.push({ name: f.name, value: f.value });
        const lower = f.name.toLowerCase();
        const squashed = lower.replace(/[-_.]/g, '');
        let detail = `field "${f.name}" (value ${quote(f.value)}) is not defined by RFC 8461 and is ignored`;
        if ((KNOWN_FIELDS as readonly string[]).includes(lower)) {
          detail = `field "${f.name}" is not "${lower}": field names are case-sensitive, so senders treat it as an unknown field and ignore it`;
        } else if (squashed === 'maxage') {
          detail = `field "${f.name}" is not "max_age" and is ignored as an unknown field`;
        }
        add('policy-extension-field', detail, f.line, f.nameColumn);
      }
    }
  }

  // --- required fields -----------------------------------------------------------------------
  const caseVariant = (name: string): string => {
    const v = parsed.find((f) => f.name !== name && f.name.toLowerCase() === name);
    return v === undefined ? '' : ` ("${v.name}" on line ${v.line} does not count: field names are case-sensitive)`;
  };
  // RFC 8461 §3.2: version, mode and max_age are required; mx is required unless mode is none.
  if (version === undefined) add('policy-version-missing', `no "version" field${caseVariant('version')}`, 1, 1);
  if (modeLine === undefined) add('policy-mode-missing', `no "mode" field${caseVariant('mode')}`, 1, 1);
  if (!maxAgeSeen) add('policy-max-age-missing', `no "max_age" field${caseVariant('max_age')}`, 1, 1);
  if (mxLines === 0 && mode !== 'none') {
    const why = modeValid ? `although mode is "${mode}"` : '(it is required unless mode is "none")';
    add('policy-mx-missing', `no "mx" field ${why}${caseVariant('mx')}`, 1, 1);
  }
  if (modeValid && modeLine !== undefined) {
    if (mode === 'testing') add('policy-mode-testing', 'mode is "testing"', modeLine.line, modeLine.valueColumn);
    if (mode === 'none') add('policy-mode-none', 'mode is "none"', modeLine.line, modeLine.valueColumn);
  }

  if (findings.hasErrors() || mode === undefined || maxAge === undefined) return fail();
  return { policy: { version: 'STSv1', mode, maxAge, mx, extensions }, findings: findings.toArray() };
}

function countLf(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function countLfBytes(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * Splits one non-blank line into name and value, reporting grammar errors. Returns null when the
 * line cannot be read as a field at all. Recoverable slips (a BOM, leading whitespace, whitespace
 * before the colon) are reported and the field is still returned, so that they do not also cause
 * "missing field" findings.
 */
function parseLine(
  L: string,
  lineNo: number,
  add: (code: FindingCode, detail: string, line: number, column: number) => void,
): ParsedLine | null {
  let start = 0;
  if (lineNo === 1 && L.startsWith('\ufeff')) {
    add('policy-syntax', 'the policy starts with a UTF-8 byte order mark (U+FEFF); save the file without a BOM', 1, 1);
    start = 1;
  }
  const lead = /^[ \t]+/.exec(L.slice(start));
  if (lead !== null) {
    // RFC 8461 §3.2: a field starts right after the line terminator.
    add('policy-syntax', `line ${lineNo} starts with whitespace; field names must begin at the start of the line`, lineNo, columnOf(L, start));
    start += lead[0].length;
  }
  const rest = L.slice(start);
  const colon = rest.indexOf(':');
  const nameRun = /^[A-Za-z0-9_.-]*/.exec(rest)?.[0] ?? '';

  if (colon === -1) {
    add('policy-syntax', `line ${lineNo} (${quote(rest)}) is not a "name: value" field: there is no ":"`, lineNo, columnOf(L, start));
    return null;
  }
  if (colon === 0) {
    add('policy-syntax', `line ${lineNo} has no field name before ":"`, lineNo, columnOf(L, start));
    return null;
  }
  if (nameRun.length < colon) {
    // Something other than a name character comes before the colon.
    const between = rest.slice(nameRun.length, colon);
    if (nameRun !== '' && /^[ \t]+$/.test(between)) {
      add('policy-syntax', `whitespace between the field name ${quote(nameRun)} and ":"; the colon must follow the name directly`,
        lineNo, columnOf(L, start + nameRun.length));
    } else {
      const ch = String.fromCodePoint(rest.codePointAt(nameRun.length) ?? 0);
      add('policy-syntax', `the field name ${quote(rest.slice(0, colon))} contains ${describeChar(ch)}; names are letters, digits, "_", "-" and "."`,
        lineNo, columnOf(L, start + nameRun.length));
      return null;
    }
  }
  const name = nameRun;
  if (!/^[A-Za-z0-9]/.test(name)) {
    add('policy-syntax', `the field name ${quote(name)} must start with a letter or digit`, lineNo, columnOf(L, start));
    return null;
  }
  if (name.length > MAX_NAME_LENGTH) {
    // RFC 8461 §3.2: sts-policy-ext-name is at most 32 characters.
    add('policy-syntax', `the field name ${quote(name)} is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`, lineNo, columnOf(L, start));
    return null;
  }
  // RFC 8461 §3.2: sts-policy-field-delim = ":" *WSP, and *WSP may follow the value.
  let v = start + colon + 1;
  while (isWsp(L[v])) v++;
  let end = L.length;
  while (end > v && isWsp(L[end - 1])) end--;
  return {
    name,
    value: L.slice(v, end),
    line: lineNo,
    nameColumn: columnOf(L, start),
    valueColumn: columnOf(L, v),
    raw: L,
    valueIndex: v,
  };
}

/**
 * Writes a policy in canonical form: version, mode, the mx lines in order (lower-cased), max_age,
 * then extension fields, each line ended by CRLF. `parsePolicy` reads the result back unchanged.
 */
export function serializePolicy(policy: Policy): string {
  const lines = [
    `version: ${policy.version}`,
    `mode: ${policy.mode}`,
    ...policy.mx.map((m) => `mx: ${m.toLowerCase()}`),
    `max_age: ${policy.maxAge}`,
    ...policy.extensions.map((e) => `${e.name}: ${e.value}`),
  ];
  return lines.map((l) => `${l}\r\n`).join('');
}
