/**
 * Alert delivery for `mtasts monitor`: a durable outbox in the shared SQL database, drained to
 * webhooks and to an email digest.
 *
 * - **Outbox.** The monitor calls {@link AlertOutbox.enqueue} inside the transaction that stores a
 *   round's events, so a round's alerts exist exactly when its events do. Each configured channel
 *   (every webhook, the email digest) gets one row per round in `monitor_outbox`, its id (the
 *   delivery id) a hash of round and channel: re-enqueueing the same round adds nothing.
 * - **Delivery.** {@link AlertOutbox.deliverDue} claims due rows, sends them, and marks them
 *   delivered; a failure (non-2xx, timeout, connection or SMTP error) is retried with capped
 *   exponential backoff with jitter, in later calls, later rounds and after a restart, until it is
 *   delivered. After one failure, a channel's other rows wait for that channel's next attempt
 *   instead of timing out one after another.
 * - **Several processes (PostgreSQL).** A row is claimed with one `UPDATE … WHERE id IN (SELECT …
 *   FOR UPDATE SKIP LOCKED) RETURNING`, which sets `claimed_until`; another process skips it until
 *   the claim expires (a process killed mid-delivery leaves its rows to be claimed again later).
 * - **Dedupe.** Delivery is at least once. Every event carries its stable `id`; webhooks also get the
 *   delivery id in `X-Mtasts-Delivery`, and mail a `Message-ID` derived from it.
 *
 * Webhook request: `POST`, `Content-Type: application/json`, body `{"text": "<one line>", "events":
 * [MonitorEvent, …]}`; with a `secret`, `X-Mtasts-Signature: sha256=<hex HMAC-SHA256 of the body
 * bytes>`. The body is rendered once, at enqueue, so every retry sends the same bytes.
 *
 * @example
 * ```ts
 * const outbox = new AlertOutbox(db, { webhooks: [{ url: 'https://hooks.example/x', secret: 's3cret' }] });
 * await outbox.init();
 * await db.transaction((tx) => outbox.enqueue(tx, events, roundId));
 * const { delivered, failed } = await outbox.deliverDue();
 * ```
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import type { SqlDatabase, SqlExecutor } from '../store/sql.js';
import type { AlertsConfig } from './config.js';
import type { MonitorEvent } from './events.js';

export type { AlertsConfig } from './config.js';

/** What the outbox logs through (a pino logger fits). */
export interface AlertLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface AlertOutboxOptions {
  now?: () => Date;
  /** First retry delay, ms (default 30 s); doubled per failed attempt. */
  retryBaseMs?: number;
  /** Longest retry delay, ms (default 1 h). */
  retryMaxMs?: number;
  /** Rows claimed per batch (default 20). */
  batchSize?: number;
  /** Most rows one deliverDue call handles (default 1000). */
  maxPerCall?: number;
  /** Delivered rows are deleted this long after delivery, ms (default 30 days). */
  keepDeliveredMs?: number;
}

/** The body of a webhook POST (and the content of a digest). */
export interface AlertPayload {
  text: string;
  events: MonitorEvent[];
}

export interface OutboxRow {
  id: string;
  roundId: string;
  channel: string;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  deliveredAt: string | null;
  lastError: string | null;
}

const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
const DEFAULT_SMTP_TIMEOUT_MS = 30_000;
/** Webhook responses are read up to this many bytes (kept for the error message), then dropped. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_CHARS = 500;

const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** The channel key of a webhook: a hash of its URL (URLs of chat webhooks are secrets themselves). */
export function webhookChannel(url: string): string {
  return `webhook:${sha(url).slice(0, 16)}`;
}
export const EMAIL_CHANNEL = 'email';

/** The delivery id of a round on a channel: stable, so re-enqueueing a round adds nothing. */
export function deliveryId(roundId: string, channel: string): string {
  return `d-${sha(`${roundId}\n${channel}`).slice(0, 32)}`;
}

/** `sha256=<hex>`: the X-Mtasts-Signature of a body. */
export function signBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Control characters (line breaks included) out of text bound for one-line fields. */
const oneLine = (s: string): string => s.replace(/[\u0000-\u001f\u007f]+/g, ' ');

const STATE_VERB: Record<MonitorEvent['state'], string> = { open: 'opened', resolved: 'resolved', notice: 'notice' };

/** Counts by state, e.g. "2 opened, 1 resolved, 1 notice". */
function stateCounts(events: readonly MonitorEvent[]): string {
  const n = { open: 0, resolved: 0, notice: 0 };
  for (const e of events) n[e.state]++;
  const parts: string[] = [];
  if (n.open) parts.push(`${n.open} opened`);
  if (n.resolved) parts.push(`${n.resolved} resolved`);
  if (n.notice) parts.push(`${n.notice} notice${n.notice === 1 ? '' : 's'}`);
  return parts.join(', ');
}

/** The one-line human summary (`text`): counts, then the first few events. Bounded in length. */
export function summaryLine(events: readonly MonitorEvent[]): string {
  const head = `mtasts: ${events.length} event${events.length === 1 ? '' : 's'} (${stateCounts(events)})`;
  const shown = events.slice(0, 3).map((e) => `${e.domain} ${e.code}${e.subject ? ` (${e.subject})` : ''} ${STATE_VERB[e.state]}`);
  const more = events.length > shown.length ? `; +${events.length - shown.length} more` : '';
  return oneLine(`${head}: ${shown.join('; ')}${more}`).slice(0, 1000);
}

/** The webhook body, exactly as sent and signed. */
export function renderPayload(events: readonly MonitorEvent[]): string {
  const payload: AlertPayload = { text: summaryLine(events), events: [...events] };
  return JSON.stringify(payload);
}

/** The digest's subject: counts and domains, one line. */
export function digestSubject(events: readonly MonitorEvent[]): string {
  const domains = [...new Set(events.map((e) => e.domain))];
  const names = domains.slice(0, 3).join(', ') + (domains.length > 3 ? ` +${domains.length - 3} more` : '');
  return oneLine(`[mtasts] ${events.length} event${events.length === 1 ? '' : 's'}: ${stateCounts(events)} (${names})`).slice(0, 250);
}

/** The digest's plain-text body: every event with its message (which says how to fix it) and id. */
export function digestText(events: readonly MonitorEvent[], delivery: string): string {
  const lines = [`mtasts monitor: ${events.length} event${events.length === 1 ? '' : 's'} (${stateCounts(events)}).`, ''];
  for (const e of events) {
    lines.push(oneLine(`${STATE_VERB[e.state].toUpperCase()} ${e.severity} ${e.domain}: ${e.code}${e.subject ? ` (${e.subject})` : ''}`));
    lines.push(`  ${oneLine(e.message)}`);
    lines.push(`  at ${oneLine(e.at)}${e.openedAt ? `, open since ${oneLine(e.openedAt)}` : ''}; event id ${oneLine(e.id)}`);
    lines.push('');
  }
  lines.push(`Delivery ${delivery}. Delivery is at least once: dedupe on the event id.`);
  return lines.join('\n');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The digest's HTML body: the same content as the text, every string escaped. */
export function digestHtml(events: readonly MonitorEvent[], delivery: string): string {
  const rows = events.map((e) => `<tr><td>${escapeHtml(STATE_VERB[e.state])}</td><td>${escapeHtml(e.severity)}</td><td>${escapeHtml(e.domain)}</td>`
    + `<td><code>${escapeHtml(e.code)}</code>${e.subject ? ` (${escapeHtml(e.subject)})` : ''}</td><td>${escapeHtml(e.message)}</td>`
    + `<td>${escapeHtml(e.at)}</td><td><code>${escapeHtml(e.id)}</code></td></tr>`);
  return `<!doctype html><html><body><p>mtasts monitor: ${events.length} event${events.length === 1 ? '' : 's'} (${escapeHtml(stateCounts(events))}).</p>`
    + '<table border="1" cellpadding="4" cellspacing="0"><tr><th>State</th><th>Severity</th><th>Domain</th><th>Code</th><th>What and how to fix</th><th>At</th><th>Event id</th></tr>'
    + `${rows.join('')}</table><p>Delivery ${escapeHtml(delivery)}. Delivery is at least once: dedupe on the event id.</p></body></html>`;
}

/** A failed delivery, with a short printable reason. */
export class DeliveryError extends Error {
  constructor(message: string) {
    super(message.slice(0, MAX_ERROR_CHARS));
    this.name = 'DeliveryError';
  }
}

/** POSTs a body to a webhook; resolves on 2xx, throws DeliveryError otherwise (status, timeout, network). */
export async function postWebhook(hook: AlertsConfig['webhooks'][number], body: string, delivery: string): Promise<void> {
  const url = new URL(hook.url);
  const timeoutMs = hook.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const bytes = Buffer.from(body, 'utf8');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(bytes.length),
    'user-agent': 'mtasts-monitor',
    'x-mtasts-delivery': delivery,
  };
  if (hook.secret) headers['x-mtasts-signature'] = signBody(bytes, hook.secret);
  const mod = url.protocol === 'https:' ? https : http;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    // One deadline for the whole exchange: connect, send, response and its (bounded) body.
    const timer = setTimeout(() => {
      req.destroy();
      done(new DeliveryError(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const req = mod.request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (): void => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return done();
        const text = Buffer.concat(chunks).toString('utf8').slice(0, 200);
        done(new DeliveryError(`HTTP ${status}${text.trim() ? `: ${oneLine(text.trim())}` : ''}`));
      };
      res.on('data', (c: Buffer) => {
        if (size < MAX_RESPONSE_BYTES) chunks.push(c.subarray(0, MAX_RESPONSE_BYTES - size));
        size += c.length;
        // Enough read to judge and report: stop reading an endless response.
        if (size >= MAX_RESPONSE_BYTES) {
          res.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', (err) => done(new DeliveryError(err.message)));
      res.on('close', () => { if (!res.complete) finish(); });
    });
    req.on('error', (err) => done(new DeliveryError(err.message)));
    req.end(bytes);
  });
}

/** The nodemailer transport options for an `smtp://` / `smtps://` URL. */
export function smtpTransportOptions(email: NonNullable<AlertsConfig['email']>): Record<string, unknown> {
  const url = new URL(email.smtp);
  const secure = url.protocol === 'smtps:';
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const pass = url.password ? decodeURIComponent(url.password) : undefined;
  const timeoutMs = email.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
  // Credentials are never sent in the clear: with auth, STARTTLS defaults to required.
  const starttls = email.starttls ?? (user ? 'required' : 'opportunistic');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: url.port ? Number(url.port) : secure ? 465 : 25,
    secure,
    requireTLS: !secure && starttls === 'required',
    ignoreTLS: !secure && starttls === 'never',
    ...(user ? { auth: { user, pass: pass ?? '' } } : {}),
    tls: { ...(email.ca ? { ca: email.ca } : {}), ...(isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2' },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
  };
}

/** Sends one digest; throws DeliveryError on any SMTP failure. */
export async function sendDigest(email: NonNullable<AlertsConfig['email']>, events: readonly MonitorEvent[], delivery: string): Promise<void> {
  const transport = nodemailer.createTransport(smtpTransportOptions(email));
  try {
    await transport.sendMail({
      from: email.from,
      to: email.to,
      subject: digestSubject(events),
      text: digestText(events, delivery),
      html: digestHtml(events, delivery),
      // Re-sending the same delivery gives the same Message-ID: mail systems and people can dedupe.
      messageId: `<${delivery}@mtasts.monitor>`,
      headers: { 'X-Mtasts-Delivery': delivery },
    });
  } catch (err) {
    throw new DeliveryError(`SMTP: ${(err as Error).message}`);
  } finally {
    transport.close();
  }
}

interface ClaimedRow {
  id: string;
  claim: string;
  round_id: string;
  channel: string;
  payload: string;
  attempts: number;
}

/** The durable alert outbox (see the module comment). */
export class AlertOutbox {
  private readonly now: () => Date;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly batchSize: number;
  private readonly maxPerCall: number;
  private readonly claimMs: number;
  private readonly sendMs: number;
  private readonly keepDeliveredMs: number;
  private lastPrune = 0;

  constructor(
    private readonly db: SqlDatabase,
    private readonly cfg: AlertsConfig,
    private readonly log?: AlertLog,
    opts: AlertOutboxOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.retryBaseMs = opts.retryBaseMs ?? 30_000;
    this.retryMaxMs = Math.max(this.retryBaseMs, opts.retryMaxMs ?? 3_600_000);
    this.batchSize = opts.batchSize ?? 20;
    this.maxPerCall = opts.maxPerCall ?? 1000;
    this.keepDeliveredMs = opts.keepDeliveredMs ?? 30 * 86_400_000;
    // The longest one send may take; a claim covers a batch of one channel sent one after another.
    // A process that dies leaves its rows claimed that long at most; each send first renews its
    // row's claim (see renew), so a claim that ran out is never sent twice at once.
    this.sendMs = Math.max(DEFAULT_WEBHOOK_TIMEOUT_MS, ...cfg.webhooks.map((w) => w.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS),
      cfg.email ? (cfg.email.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS) * 2 : 0) + 5_000;
    this.claimMs = this.sendMs * this.batchSize + 60_000;
  }

  /** The channels configured now. */
  channels(): string[] {
    return [...new Set(this.cfg.webhooks.map((w) => webhookChannel(w.url))), ...(this.cfg.email ? [EMAIL_CHANNEL] : [])];
  }

  /** Creates `monitor_outbox` when missing (idempotent). */
  async init(): Promise<void> {
    await initOutboxSchema(this.db);
  }

  /** Adds one delivery per configured channel for a round's events. Call inside the round's transaction. */
  async enqueue(tx: SqlExecutor, events: MonitorEvent[], roundId: string): Promise<void> {
    if (events.length === 0) return;
    const payload = renderPayload(events);
    const at = this.now().toISOString();
    for (const channel of this.channels()) {
      await tx.run(
        `INSERT INTO monitor_outbox (id, round_id, channel, payload, events, attempts, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [deliveryId(roundId, channel), roundId, channel, payload, events.length, at, at],
      );
    }
  }

  /** Sends every due delivery once; failures are rescheduled with backoff. */
  async deliverDue(): Promise<{ delivered: number; failed: number }> {
    let delivered = 0;
    let failed = 0;
    let handled = 0;
    // Channels that failed during this call: their remaining rows wait for the next attempt.
    const down = new Map<string, string>();
    while (handled < this.maxPerCall) {
      const rows = await this.claim(Math.min(this.batchSize, this.maxPerCall - handled), [...this.channels()].filter((c) => !down.has(c)));
      if (rows.length === 0) break;
      handled += rows.length;
      const byChannel = new Map<string, ClaimedRow[]>();
      for (const r of rows) byChannel.set(r.channel, [...(byChannel.get(r.channel) ?? []), r]);
      // Channels in parallel; one channel's rows in order.
      await Promise.all([...byChannel].map(async ([channel, list]) => {
        for (const row of list) {
          const until = down.get(channel);
          if (until !== undefined) {
            await this.release(row, until);
            continue;
          }
          // Claim ran out and another process took the row: it is theirs now.
          if (!(await this.renew(row))) continue;
          try {
            await this.send(row);
            await this.markDelivered(row);
            delivered++;
            this.log?.info({ delivery: row.id, channel, round: row.round_id, attempts: row.attempts + 1 }, 'alert delivered');
          } catch (err) {
            failed++;
            const next = await this.markFailed(row, (err as Error).message);
            down.set(channel, next);
            this.log?.warn({ delivery: row.id, channel, round: row.round_id, attempts: row.attempts + 1, next, err: (err as Error).message }, 'alert delivery failed; will retry');
          }
        }
      }));
    }
    await this.pruneDelivered();
    return { delivered, failed };
  }

  /** Deletes rows delivered longer ago than `keepDeliveredMs` (at most once an hour). */
  private async pruneDelivered(): Promise<void> {
    if (Date.now() - this.lastPrune < 3_600_000) return;
    this.lastPrune = Date.now();
    const before = new Date(this.now().getTime() - this.keepDeliveredMs).toISOString();
    await this.db.run('DELETE FROM monitor_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?', [before]);
  }

  /** Deliveries not yet delivered (oldest first), for status and tests. */
  async pending(limit = 100): Promise<OutboxRow[]> {
    const rows = await this.db.query<{ id: string; round_id: string; channel: string; attempts: number; created_at: string; next_attempt_at: string; delivered_at: string | null; last_error: string | null }>(
      `SELECT id, round_id, channel, attempts, created_at, next_attempt_at, delivered_at, last_error FROM monitor_outbox
       WHERE delivered_at IS NULL ORDER BY created_at, id LIMIT ${Math.max(1, Math.min(limit, 10_000))}`);
    return rows.map((r) => ({
      id: r.id, roundId: r.round_id, channel: r.channel, attempts: Number(r.attempts), createdAt: r.created_at,
      nextAttemptAt: r.next_attempt_at, deliveredAt: r.delivered_at, lastError: r.last_error,
    }));
  }

  /** Claims due rows of the given channels; rows of channels no longer configured stay pending. */
  private async claim(limit: number, channels: string[]): Promise<ClaimedRow[]> {
    if (channels.length === 0 || limit <= 0) return [];
    const now = this.now();
    const nowIso = now.toISOString();
    const until = new Date(now.getTime() + this.claimMs).toISOString();
    const claim = randomBytes(8).toString('hex');
    const marks = channels.map(() => '?').join(', ');
    // PostgreSQL: rows locked by another process's claim are skipped, not waited for; the outer
    // WHERE re-checks the claim, so a row is never claimed by two processes at once.
    const skipLocked = this.db.kind === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const rows = await this.db.query<ClaimedRow>(
      `UPDATE monitor_outbox SET claimed_until = ?, claim = ?
       WHERE id IN (SELECT id FROM monitor_outbox
                    WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) AND channel IN (${marks})
                    ORDER BY created_at, id LIMIT ${Math.floor(limit)}${skipLocked})
         AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)
       RETURNING id, round_id, channel, payload, attempts, claim`,
      [until, claim, nowIso, nowIso, ...channels, nowIso],
    );
    for (const r of rows) r.attempts = Number(r.attempts);
    return rows.sort((a, b) => (a.id < b.id ? -1 : 1)).sort((a, b) => a.round_id.localeCompare(b.round_id));
  }

  /** Extends this process's claim on a row for one send; false when the claim was lost. */
  private async renew(row: ClaimedRow): Promise<boolean> {
    const until = new Date(this.now().getTime() + this.sendMs).toISOString();
    const r = await this.db.run(
      'UPDATE monitor_outbox SET claimed_until = CASE WHEN claimed_until < ? THEN ? ELSE claimed_until END WHERE id = ? AND claim = ? AND delivered_at IS NULL',
      [until, until, row.id, row.claim]);
    return r.changes > 0;
  }

  private async send(row: ClaimedRow): Promise<void> {
    if (row.channel === EMAIL_CHANNEL) {
      if (!this.cfg.email) throw new DeliveryError('email is no longer configured');
      const payload = JSON.parse(row.payload) as AlertPayload;
      return sendDigest(this.cfg.email, payload.events, row.id);
    }
    const hook = this.cfg.webhooks.find((w) => webhookChannel(w.url) === row.channel);
    if (!hook) throw new DeliveryError('webhook no longer configured');
    return postWebhook(hook, row.payload, row.id);
  }

  private async markDelivered(row: ClaimedRow): Promise<void> {
    await this.db.run(
      'UPDATE monitor_outbox SET delivered_at = ?, attempts = attempts + 1, claimed_until = NULL, claim = NULL, last_error = NULL WHERE id = ?',
      [this.now().toISOString(), row.id],
    );
  }

  /** Records a failure; returns when the next attempt is due. */
  private async markFailed(row: ClaimedRow, error: string): Promise<string> {
    const attempts = row.attempts + 1;
    const next = new Date(this.now().getTime() + backoffMs(attempts, this.retryBaseMs, this.retryMaxMs)).toISOString();
    await this.db.run(
      'UPDATE monitor_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_until = NULL, claim = NULL WHERE id = ? AND delivered_at IS NULL',
      [attempts, next, error.slice(0, MAX_ERROR_CHARS), row.id],
    );
    return next;
  }

  /** Gives a row back without an attempt, due no earlier than `next` (its channel just failed). */
  private async release(row: ClaimedRow, next: string): Promise<void> {
    await this.db.run(
      'UPDATE monitor_outbox SET claimed_until = NULL, claim = NULL, next_attempt_at = CASE WHEN next_attempt_at < ? THEN ? ELSE next_attempt_at END WHERE id = ? AND delivered_at IS NULL',
      [next, next, row.id],
    );
  }
}

/**
 * The delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, then jittered down to
 * between half and all of it, so many failed deliveries do not retry in lockstep.
 */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempts - 1), 40));
  return Math.round(raw * (0.5 + 0.5 * random()));
}

export interface OutboxSummary {
  /** Deliveries not yet delivered. */
  pending: number;
  /** Of those, how many failed at least once. */
  failing: number;
  /** When the oldest pending delivery was enqueued (null: none pending). */
  oldestPending: string | null;
  /** The most recent failure's message (null: none pending with an error). */
  lastError: string | null;
}

/** The outbox at a glance (status pages); zeros when the table does not exist yet. */
export async function outboxSummary(db: SqlExecutor): Promise<OutboxSummary> {
  try {
    const [row] = await db.query<{ pending: number; failing: number; oldest: string | null }>(
      `SELECT COUNT(*) AS pending, SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failing, MIN(created_at) AS oldest
       FROM monitor_outbox WHERE delivered_at IS NULL`);
    const [err] = await db.query<{ last_error: string }>(
      'SELECT last_error FROM monitor_outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1');
    return { pending: Number(row?.pending ?? 0), failing: Number(row?.failing ?? 0), oldestPending: row?.oldest ?? null, lastError: err?.last_error ?? null };
  } catch {
    return { pending: 0, failing: 0, oldestPending: null, lastError: null };
  }
}

/** Creates the outbox table when missing (idempotent, safe from several processes). */
export async function initOutboxSchema(db: SqlDatabase): Promise<void> {
  const statements = [
    `CREATE TABLE IF NOT EXISTS monitor_outbox (
      id TEXT PRIMARY KEY,
      round_id TEXT NOT NULL,
      channel TEXT NOT NULL,
      payload TEXT NOT NULL,
      events INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      next_attempt_at TEXT NOT NULL,
      claimed_until TEXT,
      claim TEXT,
      delivered_at TEXT,
      last_error TEXT
    )`,
    'CREATE INDEX IF NOT EXISTS monitor_outbox_due ON monitor_outbox (delivered_at, next_attempt_at)',
  ];
  if (db.kind === 'postgres') {
    await db.transaction(async (tx) => {
      // Several processes may start at once: serialize schema creation.
      await tx.query('SELECT pg_advisory_xact_lock(8461010)');
      for (const s of statements) await tx.run(s);
    });
  } else {
    for (const s of statements) await db.exec(s);
  }
}
