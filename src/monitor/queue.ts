/**
 * Sharing the checks among several `mtasts monitor` processes on one PostgreSQL database, through
 * pg-boss (a PostgreSQL job queue: `SELECT … FOR UPDATE SKIP LOCKED`, expiry and retries).
 *
 * - Time is cut into slots of one `interval`. At each slot start every process enqueues one job per
 *   domain with a deterministic id (a hash of schema, domain and slot), so however many processes
 *   enqueue, pg-boss keeps one job per domain per slot (`ON CONFLICT DO NOTHING`). Each job starts at
 *   a fixed phase of the slot (a hash of the domain), which spreads the checks over the interval.
 * - A process takes a batch of jobs (`fetch`: they become active), checks the domains, and stores the
 *   results, the events, the alert outbox entries *and the job completions* in one transaction. A
 *   crash before the commit leaves the jobs active: pg-boss fails them after `expireInSeconds` and
 *   retries them on any process. A check stored twice for one slot is impossible: `monitor_checks`
 *   is unique on (domain, round).
 *
 * pg-boss creates and migrates its own schema (`queue.schema` in the configuration).
 */
import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import type { SqlExecutor } from '../store/sql.js';

export const QUEUE_NAME = 'mtasts-monitor-check';

export interface CheckJob {
  jobId: string;
  domain: string;
  /** `slot-<ISO start of the slot>`. */
  roundId: string;
}

export interface CheckQueueOptions {
  url: string;
  schema: string;
  /** A job held longer than this (a dead process) is retried elsewhere, seconds. */
  expireSeconds: number;
  /** How often pg-boss looks for expired jobs, seconds (default 30). */
  maintenanceSeconds?: number;
  onError?: (err: Error) => void;
}

/** A UUID (version-5 layout) derived from the parts: the same job id in every process. */
export function jobUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Where in its slot a domain's check starts, ms (stable per domain). */
export function phaseOf(domain: string, intervalMs: number): number {
  return createHash('sha256').update(domain).digest().readUInt32BE(0) % Math.max(1, Math.floor(intervalMs));
}

export const slotRoundId = (slotStartMs: number): string => `slot-${new Date(slotStartMs).toISOString()}`;

export class CheckQueue {
  private constructor(private readonly boss: PgBoss, private readonly opts: CheckQueueOptions) {}

  static async open(opts: CheckQueueOptions): Promise<CheckQueue> {
    const boss = new PgBoss({
      connectionString: opts.url,
      schema: opts.schema,
      max: 3,
      application_name: 'mtasts-monitor',
      supervise: true,
      schedule: false,
      migrate: true,
      maintenanceIntervalSeconds: opts.maintenanceSeconds ?? 30,
    });
    boss.on('error', (err: Error) => opts.onError?.(err));
    await boss.start();
    try {
      await boss.createQueue(QUEUE_NAME, { name: QUEUE_NAME, retryLimit: 1000, retryDelay: 0, expireInSeconds: opts.expireSeconds });
    } catch (err) {
      // Another process created it first.
      if (!/exists|duplicate/i.test((err as Error).message)) throw err;
    }
    return new CheckQueue(boss, opts);
  }

  /** Enqueues every domain for the slot starting at `slotStartMs` (idempotent across processes). */
  async enqueueSlot(domains: readonly string[], slotStartMs: number, intervalMs: number): Promise<void> {
    const roundId = slotRoundId(slotStartMs);
    for (let i = 0; i < domains.length; i += 1000) {
      const jobs: PgBoss.JobInsert[] = domains.slice(i, i + 1000).map((domain) => ({
        id: jobUuid(this.opts.schema, domain, roundId),
        name: QUEUE_NAME,
        data: { domain, roundId },
        startAfter: new Date(slotStartMs + phaseOf(domain, intervalMs)).toISOString(),
        retryLimit: 1000,
        expireInSeconds: this.opts.expireSeconds,
      }));
      await this.boss.insert(jobs);
    }
  }

  /** Takes up to `batchSize` due jobs (they stay active until completed in a transaction or expired). */
  async fetch(batchSize: number): Promise<CheckJob[]> {
    const jobs = await this.boss.fetch<{ domain: string; roundId: string }>(QUEUE_NAME, { batchSize });
    return (jobs ?? []).map((j) => ({ jobId: j.id, domain: j.data.domain, roundId: j.data.roundId }));
  }

  /** Completes jobs inside the caller's transaction (committed with the check results, or not at all). */
  async completeIn(tx: SqlExecutor, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    const db: PgBoss.Db = { executeSql: async (text, values) => ({ rows: await tx.query(text, values) }) };
    await this.boss.complete(QUEUE_NAME, [...jobIds], { db });
  }

  /** Hands jobs back at once (a stopping process), so that another process takes them. */
  async release(jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.boss.fail(QUEUE_NAME, [...jobIds]);
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: false, close: true, wait: true, timeout: 5000 });
  }
}
