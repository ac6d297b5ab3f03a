/**
 * TLS-RPT aggregate reports (RFC 8460 §4): the JSON a sending MTA mails or POSTs once a day about
 * the TLS sessions it tried with a policy domain's MX hosts.
 *
 * {@link parseReport} is pure (no I/O) and linear in its input. It is strict where the RFC must hold
 * for the numbers to mean anything, and lenient where real senders deviate:
 *
 * - strict (the report is rejected with a code): the top level is an object; `organization-name`,
 *   `report-id` and `date-range` are present; `policies` is a non-empty array; every count is a
 *   non-negative integer; `policy-type` is `sts`, `tlsa` or `no-policy-found`;
 * - lenient (the report is kept, and a warning with a code says what was tolerated): dates without a
 *   timezone (read as UTC), a period ending at the next midnight, `contact-info: null`, missing
 *   `policy-domain` / `policy-string` / `mx-host` / `failure-details` / IPs / host names, a TLSA
 *   `policy-string` that is JSON text inside a one-element array, `mx-host` as a string, unregistered
 *   `result-type` values (kept as sent), totals that disagree with the sum of the failure details
 *   (kept as sent, flagged).
 *
 * Input is bounded before it is parsed: a byte cap, then a linear pre-scan that caps nesting depth
 * and the number of JSON values, then `JSON.parse`.
 *
 * @example
 * ```ts
 * const { report, warnings, error } = parseReport(text);
 * if (error) console.error(error.code, error.message);
 * else console.log(report!.organizationName, report!.policies[0]!.successfulSessions, warnings);
 * ```
 */
import { FINDINGS } from '../findings.js';

/** RFC 8460 §4.4: the policy types of a report. */
export const POLICY_TYPES = ['sts', 'tlsa', 'no-policy-found'] as const;
export type ReportPolicyType = (typeof POLICY_TYPES)[number];

/** RFC 8460 §4.3 (and the IANA "TLS-RPT Failure Types" registry): the registered result types. */
export const REGISTERED_RESULT_TYPES: ReadonlySet<string> = new Set([
  'starttls-not-supported', 'certificate-host-mismatch', 'certificate-expired', 'certificate-not-trusted',
  'validation-failure', 'tlsa-invalid', 'dnssec-invalid', 'dane-required', 'sts-policy-fetch-error',
  'sts-policy-invalid', 'sts-webpki-invalid',
]);

export interface ReportWarning {
  code: string;
  message: string;
}

export interface ReportError {
  code: string;
  message: string;
}

export interface FailureDetail {
  /** As sent: registered or not, never renamed. */
  resultType: string;
  sendingMtaIp: string | null;
  receivingIp: string | null;
  receivingMxHostname: string | null;
  receivingMxHelo: string | null;
  failedSessionCount: number;
  additionalInformation: string | null;
  failureReasonCode: string | null;
}

export interface ReportPolicy {
  policyType: ReportPolicyType;
  /** Null when the sender left it out. */
  policyDomain: string | null;
  /** The policy lines (for TLSA: the TLSA records), decoded from JSON text when sent that way. */
  policyString: string[];
  /** MX host patterns, always as an array. */
  mxHost: string[];
  successfulSessions: number;
  failedSessions: number;
  failureDetails: FailureDetail[];
}

export interface TlsReport {
  organizationName: string;
  reportId: string;
  contactInfo: string | null;
  /** ISO 8601 UTC instants (`toISOString()`), as the report gives them (timezone-less read as UTC). */
  startDatetime: string;
  endDatetime: string;
  policies: ReportPolicy[];
}

export interface ReportParseResult {
  report: TlsReport | null;
  warnings: ReportWarning[];
  error?: ReportError;
}

export interface ParseLimits {
  /** Largest JSON text, bytes (default 16 MiB). */
  maxJsonBytes: number;
  /** Deepest nesting of arrays/objects (default 32; a report needs 5). */
  maxDepth: number;
  /** Most JSON values in the document (default 1,000,000). */
  maxElements: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxJsonBytes: 16 << 20, maxDepth: 32, maxElements: 1_000_000 };

/** A report that cannot be taken in; the code is a `report-*` code of the findings registry. */
export class ReportRejection extends Error {
  override readonly name = 'ReportRejection';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The message of a registry code: what happened (detail) plus the registry's fix. */
function withFix(code: string, detail: string): string {
  const spec = (FINDINGS as Record<string, { fix: string } | undefined>)[code];
  return spec === undefined ? detail : `${detail.replace(/[.\s]+$/, '')}. ${spec.fix}`;
}

/**
 * Linear pre-scan of JSON text: counts values and nesting depth without building anything, so a
 * hostile document is refused before `JSON.parse` allocates it. Syntax errors are left to JSON.parse.
 */
export function scanJsonBounds(text: string, limits: Pick<ParseLimits, 'maxDepth' | 'maxElements'>): ReportRejection | null {
  let depth = 0;
  let elements = 0;
  let inString = false;
  let inScalar = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // Jump to the next quote (most of a report is strings); it ends the string unless an odd
      // number of backslashes precedes it. Each character is still looked at a bounded number of times.
      const q = text.indexOf('"', i);
      if (q < 0) break; // an unterminated string: JSON.parse reports it
      let b = q - 1;
      while (b >= i && text.charCodeAt(b) === 0x5c) b--;
      i = q;
      if ((q - 1 - b) % 2 === 0) inString = false;
      continue;
    }
    switch (c) {
      case 0x22: // "
        inString = true;
        inScalar = false;
        elements++;
        break;
      case 0x7b: // {
      case 0x5b: // [
        inScalar = false;
        elements++;
        if (++depth > limits.maxDepth) {
          return new ReportRejection('report-too-deep', withFix('report-too-deep', `the JSON nests deeper than ${limits.maxDepth} levels`));
        }
        break;
      case 0x7d:
      case 0x5d:
        inScalar = false;
        depth--;
        break;
      case 0x2c: // ,
      case 0x3a: // :
      case 0x20: case 0x09: case 0x0a: case 0x0d:
        inScalar = false;
        break;
      default:
        // numbers, true/false/null: one value per run of such characters
        if (!inScalar) {
          inScalar = true;
          elements++;
        }
    }
    if (elements > limits.maxElements) {
      return new ReportRejection('report-too-many-elements', withFix('report-too-many-elements', `the JSON holds more than ${limits.maxElements} values`));
    }
  }
  return null;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?$/;

const DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const two = (v: string, i: number): number => (v.charCodeAt(i) - 0x30) * 10 + v.charCodeAt(i + 1) - 0x30;

/**
 * The form nearly every sender uses, `YYYY-MM-DDTHH:MM:SSZ`, read without a regular expression and
 * without a Date; null for anything else (or any value the general path would normalise, such as
 * hour 24 or a leap second), which then takes the general path. Gives what that path gives.
 */
function fastUtcDate(v: string): string | null {
  if (v.length !== 20 || v.charCodeAt(19) !== 0x5a || v.charCodeAt(10) !== 0x54 || v.charCodeAt(4) !== 0x2d || v.charCodeAt(7) !== 0x2d
    || v.charCodeAt(13) !== 0x3a || v.charCodeAt(16) !== 0x3a || v.charCodeAt(0) === 0x30) return null;
  for (const i of DATE_DIGITS) if (!isDigit(v.charCodeAt(i))) return null;
  const month = two(v, 5);
  const day = two(v, 8);
  if (month < 1 || month > 12 || day < 1 || day > 28 || two(v, 11) > 23 || two(v, 14) > 59 || two(v, 17) > 59) return null;
  return `${v.slice(0, 19)}.000Z`;
}

/** RFC 8460 §4.4 dates are RFC 3339 date-time; null when unreadable, `noZone` when read as UTC. */
function parseDate(value: unknown): { iso: string; noZone: boolean } | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  const fast = fastUtcDate(value);
  if (fast !== null) return { iso: fast, noZone: false };
  const m = DATE_RE.exec(value.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) return null;
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, Math.min(second, 59), frac ? Math.floor(Number(`0${frac}`) * 1000) : 0);
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  if (!Number.isFinite(ms)) return null;
  return { iso: new Date(ms).toISOString(), noZone: zone === undefined };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects warnings: one per code per report (counted), so output stays bounded. */
class Warnings {
  private readonly byCode = new Map<string, { detail: string; count: number }>();
  add(code: string, detail: string): void {
    const w = this.byCode.get(code);
    if (w === undefined) this.byCode.set(code, { detail, count: 1 });
    else w.count++;
  }
  list(): ReportWarning[] {
    return [...this.byCode].map(([code, { detail, count }]) => ({
      code,
      message: withFix(code, count > 1 ? `${detail} (and ${count - 1} more like it)` : detail),
    }));
  }
}

function count(value: unknown, where: string): number {
  // RFC 8460 §4.4: session counts are integers; a negative or fractional count has no meaning.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ReportRejection('report-count-invalid', withFix('report-count-invalid', `${where} is ${value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 40)}, not a non-negative integer`));
  }
  return value;
}

const optString = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function readPolicyString(raw: unknown, type: ReportPolicyType, idx: number, w: Warnings): string[] {
  if (raw === undefined || raw === null) {
    // RFC 8460 §4.4: policy-string is given for sts and tlsa; no-policy-found has none.
    if (type !== 'no-policy-found') w.add('report-policy-string-missing', `policy ${idx + 1} (${type}) has no policy-string`);
    return [];
  }
  if (typeof raw === 'string') {
    w.add('report-policy-string-not-array', `policy ${idx + 1} gives policy-string as one string instead of an array`);
    return [raw];
  }
  if (!Array.isArray(raw)) {
    w.add('report-policy-string-missing', `policy ${idx + 1} has a policy-string that is not an array of strings; it is ignored`);
    return [];
  }
  const lines = raw.filter((s): s is string => typeof s === 'string');
  // Seen from Microsoft: a TLSA policy-string holding ONE string, which is a JSON-encoded array.
  if (type === 'tlsa' && lines.length === 1 && lines[0]!.trimStart().startsWith('[')) {
    try {
      const inner: unknown = JSON.parse(lines[0]!);
      if (Array.isArray(inner) && inner.every((s) => typeof s === 'string')) {
        w.add('report-tlsa-policy-string-encoded', `policy ${idx + 1} (tlsa) gives its TLSA records as JSON text inside a one-element array; decoded`);
        return inner as string[];
      }
    } catch {
      // not JSON: keep the line as sent
    }
  }
  return lines;
}

function readMxHost(raw: unknown, type: ReportPolicyType, idx: number, w: Warnings): string[] {
  if (raw === undefined || raw === null) {
    if (type === 'sts') w.add('report-mx-host-missing', `policy ${idx + 1} (sts) has no mx-host`);
    return [];
  }
  if (typeof raw === 'string') {
    // RFC 8460 as first published shows a string; Errata 6241 makes it an array.
    w.add('report-mx-host-string', `policy ${idx + 1} gives mx-host as a string instead of an array`);
    return raw === '' ? [] : [raw];
  }
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && s !== '');
  w.add('report-mx-host-missing', `policy ${idx + 1} has an mx-host that is neither a string nor an array; it is ignored`);
  return [];
}

function readFailureDetail(raw: unknown, p: number, i: number, w: Warnings): FailureDetail {
  const where = `policies[${p}].failure-details[${i}]`;
  if (!isObject(raw)) throw new ReportRejection('report-structure-invalid', withFix('report-structure-invalid', `${where} is not an object`));
  const failed = count(raw['failed-session-count'], `${where}.failed-session-count`);
  let resultType = typeof raw['result-type'] === 'string' ? raw['result-type'] : '';
  if (resultType === '') {
    w.add('report-result-type-missing', `${where} has no result-type; it is counted as "unknown"`);
    resultType = 'unknown';
  } else if (!REGISTERED_RESULT_TYPES.has(resultType)) {
    // RFC 8460 §4.3: new result types may be registered; an unknown one is kept as sent.
    w.add('report-result-type-unregistered', `${where} has the unregistered result-type "${resultType.slice(0, 80)}"; kept as sent`);
  }
  const sendingMtaIp = optString(raw['sending-mta-ip']);
  const receivingMxHostname = optString(raw['receiving-mx-hostname']);
  const receivingIp = optString(raw['receiving-ip']);
  if (sendingMtaIp === null) w.add('report-sending-ip-missing', `${where} has no sending-mta-ip`);
  if (receivingMxHostname === null && receivingIp === null && !resultType.startsWith('sts-policy')) {
    w.add('report-receiving-mx-missing', `${where} names neither receiving-mx-hostname nor receiving-ip`);
  }
  return {
    resultType,
    sendingMtaIp,
    receivingIp,
    receivingMxHostname,
    receivingMxHelo: optString(raw['receiving-mx-helo']),
    failedSessionCount: failed,
    additionalInformation: optString(raw['additional-information']),
    failureReasonCode: optString(raw['failure-reason-code']),
  };
}

function readPolicy(raw: unknown, idx: number, w: Warnings): ReportPolicy {
  const where = `policies[${idx}]`;
  if (!isObject(raw)) throw new ReportRejection('report-structure-invalid', withFix('report-structure-invalid', `${where} is not an object`));
  const policy = raw.policy;
  if (!isObject(policy)) throw new ReportRejection('report-structure-invalid', withFix('report-structure-invalid', `${where}.policy is missing or not an object`));
  const type = policy['policy-type'];
  // RFC 8460 §4.4: policy-type is one of "tlsa", "sts", "no-policy-found".
  if (typeof type !== 'string' || !(POLICY_TYPES as readonly string[]).includes(type)) {
    throw new ReportRejection('report-policy-type-unknown', withFix('report-policy-type-unknown', `${where}.policy.policy-type is ${JSON.stringify(type)?.slice(0, 60) ?? 'missing'}`));
  }
  const policyType = type as ReportPolicyType;
  const policyDomain = optString(policy['policy-domain']);
  if (policyDomain === null) w.add('report-policy-domain-missing', `policy ${idx + 1} has no policy-domain`);
  const summary = raw.summary;
  if (!isObject(summary)) throw new ReportRejection('report-count-invalid', withFix('report-count-invalid', `${where}.summary is missing`));
  const successfulSessions = count(summary['total-successful-session-count'], `${where}.summary.total-successful-session-count`);
  const failedSessions = count(summary['total-failure-session-count'], `${where}.summary.total-failure-session-count`);
  const details: FailureDetail[] = [];
  const rawDetails = raw['failure-details'];
  if (Array.isArray(rawDetails)) {
    for (let i = 0; i < rawDetails.length; i++) details.push(readFailureDetail(rawDetails[i], idx, i, w));
  } else if (rawDetails !== undefined && rawDetails !== null) {
    throw new ReportRejection('report-structure-invalid', withFix('report-structure-invalid', `${where}.failure-details is not an array`));
  } else if (failedSessions > 0) {
    w.add('report-failure-details-missing', `policy ${idx + 1} counts ${failedSessions} failed sessions but gives no failure-details`);
  }
  if (details.length > 0) {
    const sum = details.reduce((a, d) => a + d.failedSessionCount, 0);
    // Totals are kept as sent, never "fixed": the operator sees the disagreement.
    if (sum !== failedSessions) {
      w.add('report-total-mismatch', `policy ${idx + 1}: total-failure-session-count is ${failedSessions} but the failure-details add up to ${sum}`);
    }
  }
  return {
    policyType,
    policyDomain,
    policyString: readPolicyString(policy['policy-string'], policyType, idx, w),
    mxHost: readMxHost(policy['mx-host'], policyType, idx, w),
    successfulSessions,
    failedSessions,
    failureDetails: details,
  };
}

/** Reads an already-parsed JSON value as a report (no size checks: see {@link parseReport}). */
export function reportFromJson(json: unknown): ReportParseResult {
  const w = new Warnings();
  try {
    // RFC 8460 §4.4: the report is one JSON object.
    if (!isObject(json)) {
      throw new ReportRejection('report-not-object', withFix('report-not-object', `the top level is ${Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}`));
    }
    const org = optString(json['organization-name']);
    const id = optString(json['report-id']);
    if (org === null || id === null) {
      throw new ReportRejection('report-id-missing', withFix('report-id-missing', `the report has no ${org === null ? 'organization-name' : 'report-id'} string`));
    }
    let contactInfo: string | null = null;
    if (json['contact-info'] === null) w.add('report-contact-null', 'contact-info is null');
    else contactInfo = optString(json['contact-info']);
    const range = json['date-range'];
    if (!isObject(range)) throw new ReportRejection('report-date-invalid', withFix('report-date-invalid', 'the report has no date-range object'));
    const start = parseDate(range['start-datetime']);
    const end = parseDate(range['end-datetime']);
    if (start === null || end === null) {
      const bad = start === null ? 'start-datetime' : 'end-datetime';
      throw new ReportRejection('report-date-invalid', withFix('report-date-invalid', `date-range.${bad} is ${JSON.stringify(range[bad])?.slice(0, 60) ?? 'missing'}, not an RFC 3339 date-time`));
    }
    if (start.noZone || end.noZone) w.add('report-date-no-timezone', 'the date-range has no timezone; read as UTC');
    if (Date.parse(end.iso) < Date.parse(start.iso)) {
      throw new ReportRejection('report-date-invalid', withFix('report-date-invalid', `date-range ends (${end.iso}) before it starts (${start.iso})`));
    }
    // RFC 8460 §4.4's example ends a day at 23:59:59Z; many senders end it at the next midnight.
    if (end.iso.endsWith('T00:00:00.000Z') && Date.parse(end.iso) - Date.parse(start.iso) === 86_400_000) {
      w.add('report-period-end-midnight', `the period ends at the next midnight (${end.iso.slice(0, 10)}T00:00:00Z) rather than 23:59:59`);
    }
    const policies = json.policies;
    // RFC 8460 §4.4: "policies" is an array with one entry per policy applied.
    if (!Array.isArray(policies) || policies.length === 0) {
      throw new ReportRejection('report-policies-missing', withFix('report-policies-missing', Array.isArray(policies) ? 'policies is an empty array' : 'the report has no policies array'));
    }
    const parsed = policies.map((p, i) => readPolicy(p, i, w));
    return {
      report: { organizationName: org, reportId: id, contactInfo, startDatetime: start.iso, endDatetime: end.iso, policies: parsed },
      warnings: w.list(),
    };
  } catch (err) {
    if (err instanceof ReportRejection) return { report: null, warnings: [], error: { code: err.code, message: err.message } };
    throw err;
  }
}

/**
 * Parses a TLS-RPT report from JSON text (a string or UTF-8 bytes), bounded by `limits`.
 * Never throws for bad input: `error` says why a report was rejected.
 */
export function parseReport(input: string | Buffer, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ReportParseResult {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (bytes > limits.maxJsonBytes) {
    return reject('report-too-large', `the JSON is ${bytes} bytes, over the limit of ${limits.maxJsonBytes}`);
  }
  let text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return reject('report-not-json', 'the input is empty');
  const bound = scanJsonBounds(text, limits);
  if (bound !== null) return { report: null, warnings: [], error: { code: bound.code, message: bound.message } };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return reject('report-not-json', `the input is not valid JSON (${(err as Error).message.slice(0, 120)})`);
  }
  return reportFromJson(json);
}

function reject(code: string, detail: string): ReportParseResult {
  return { report: null, warnings: [], error: { code, message: withFix(code, detail) } };
}

/**
 * Which policy type's totals stand for a policy domain's sessions in one report. A sender that
 * applies both MTA-STS and DANE reports the same sessions under `sts` and under `tlsa`
 * (RFC 8460 §4.4); adding them would count each session twice. We take `sts` when present, then
 * `tlsa`, then `no-policy-found`; the per-type totals stay available separately.
 */
export function countedPolicyType(types: Iterable<ReportPolicyType>): ReportPolicyType {
  const set = new Set(types);
  if (set.has('sts')) return 'sts';
  if (set.has('tlsa')) return 'tlsa';
  return 'no-policy-found';
}
