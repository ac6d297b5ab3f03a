/**
 * Mail intake of TLS-RPT reports (RFC 8460 §3, §5.3): one message (`.eml`), an mbox file, a
 * Maildir folder, or an IMAP mailbox. Every path reads messages the same way (a fast path for the
 * RFC 8460 §5.3 shape, mailparser for everything else), verifies DKIM with mailauth through our DNS
 * client (key records cached per client for a minute), and hands the report part(s) to
 * `ingestPayload`, so each report lands in the same store and counts once however it arrived.
 *
 * @example
 * ```ts
 * const store = await ReportStore.open(databaseSpec());
 * const items = [
 *   ...await importMessage(store, await readFile('report.eml'), 'report.eml'),
 *   ...await importMbox(store, '/var/mail/tlsrpt'),
 *   ...await importMaildir(store, '/home/tlsrpt/Maildir'),
 *   ...await pollImap(store, { host: 'imap.example.com', user: 'tlsrpt', pass: secret }),
 * ];
 * ```
 */
import type { ImportItem } from '../ingest.js';
import { DEFAULT_LIMITS } from '../ingest.js';
import type { ReportStore } from '../store.js';
import { importMessage, maxMessageBytesFor, rejectedItem, type MailImportOptions } from './import-message.js';
import { readMbox } from './mbox.js';

export { importMessage, maxMessageBytesFor, type MailImportOptions } from './import-message.js';
export { importMaildir, isMaildir, withSeenFlag } from './maildir.js';
export { pollImap, ImapPollError, type ImapSourceConfig } from './imap.js';
export { looksLikeMbox, readMbox, readHead, type MboxMessage } from './mbox.js';
export { extractReportParts, extractSimpleReport, sniffContainer, MailMessageError, type ExtractedReports, type ReportPart } from './message.js';
export { verifyDkim, mailauthResolver, type DkimOutcome, type DkimResultName } from './dkim.js';

/**
 * Imports every message of an mbox file, streaming it (memory bounded by the message size limit).
 * Items are named `mbox:PATH#N`, N counting messages from 1.
 */
export async function importMbox(store: ReportStore, file: string, opts: MailImportOptions = {}): Promise<ImportItem[]> {
  const maxMessageBytes = opts.maxMessageBytes ?? maxMessageBytesFor(opts.limits ?? DEFAULT_LIMITS);
  const items: ImportItem[] = [];
  let any = false;
  for await (const m of readMbox(file, { maxMessageBytes })) {
    any = true;
    const source = `mbox:${file}#${m.index}`;
    if (m.raw === undefined) {
      items.push(rejectedItem(source, 'mail-too-large', `the message is ${m.size} bytes, more than the limit of ${maxMessageBytes}`));
      continue;
    }
    items.push(...await importMessage(store, m.raw, source, opts));
  }
  if (!any) items.push(rejectedItem(`mbox:${file}`, 'mail-no-report', 'the mbox file holds no messages'));
  return items;
}

/** A header field name as real messages use them (a token; RFC 5322 §3.6.8 allows more, JSON would match that). */
const HEADER_LINE = /^[A-Za-z0-9][A-Za-z0-9!#$%&'*+.^_`|~-]*:/;

/**
 * True when the bytes start like an RFC 5322 message: a block of header fields (`Name: value`,
 * continuation lines starting with white space) with at least two fields, or one field followed by
 * the empty line that ends the header. Used to tell a `.eml` from a JSON or gzip report file.
 */
export function looksLikeMessage(head: Buffer): boolean {
  const text = head.subarray(0, 8192).toString('latin1');
  const lines = text.split(/\r?\n/);
  let fields = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') return fields >= 1 && i < lines.length - 1;
    if (line[0] === ' ' || line[0] === '\t') {
      if (fields === 0) return false;
      continue;
    }
    if (!HEADER_LINE.test(line)) return i === lines.length - 1 ? fields >= 2 : false;
    fields++;
  }
  return fields >= 2;
}
