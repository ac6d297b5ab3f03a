/**
 * Polling an IMAP mailbox (RFC 9051) for mailed reports, with imapflow.
 *
 * One poll: connect (implicit TLS, or STARTTLS which is then required, certificates checked against
 * the system store or the given CA list), select the mailbox, search for messages not yet processed
 * (not `\Seen`, or without the configured `flag`), and import each. A message is marked processed
 * only after its reports are committed: the flag is added (default `\Seen`), or the message is
 * moved to `processedMailbox`. Nothing is deleted. Messages without a report, or whose report is
 * rejected, are left unmarked, so they stay visible and are reported again on the next poll.
 *
 * Bounded: connection, greeting and inactivity timeouts; the message size is checked (RFC822.SIZE)
 * before the message is fetched, and imapflow refuses any literal over the size limit.
 *
 * @example
 * ```ts
 * const items = await pollImap(store, { host: 'imap.example.com', user: 'tlsrpt', pass: '…', mailbox: 'INBOX' });
 * ```
 */
import { ImapFlow } from 'imapflow';
import { DEFAULT_LIMITS, type ImportItem } from '../ingest.js';
import type { ReportStore } from '../store.js';
import { importMessage, maxMessageBytesFor, rejectedItem, type MailImportOptions } from './import-message.js';

export interface ImapSourceConfig {
  host: string;
  /** Default 993 with `secure`, else 143. */
  port?: number;
  /** Implicit TLS (IMAPS). Default: true on port 993, else false (then STARTTLS). */
  secure?: boolean;
  /** Without `secure`: require STARTTLS (default true); false allows a cleartext session (loopback, tests). */
  starttls?: boolean;
  user: string;
  pass: string;
  /** Default `INBOX`. */
  mailbox?: string;
  /** CA certificates (PEM) to trust instead of the system store. */
  ca?: string[];
  /** Move processed messages here (created when missing) instead of flagging them. */
  processedMailbox?: string;
  /** The flag that marks a processed message (default `\Seen`); messages with it are not fetched. */
  flag?: string;
  /** Connection, greeting and per-command inactivity timeout, ms (default 30000). */
  timeoutMs?: number;
  /** Most messages imported in one poll (default 1000); the rest wait for the next poll. */
  maxMessages?: number;
  /** TLS server name to verify, when `host` is an address (default: host). */
  servername?: string;
}

/** A poll that could not run: connection, TLS, login or mailbox failure. */
export class ImapPollError extends Error {
  override readonly name = 'ImapPollError';
  constructor(readonly code: 'imap-connect' | 'imap-mailbox' | 'imap-command', message: string) {
    super(message);
  }
}

function stored(items: ImportItem[]): boolean {
  return items.length > 0 && items.every((i) => i.status === 'imported' || i.status === 'duplicate');
}

function describe(err: unknown): string {
  const e = err as { message?: string; responseText?: string; code?: string; authenticationFailed?: boolean };
  if (e.authenticationFailed) return `authentication failed${e.responseText ? `: ${e.responseText}` : ''}`;
  return [e.code, e.responseText ?? e.message].filter(Boolean).join(': ');
}

export async function pollImap(store: ReportStore, cfg: ImapSourceConfig, opts: MailImportOptions = {}): Promise<ImportItem[]> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const maxBytes = opts.maxMessageBytes ?? maxMessageBytesFor(limits);
  const timeout = cfg.timeoutMs ?? 30_000;
  const secure = cfg.secure ?? cfg.port === 993;
  const port = cfg.port ?? (secure ? 993 : 143);
  const mailbox = cfg.mailbox ?? 'INBOX';
  const flag = cfg.flag ?? '\\Seen';
  const where = `${cfg.host}:${port}`;
  const client = new ImapFlow({
    host: cfg.host,
    port,
    secure,
    ...(secure ? {} : { doSTARTTLS: cfg.starttls ?? true }),
    ...(cfg.servername ? { servername: cfg.servername } : {}),
    auth: { user: cfg.user, pass: cfg.pass },
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(cfg.ca && cfg.ca.length > 0 ? { ca: cfg.ca } : {}) },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    maxLiteralSize: maxBytes,
    maxResponseSize: maxBytes + (1 << 20),
  });
  // Errors after connect (a dropped socket) surface through the pending command; keep the event quiet.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw new ImapPollError('imap-connect', `IMAP ${where}: ${describe(err)}`);
  }
  /** Runs one IMAP command, naming its failure as one (a store failure stays what it is). */
  const imap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new ImapPollError('imap-command', `IMAP ${where}: ${what} failed: ${describe(err)}`);
    }
  };
  const items: ImportItem[] = [];
  try {
    if (cfg.processedMailbox) {
      try {
        await client.mailboxCreate(cfg.processedMailbox);
      } catch (err) {
        // ALREADYEXISTS (RFC 5530) is what we want; anything else is reported when the move fails.
        void err;
      }
    }
    let lock;
    try {
      lock = await client.getMailboxLock(mailbox);
    } catch (err) {
      throw new ImapPollError('imap-mailbox', `IMAP ${where}: cannot open mailbox "${mailbox}": ${describe(err)}`);
    }
    try {
      const query = flag.toLowerCase() === '\\seen' ? { seen: false } : { unKeyword: flag };
      const found = await imap('SEARCH', () => client.search(query, { uid: true }));
      const uids = (found || []).sort((a, b) => a - b).slice(0, cfg.maxMessages ?? 1000);
      for (const uid of uids) {
        const source = `imap://${cfg.host}/${encodeURIComponent(mailbox)};UID=${uid}`;
        const meta = await imap(`FETCH UID ${uid}`, () => client.fetchOne(String(uid), { size: true, internalDate: true }, { uid: true }));
        if (!meta) continue; // expunged meanwhile
        if (meta.size !== undefined && meta.size > maxBytes) {
          items.push(rejectedItem(source, 'mail-too-large', `the message is ${meta.size} bytes, more than the limit of ${maxBytes}`));
          continue;
        }
        const msg = await imap(`FETCH UID ${uid}`, () => client.fetchOne(String(uid), { source: true }, { uid: true }));
        if (!msg || !msg.source) continue;
        const internal = meta.internalDate instanceof Date ? meta.internalDate : meta.internalDate ? new Date(meta.internalDate) : undefined;
        const got = await importMessage(store, msg.source, source, { ...opts, ...(internal && !Number.isNaN(internal.getTime()) ? { receivedAt: internal } : {}) });
        items.push(...got);
        if (!stored(got)) continue;
        // Only now, with the reports committed, is the message marked processed.
        if (cfg.processedMailbox) {
          const moved = await imap(`MOVE UID ${uid}`, () => client.messageMove(String(uid), cfg.processedMailbox!, { uid: true }));
          if (!moved) throw new ImapPollError('imap-command', `IMAP ${where}: moving UID ${uid} to "${cfg.processedMailbox}" failed`);
        } else {
          await imap(`STORE UID ${uid}`, () => client.messageFlagsAdd(String(uid), [flag], { uid: true }));
        }
      }
    } finally {
      lock.release();
    }
  } catch (err) {
    // An IMAP failure is an ImapPollError; a store failure propagates as it is.
    client.close();
    throw err;
  }
  try {
    await client.logout();
  } catch {
    client.close();
  }
  return items;
}
