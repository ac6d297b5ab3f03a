/**
 * The MTA-STS TXT record at `_mta-sts.<domain>` (RFC 8461 §3.1).
 *
 * ```
 * sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 * sts-field       = sts-id / sts-extension
 * sts-field-delim = *WSP ";" *WSP
 * sts-version     = %s"v=STSv1"
 * sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 * sts-extension   = sts-ext-name "=" sts-ext-value
 * sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 * sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 * ```
 *
 * A TXT record made of several strings is read as their concatenation without spaces. Among all
 * TXT records at the name, only those beginning with "v=STSv1;" count, and there must be exactly
 * one (RFC 8461 §3.1).
 *
 * @example
 * ```ts
 * parseStsRecord('v=STSv1; id=20240101T000000').record?.id; // "20240101T000000"
 * ```
 */

import { finding, FindingList, type Finding } from '../findings.js';

export interface StsRecord {
  version: 'STSv1';
  id: string;
  extensions: { name: string; value: string }[];
  /** The record text as parsed (strings concatenated). */
  raw: string;
}

/** One `name=value` field found by {@link scanTagRecord}; indexes are UTF-16 offsets into the text. */
export interface ScannedField {
  name: string;
  value: string;
  nameIndex: number;
  valueIndex: number;
}

/** The result of {@link scanTagRecord}: the fields read, and the first grammar error if any. */
export interface ScanResult {
  fields: ScannedField[];
  /** The first grammar error; scanning stops there. */
  error: { detail: string; index: number } | null;
}

const isWsp = (c: string | undefined): boolean => c === ' ' || c === '\t';
const EXT_NAME_MAX = 32;
/** Sticky: matches at `lastIndex` only, so no copy of the rest of the text is made per field. */
const NAME_RUN = /[A-Za-z0-9_.-]*/y;

/** 1-based column of UTF-16 offset `index` in `text`, counted in code points. O(index): for many lookups use {@link columnMapper}. */
export function columnAt(text: string, index: number): number {
  return columnMapper(text)(index);
}

/**
 * Returns a function giving the 1-based column (in code points) of a UTF-16 offset in `text`, in
 * O(1) per call after one O(n) pass, so that findings on every field of a long record cost linear
 * time in all.
 */
export function columnMapper(text: string): (index: number) => number {
  if (!/[\ud800-\udfff]/.test(text)) return (index) => Math.min(index, text.length) + 1;
  // paired[i]: low surrogates completing a pair in text[0, i), each the second half of one column.
  const paired = new Uint32Array(text.length + 1);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const low = (c & 0xfc00) === 0xdc00 && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800;
    paired[i + 1] = (paired[i] ?? 0) + (low ? 1 : 0);
  }
  return (index) => {
    const i = Math.max(0, Math.min(index, text.length));
    return i - (paired[i] ?? 0) + 1;
  };
}

/** Quotes a value for a message, shortening it when long; looks at no more than `max` characters of it. */
export function q(s: string, max = 60): string {
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

/** Quotes the first `max` of `items` for a message, then says how many more there are. */
export function quoteList(items: readonly string[], max = 5, width = 60): string {
  const shown = items.slice(0, max).map((s) => q(s, width)).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** Names a character for a message: `"x"`, `a space`, or `U+0009` for invisible ones. */
export function charName(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp === 0x20) return 'a space';
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0xa0)) return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${ch}"`;
}

/**
 * Index of the first character not allowed in an extension value
 * (`1*(%x21-3A / %x3C / %x3E-7E)`: printable ASCII except ";" and "="), or -1.
 */
export function badExtValueChar(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x3b || c === 0x3d) return i;
  }
  return -1;
}

/**
 * Reads the fields of a `tag=value` TXT record shared by MTA-STS (RFC 8461 §3.1) and TLS-RPT
 * (RFC 8460 §3): a version tag, then `name=value` fields separated by `*WSP ";" *WSP`, with one
 * optional trailing delimiter. Names follow the ext-name grammar (1-32 characters, starting with a
 * letter or digit). A value normally runs up to whitespace or ";"; for names in `listFields` it
 * runs up to ";" (minus trailing whitespace), for values such as TLS-RPT's comma-separated rua
 * list. Value characters are not checked here: the caller knows each field's grammar.
 */
export function scanTagRecord(text: string, version: string, listFields: readonly string[] = []): ScanResult {
  const fields: ScannedField[] = [];
  const err = (detail: string, index: number): ScanResult => ({ fields, error: { detail, index } });
  if (!text.startsWith(version)) return err(`the record does not begin with "${version}"`, 0);
  let p = version.length;
  while (p < text.length) {
    let i = p;
    while (isWsp(text[i])) i++;
    if (i === text.length) {
      return err('the record ends with whitespace; only ";" (with optional whitespace before it) may follow the last field', p);
    }
    if (text[i] !== ';') {
      const what = fields.length === 0 ? `"${version}"` : `the "${fields[fields.length - 1]?.name}" field`;
      return err(`expected ";" after ${what} but found ${q(text.slice(i, i + 100))}; separate fields with ";"`, i);
    }
    i++;
    while (isWsp(text[i])) i++;
    if (i === text.length) break; // RFC: [field-delim] at the end is allowed
    if (text[i] === ';') return err('empty field: ";" follows ";"', i);

    NAME_RUN.lastIndex = i;
    const nameRun = NAME_RUN.exec(text)?.[0] ?? '';
    const nameIndex = i;
    if (nameRun === '') {
      const ch = String.fromCodePoint(text.codePointAt(i) ?? 0);
      return err(`expected a field name but found ${charName(ch)}`, i);
    }
    if (!/^[A-Za-z0-9]/.test(nameRun)) return err(`the field name ${q(nameRun)} must start with a letter or digit`, i);
    if (nameRun.length > EXT_NAME_MAX) {
      return err(`the field name ${q(nameRun)} is ${nameRun.length} characters long; at most ${EXT_NAME_MAX} are allowed`, i);
    }
    i += nameRun.length;
    if (text[i] !== '=') {
      let j = i;
      while (isWsp(text[j])) j++;
      if (j > i && text[j] === '=') return err(`whitespace between "${nameRun}" and "="; write "${nameRun}=" without spaces`, i);
      if (i === text.length || text[i] === ';' || isWsp(text[i])) return err(`the field "${nameRun}" has no "=" and no value`, i);
      const ch = String.fromCodePoint(text.codePointAt(i) ?? 0);
      const stop = /[=; \t]/.exec(text.slice(i, i + 100));
      return err(`the field name ${q(nameRun + text.slice(i, i + (stop?.index ?? 100)))} contains ${charName(ch)}; names are letters, digits, "_", "-" and "."`, i);
    }
    i++;
    const valueIndex = i;
    let end: number;
    if (listFields.includes(nameRun)) {
      const semi = text.indexOf(';', i);
      end = semi === -1 ? text.length : semi;
      while (end > i && isWsp(text[end - 1])) end--;
    } else {
      end = i;
      while (end < text.length && text[end] !== ';' && !isWsp(text[end])) end++;
    }
    fields.push({ name: nameRun, value: text.slice(i, end), nameIndex, valueIndex });
    p = end;
  }
  return { fields, error: null };
}

/**
 * Parses one MTA-STS TXT record (strings already concatenated) against the RFC 8461 §3.1 grammar.
 * The record is null when any finding is an error. Findings carry the 1-based column in `text`.
 */
export function parseStsRecord(text: string): { record: StsRecord | null; findings: Finding[] } {
  const findings = new FindingList();
  const scan = scanTagRecord(text, 'v=STSv1');
  const columnOf = columnMapper(text);
  let id: string | undefined;
  let idSeen: ScannedField | undefined;
  const extensions: { name: string; value: string }[] = [];
  const seen = new Map<string, ScannedField>();

  for (const f of scan.fields) {
    const column = columnOf(f.nameIndex);
    const earlier = seen.get(f.name) ?? (f.name === 'v' ? { name: 'v', value: 'STSv1', nameIndex: 0, valueIndex: 2 } : undefined);
    if (earlier !== undefined) {
      // RFC 8461 §3.1 (as for the policy in §3.2): a repeated field is ignored; the first counts.
      findings.push(finding('record-duplicate-field',
        `"${f.name}" appears more than once (${q(`${f.name}=${f.value}`)} at column ${column} is ignored; ${q(`${earlier.name}=${earlier.value}`)} counts)`,
        { column }));
      continue;
    }
    seen.set(f.name, f);
    if (f.name === 'id') {
      idSeen = f;
      // RFC 8461 §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT).
      if (f.value === '') {
        findings.push(finding('record-id-invalid', 'the id is empty', { column: columnOf(f.valueIndex) }));
      } else if (!/^[A-Za-z0-9]+$/.test(f.value)) {
        const bad = /[^A-Za-z0-9]/.exec(f.value);
        const ch = String.fromCodePoint(bad?.[0]?.codePointAt(0) ?? 0);
        findings.push(finding('record-id-invalid', `the id ${q(f.value)} contains ${charName(ch)}`,
          { column: columnOf(f.valueIndex + (bad?.index ?? 0)) }));
      } else if (f.value.length > 32) {
        findings.push(finding('record-id-invalid', `the id ${q(f.value)} is ${f.value.length} characters long; at most 32 are allowed`,
          { column: columnOf(f.valueIndex) }));
      } else {
        id = f.value;
      }
      continue;
    }
    // RFC 8461 §3.1: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E).
    if (f.value === '') {
      findings.push(finding('record-syntax', `the field "${f.name}" has an empty value`, { column: columnOf(f.valueIndex) }));
      continue;
    }
    const bad = badExtValueChar(f.value);
    if (bad !== -1) {
      const ch = String.fromCodePoint(f.value.codePointAt(bad) ?? 0);
      findings.push(finding('record-syntax', `the value of "${f.name}" contains ${charName(ch)}, which is not allowed in a field value`,
        { column: columnOf(f.valueIndex + bad) }));
      continue;
    }
    extensions.push({ name: f.name, value: f.value });
    const detail = f.name.toLowerCase() === 'id'
      ? `the field "${f.name}" is not "id": field names are case-sensitive, so it is an unknown extension field`
      : `unknown field ${q(`${f.name}=${f.value}`)} is ignored by senders`;
    findings.push(finding('record-extension', detail, { column }));
  }

  if (scan.error !== null) {
    findings.push(finding('record-syntax', scan.error.detail, { column: columnOf(scan.error.index) }));
  } else if (idSeen === undefined) {
    // RFC 8461 §3.1: the id field is required.
    const variant = scan.fields.find((f) => f.name.toLowerCase() === 'id');
    findings.push(finding('record-id-missing',
      variant === undefined ? `the record ${q(text)} has no "id" field` : `the record has "${variant.name}" but no "id" field (field names are case-sensitive)`,
      { column: columnOf(text.length) }));
  }

  const ok = !findings.hasErrors() && id !== undefined;
  return { record: ok && id !== undefined ? { version: 'STSv1', id, extensions, raw: text } : null, findings: findings.toArray() };
}

/**
 * True when a TXT record is an MTA-STS candidate: it begins with "v=STSv1;" (RFC 8461 §3.1).
 * Whitespace before the ";" is tolerated, as the grammar's `*WSP ";"` allows it, and a bare
 * "v=STSv1" counts too, so that it is reported as lacking an id rather than ignored.
 */
export function isStsCandidate(text: string): boolean {
  return /^v=STSv1[ \t]*(?:;|$)/.test(text);
}

/** A note for a record that looks like a miswritten version tag (e.g. `V=STSv1` or `v=stsv1`). */
function versionHint(text: string, version: string): string {
  const lower = text.toLowerCase();
  const v = version.toLowerCase();
  if (lower.startsWith(v) && !text.startsWith(version)) return ` (it starts with "${text.slice(0, version.length)}": the version tag is case-sensitive, write "${version}")`;
  if (text.startsWith(version)) return ` (write ";" right after "${version}")`;
  return '';
}

/**
 * Picks the MTA-STS record among all TXT records at `_mta-sts.<domain>` (each given as its list of
 * strings, concatenated without spaces). RFC 8461 §3.1: records not beginning with "v=STSv1;" are
 * discarded; if the number left is not exactly one, there is no policy.
 */
export function selectStsRecord(txt: readonly (readonly string[])[]): { record: StsRecord | null; findings: Finding[]; candidates: string[] } {
  const findings = new FindingList();
  const texts = txt.map((strings) => strings.join(''));
  const candidates: string[] = [];
  for (const t of texts) {
    if (isStsCandidate(t)) {
      candidates.push(t);
    } else {
      findings.push(finding('record-other-txt', `TXT record ${q(t)} does not begin with "v=STSv1;"${versionHint(t, 'v=STSv1')}`));
    }
  }
  if (candidates.length === 0) {
    findings.push(finding('record-missing', texts.length === 0
      ? 'there are no TXT records at all'
      : `none of the ${texts.length} TXT record${texts.length === 1 ? '' : 's'} begins with "v=STSv1;"`));
    return { record: null, findings: findings.toArray(), candidates };
  }
  if (candidates.length > 1) {
    findings.push(finding('record-multiple', `${candidates.length} TXT records begin with "v=STSv1": ${quoteList(candidates)}`));
    return { record: null, findings: findings.toArray(), candidates };
  }
  const parsed = parseStsRecord(candidates[0] ?? '');
  for (const f of parsed.findings) findings.push(f);
  return { record: parsed.record, findings: findings.toArray(), candidates };
}
