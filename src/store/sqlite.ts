/**
 * SQLite store (the embedded default): one file, WAL journal, synchronous=FULL.
 *
 * Why FULL and not NORMAL: in WAL mode NORMAL does not fsync the WAL on each commit, so the last
 * commits can be lost on power failure — and the resolver acknowledges a policy (answers Postfix)
 * only once it is durable. FULL fsyncs the WAL at every commit.
 *
 * Commits run in a worker thread, so that the fsync never blocks the event loop (better-sqlite3 is
 * synchronous: on the main thread every commit would stall all other lookups for the length of an
 * fsync). Group commit: writes queued in the same event-loop turn, and every write queued while a
 * commit is running, go into the next transaction — one fsync for all of them — and each caller's
 * promise resolves only after the transaction holding its write has committed. Reads (`get`,
 * `list`) use a connection on the calling thread; WAL lets them run alongside the writer and they
 * see every commit that has been acknowledged.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { decodeEntry, encodeEntry, type CachedPolicy, type PolicyStore } from './types.js';

export interface SqliteStoreOptions {
  filename: string;
  /** Busy timeout for the file lock, ms (postfix-mta-sts-resolver's `timeout`, default 5000). */
  timeoutMs?: number;
}

/** A write as sent to the worker: [domain, data, expiresAt] is an upsert, [domain] a delete. */
type Op = [string, string, number] | [string];

// Never replaces a later fetch (see the contract in types.ts).
const SET_SQL = 'INSERT INTO mtasts_policies (domain, data, expires_at) VALUES (?, ?, ?) ON CONFLICT(domain) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at'
  + " WHERE json_extract(excluded.data, '$.fetchedAt') >= json_extract(mtasts_policies.data, '$.fetchedAt')";
const DEL_SQL = 'DELETE FROM mtasts_policies WHERE domain = ?';

/** The writer thread (CommonJS, evaluated): one connection, one transaction per batch. */
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.filename, { timeout: workerData.timeoutMs });
db.pragma('synchronous = FULL');
const set = db.prepare(${JSON.stringify(SET_SQL)});
const del = db.prepare(${JSON.stringify(DEL_SQL)});
const commit = db.transaction((ops) => {
  for (const o of ops) if (o.length === 3) set.run(o[0], o[1], o[2]); else del.run(o[0]);
});
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    commit(m.ops);
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

interface Waiting { resolve: () => void; reject: (e: Error) => void }

export class SqliteStore implements PolicyStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { data: string }>;
  private readonly filename: string;
  private readonly timeoutMs: number;
  private worker: Worker | undefined;
  /** Writes waiting for the next batch. */
  private ops: Op[] = [];
  private waiting: Waiting[] = [];
  /** The batch being committed by the worker. */
  private running: { id: number; waiting: Waiting[] } | undefined;
  private nextId = 1;
  private scheduled = false;
  private closed = false;
  private drained: (() => void)[] = [];

  constructor(options: SqliteStoreOptions) {
    this.filename = options.filename;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.db = new Database(options.filename, { timeout: this.timeoutMs });
    this.db.pragma('journal_mode = WAL');
    // See the module comment: durable before acknowledged (the writer sets it on its connection).
    this.db.pragma('synchronous = FULL');
    this.db.exec('CREATE TABLE IF NOT EXISTS mtasts_policies (domain TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL)');
    this.getStmt = this.db.prepare('SELECT data FROM mtasts_policies WHERE domain = ?');
  }

  async get(domain: string): Promise<CachedPolicy | null> {
    this.assertOpen();
    return decodeEntry(this.getStmt.get(domain)?.data);
  }

  set(entry: CachedPolicy): Promise<void> {
    return this.enqueue([entry.domain, encodeEntry(entry), entry.expiresAt]);
  }

  delete(domain: string): Promise<void> {
    return this.enqueue([domain]);
  }

  async list(): Promise<CachedPolicy[]> {
    this.assertOpen();
    const rows = this.db.prepare('SELECT data FROM mtasts_policies').all() as { data: string }[];
    return rows.map((r) => decodeEntry(r.data)).filter((e): e is CachedPolicy => e !== null);
  }

  /** Commits every write already queued, then closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.running || this.ops.length > 0) {
      if (!this.running) this.send();
      await new Promise<void>((resolve) => this.drained.push(resolve));
    }
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      const exited = new Promise((resolve) => w.once('exit', resolve));
      w.postMessage('close');
      await exited;
    }
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('sqlite store is closed');
  }

  private writer(): Worker {
    if (!this.worker) {
      const w = new Worker(WRITER, {
        eval: true,
        execArgv: [],
        workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), filename: this.filename, timeoutMs: this.timeoutMs },
      });
      w.on('message', (m: { id: number; error?: string }) => this.committed(m.id, m.error));
      w.on('error', (err) => this.writerFailed(w, err));
      w.on('exit', (code) => { if (code !== 0) this.writerFailed(w, new Error(`sqlite writer exited with ${code}`)); });
      w.unref();
      this.worker = w;
    }
    return this.worker;
  }

  private enqueue(op: Op): Promise<void> {
    if (this.closed) return Promise.reject(new Error('sqlite store is closed'));
    return new Promise((resolve, reject) => {
      this.ops.push(op);
      this.waiting.push({ resolve, reject });
      // Writes of this event-loop turn go together; while a commit runs, the next batch grows.
      if (!this.running && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          if (!this.running) this.send();
        });
      }
    });
  }

  /** Sends everything queued to the writer as one transaction. */
  private send(): void {
    if (this.ops.length === 0) return;
    const ops = this.ops;
    const waiting = this.waiting;
    this.ops = [];
    this.waiting = [];
    const id = this.nextId++;
    this.running = { id, waiting };
    const w = this.writer();
    w.ref(); // an unacknowledged commit keeps the process alive
    w.postMessage({ id, ops });
  }

  private committed(id: number, error: string | undefined): void {
    const batch = this.running;
    if (!batch || batch.id !== id) return;
    this.running = undefined;
    this.worker?.unref();
    if (error === undefined) for (const b of batch.waiting) b.resolve();
    else for (const b of batch.waiting) b.reject(new Error(error));
    this.next();
  }

  private writerFailed(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined; // a new writer is started for the next batch
    const batch = this.running;
    this.running = undefined;
    for (const b of batch?.waiting ?? []) b.reject(err);
    this.next();
  }

  private next(): void {
    if (this.ops.length > 0) this.send();
    else if (this.drained.length > 0) {
      for (const d of this.drained) d();
      this.drained = [];
    }
  }
}
