/**
 * One small SQL interface over the two databases that the reports store and the monitor share: a
 * SQLite file (the embedded default) and PostgreSQL (for shared deployments). Callers write portable
 * SQL with `?` placeholders; the PostgreSQL adapter numbers them (`$1`, `$2`, …). Where the dialects
 * differ (column types, upserts that need a dialect's syntax), callers branch on {@link SqlDatabase.kind}.
 *
 * Durability: a statement or transaction resolves only after it has committed. SQLite runs in WAL
 * mode with `synchronous = FULL`, so every commit is fsynced before it is acknowledged; PostgreSQL's
 * default `synchronous_commit = on` flushes the WAL at commit.
 *
 * @example
 * ```ts
 * const db = await openDatabase('mtasts.db'); // or 'postgres://user@host/db'
 * await db.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)');
 * await db.transaction(async (tx) => { await tx.run('INSERT INTO t VALUES (?, ?)', ['a', 1]); });
 * const rows = await db.query<{ k: string; v: number }>('SELECT k, v FROM t');
 * await db.close();
 * ```
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';

export type SqlKind = 'sqlite' | 'postgres';

/** What a statement can be given: `?` placeholders, bound in order. */
export type SqlParam = string | number | bigint | boolean | null | Buffer;

/** Statements that run on one connection; inside a transaction, all of them belong to it. */
export interface SqlExecutor {
  readonly kind: SqlKind;
  /** Rows of a SELECT (or of a statement with RETURNING). */
  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
  /** A statement without rows; `changes` is the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlParam[]): Promise<{ changes: number }>;
}

export interface SqlDatabase extends SqlExecutor {
  /** A printable name of the database, without any password. */
  readonly name: string;
  /** One or more statements without parameters (schema setup). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The default database when neither an option nor `MTASTS_DB` names one: a SQLite file here. */
export const DEFAULT_DB = 'mtasts.db';

/** Resolves the database to use: an explicit value, else `MTASTS_DB`, else {@link DEFAULT_DB}. */
export function databaseSpec(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? (env.MTASTS_DB && env.MTASTS_DB !== '' ? env.MTASTS_DB : DEFAULT_DB);
}

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

export interface OpenDatabaseOptions {
  /** Per-statement deadline for PostgreSQL, and the SQLite busy timeout, ms (default 10000). */
  timeoutMs?: number;
  /** PostgreSQL pool size (default 5). */
  poolSize?: number;
}

/** Opens a SQLite file (created with its folder when missing) or a `postgres://` URL. */
export async function openDatabase(spec: string, options: OpenDatabaseOptions = {}): Promise<SqlDatabase> {
  if (isPostgresUrl(spec)) {
    const db = new PostgresDatabase(spec, options);
    await db.query('SELECT 1');
    return db;
  }
  return new SqliteDatabase(spec, options);
}

/** A FIFO lock: SQLite has one connection, so a transaction must not interleave with other statements. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

export class SqliteDatabase implements SqlDatabase {
  readonly kind = 'sqlite' as const;
  readonly name: string;
  readonly handle: Database.Database;
  private readonly lock = new Lock();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(filename: string, options: OpenDatabaseOptions = {}) {
    this.name = filename;
    if (filename !== ':memory:') mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
    this.handle = new Database(filename, { timeout: options.timeoutMs ?? 10_000 });
    this.handle.pragma('journal_mode = WAL');
    // Every commit fsynced before it is acknowledged (see the module comment).
    this.handle.pragma('synchronous = FULL');
    this.handle.pragma('foreign_keys = ON');
  }

  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.handle.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, s);
    }
    return s;
  }

  private readonly direct: SqlExecutor = {
    kind: 'sqlite',
    query: async <R extends object>(sql: string, params: readonly SqlParam[] = []) =>
      this.prepare(sql).all(...sqliteParams(params)) as R[],
    run: async (sql: string, params: readonly SqlParam[] = []) => {
      const s = this.prepare(sql);
      if (s.reader) {
        s.all(...sqliteParams(params));
        return { changes: 0 };
      }
      return { changes: s.run(...sqliteParams(params)).changes };
    },
  };

  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<R[]> {
    return this.lock.hold(() => this.direct.query<R>(sql, params));
  }

  run(sql: string, params?: readonly SqlParam[]): Promise<{ changes: number }> {
    return this.lock.hold(() => this.direct.run(sql, params));
  }

  async exec(sql: string): Promise<void> {
    await this.lock.hold(async () => void this.handle.exec(sql));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.lock.hold(async () => {
      this.handle.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.handle.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.lock.hold(async () => {
      if (this.handle.open) this.handle.close();
    });
  }
}

function sqliteParams(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

/**
 * pg, loaded the first time a PostgreSQL database is opened: a SQLite-only process (the default)
 * does not pay for loading it (~0.1 s of start-up).
 */
let pgLib: typeof pg | undefined;
function loadPg(): typeof pg {
  if (pgLib === undefined) {
    pgLib = createRequire(import.meta.url)('pg') as typeof pg;
    // BIGINT (int8) and NUMERIC come back from pg as strings; the values stored here fit in a double.
    pgLib.types.setTypeParser(20, (v) => Number(v));
    pgLib.types.setTypeParser(1700, (v) => Number(v));
  }
  return pgLib;
}

export class PostgresDatabase implements SqlDatabase {
  readonly kind = 'postgres' as const;
  readonly name: string;
  readonly pool: pg.Pool;

  constructor(url: string, options: OpenDatabaseOptions = {}) {
    const timeout = options.timeoutMs ?? 10_000;
    this.name = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
    this.pool = new (loadPg().Pool)({
      connectionString: url,
      max: options.poolSize ?? 5,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
      statement_timeout: timeout,
    });
    // An idle client losing its connection must not crash the process; queries report failures.
    this.pool.on('error', () => {});
  }

  query<R extends object = Record<string, unknown>>(sql: string, params: readonly SqlParam[] = []): Promise<R[]> {
    return pgExecutor(this.pool).query<R>(sql, params);
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<{ changes: number }> {
    return pgExecutor(this.pool).run(sql, params);
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(pgExecutor(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function pgExecutor(target: pg.Pool | pg.PoolClient): SqlExecutor {
  return {
    kind: 'postgres',
    query: async <R extends object>(sql: string, params: readonly SqlParam[] = []) =>
      (await target.query(numberPlaceholders(sql), params as unknown[])).rows as R[],
    run: async (sql: string, params: readonly SqlParam[] = []) => ({
      changes: (await target.query(numberPlaceholders(sql), params as unknown[])).rowCount ?? 0,
    }),
  };
}

const placeholderCache = new Map<string, string>();

/** `?` → `$n`, outside string literals and quoted identifiers. */
export function numberPlaceholders(sql: string): string {
  const cached = placeholderCache.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  if (placeholderCache.size > 1000) placeholderCache.clear();
  placeholderCache.set(sql, out);
  return out;
}
