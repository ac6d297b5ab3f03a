/**
 * Redis store (ioredis), for a fleet of MTAs sharing one cache. One string key per domain under a
 * prefix. A write is acknowledged once Redis has acknowledged it; what survives a crash of Redis
 * itself depends on its persistence settings (use `appendonly yes` with `appendfsync always` for
 * writes that are durable on disk — docs/resolver.md).
 *
 * Commands fail fast instead of queueing while the connection is down (no offline queue, one
 * retry, a command timeout), so that the resolver can fall back to memory at once.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { decodeEntry, encodeEntry, withTimeout, type CachedPolicy, type PolicyStore } from './types.js';

export interface RedisStoreOptions {
  /** redis://[:password@]host[:port][/db] (postfix-mta-sts-resolver's `url`/`address`). */
  url?: string;
  /** Key prefix (default `mtasts:policy:`). */
  prefix?: string;
  /** Per-command deadline, ms (default 2000). */
  timeoutMs?: number;
  /** Extra ioredis options. */
  redis?: RedisOptions;
}

/** SET unless the stored entry was fetched later (see the contract in types.ts). */
const SET_UNLESS_NEWER = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and tonumber(old.fetchedAt) and tonumber(old.fetchedAt) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

export class RedisStore implements PolicyStore {
  readonly kind = 'redis';
  readonly client: Redis;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(options: RedisStoreOptions = {}) {
    this.prefix = options.prefix ?? 'mtasts:policy:';
    this.timeoutMs = options.timeoutMs ?? 2000;
    const base: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: this.timeoutMs,
      connectTimeout: this.timeoutMs,
      lazyConnect: true,
      ...options.redis,
    };
    this.client = options.url ? new Redis(options.url, base) : new Redis(base);
    // Errors surface through the commands that fail; keep ioredis from printing them as unhandled.
    this.client.on('error', () => {});
  }

  /** Connects (call once before use); rejects when Redis is unreachable. */
  async connect(): Promise<void> {
    await withTimeout(this.client.connect(), this.timeoutMs, 'redis connect');
  }

  async get(domain: string): Promise<CachedPolicy | null> {
    return decodeEntry(await withTimeout(this.client.get(this.prefix + domain), this.timeoutMs, 'redis GET'));
  }

  async set(entry: CachedPolicy): Promise<void> {
    // Atomic compare-and-set, so that a later fetch stored by another MTA is never replaced.
    await withTimeout(
      this.client.eval(SET_UNLESS_NEWER, 1, this.prefix + entry.domain, encodeEntry(entry), String(entry.fetchedAt)),
      this.timeoutMs, 'redis SET',
    );
  }

  async delete(domain: string): Promise<void> {
    await withTimeout(this.client.del(this.prefix + domain), this.timeoutMs, 'redis DEL');
  }

  async list(): Promise<CachedPolicy[]> {
    const out: CachedPolicy[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await withTimeout(this.client.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000), this.timeoutMs, 'redis SCAN');
      cursor = next;
      if (keys.length > 0) {
        const values = await withTimeout(this.client.mget(...keys), this.timeoutMs, 'redis MGET');
        for (const v of values) {
          const e = decodeEntry(v);
          if (e) out.push(e);
        }
      }
    } while (cursor !== '0');
    return out;
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
