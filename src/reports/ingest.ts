/**
 * The one way into the report store: every intake path (files, mail, IMAP, HTTPS POST) hands its
 * payload to {@link ingestPayload}, which decodes it by content (gzip, zip or JSON; bounded and
 * streamed), parses it (RFC 8460 §4), dedupes it on (organization-name, report-id) from the JSON
 * (RFC 8460 §5.6: the body wins over a Subject or file name) and commits it before resolving.
 *
 * A rejected payload stores nothing and comes back as an item with a `report-*` code and a message.
 *
 * @example
 * ```ts
 * const store = await ReportStore.open('mtasts.db');
 * const [item] = await ingestPayload(store, { bytes: await readFile('r.json.gz'), source: 'r.json.gz', transport: 'file' });
 * item.status; // 'imported' | 'duplicate' | 'rejected'
 * ```
 */
import { gzip as gzipCb, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { parseReport, type ReportWarning } from '../tlsrpt/report.js';
import { decodePayload, IntakeError } from './decode.js';
import type { DkimInfo, ReportStore, StoredReportInput, Transport } from './store.js';

export { IntakeError } from './decode.js';
export type { ReportWarning } from '../tlsrpt/report.js';

const gzip = promisify(gzipCb) as (data: Buffer, opts: { level: number }) => Promise<Buffer>;

export interface ReportPayload {
  /** Raw content as found: JSON, gzip or zip (sniffed by content). */
  bytes: Buffer;
  /** Printable origin: a file path, "mbox:PATH#N", "maildir:PATH/cur/NAME", "imap://HOST/MAILBOX;UID=N", "https:REMOTE_ADDR". */
  source: string;
  transport: Transport;
  dkim?: DkimInfo;
  /** The mail TLS-Report-Domain header, when known. */
  reportDomain?: string | null;
  receivedAt?: Date;
}

export interface ImportItem {
  source: string;
  status: 'imported' | 'duplicate' | 'rejected';
  organization?: string;
  reportId?: string;
  warnings?: ReportWarning[];
  /** For a rejected item: the reject code (docs/findings.md) and what was wrong. */
  code?: string;
  message?: string;
}

export interface IntakeLimits {
  /** Largest payload as received (compressed or not), bytes. */
  maxCompressedBytes: number;
  /** Largest report JSON after decompression, bytes. */
  maxJsonBytes: number;
  /** Deepest JSON nesting. */
  maxDepth: number;
  /** Most JSON values in one report. */
  maxElements: number;
}

/** Real reports are kilobytes; a large sender's daily report for a big domain stays well under these. */
export const DEFAULT_LIMITS: IntakeLimits = {
  maxCompressedBytes: 8 << 20,
  maxJsonBytes: 8 << 20,
  maxDepth: 32,
  maxElements: 500_000,
};

function rejected(source: string, code: string, message: string): ImportItem {
  return { source, status: 'rejected', code, message };
}

/** A report decoded and parsed, ready for {@link ReportStore.insert}. */
export interface PreparedReport {
  input: StoredReportInput;
  source: string;
}

/**
 * The first half of {@link ingestPayload}: decodes and parses, storing nothing. Gives, in order,
 * a rejected item or a prepared report for each report in the payload.
 */
export async function prepareIngest(payload: ReportPayload, limits: IntakeLimits = DEFAULT_LIMITS): Promise<(ImportItem | PreparedReport)[]> {
  const { source } = payload;
  if (payload.bytes.length > limits.maxCompressedBytes) {
    return [rejected(source, 'report-too-large', `the payload is ${payload.bytes.length} bytes, over the limit of ${limits.maxCompressedBytes}`)];
  }
  let decoded;
  try {
    decoded = await decodePayload(payload.bytes, limits);
  } catch (err) {
    if (err instanceof IntakeError) return [rejected(source, err.code, err.message)];
    throw err;
  }
  const receivedAt = payload.receivedAt ?? new Date();
  const out: (ImportItem | PreparedReport)[] = [];
  for (const d of decoded) {
    const itemSource = decoded.length > 1 && d.entry !== undefined ? `${source}#${d.entry}` : source;
    const parsed = parseReport(d.json, limits);
    if (parsed.report === null) {
      out.push(rejected(itemSource, parsed.error?.code ?? 'report-not-json', parsed.error?.message ?? 'the report cannot be read'));
      continue;
    }
    out.push({
      source: itemSource,
      input: {
        report: parsed.report,
        warnings: parsed.warnings,
        // A gzip payload is kept as it came; JSON and zip entries are compressed here, at a fast
        // level (the raw copy is for audits and re-parsing, not for storage efficiency).
        rawGzip: d.gzip ?? (d.json.length <= 64 * 1024 ? gzipSync(d.json, RAW_GZIP) : await gzip(d.json, RAW_GZIP)),
        source: itemSource,
        transport: payload.transport,
        dkim: payload.dkim,
        reportDomain: payload.reportDomain ?? null,
        receivedAt,
      },
    });
  }
  return out;
}

/** zlib options for the raw copy of a report that did not come as gzip. */
const RAW_GZIP = { level: 1 };

/** The second half of {@link ingestPayload}: stores a prepared report, resolving after its commit. */
export async function commitPrepared(store: ReportStore, p: PreparedReport): Promise<ImportItem> {
  const outcome = await store.insert(p.input);
  const r = p.input.report;
  return { source: p.source, status: outcome.status, organization: r.organizationName, reportId: r.reportId, warnings: p.input.warnings };
}

export const isPrepared = (x: ImportItem | PreparedReport): x is PreparedReport => 'input' in x;

/**
 * Decodes, parses, dedupes and durably stores the report(s) in one payload. One item per report
 * found (a zip may hold several), or one rejected item when none could be taken in. Storage
 * failures (the database is down) are thrown, never turned into items.
 */
export async function ingestPayload(store: ReportStore, payload: ReportPayload, limits: IntakeLimits = DEFAULT_LIMITS): Promise<ImportItem[]> {
  const prepared = await prepareIngest(payload, limits);
  return Promise.all(prepared.map((p) => (isPrepared(p) ? commitPrepared(store, p) : p)));
}
