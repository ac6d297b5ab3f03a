/**
 * The monitor's history, in the shared SQL database (src/store/sql.ts: a SQLite file or PostgreSQL),
 * next to the TLS-RPT reports (`tlsrpt_*` tables). Tables, all prefixed `monitor_`:
 *
 * - `monitor_checks`: every check result per domain: verdict, findings, TXT id, policy hash, mode,
 *   max_age, MX set, certificate expiry dates (policy host and each MX), and the process that made
 *   it. `(domain, round_id)` is unique, so a round retried after a crash never stores a domain twice.
 * - `monitor_policies`: the policy text, kept whenever it (or its TXT id) changes, with first and
 *   last time seen.
 * - `monitor_state`: per domain, what event detection needs between rounds (src/monitor/events.ts).
 * - `monitor_events`: every event (open, resolved, notice).
 * - `monitor_rounds`: one row per round (or per queue batch): when, how many checks and events.
 *
 * Times are ISO 8601 strings (UTC, millisecond precision), which sort as text in both databases.
 *
 * @example
 * ```ts
 * const db = await openMonitorDb('mtasts.db');
 * const last = await latestCheck(db, 'example.com');
 * const events = await listEvents(db, { domain: 'example.com', since: new Date(Date.now() - 86_400_000) });
 * ```
 */
import { openDatabase, type SqlDatabase, type SqlExecutor } from '../store/sql.js';
import type { Finding, Severity, Verdict } from '../findings.js';
import { emptyState, type CertRecord, type DomainState, type EventState, type MonitorEvent, type Observation } from './events.js';

/** A finding as stored with a check. */
export interface StoredFinding {
  code: string;
  severity: Severity;
  message: string;
  host?: string;
}

export interface CheckRecord {
  domain: string;
  at: string;
  roundId: string;
  verdict: Verdict;
  mode: 'enforce' | 'testing' | 'none' | null;
  maxAge: number | null;
  findings: StoredFinding[];
  recordId: string | null;
  policySha256: string | null;
  /** MX host names in DNS (null: the lookup failed). */
  mx: string[] | null;
  certs: CertRecord[];
  elapsedMs: number;
}

export interface PolicyRecord {
  sha256: string;
  recordId: string | null;
  text: string;
  firstSeen: string;
  lastSeen: string;
}

const ID = { sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT', postgres: 'BIGSERIAL PRIMARY KEY' } as const;

/**
 * Runs `fn` while holding the monitor's schema lock (PostgreSQL: an advisory lock held by a
 * transaction on one pooled connection; `fn` uses others). Concurrent DDL from several processes
 * starting at once (CREATE TABLE IF NOT EXISTS, pg-boss queue partitions) can otherwise deadlock.
 * SQLite: runs `fn` as it is (one process).
 */
export async function withSchemaLock<T>(db: SqlDatabase, fn: () => Promise<T>): Promise<T> {
  if (db.kind !== 'postgres') return fn();
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(8461009)');
    return fn();
  });
}

/** Creates the monitor tables when missing (idempotent, safe to run from several processes). */
export async function initMonitorSchema(db: SqlDatabase, opts: { locked?: boolean } = {}): Promise<void> {
  const id = ID[db.kind];
  const statements = [
    `CREATE TABLE IF NOT EXISTS monitor_checks (
      id ${id},
      domain TEXT NOT NULL,
      at TEXT NOT NULL,
      round_id TEXT NOT NULL,
      verdict TEXT NOT NULL,
      mode TEXT,
      max_age BIGINT,
      record_id TEXT,
      policy_sha256 TEXT,
      mx TEXT,
      certs TEXT NOT NULL,
      findings TEXT NOT NULL,
      elapsed_ms INTEGER NOT NULL,
      worker TEXT,
      UNIQUE (domain, round_id)
    )`,
    'CREATE INDEX IF NOT EXISTS monitor_checks_domain_at ON monitor_checks (domain, at)',
    'CREATE INDEX IF NOT EXISTS monitor_checks_at ON monitor_checks (at)',
    `CREATE TABLE IF NOT EXISTS monitor_policies (
      id ${id},
      domain TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      record_id TEXT,
      text TEXT NOT NULL,
      first_seen TEXT NOT NULL,
      last_seen TEXT NOT NULL
    )`,
    'CREATE INDEX IF NOT EXISTS monitor_policies_domain ON monitor_policies (domain, id)',
    `CREATE TABLE IF NOT EXISTS monitor_state (
      domain TEXT PRIMARY KEY,
      state TEXT NOT NULL,
      last_checked TEXT NOT NULL,
      last_round TEXT NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS monitor_events (
      id TEXT PRIMARY KEY,
      domain TEXT NOT NULL,
      code TEXT NOT NULL,
      state TEXT NOT NULL,
      severity TEXT NOT NULL,
      message TEXT NOT NULL,
      at TEXT NOT NULL,
      subject TEXT,
      problem TEXT,
      opened_at TEXT,
      round_id TEXT NOT NULL
    )`,
    'CREATE INDEX IF NOT EXISTS monitor_events_domain_at ON monitor_events (domain, at)',
    'CREATE INDEX IF NOT EXISTS monitor_events_at ON monitor_events (at)',
    `CREATE TABLE IF NOT EXISTS monitor_rounds (
      id TEXT PRIMARY KEY,
      started_at TEXT NOT NULL,
      finished_at TEXT,
      checks INTEGER NOT NULL DEFAULT 0,
      events INTEGER NOT NULL DEFAULT 0,
      worker TEXT
    )`,
  ];
  const run = async (): Promise<void> => {
    for (const s of statements) await db.exec(s);
  };
  await (opts.locked ? run() : withSchemaLock(db, run));
}

/** Opens the database (SQLite file or postgres:// URL) and creates the monitor tables. */
export async function openMonitorDb(spec: string): Promise<SqlDatabase> {
  const db = await openDatabase(spec);
  try {
    await initMonitorSchema(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

// --- writes ---------------------------------------------------------------------------------------

/**
 * Loads the event-detection state of some domains (absent: never checked). With `lock` on
 * PostgreSQL, each domain is first locked for the rest of the transaction (an advisory lock per
 * domain, taken in sorted order so that transactions cannot deadlock on them): two processes never
 * evaluate one domain at once, not even its first check, when there is no state row to lock yet.
 */
export async function loadStates(db: SqlExecutor, domains: readonly string[], opts: { lock?: boolean } = {}): Promise<Map<string, DomainState>> {
  const out = new Map<string, DomainState>();
  if (opts.lock && db.kind === 'postgres') {
    for (const d of [...new Set(domains)].sort()) await db.query("SELECT pg_advisory_xact_lock(8461010, hashtext('monitor:' || ?))", [d]);
  }
  for (let i = 0; i < domains.length; i += 500) {
    const chunk = domains.slice(i, i + 500);
    const rows = await db.query<{ domain: string; state: string }>(
      `SELECT domain, state FROM monitor_state WHERE domain IN (${chunk.map(() => '?').join(',')})`, chunk);
    for (const r of rows) out.set(r.domain, { ...emptyState(), ...(JSON.parse(r.state) as DomainState) });
  }
  return out;
}

/** Whether a domain was already stored for this round (a retried queue job). */
export async function checkedInRound(db: SqlExecutor, domain: string, roundId: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 AS x FROM monitor_checks WHERE domain = ? AND round_id = ?', [domain, roundId]);
  return rows.length > 0;
}

const storedFinding = (f: Finding): StoredFinding => ({ code: f.code, severity: f.severity, message: f.message, ...(f.host ? { host: f.host } : {}) });

/**
 * Stores one check and its policy text when changed. Returns false, storing nothing, when the domain
 * already has a check in this round (a queue job retried after a crash). Inside a transaction.
 */
export async function saveCheck(tx: SqlExecutor, domain: string, roundId: string, obs: Observation, worker: string | null = null): Promise<boolean> {
  const inserted = await tx.run(
    `INSERT INTO monitor_checks (domain, at, round_id, verdict, mode, max_age, record_id, policy_sha256, mx, certs, findings, elapsed_ms, worker)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (domain, round_id) DO NOTHING`,
    [domain, obs.at, roundId, obs.verdict, obs.mode, obs.maxAge, obs.recordId, obs.policySha256,
      obs.mxHosts === null ? null : JSON.stringify(obs.mxHosts), JSON.stringify(obs.certs), JSON.stringify(obs.findings.map(storedFinding)),
      Math.round(obs.elapsedMs), worker],
  );
  if (inserted.changes === 0) return false;
  if (obs.policySha256 !== null && obs.policyText !== null) {
    const [latest] = await tx.query<{ id: number; sha256: string; record_id: string | null }>(
      'SELECT id, sha256, record_id FROM monitor_policies WHERE domain = ? ORDER BY id DESC LIMIT 1', [domain]);
    if (latest && latest.sha256 === obs.policySha256 && latest.record_id === obs.recordId) {
      await tx.run('UPDATE monitor_policies SET last_seen = ? WHERE id = ? AND last_seen < ?', [obs.at, latest.id, obs.at]);
    } else {
      await tx.run('INSERT INTO monitor_policies (domain, sha256, record_id, text, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)',
        [domain, obs.policySha256, obs.recordId, obs.policyText, obs.at, obs.at]);
    }
  }
  return true;
}

/** Stores a domain's event-detection state after a check. Inside a transaction. */
export async function saveState(tx: SqlExecutor, domain: string, roundId: string, at: string, state: DomainState): Promise<void> {
  await tx.run(
    `INSERT INTO monitor_state (domain, state, last_checked, last_round) VALUES (?, ?, ?, ?)
     ON CONFLICT (domain) DO UPDATE SET state = excluded.state, last_checked = excluded.last_checked, last_round = excluded.last_round`,
    [domain, JSON.stringify(state), at, roundId],
  );
}

/** Stores events (an event already stored, by id, is left as it is). Inside a transaction. */
export async function saveEvents(tx: SqlExecutor, events: readonly MonitorEvent[], roundId: string): Promise<void> {
  for (const e of events) {
    await tx.run(
      `INSERT INTO monitor_events (id, domain, code, state, severity, message, at, subject, problem, opened_at, round_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [e.id, e.domain, e.code, e.state, e.severity, e.message, e.at, e.subject ?? null, e.problem ?? null, e.openedAt ?? null, roundId],
    );
  }
}

/** Records a round (or adds a queue batch's counts to its slot's row). Inside the round's transaction. */
export async function recordRound(tx: SqlExecutor, roundId: string, startedAt: string, finishedAt: string, worker: string, checks: number, events: number): Promise<void> {
  await tx.run(
    `INSERT INTO monitor_rounds (id, started_at, finished_at, checks, events, worker) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, checks = monitor_rounds.checks + excluded.checks,
       events = monitor_rounds.events + excluded.events`,
    [roundId, startedAt, finishedAt, checks, events, worker],
  );
}

/** Deletes checks, events and policy texts older than `before`, keeping each domain's latest check and policy. */
export async function applyRetention(db: SqlDatabase, before: Date): Promise<{ checks: number; events: number; policies: number }> {
  const cut = before.toISOString();
  const checks = await db.run(
    `DELETE FROM monitor_checks WHERE at < ? AND id NOT IN (SELECT MAX(id) FROM monitor_checks GROUP BY domain)`, [cut]);
  const events = await db.run('DELETE FROM monitor_events WHERE at < ?', [cut]);
  const policies = await db.run(
    `DELETE FROM monitor_policies WHERE last_seen < ? AND id NOT IN (SELECT MAX(id) FROM monitor_policies GROUP BY domain)`, [cut]);
  await db.run('DELETE FROM monitor_rounds WHERE started_at < ?', [cut]);
  return { checks: checks.changes, events: events.changes, policies: policies.changes };
}

// --- queries --------------------------------------------------------------------------------------

interface CheckRow {
  domain: string; at: string; round_id: string; verdict: string; mode: string | null; max_age: number | null;
  record_id: string | null; policy_sha256: string | null; mx: string | null; certs: string; findings: string; elapsed_ms: number;
}
const CHECK_COLUMNS = 'domain, at, round_id, verdict, mode, max_age, record_id, policy_sha256, mx, certs, findings, elapsed_ms';
const toCheck = (r: CheckRow): CheckRecord => ({
  domain: r.domain, at: r.at, roundId: r.round_id, verdict: r.verdict as Verdict, mode: r.mode as CheckRecord['mode'],
  maxAge: r.max_age === null ? null : Number(r.max_age), findings: JSON.parse(r.findings) as StoredFinding[],
  recordId: r.record_id, policySha256: r.policy_sha256, mx: r.mx === null ? null : (JSON.parse(r.mx) as string[]),
  certs: JSON.parse(r.certs) as CertRecord[], elapsedMs: Number(r.elapsed_ms),
});

/** The most recent check of a domain, or null. */
export async function latestCheck(db: SqlExecutor, domain: string): Promise<CheckRecord | null> {
  const rows = await db.query<CheckRow>(`SELECT ${CHECK_COLUMNS} FROM monitor_checks WHERE domain = ? ORDER BY at DESC, id DESC LIMIT 1`, [domain]);
  return rows[0] ? toCheck(rows[0]) : null;
}

/** The latest check of every domain (one query, for status pages). */
export async function latestChecks(db: SqlExecutor): Promise<Map<string, CheckRecord>> {
  const rows = await db.query<CheckRow>(
    `SELECT ${CHECK_COLUMNS} FROM monitor_checks WHERE id IN (SELECT MAX(id) FROM monitor_checks GROUP BY domain)`);
  return new Map(rows.map((r) => [r.domain, toCheck(r)]));
}

/** A domain's checks, newest first. */
export async function checkHistory(db: SqlExecutor, domain: string, opts: { since?: Date; until?: Date; limit?: number } = {}): Promise<CheckRecord[]> {
  const where = ['domain = ?'];
  const params: (string | number)[] = [domain];
  if (opts.since) { where.push('at >= ?'); params.push(opts.since.toISOString()); }
  if (opts.until) { where.push('at < ?'); params.push(opts.until.toISOString()); }
  const limit = Math.min(Math.max(1, opts.limit ?? 1000), 100_000);
  const rows = await db.query<CheckRow>(`SELECT ${CHECK_COLUMNS} FROM monitor_checks WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ${limit}`, params);
  return rows.map(toCheck);
}

/** The policy texts a domain served, oldest first, each with its TXT id and first/last time seen. */
export async function policyHistory(db: SqlExecutor, domain: string): Promise<PolicyRecord[]> {
  const rows = await db.query<{ sha256: string; record_id: string | null; text: string; first_seen: string; last_seen: string }>(
    'SELECT sha256, record_id, text, first_seen, last_seen FROM monitor_policies WHERE domain = ? ORDER BY id', [domain]);
  return rows.map((r) => ({ sha256: r.sha256, recordId: r.record_id, text: r.text, firstSeen: r.first_seen, lastSeen: r.last_seen }));
}

/**
 * Since when the domain's checks have passed without interruption ("passing": no finding of
 * severity error, i.e. verdict pass or warn): the first check after the last failing one. Null when
 * the latest check fails or there is none.
 */
export async function passingSince(db: SqlExecutor, domain: string): Promise<Date | null> {
  const rows = await db.query<{ since: string | null }>(
    `SELECT MIN(at) AS since FROM monitor_checks WHERE domain = ?
       AND at > COALESCE((SELECT MAX(at) FROM monitor_checks WHERE domain = ? AND verdict = 'fail'), '')`, [domain, domain]);
  const since = rows[0]?.since ?? null;
  return since === null ? null : new Date(since);
}

export interface EventFilter {
  domain?: string;
  since?: Date;
  until?: Date;
  state?: EventState;
  code?: string;
  limit?: number;
  offset?: number;
}

interface EventRow {
  id: string; domain: string; code: string; state: string; severity: string; message: string; at: string;
  subject: string | null; problem: string | null; opened_at: string | null;
}
const toEvent = (r: EventRow): MonitorEvent => ({
  id: r.id, domain: r.domain, code: r.code, state: r.state as EventState, severity: r.severity as Severity, message: r.message, at: r.at,
  ...(r.subject ? { subject: r.subject } : {}), ...(r.problem ? { problem: r.problem } : {}), ...(r.opened_at ? { openedAt: r.opened_at } : {}),
});

/** Events, oldest first. */
export async function listEvents(db: SqlExecutor, filter: EventFilter = {}): Promise<MonitorEvent[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.domain) { where.push('domain = ?'); params.push(filter.domain); }
  if (filter.since) { where.push('at >= ?'); params.push(filter.since.toISOString()); }
  if (filter.until) { where.push('at < ?'); params.push(filter.until.toISOString()); }
  if (filter.state) { where.push('state = ?'); params.push(filter.state); }
  if (filter.code) { where.push('code = ?'); params.push(filter.code); }
  const limit = Math.min(Math.max(1, filter.limit ?? 10_000), 1_000_000);
  const offset = Math.max(0, filter.offset ?? 0);
  const rows = await db.query<EventRow>(
    `SELECT id, domain, code, state, severity, message, at, subject, problem, opened_at FROM monitor_events
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at, id LIMIT ${limit} OFFSET ${offset}`, params);
  return rows.map(toEvent);
}

/** Domains the monitor has checked, sorted. */
export async function monitoredDomains(db: SqlExecutor): Promise<string[]> {
  const rows = await db.query<{ domain: string }>('SELECT domain FROM monitor_state ORDER BY domain');
  return rows.map((r) => r.domain);
}

/** The open problems of every domain (or one), from the stored state. */
export async function openProblems(db: SqlExecutor, domain?: string): Promise<Map<string, DomainState>> {
  const rows = await db.query<{ domain: string; state: string }>(
    `SELECT domain, state FROM monitor_state${domain ? ' WHERE domain = ?' : ''}`, domain ? [domain] : []);
  return new Map(rows.map((r) => [r.domain, { ...emptyState(), ...(JSON.parse(r.state) as DomainState) }]));
}

/** When each domain was last checked (for scheduling). */
export async function lastChecked(db: SqlExecutor): Promise<Map<string, string>> {
  const rows = await db.query<{ domain: string; last_checked: string }>('SELECT domain, last_checked FROM monitor_state');
  return new Map(rows.map((r) => [r.domain, r.last_checked]));
}
