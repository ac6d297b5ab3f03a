/**
 * One mail message into the report store: find the report part(s), verify DKIM, and hand each
 * part to {@link ingestPayload}, which decodes, parses, dedupes and commits it.
 *
 * A message without a report, or one that cannot be read, becomes one rejected item and stores
 * nothing. Storage failures (the database is down) are thrown, never turned into items, so that a
 * caller marking messages as processed (Maildir, IMAP) does not mark one whose report was not stored.
 */
import type { DnsClient } from '../../dns/resolver.js';
import { DEFAULT_LIMITS, ingestPayload, type ImportItem, type IntakeLimits } from '../ingest.js';
import type { ReportStore } from '../store.js';
import { verifyDkim } from './dkim.js';
import { extractReportParts, MailMessageError } from './message.js';

export interface MailImportOptions {
  /** DNS client for DKIM key lookups (default: the system's resolvers). */
  dns?: DnsClient;
  /** Decoding limits handed to ingestPayload (default DEFAULT_LIMITS). */
  limits?: IntakeLimits;
  /** Largest message read, bytes (default: from limits.maxCompressedBytes, base64 overhead and 1 MiB of headers). */
  maxMessageBytes?: number;
  /** Deadline for parsing one message, ms (default 10000). */
  parseTimeoutMs?: number;
  /** Skip DKIM verification (the result is then recorded as `none` with a detail saying so). */
  skipDkim?: boolean;
  /**
   * Maildir: also import messages already flagged seen (S) in cur/ (default false: they are
   * skipped, as an IMAP poll skips \Seen messages).
   */
  includeSeen?: boolean;
  /** When the message was received (Maildir file time, IMAP INTERNALDATE); default now. */
  receivedAt?: Date;
}

/** Default message size limit for the given decoding limits. */
export function maxMessageBytesFor(limits: IntakeLimits): number {
  // base64 grows the report by 4/3 (plus line ends); leave 1 MiB for headers and text parts.
  return Math.ceil(limits.maxCompressedBytes * 1.4) + (1 << 20);
}

/** A rejected item for a source that held no report (or could not be read). */
export function rejectedItem(source: string, code: string, message: string): ImportItem {
  return { source, status: 'rejected', code, message };
}

/**
 * Imports the report(s) in one raw message. `source` names it in the store and in items
 * (e.g. a file path, `mbox:PATH#N`, `maildir:PATH/cur/NAME`, `imap://HOST/MAILBOX;UID=N`).
 */
export async function importMessage(store: ReportStore, raw: Buffer, source: string, opts: MailImportOptions = {}): Promise<ImportItem[]> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const maxMessageBytes = opts.maxMessageBytes ?? maxMessageBytesFor(limits);
  let found;
  try {
    found = await extractReportParts(raw, { maxMessageBytes, timeoutMs: opts.parseTimeoutMs ?? 10_000 });
  } catch (err) {
    if (err instanceof MailMessageError) return [rejectedItem(source, err.code, err.message)];
    throw err;
  }
  if (found.parts.length === 0) {
    return [rejectedItem(source, 'mail-no-report', found.isTlsrptReport
      ? 'the message is a multipart/report of type tlsrpt but has no application/tlsrpt+gzip or +json part'
      : 'the message holds no TLS-RPT report (no application/tlsrpt+gzip or +json part, no gzip, zip or JSON attachment, no JSON body)')];
  }
  // RFC 8460 §3: mailed reports are DKIM-signed; the result is recorded on each report.
  const dkim = opts.skipDkim
    ? { result: 'none' as const, detail: 'DKIM verification was not run' }
    : await verifyDkim(raw, { ...(opts.dns ? { dns: opts.dns } : {}), submitter: found.submitter });
  const items: ImportItem[] = [];
  for (const [i, part] of found.parts.entries()) {
    // RFC 8460 §5.6: dedupe is on the report's own organization-name and report-id (in ingestPayload);
    // the Subject and the attachment's file name are never used.
    const partSource = found.parts.length > 1 ? `${source}#part=${i + 1}` : source;
    items.push(...await ingestPayload(store, {
      bytes: part.bytes,
      source: partSource,
      transport: 'mail',
      dkim,
      // RFC 8460 §5.3: the TLS-Report-Domain header names the policy domain the report is about.
      reportDomain: found.reportDomain,
      receivedAt: opts.receivedAt ?? new Date(),
    }, limits));
  }
  return items;
}
