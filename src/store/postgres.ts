/**
 * PostgreSQL store (pg), for a fleet of MTAs sharing one cache. One row per domain in one table;
 * a write is acknowledged after its transaction commits (synchronous_commit as the server sets it,
 * `on` by default, which means flushed to the WAL on disk).
 */
import pg from 'pg';
import { decodeEntry, encodeEntry, withTimeout, type CachedPolicy, type PolicyStore } from './types.js';

export interface PostgresStoreOptions {
  /** postgres://user@host:port/db (postfix-mta-sts-resolver's `dsn`). */
  dsn?: string;
  /** Table name (default `mtasts_policies`); letters, digits and `_` only. */
  table?: string;
  /** Per-query deadline, ms (default 5000). */
  timeoutMs?: number;
  /** Pool size (default 10). */
  poolSize?: number;
}

export class PostgresStore implements PolicyStore {
  readonly kind = 'postgres';
  readonly pool: pg.Pool;
  readonly table: string;
  private readonly timeoutMs: number;

  constructor(options: PostgresStoreOptions = {}) {
    const table = options.table ?? 'mtasts_policies';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) throw new Error(`invalid table name ${JSON.stringify(table)}`);
    this.table = table;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.pool = new pg.Pool({
      ...(options.dsn !== undefined ? { connectionString: options.dsn } : {}),
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: this.timeoutMs,
      query_timeout: this.timeoutMs,
      statement_timeout: this.timeoutMs,
    });
    // An idle client losing its connection must not crash the process; queries report failures.
    this.pool.on('error', () => {});
  }

  /** Creates the table if needed; rejects when PostgreSQL is unreachable. */
  async connect(): Promise<void> {
    await this.query(`CREATE TABLE IF NOT EXISTS ${this.table} (domain TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at BIGINT NOT NULL)`);
  }

  private query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return withTimeout(this.pool.query<R>(text, values), this.timeoutMs + 500, 'postgres query');
  }

  async get(domain: string): Promise<CachedPolicy | null> {
    const r = await this.query<{ data: string }>(`SELECT data FROM ${this.table} WHERE domain = $1`, [domain]);
    return decodeEntry(r.rows[0]?.data);
  }

  async set(entry: CachedPolicy): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table} (domain, data, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (domain) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at
       WHERE (EXCLUDED.data::jsonb->>'fetchedAt')::numeric >= (${this.table}.data::jsonb->>'fetchedAt')::numeric`,
      [entry.domain, encodeEntry(entry), entry.expiresAt],
    );
  }

  async delete(domain: string): Promise<void> {
    await this.query(`DELETE FROM ${this.table} WHERE domain = $1`, [domain]);
  }

  async list(): Promise<CachedPolicy[]> {
    const r = await this.query<{ data: string }>(`SELECT data FROM ${this.table}`);
    return r.rows.map((row) => decodeEntry(row.data)).filter((e): e is CachedPolicy => e !== null);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
