/**
 * Finding the TLS-RPT report inside one mail message (RFC 8460 §5.3).
 *
 * The RFC shape is a `multipart/report; report-type="tlsrpt"` message whose report part has the
 * media type `application/tlsrpt+gzip` (or `application/tlsrpt+json`, uncompressed). Senders also
 * use a plain `application/tlsrpt` part, generic `application/gzip`, `application/json`,
 * `application/zip` or `application/octet-stream` attachments, or put the JSON in the message body
 * itself. Parts are recognised by media type first and by content (gzip, zip or a JSON object),
 * never by file name: the body is what counts (RFC 8460 §5.6).
 *
 * The common RFC 8460 §5.3 shape (an ASCII multipart/report of single parts with base64 tlsrpt
 * part(s)) is split by {@link extractSimpleReport} without mailparser, with the same result; any
 * other message is parsed with mailparser.
 *
 * Parsing is bounded: the message size is checked before the parser sees it, and the parse has a
 * deadline, so a hostile message ends in a specific error rather than a hang. The fast path is
 * linear in the message (one split into lines, one pass over them).
 *
 * @example
 * ```ts
 * const found = await extractReportParts(raw, { maxMessageBytes: 8 << 20, timeoutMs: 10_000 });
 * found.parts[0]?.bytes; // gzip or JSON bytes for ingestPayload
 * found.reportDomain;    // the TLS-Report-Domain header, when there is one
 * ```
 */
import { simpleParser, type Attachment, type ParsedMail } from 'mailparser';

/** One candidate report found in a message. */
export interface ReportPart {
  bytes: Buffer;
  /** The part's media type as sent (lower case, no parameters); `text/plain` for a body. */
  contentType: string;
  /** How the part was recognised: by its RFC 8460 media type, by content, or as the message body. */
  via: 'tlsrpt-type' | 'content' | 'body';
}

export interface ExtractedReports {
  parts: ReportPart[];
  /** RFC 8460 §5.3: the `TLS-Report-Domain` header (lower case, no trailing dot), or null. */
  reportDomain: string | null;
  /** RFC 8460 §5.3: the `TLS-Report-Submitter` header, or null. */
  submitter: string | null;
  /** The `Date:` header, when it parses. */
  date: Date | null;
  /** `true` when the top-level type is `multipart/report; report-type=tlsrpt`. */
  isTlsrptReport: boolean;
}

/** Why a message could not be read at all. Codes are reject codes of the import. */
export class MailMessageError extends Error {
  override readonly name = 'MailMessageError';
  constructor(readonly code: 'mail-too-large' | 'mail-malformed' | 'mail-timeout', message: string) {
    super(message);
  }
}

export interface ExtractOptions {
  /** Largest message accepted, in bytes; checked before parsing. */
  maxMessageBytes: number;
  /** Deadline for parsing the message, ms. */
  timeoutMs: number;
  /** Always parse with mailparser, skipping the fast path for the common shape (tests compare the two). */
  fullParse?: boolean;
}

/** RFC 8460 §5.3 / §6.4-6.5: the registered media types of a mailed report. */
const TLSRPT_TYPES = new Set(['application/tlsrpt+gzip', 'application/tlsrpt+json', 'application/tlsrpt']);
/** Generic types some senders use instead; such a part is taken only when its content is a report container. */
const GENERIC_TYPES = new Set([
  'application/gzip', 'application/x-gzip', 'application/json', 'text/json', 'application/zip', 'application/x-zip',
  'application/x-zip-compressed', 'application/octet-stream', 'text/plain',
]);

/** What the bytes look like: gzip, zip, or (after optional whitespace and BOM) a JSON object. */
export function sniffContainer(bytes: Buffer): 'gzip' | 'zip' | 'json' | null {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  let i = 0;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  const end = Math.min(bytes.length, i + 4096);
  for (; i < end; i++) {
    const b = bytes[i]!;
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b ? 'json' : null;
  }
  return null;
}

/** A domain from a header value: lower case, no trailing dot; null when it does not look like one. */
function headerDomain(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const v = value.trim().replace(/\.$/, '').toLowerCase();
  // Letters, digits, hyphens, dots, and U-labels; no spaces, @ or other punctuation.
  if (v === '' || v.length > 253 || !/^[\p{L}\p{N}_-]+(\.[\p{L}\p{N}_-]+)*$/u.test(v)) return null;
  return v;
}

/**
 * Parses a message and returns the report parts in it (none when it holds no report). Throws
 * {@link MailMessageError} when the message is too large, malformed or too slow to parse.
 */
export async function extractReportParts(raw: Buffer, opts: ExtractOptions): Promise<ExtractedReports> {
  if (raw.length > opts.maxMessageBytes) {
    throw new MailMessageError('mail-too-large', `the message is ${raw.length} bytes, more than the limit of ${opts.maxMessageBytes}`);
  }
  const fast = opts.fullParse ? null : extractSimpleReport(raw);
  if (fast !== null) return fast;
  let mail: ParsedMail;
  let timer: NodeJS.Timeout | undefined;
  try {
    mail = await Promise.race([
      simpleParser(raw, {
        skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true,
        keepDeliveryStatus: true, maxHtmlLengthToParse: 1 << 20,
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new MailMessageError('mail-timeout', `parsing the message took longer than ${opts.timeoutMs} ms`)), opts.timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof MailMessageError) throw err;
    throw new MailMessageError('mail-malformed', `the message cannot be parsed as MIME: ${(err as Error).message}`);
  } finally {
    if (timer) clearTimeout(timer);
  }

  const ct = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  const isTlsrptReport = ct?.value?.toLowerCase() === 'multipart/report' && ct.params?.['report-type']?.toLowerCase() === 'tlsrpt';
  const reportDomain = headerDomain(mail.headers.get('tls-report-domain'));
  const submitter = headerDomain(mail.headers.get('tls-report-submitter'));
  const date = mail.date instanceof Date && !Number.isNaN(mail.date.getTime()) ? mail.date : null;

  const typed: ReportPart[] = [];
  const generic: ReportPart[] = [];
  for (const a of mail.attachments) {
    const type = baseType(a);
    if (TLSRPT_TYPES.has(type)) typed.push({ bytes: a.content, contentType: type, via: 'tlsrpt-type' });
    else if (GENERIC_TYPES.has(type) && sniffContainer(a.content) !== null) generic.push({ bytes: a.content, contentType: type, via: 'content' });
  }
  let parts = typed.length > 0 ? typed : generic;
  if (parts.length === 0 && typeof mail.text === 'string') {
    // The report as the whole message body (some senders, and hand-forwarded reports).
    const body = Buffer.from(mail.text, 'utf8');
    if (sniffContainer(body) === 'json') parts = [{ bytes: body, contentType: 'text/plain', via: 'body' }];
  }
  return { parts, reportDomain, submitter, date, isTlsrptReport };
}

function baseType(a: Attachment): string {
  return (a.contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** A header field as the fast path reads it: lower-case name, value after the colon (unfolded). */
type Fields = Map<string, string[]>;

/** Reads a header block (lines up to the empty line); null for anything the fast path does not take. */
function readFields(lines: string[], start: number): { fields: Fields; next: number } | null {
  const fields: Fields = new Map();
  let last: { name: string; list: string[] } | null = null;
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') return { fields, next: i + 1 };
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (last === null) return null;
      // Folded: unfolded as mailparser does (the line break removed, the white space kept).
      last.list[last.list.length - 1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    let list = fields.get(name);
    if (list === undefined) fields.set(name, (list = []));
    list.push(line.slice(colon + 1).trim());
    last = { name, list };
  }
  return null; // no body
}

/** One field that the fast path interprets: at most once, without encoded words or comments. */
function single(fields: Fields, name: string): string | null | undefined {
  const list = fields.get(name);
  if (list === undefined) return null;
  if (list.length !== 1) return undefined;
  const v = list[0]!;
  return v.includes('=?') || v.includes('(') ? undefined : v;
}

const PARAM = /;\s*([A-Za-z0-9._-]+)\s*=\s*(?:"([^"\\]*)"|([^;\s"]+))\s*/y;

/** `type/subtype; a=b; c="d"` → lower-case type and parameters; null when it needs the full parser. */
function contentType(value: string): { type: string; params: Map<string, string> } | null {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return null;
  const params = new Map<string, string>();
  if (semi >= 0) {
    PARAM.lastIndex = semi;
    const rest = value.replace(/;\s*$/, '');
    while (PARAM.lastIndex < rest.length) {
      const m = PARAM.exec(rest);
      if (m === null) return null;
      const key = m[1]!.toLowerCase();
      if (params.has(key)) return null;
      params.set(key, m[2] ?? m[3]!);
    }
  }
  return { type, params };
}

/**
 * The fast path for the common RFC 8460 §5.3 shape: an ASCII `multipart/report; report-type=tlsrpt`
 * message of single parts, with the report in base64 `application/tlsrpt+gzip` (or `+json`, or
 * plain `application/tlsrpt`) part(s). Gives what the full parse gives for such a message; null
 * for anything else (other shapes, encodings, nested parts, duplicate or encoded headers), which
 * then goes through mailparser.
 */
export function extractSimpleReport(raw: Buffer): ExtractedReports | null {
  for (let i = 0; i < raw.length; i++) if (raw[i]! >= 0x80 || raw[i] === 0) return null;
  const lines = raw.toString('latin1').split(/\r?\n/);
  const head = readFields(lines, 0);
  if (head === null) return null;
  const ctValue = single(head.fields, 'content-type');
  const cte = single(head.fields, 'content-transfer-encoding');
  const domainValue = single(head.fields, 'tls-report-domain');
  const submitterValue = single(head.fields, 'tls-report-submitter');
  const dateValue = single(head.fields, 'date');
  if (!ctValue || cte === undefined || domainValue === undefined || submitterValue === undefined || dateValue === undefined) return null;
  if (cte !== null && !/^(7bit|8bit|binary)$/i.test(cte)) return null;
  const ct = contentType(ctValue);
  const boundary = ct?.params.get('boundary');
  if (ct === null || ct.type !== 'multipart/report' || ct.params.get('report-type')?.toLowerCase() !== 'tlsrpt' || !boundary) return null;
  const delimiter = `--${boundary}`;
  const parts: ReportPart[] = [];
  let i = head.next;
  // Preamble, up to the first delimiter.
  while (i < lines.length && lines[i] !== delimiter) {
    if (lines[i]!.startsWith(delimiter)) return null;
    i++;
  }
  let closed = false;
  while (i < lines.length && !closed) {
    const part = readFields(lines, i + 1);
    if (part === null) return null;
    let end = part.next;
    while (end < lines.length && !lines[end]!.startsWith(delimiter)) end++;
    if (end === lines.length) return null; // no closing delimiter: left to the full parser
    if (lines[end] === `${delimiter}--`) closed = true;
    else if (lines[end] !== delimiter) return null;
    const pct = part.fields.get('content-type');
    if (pct !== undefined) {
      if (pct.length !== 1 || pct[0]!.includes('=?') || pct[0]!.includes('(')) return null;
      const t = contentType(pct[0]!);
      if (t === null || t.type.startsWith('multipart/') || t.type.startsWith('message/')) return null;
      if (TLSRPT_TYPES.has(t.type)) {
        const enc = single(part.fields, 'content-transfer-encoding');
        if (!enc || enc.toLowerCase() !== 'base64') return null;
        const body = lines.slice(part.next, end).join('');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.replace(/[ \t]+/g, ''))) return null;
        parts.push({ bytes: Buffer.from(body, 'base64'), contentType: t.type, via: 'tlsrpt-type' });
      }
    }
    i = end;
  }
  if (!closed || parts.length === 0) return null;
  let date: Date | null = null;
  if (dateValue !== null) {
    // As mailparser reads it: an unreadable Date header gives the time of parsing.
    date = new Date(dateValue);
    if (Number.isNaN(date.getTime())) date = new Date();
  }
  return { parts, reportDomain: headerDomain(domainValue), submitter: headerDomain(submitterValue), date, isTlsrptReport: true };
}
