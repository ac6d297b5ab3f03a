/**
 * The TLS-RPT report store: every intake path (files, mail, IMAP, HTTPS) ends here, over the shared
 * SQL layer (a SQLite file by default, PostgreSQL for shared deployments).
 *
 * Tables (prefix `tlsrpt_` by default; documented for direct SQL users in docs/reports.md):
 * - `tlsrpt_reports`: one row per report, unique on (organization, report_id) — RFC 8460 §5.6's
 *   dedupe key, taken from the JSON; the raw report is kept gzip-compressed in `raw`;
 * - `tlsrpt_policies`: one row per entry of `policies`, with its totals; `counted = 1` marks the rows
 *   that add up to a domain's sessions without counting sessions reported under both `sts` and
 *   `tlsa` twice (see {@link countedPolicyType});
 * - `tlsrpt_failures`: one row per failure detail.
 *
 * Inserts are group-committed: concurrent {@link ReportStore.insert} calls share one transaction,
 * and each resolves only after that transaction has committed (durable, see src/store/sql.ts).
 *
 * @example
 * ```ts
 * const store = await ReportStore.open(databaseSpec()); // MTASTS_DB, else ./mtasts.db
 * await store.prune(365); // drop reports whose period ended more than a year ago
 * await store.close();
 * ```
 */
import { countedPolicyType, type ReportPolicyType, type ReportWarning, type TlsReport } from '../tlsrpt/report.js';
import type Database from 'better-sqlite3';
import { openDatabase, SqliteDatabase, type SqlDatabase, type SqlExecutor, type SqlParam } from '../store/sql.js';

const FAILURE_ROWS = 50;
const valuesLists = new Map<number, string>();
/** `(?, …), (?, …)` for n rows of the failures table (cached: one statement text per row count). */
function valuesList(n: number): string {
  let v = valuesLists.get(n);
  if (v === undefined) {
    v = Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    valuesLists.set(n, v);
  }
  return v;
}

export type DkimResultName = 'pass' | 'fail' | 'none' | 'neutral' | 'temperror' | 'permerror' | 'policy';

export interface DkimInfo {
  result: DkimResultName;
  domain?: string;
  selector?: string;
  detail?: string;
}

export type Transport = 'file' | 'mail' | 'https';

/** A parsed report ready to be stored. */
export interface StoredReportInput {
  report: TlsReport;
  warnings: ReportWarning[];
  /** The report JSON, gzip-compressed. */
  rawGzip: Buffer;
  source: string;
  transport: Transport;
  dkim?: DkimInfo | undefined;
  /** The policy domain the intake knew (mail TLS-Report-Domain header). */
  reportDomain?: string | null | undefined;
  receivedAt: Date;
}

export type InsertOutcome = { status: 'imported'; id: number } | { status: 'duplicate'; id: number | null };

export interface ReportStoreOptions {
  /** Table name prefix (default `tlsrpt_`); tests use a unique one per run. */
  tablePrefix?: string;
  /** Most reports committed in one transaction by the group commit (default 500). */
  maxBatch?: number;
}

export interface ReportTables {
  reports: string;
  policies: string;
  failures: string;
}

interface Pending {
  input: StoredReportInput;
  resolve: (o: InsertOutcome) => void;
  reject: (e: unknown) => void;
}

interface SqliteStatements {
  report: Database.Statement;
  existing: Database.Statement;
  policy: Database.Statement;
  failure: Database.Statement;
}

/** A policy domain as stored: lower case, without one trailing dot. */
function normDomain(d: string): string {
  const l = d.toLowerCase();
  return l.charCodeAt(l.length - 1) === 0x2e ? l.slice(0, -1) : l;
}

const TYPE_RANK: Record<ReportPolicyType, number> = { sts: 0, tlsa: 1, 'no-policy-found': 2 };

/**
 * Per policy of a report, 1 when its totals count for its domain, else 0: per domain, the one
 * policy type {@link countedPolicyType} picks (`sts`, else `tlsa`, else `no-policy-found`), so the
 * same sessions reported under both `sts` and `tlsa` are never added together.
 */
function countedFlags(policies: readonly { policyType: ReportPolicyType }[], domains: readonly (string | null)[]): number[] {
  if (policies.length === 1) return [1];
  const best = new Map<string | null, number>();
  for (let i = 0; i < policies.length; i++) {
    const rank = TYPE_RANK[policies[i]!.policyType];
    const b = best.get(domains[i]!);
    if (b === undefined || rank < b) best.set(domains[i]!, rank);
  }
  return policies.map((p, i) => (TYPE_RANK[p.policyType] === best.get(domains[i]!) ? 1 : 0));
}

export class ReportStore {
  readonly tables: ReportTables;
  private readonly maxBatch: number;
  private queue: Pending[] = [];

  private constructor(readonly db: SqlDatabase, options: ReportStoreOptions, private readonly ownsDb: boolean) {
    const prefix = options.tablePrefix ?? 'tlsrpt_';
    if (!/^[a-z_][a-z0-9_]*$/i.test(prefix)) throw new Error(`invalid table prefix "${prefix}"`);
    this.tables = { reports: `${prefix}reports`, policies: `${prefix}policies`, failures: `${prefix}failures` };
    this.maxBatch = options.maxBatch ?? 500;
  }

  /** Opens (and creates the tables of) the store in a SQLite file or a `postgres://` database. */
  static async open(spec: string, options: ReportStoreOptions = {}): Promise<ReportStore> {
    const db = await openDatabase(spec);
    try {
      return await ReportStore.on(db, options, true);
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  /** The store over an already open database (closing the store leaves `db` open). */
  static async on(db: SqlDatabase, options: ReportStoreOptions = {}, ownsDb = false): Promise<ReportStore> {
    const store = new ReportStore(db, options, ownsDb);
    await store.createTables();
    return store;
  }

  private async createTables(): Promise<void> {
    const { reports, policies, failures } = this.tables;
    const pg = this.db.kind === 'postgres';
    const id = pg ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
    const ref = pg ? 'BIGINT' : 'INTEGER';
    const blob = pg ? 'BYTEA' : 'BLOB';
    const big = pg ? 'BIGINT' : 'INTEGER';
    const ddl = `
      CREATE TABLE IF NOT EXISTS ${reports} (
        id ${id},
        organization TEXT NOT NULL,
        report_id TEXT NOT NULL,
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        day TEXT NOT NULL,
        contact TEXT,
        policy_domain TEXT,
        report_domain TEXT,
        transport TEXT NOT NULL,
        source TEXT NOT NULL,
        dkim_result TEXT,
        dkim_domain TEXT,
        dkim_selector TEXT,
        dkim_detail TEXT,
        received_at TEXT NOT NULL,
        warnings TEXT NOT NULL,
        raw ${blob} NOT NULL,
        UNIQUE (organization, report_id)
      );
      CREATE INDEX IF NOT EXISTS ${reports}_day ON ${reports} (day);
      CREATE INDEX IF NOT EXISTS ${reports}_period_end ON ${reports} (period_end);
      CREATE INDEX IF NOT EXISTS ${reports}_period_start ON ${reports} (period_start);
      CREATE TABLE IF NOT EXISTS ${policies} (
        id ${id},
        report ${ref} NOT NULL REFERENCES ${reports} (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        policy_type TEXT NOT NULL,
        policy_domain TEXT,
        domain TEXT,
        policy_string TEXT NOT NULL,
        mx_host TEXT NOT NULL,
        successful_sessions ${big} NOT NULL,
        failed_sessions ${big} NOT NULL,
        counted INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ${policies}_report ON ${policies} (report);
      CREATE INDEX IF NOT EXISTS ${policies}_domain ON ${policies} (domain);
      CREATE TABLE IF NOT EXISTS ${failures} (
        id ${id},
        report ${ref} NOT NULL REFERENCES ${reports} (id) ON DELETE CASCADE,
        policy ${ref} NOT NULL REFERENCES ${policies} (id) ON DELETE CASCADE,
        result_type TEXT NOT NULL,
        sending_mta_ip TEXT,
        receiving_ip TEXT,
        receiving_mx_hostname TEXT,
        receiving_mx_helo TEXT,
        failed_sessions ${big} NOT NULL,
        additional_information TEXT,
        failure_reason_code TEXT
      );
      CREATE INDEX IF NOT EXISTS ${failures}_report ON ${failures} (report);
      CREATE INDEX IF NOT EXISTS ${failures}_policy ON ${failures} (policy);`;
    // One transaction (one commit instead of one per statement); on PostgreSQL, two processes
    // creating the tables at once would race on the catalog, hence the lock.
    await this.db.transaction(async (tx) => {
      if (pg) await tx.run('SELECT pg_advisory_xact_lock(84600001)');
      for (const stmt of ddl.split(';').map((x) => x.trim()).filter(Boolean)) await tx.run(stmt);
    });
  }

  /**
   * Stores one report, unless one with the same (organization-name, report-id) is stored already.
   * Resolves after the commit; concurrent calls share a transaction.
   */
  insert(input: StoredReportInput): Promise<InsertOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  /**
   * How long a transaction waits for more reports to join it, ms (default 0: the rest of the
   * current turn of the event loop). A bulk import raises it so that hundreds of reports share one
   * commit; nothing is reported stored before its commit either way.
   */
  lingerMs = 0;
  /** With `lingerMs`, the longest a queued report waits for its transaction to start, ms. */
  maxLingerMs = 250;
  private timer: { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate } | undefined;
  private firstQueuedAt = 0;
  private running = false;

  private schedule(): void {
    if (this.running) return; // the running flush loop takes what is queued
    if (this.queue.length >= this.maxBatch) {
      this.cancelTimer();
      void this.flush();
      return;
    }
    const fire = (): void => {
      this.timer = undefined;
      void this.flush();
    };
    if (this.lingerMs > 0) {
      // Debounce: wait until reports stop arriving for lingerMs (the producers are done or
      // blocked), but never longer than maxLingerMs after the first one queued.
      if (this.timer === undefined) this.firstQueuedAt = performance.now();
      else if (performance.now() - this.firstQueuedAt >= this.maxLingerMs) return;
      this.cancelTimer();
      this.timer = { kind: 'timeout', handle: setTimeout(fire, this.lingerMs) };
    } else if (this.timer === undefined) {
      this.timer = { kind: 'immediate', handle: setImmediate(fire) };
    }
  }

  private cancelTimer(): void {
    if (this.timer?.kind === 'timeout') clearTimeout(this.timer.handle);
    else if (this.timer?.kind === 'immediate') clearImmediate(this.timer.handle);
    this.timer = undefined;
  }

  private async flush(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const outcomes = await this.insertMany(batch.map((p) => p.input));
          batch.forEach((p, i) => p.resolve(outcomes[i]!));
        } catch (err) {
          batch.forEach((p) => p.reject(err));
        }
        // With a linger (bulk import), what arrived meanwhile waits to fill a batch rather than
        // being committed at once in a small transaction (each commit is an fsync).
        if (this.lingerMs > 0 && this.queue.length < this.maxBatch) break;
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length > 0) this.schedule();
  }

  /** Stores reports in one transaction; each outcome says whether it was new or a duplicate. */
  insertMany(inputs: readonly StoredReportInput[]): Promise<InsertOutcome[]> {
    if (this.db instanceof SqliteDatabase) {
      // SQLite: the statements run synchronously on the transaction's connection (prepared once
      // per store), without a promise per statement.
      const sqlite = this.sqlite ??= this.prepareSqlite(this.db.handle);
      return this.db.transaction(async () => inputs.map((input) => this.insertOneSqlite(sqlite, input)));
    }
    return this.db.transaction(async (tx) => {
      const out: InsertOutcome[] = [];
      for (const input of inputs) out.push(await this.insertOne(tx, input));
      return out;
    });
  }

  private readonly sqliteStatements = new Map<string, Database.Statement>();
  private sqlite: SqliteStatements | undefined;

  private prepareSqlite(handle: Database.Database): SqliteStatements {
    const { reports, policies, failures } = this.tables;
    return {
      report: handle.prepare(`INSERT INTO ${reports} (organization, report_id, period_start, period_end, day, contact, policy_domain, report_domain,
         transport, source, dkim_result, dkim_domain, dkim_selector, dkim_detail, received_at, warnings, raw)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (organization, report_id) DO NOTHING`),
      existing: handle.prepare(`SELECT id FROM ${reports} WHERE organization = ? AND report_id = ?`).pluck(),
      policy: handle.prepare(`INSERT INTO ${policies} (report, position, policy_type, policy_domain, domain, policy_string, mx_host,
           successful_sessions, failed_sessions, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      failure: handle.prepare(`INSERT INTO ${failures} (report, policy, result_type, sending_mta_ip, receiving_ip, receiving_mx_hostname,
             receiving_mx_helo, failed_sessions, additional_information, failure_reason_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    };
  }

  /** {@link insertOne} for SQLite: the same rows, synchronously, with the prepared statements. */
  private insertOneSqlite(st: SqliteStatements, input: StoredReportInput): InsertOutcome {
    const r = input.report;
    const intakeDomain = input.reportDomain ? normDomain(input.reportDomain) : null;
    const domains = r.policies.map((p) => (p.policyDomain ? normDomain(p.policyDomain) : intakeDomain));
    let firstDomain: string | null = null;
    for (let i = 0; i < r.policies.length && firstDomain === null; i++) if (r.policies[i]!.policyDomain !== null) firstDomain = domains[i]!;
    const dkim = input.dkim;
    const info = st.report.run(
      r.organizationName, r.reportId, r.startDatetime, r.endDatetime, r.startDatetime.slice(0, 10), r.contactInfo,
      firstDomain ?? intakeDomain, intakeDomain, input.transport, input.source,
      dkim?.result ?? null, dkim?.domain ?? null, dkim?.selector ?? null, dkim?.detail ?? null,
      input.receivedAt.toISOString(), input.warnings.length === 0 ? '[]' : JSON.stringify(input.warnings), input.rawGzip,
    );
    if (info.changes === 0) {
      const id = st.existing.get(r.organizationName, r.reportId) as number | bigint | undefined;
      return { status: 'duplicate', id: id === undefined ? null : Number(id) };
    }
    const reportRef = info.lastInsertRowid;
    const counted = countedFlags(r.policies, domains);
    for (let position = 0; position < r.policies.length; position++) {
      const p = r.policies[position]!;
      const policyRef = st.policy.run(reportRef, position, p.policyType, p.policyDomain, domains[position], JSON.stringify(p.policyString),
        JSON.stringify(p.mxHost), p.successfulSessions, p.failedSessions, counted[position]).lastInsertRowid;
      for (const f of p.failureDetails) {
        st.failure.run(reportRef, policyRef, f.resultType, f.sendingMtaIp, f.receivingIp, f.receivingMxHostname, f.receivingMxHelo,
          f.failedSessionCount, f.additionalInformation, f.failureReasonCode);
      }
    }
    return { status: 'imported', id: Number(reportRef) };
  }

  /**
   * Runs an INSERT and gives the new row's id, or null when it inserted nothing (a conflict).
   * PostgreSQL: `RETURNING id`. SQLite: the statement's lastInsertRowid, on the transaction's own
   * connection (the same one `tx` uses; about twice as fast as RETURNING through the async layer).
   */
  private async insertReturningId(tx: SqlExecutor, sql: string, params: SqlParam[]): Promise<number | null> {
    if (this.db instanceof SqliteDatabase) {
      let stmt = this.sqliteStatements.get(sql);
      if (stmt === undefined) {
        stmt = this.db.handle.prepare(sql);
        this.sqliteStatements.set(sql, stmt);
      }
      const info = stmt.run(...params);
      return info.changes === 0 ? null : Number(info.lastInsertRowid);
    }
    const rows = await tx.query<{ id: number }>(`${sql} RETURNING id`, params);
    return rows.length === 0 ? null : Number(rows[0]!.id);
  }

  /** Runs an INSERT without ids (SQLite on the transaction's connection, as above). */
  private async insertRows(tx: SqlExecutor, sql: string, params: SqlParam[]): Promise<void> {
    if (this.db instanceof SqliteDatabase) {
      let stmt = this.sqliteStatements.get(sql);
      if (stmt === undefined) {
        stmt = this.db.handle.prepare(sql);
        this.sqliteStatements.set(sql, stmt);
      }
      stmt.run(...params);
      return;
    }
    await tx.run(sql, params);
  }

  private async insertOne(tx: SqlExecutor, input: StoredReportInput): Promise<InsertOutcome> {
    const { reports, policies, failures } = this.tables;
    const r = input.report;
    const intakeDomain = input.reportDomain ? input.reportDomain.toLowerCase().replace(/\.$/, '') : null;
    const domainOf = (d: string | null): string | null => (d ? d.toLowerCase().replace(/\.$/, '') : intakeDomain);
    const firstDomain = r.policies.map((p) => p.policyDomain).find((d) => d !== null) ?? null;
    const reportRef = await this.insertReturningId(tx,
      `INSERT INTO ${reports} (organization, report_id, period_start, period_end, day, contact, policy_domain, report_domain,
         transport, source, dkim_result, dkim_domain, dkim_selector, dkim_detail, received_at, warnings, raw)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (organization, report_id) DO NOTHING`,
      [
        r.organizationName, r.reportId, r.startDatetime, r.endDatetime, r.startDatetime.slice(0, 10), r.contactInfo,
        domainOf(firstDomain), intakeDomain, input.transport, input.source,
        input.dkim?.result ?? null, input.dkim?.domain ?? null, input.dkim?.selector ?? null, input.dkim?.detail ?? null,
        input.receivedAt.toISOString(), JSON.stringify(input.warnings), input.rawGzip,
      ],
    );
    if (reportRef === null) {
      const existing = await tx.query<{ id: number }>(`SELECT id FROM ${reports} WHERE organization = ? AND report_id = ?`, [r.organizationName, r.reportId]);
      return { status: 'duplicate', id: existing[0] ? Number(existing[0].id) : null };
    }
    // Per domain of this report, the one policy type whose totals count (never sts + tlsa together).
    const typesByDomain = new Map<string | null, ReportPolicyType[]>();
    for (const p of r.policies) {
      const d = domainOf(p.policyDomain);
      const list = typesByDomain.get(d) ?? [];
      list.push(p.policyType);
      typesByDomain.set(d, list);
    }
    for (const [position, p] of r.policies.entries()) {
      const domain = domainOf(p.policyDomain);
      const counted = countedPolicyType(typesByDomain.get(domain)!) === p.policyType ? 1 : 0;
      const policyRef = await this.insertReturningId(tx,
        `INSERT INTO ${policies} (report, position, policy_type, policy_domain, domain, policy_string, mx_host,
           successful_sessions, failed_sessions, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [reportRef, position, p.policyType, p.policyDomain, domain, JSON.stringify(p.policyString), JSON.stringify(p.mxHost),
          p.successfulSessions, p.failedSessions, counted],
      );
      // Failure details go in multi-row statements (fewer round trips; at most 50 rows, 500 parameters each).
      for (let i = 0; i < p.failureDetails.length; i += FAILURE_ROWS) {
        const chunk = p.failureDetails.slice(i, i + FAILURE_ROWS);
        const params: SqlParam[] = [];
        for (const f of chunk) {
          params.push(reportRef, policyRef, f.resultType, f.sendingMtaIp, f.receivingIp, f.receivingMxHostname, f.receivingMxHelo,
            f.failedSessionCount, f.additionalInformation, f.failureReasonCode);
        }
        await this.insertRows(tx,
          `INSERT INTO ${failures} (report, policy, result_type, sending_mta_ip, receiving_ip, receiving_mx_hostname,
             receiving_mx_helo, failed_sessions, additional_information, failure_reason_code) VALUES ${valuesList(chunk.length)}`,
          params,
        );
      }
    }
    return { status: 'imported', id: reportRef };
  }

  /**
   * Retention: deletes the reports whose period ended more than `days` days before `now`, with
   * their policy and failure rows. Returns how many reports were deleted.
   */
  async prune(days: number, now: Date = new Date()): Promise<number> {
    if (!(days > 0)) throw new Error('retention needs a positive number of days');
    const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
    const { reports, policies, failures } = this.tables;
    return this.db.transaction(async (tx) => {
      const old = `SELECT id FROM ${reports} WHERE period_end < ?`;
      await tx.run(`DELETE FROM ${failures} WHERE report IN (${old})`, [cutoff]);
      await tx.run(`DELETE FROM ${policies} WHERE report IN (${old})`, [cutoff]);
      return (await tx.run(`DELETE FROM ${reports} WHERE period_end < ?`, [cutoff])).changes;
    });
  }

  /** Drops the store's tables (tests and `--reset` style tooling). */
  async dropTables(): Promise<void> {
    const { reports, policies, failures } = this.tables;
    await this.db.exec(`DROP TABLE IF EXISTS ${failures}; DROP TABLE IF EXISTS ${policies}; DROP TABLE IF EXISTS ${reports};`);
  }

  async close(): Promise<void> {
    while (this.running || this.timer !== undefined || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    if (this.ownsDb) await this.db.close();
  }
}
