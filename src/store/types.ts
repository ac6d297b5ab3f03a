/**
 * The policy cache behind one interface, so that the resolver can keep its cache in memory, in an
 * embedded SQLite file, or in Redis or PostgreSQL shared by a fleet of MTAs.
 *
 * Contract for every store:
 * - `set` resolves only once the entry is durable in that store (SQLite: committed with
 *   synchronous=FULL; PostgreSQL: committed; Redis: acknowledged by the server, whose own
 *   persistence settings decide what survives a crash of Redis itself);
 * - `set` never replaces an entry fetched later than the one given (`fetchedAt`): MTAs sharing a
 *   store race, and a node writing back its check times must not undo another node's newer fetch
 *   (RFC 8461 §5.1: the newest policy fetched under the current id is the one to apply);
 * - every call is bounded in time and rejects on failure — the resolver decides what to do then
 *   (it degrades to its in-memory copy; it never answers "no policy" because a store is down).
 */
import type { Policy } from '../mtasts/policy.js';

/** One cached MTA-STS policy with what RFC 8461 §3.3 and §5.1 need to apply and refresh it. */
export interface CachedPolicy {
  /** The recipient domain (A-label, lower case). */
  domain: string;
  /** The `id` of the `_mta-sts` TXT record the policy was fetched under (RFC 8461 §3.1). */
  id: string;
  policy: Policy;
  /** The policy text exactly as served (TLS-RPT reports carry it: RFC 8460 §4.3 policy-string). */
  text: string;
  /** When the policy was fetched (ms since the epoch). */
  fetchedAt: number;
  /** fetchedAt + max_age (RFC 8461 §3.2: cached for up to max_age from the last policy fetch). */
  expiresAt: number;
  /** When the TXT record was last seen with this id (ms). */
  checkedAt: number;
  /** When a lookup last used the entry (ms); entries unused for long are removed. */
  lastUsedAt: number;
}

export interface PolicyStore {
  /** `memory`, `sqlite`, `redis` or `postgres`. */
  readonly kind: string;
  get(domain: string): Promise<CachedPolicy | null>;
  /** Resolves once the entry is durable (see the module comment). */
  set(entry: CachedPolicy): Promise<void>;
  delete(domain: string): Promise<void>;
  /** Every entry (used to warm the in-memory copy at start-up). */
  list(): Promise<CachedPolicy[]>;
  close(): Promise<void>;
}

/** Validates an entry read back from a store; a corrupt row is treated as absent. */
export function decodeEntry(raw: string | null | undefined): CachedPolicy | null {
  if (raw === null || raw === undefined) return null;
  try {
    const e = JSON.parse(raw) as Partial<CachedPolicy>;
    if (
      typeof e.domain !== 'string' || typeof e.id !== 'string' || typeof e.text !== 'string' ||
      typeof e.fetchedAt !== 'number' || typeof e.expiresAt !== 'number' ||
      typeof e.policy !== 'object' || e.policy === null || !Array.isArray(e.policy.mx)
    ) return null;
    return {
      domain: e.domain, id: e.id, policy: e.policy, text: e.text, fetchedAt: e.fetchedAt, expiresAt: e.expiresAt,
      checkedAt: typeof e.checkedAt === 'number' ? e.checkedAt : e.fetchedAt,
      lastUsedAt: typeof e.lastUsedAt === 'number' ? e.lastUsedAt : e.fetchedAt,
    };
  } catch {
    return null;
  }
}

/** The store rule of `set`: true when `incoming` may replace `stored`. */
export function mayReplace(stored: CachedPolicy | null | undefined, incoming: CachedPolicy): boolean {
  return !stored || incoming.fetchedAt >= stored.fetchedAt;
}

export function encodeEntry(e: CachedPolicy): string {
  return JSON.stringify(e);
}

/** Rejects with a timeout error when `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
