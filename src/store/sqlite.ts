/**
 * SQLite store (the embedded default): one file, WAL journal, synchronous=FULL.
 *
 * Why FULL and not NORMAL: in WAL mode NORMAL does not fsync the WAL on each commit, so the last
 * commits can be lost on power failure — and the resolver acknowledges a policy (answers Postfix)
 * only once it is durable. FULL fsyncs the WAL at every commit; to keep that cheap, writes that
 * arrive in the same event-loop turn are committed together in one transaction ("group commit"),
 * and each caller's promise resolves only after that transaction has committed.
 */
import Database from 'better-sqlite3';
import { decodeEntry, encodeEntry, type CachedPolicy, type PolicyStore } from './types.js';

export interface SqliteStoreOptions {
  filename: string;
  /** Busy timeout for the file lock, ms (postfix-mta-sts-resolver's `timeout`, default 5000). */
  timeoutMs?: number;
}

type Pending = { op: 'set'; entry: CachedPolicy } | { op: 'delete'; domain: string };

export class SqliteStore implements PolicyStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { data: string }>;
  private readonly setStmt: Database.Statement<[string, string, number]>;
  private readonly delStmt: Database.Statement<[string]>;
  private queue: { item: Pending; resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private closed = false;

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.filename, { timeout: options.timeoutMs ?? 5000 });
    this.db.pragma('journal_mode = WAL');
    // See the module comment: durable before acknowledged.
    this.db.pragma('synchronous = FULL');
    this.db.exec('CREATE TABLE IF NOT EXISTS mtasts_policies (domain TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL)');
    this.getStmt = this.db.prepare('SELECT data FROM mtasts_policies WHERE domain = ?');
    this.setStmt = this.db.prepare('INSERT INTO mtasts_policies (domain, data, expires_at) VALUES (?, ?, ?) ON CONFLICT(domain) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at');
    this.delStmt = this.db.prepare('DELETE FROM mtasts_policies WHERE domain = ?');
  }

  async get(domain: string): Promise<CachedPolicy | null> {
    this.assertOpen();
    return decodeEntry(this.getStmt.get(domain)?.data);
  }

  set(entry: CachedPolicy): Promise<void> {
    return this.enqueue({ op: 'set', entry });
  }

  delete(domain: string): Promise<void> {
    return this.enqueue({ op: 'delete', domain });
  }

  async list(): Promise<CachedPolicy[]> {
    this.assertOpen();
    const rows = this.db.prepare('SELECT data FROM mtasts_policies').all() as { data: string }[];
    return rows.map((r) => decodeEntry(r.data)).filter((e): e is CachedPolicy => e !== null);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('sqlite store is closed');
  }

  private enqueue(item: Pending): Promise<void> {
    if (this.closed) return Promise.reject(new Error('sqlite store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every queued write in one transaction, then settles their promises. */
  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      this.db.transaction(() => {
        for (const { item } of batch) {
          if (item.op === 'set') this.setStmt.run(item.entry.domain, encodeEntry(item.entry), item.entry.expiresAt);
          else this.delStmt.run(item.domain);
        }
      })();
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
      return;
    }
    for (const b of batch) b.resolve();
  }
}
