/**
 * PolicyResolver: the sender side of MTA-STS with a cache, as RFC 8461 §3.3, §5 and §10 ask.
 *
 * For a recipient domain it returns the policy to apply (or none) and why:
 * - within `graceMs` of the last TXT check a cached, unexpired policy is used without any lookup;
 * - otherwise the `_mta-sts` TXT record is looked up, and a policy is fetched only when its `id`
 *   differs from the cached policy's id or the cached policy has expired (RFC 8461 §3.3, §5.1);
 * - a fresh (unexpired) cached policy keeps applying when DNS fails, the TXT record disappears or
 *   is invalid, or the fetch fails (RFC 8461 §3.3 "Conversely, if no live policy..."); an expired
 *   one never applies;
 * - after a failed fetch, the same id is not fetched again for `fetchBackoffMs` (5 minutes,
 *   RFC 8461 §3.3);
 * - a newly fetched policy replaces the cached one, mode `none` included (RFC 8461 §8.3: that is
 *   how a domain withdraws MTA-STS), and is durable in the store before it is returned;
 * - `maintain()` (run every `tickMs` after `start()`) refreshes cached policies before they expire,
 *   spread over time with bounded concurrency (RFC 8461 §3.3, §10.2), logs refresh failures
 *   (unless the cached mode is `none`), and removes entries unused for `unusedTtlMs`.
 *
 * The in-memory copy is always complete; a durable store (SQLite, Redis, PostgreSQL) sits behind
 * it. When the store fails, the resolver logs an error and keeps answering from memory — never
 * "no policy" because a store went away — and writes entries changed meanwhile back once the store
 * answers again.
 */
import { DnsClient, dnsFailureCode, DnsLookupError } from '../dns/resolver.js';
import { toALabel } from '../dns/name.js';
import { finding, type Finding } from '../findings.js';
import { fetchPolicy, type FetchPolicyOptions } from '../mtasts/fetch.js';
import { parsePolicy } from '../mtasts/policy.js';
import { selectStsRecord, type StsRecord } from '../mtasts/record.js';
import { MemoryStore } from '../store/memory.js';
import type { CachedPolicy, PolicyStore } from '../store/types.js';

export type ResolutionReason =
  /** A cached policy, TXT checked within the grace period or its id unchanged. */
  | 'cached'
  /** A policy fetched now (first time, new id, or the cached one had expired). */
  | 'fetched'
  /** DNS failed; the fresh cached policy applies. */
  | 'cached-dns-failed'
  /** The TXT record is gone or invalid; the fresh cached policy applies. */
  | 'cached-no-record'
  /** The fetch failed; the fresh cached policy applies. */
  | 'cached-fetch-failed'
  /** A fetch for this id failed recently (back-off); the fresh cached policy applies. */
  | 'cached-fetch-backoff'
  /** No valid record and nothing fresh cached: the domain has no MTA-STS policy. */
  | 'no-record'
  | 'dns-failed'
  | 'fetch-failed'
  | 'fetch-backoff'
  /** The input is not a domain name. */
  | 'invalid-domain';

export interface Resolution {
  domain: string;
  /** The policy to apply, or null: deliver as though the domain had no MTA-STS (RFC 8461 §5). */
  policy: CachedPolicy | null;
  reason: ResolutionReason;
  /** Human-readable, in order. */
  reasons: string[];
  /** Findings from the lookups made for this resolution (empty when served from cache). */
  findings: Finding[];
  /** The TXT record seen, when one was looked up. */
  record?: StsRecord;
}

/** Minimal pino-compatible logger. */
export interface ResolverLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: ResolverLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ResolveOptions {
  /** Deadline of each DNS lookup and of the policy fetch, ms (default: the resolver's). */
  timeoutMs?: number;
  /**
   * Called when a valid `_mta-sts` TXT record has been seen, before any policy fetch: lets the
   * caller start work that only domains with MTA-STS need (the socketmap server's MX lookup) in
   * parallel with the fetch. Only the caller that starts a lookup gets the call; concurrent
   * callers for the same domain share that lookup.
   */
  onRecord?: () => void;
}

export interface PolicyResolverOptions {
  /** DNS client; default: one per timeout, on `dnsServers` (or the system's servers). */
  dns?: DnsClient;
  dnsServers?: readonly string[];
  /** Durable store behind the in-memory copy (default: none, memory only). */
  store?: PolicyStore;
  /** Policy fetch options (HTTPS port, extra CAs, size bound, blockPrivate). */
  fetch?: Omit<FetchPolicyOptions, 'dns' | 'timeoutMs' | 'now'>;
  /** Deadline for each DNS lookup and for each policy fetch, ms (default 10000). */
  timeoutMs?: number;
  /** Clock (ms since the epoch); inject one in tests. */
  now?: () => number;
  /** Within this long after a TXT check, a cached policy is used without looking again (default 60 s). */
  graceMs?: number;
  /** No new fetch for the same id within this long after a failed one (default 5 min, RFC 8461 §3.3). */
  fetchBackoffMs?: number;
  /** Proactive refresh: how often each cached policy's TXT record is re-checked (default 1 day). */
  refreshIntervalMs?: number;
  /** Proactive refresh: domains refreshed at once (default 100). */
  refreshConcurrency?: number;
  /** Disable proactive refresh (maintain() then only evicts). Default: enabled. */
  refresh?: boolean;
  /** Entries not used for this long are removed (default 30 days). */
  unusedTtlMs?: number;
  /** How often start() runs maintain() (default 60 s). */
  tickMs?: number;
  /** Upper bound on entries kept in memory when there is no durable store (default unbounded). */
  memoryLimit?: number;
  /** After a store failure, how long to run from memory before trying the store again (default 30 s). */
  storeRetryMs?: number;
  logger?: ResolverLogger;
}

export interface ResolverStats {
  lookups: number;
  cacheHits: number;
  fetches: number;
  fetchFailures: number;
  refreshes: number;
  refreshFailures: number;
  evictions: number;
  storeErrors: number;
}

const DAY = 86_400_000;

/** A deterministic number in [0, 1) per domain, to spread refreshes over time. */
function spread(domain: string): number {
  let h = 2166136261;
  for (let i = 0; i < domain.length; i++) h = Math.imul(h ^ domain.charCodeAt(i), 16777619);
  return (h >>> 0) / 2 ** 32;
}

type RecordLookup =
  | { kind: 'record'; record: StsRecord; findings: Finding[] }
  | { kind: 'none'; findings: Finding[] }
  | { kind: 'dns-failed'; findings: Finding[] };

export class PolicyResolver {
  readonly memory: MemoryStore;
  readonly store: PolicyStore | undefined;
  readonly stats: ResolverStats = { lookups: 0, cacheHits: 0, fetches: 0, fetchFailures: 0, refreshes: 0, refreshFailures: 0, evictions: 0, storeErrors: 0 };
  private readonly now: () => number;
  private readonly log: ResolverLogger;
  private readonly graceMs: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly refreshIntervalMs: number;
  private readonly refreshConcurrency: number;
  private readonly refreshEnabled: boolean;
  private readonly unusedTtlMs: number;
  private readonly tickMs: number;
  private readonly storeRetryMs: number;
  private readonly dnsClients = new Map<number, DnsClient>();
  private readonly inflight = new Map<string, Promise<Resolution>>();
  /** `domain id` → when a fetch for that id last failed. */
  private readonly failures = new Map<string, number>();
  /** Domains with no valid record, and when that was seen (negative cache for graceMs). */
  private readonly negative = new Map<string, number>();
  /** Domains whose refresh failed, and when (retried after the back-off). */
  private readonly refreshFailedAt = new Map<string, number>();
  /** Entries changed while the store was down, written back when it answers again. */
  private readonly dirty = new Set<string>();
  /** Entries whose check or usage time changed in memory only; written in one batch per tick. */
  private readonly touched = new Set<string>();
  private storeDownUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private maintaining: Promise<void> | undefined;

  constructor(private readonly options: PolicyResolverOptions = {}) {
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
    this.graceMs = options.graceMs ?? 60_000;
    this.backoffMs = options.fetchBackoffMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.refreshIntervalMs = options.refreshIntervalMs ?? DAY;
    this.refreshConcurrency = Math.max(1, options.refreshConcurrency ?? 100);
    this.refreshEnabled = options.refresh ?? true;
    this.unusedTtlMs = options.unusedTtlMs ?? 30 * DAY;
    this.tickMs = options.tickMs ?? 60_000;
    this.storeRetryMs = options.storeRetryMs ?? 30_000;
    this.store = options.store;
    this.memory = new MemoryStore(options.store ? Infinity : options.memoryLimit ?? Infinity);
  }

  /** Loads the store into memory and starts the maintenance timer. */
  async start(): Promise<void> {
    if (this.store) {
      try {
        const entries = await this.store.list();
        for (const e of entries) {
          const mine = this.memory.peek(e.domain);
          if (!mine || e.fetchedAt >= mine.fetchedAt) this.memory.put(e);
        }
        this.log.info({ store: this.store.kind, entries: entries.length }, 'policy cache loaded from store');
      } catch (err) {
        this.storeFailed(err, 'list');
      }
    }
    if (!this.timer) {
      this.timer = setInterval(() => void this.maintain(), this.tickMs);
      this.timer.unref();
    }
  }

  /** Stops the timer, waits for a running maintenance pass, and closes the store. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.maintaining;
    await Promise.allSettled([...this.inflight.values()]);
    await this.flushTouched().catch(() => {});
    if (this.store) await this.store.close().catch(() => {});
  }

  /** True while the store is considered down and the resolver runs from memory. */
  get degraded(): boolean {
    return this.store !== undefined && this.now() < this.storeDownUntil;
  }

  /** The policy to apply for `domainInput`, and why. Never rejects. */
  async resolve(domainInput: string, opts: ResolveOptions = {}): Promise<Resolution> {
    this.stats.lookups++;
    const domain = toALabel(domainInput.trim());
    if (domain === null) {
      return {
        domain: domainInput, policy: null, reason: 'invalid-domain',
        reasons: [`"${domainInput}" is not a domain name`],
        findings: [finding('input-domain-invalid', `"${domainInput}" is not a domain name`)],
      };
    }
    const hit = this.hit(domain);
    if (hit !== undefined) {
      const now = this.now();
      if (hit) return { domain, policy: hit, reason: 'cached', reasons: [`cached policy id ${hit.id}, TXT record checked ${Math.round((now - hit.checkedAt) / 1000)} s ago`], findings: [] };
      const neg = this.negative.get(domain) ?? now;
      return { domain, policy: null, reason: 'no-record', reasons: [`no valid _mta-sts TXT record (seen ${Math.round((now - neg) / 1000)} s ago) and no cached policy`], findings: [] };
    }
    let p = this.inflight.get(domain);
    if (!p) {
      p = this.resolveSlow(domain, opts).catch((err: unknown) => {
        this.log.error({ domain, err: (err as Error).message }, 'resolver internal error');
        return this.fallback(domain, 'dns-failed', `internal error: ${(err as Error).message}`, []);
      }).finally(() => this.inflight.delete(domain));
      this.inflight.set(domain, p);
    }
    return p;
  }

  /**
   * The synchronous part of resolve(), for callers on a hot path: for a domain already in
   * lower-case A-label form (as toALabel returns it), the cached policy when it applies without
   * any lookup (unexpired, TXT record checked within the grace period), null when the negative
   * cache says the domain has no policy, and undefined when resolve() has to look.
   * A hit counts as a use of the entry; the usage time is written to the store in batches by
   * maintain(), not per lookup (it only decides eviction). A hit counts as a lookup in `stats`;
   * after a miss, call resolve(), which counts it.
   */
  cached(domain: string): CachedPolicy | null | undefined {
    const h = this.hit(domain);
    if (h !== undefined) this.stats.lookups++;
    return h;
  }

  private hit(domain: string): CachedPolicy | null | undefined {
    const now = this.now();
    const entry = this.memory.peek(domain);
    if (entry && now < entry.expiresAt && now - entry.checkedAt < this.graceMs) {
      if (entry.lastUsedAt !== now) {
        entry.lastUsedAt = now;
        if (this.store) this.touched.add(domain);
      }
      this.stats.cacheHits++;
      return entry;
    }
    const neg = this.negative.get(domain);
    if ((!entry || now >= entry.expiresAt) && neg !== undefined && now - neg < this.graceMs) {
      this.stats.cacheHits++;
      return null;
    }
    return undefined;
  }

  private dns(timeoutMs: number): DnsClient {
    if (this.options.dns) return this.options.dns;
    let c = this.dnsClients.get(timeoutMs);
    if (!c) {
      c = new DnsClient({ timeoutMs, ...(this.options.dnsServers ? { servers: this.options.dnsServers } : {}) });
      this.dnsClients.set(timeoutMs, c);
    }
    return c;
  }

  /** The fresh cached entry for `domain`, if any. */
  private fresh(domain: string, now: number): CachedPolicy | null {
    const e = this.memory.peek(domain);
    return e && now < e.expiresAt ? e : null;
  }

  private apply(entry: CachedPolicy, reason: ResolutionReason, reasons: string[], findings: Finding[], record?: StsRecord): Resolution {
    entry.lastUsedAt = this.now();
    if (this.store) this.touched.add(entry.domain);
    const r: Resolution = { domain: entry.domain, policy: entry, reason, reasons, findings };
    if (record) r.record = record;
    return r;
  }

  /** Applies the fresh cached policy if there is one, else "no policy" with `reason`. */
  private fallback(domain: string, reason: 'dns-failed' | 'no-record' | 'fetch-failed' | 'fetch-backoff', why: string, findings: Finding[], record?: StsRecord): Resolution {
    const fresh = this.fresh(domain, this.now());
    if (fresh) {
      // RFC 8461 §3.3: with no live policy, a valid (non-expired) cached policy MUST be applied.
      const cachedReason = `cached-${reason}` as ResolutionReason;
      return this.apply(fresh, cachedReason, [why, `the cached policy id ${fresh.id} (mode ${fresh.policy.mode}) has not expired (until ${new Date(fresh.expiresAt).toISOString()}) and keeps applying`], findings, record);
    }
    const expired = this.memory.peek(domain);
    const reasons = [why, expired ? `the cached policy id ${expired.id} expired at ${new Date(expired.expiresAt).toISOString()} and no longer applies` : 'no cached policy', 'deliver as though the domain had no MTA-STS policy'];
    const r: Resolution = { domain, policy: null, reason, reasons, findings };
    if (record) r.record = record;
    return r;
  }

  private async resolveSlow(domain: string, opts: ResolveOptions): Promise<Resolution> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    // Another MTA of the fleet may have refreshed or replaced the policy in the shared store.
    await this.pullFromStore(domain);
    let now = this.now();
    const entry = this.memory.peek(domain);
    if (entry && now < entry.expiresAt && now - entry.checkedAt < this.graceMs) {
      return this.apply(entry, 'cached', [`cached policy id ${entry.id} (from the shared store), TXT record checked recently`], []);
    }

    const txt = await this.lookupRecord(domain, timeoutMs);
    now = this.now();
    if (txt.kind === 'dns-failed') return this.fallback(domain, 'dns-failed', `the _mta-sts TXT lookup failed (${txt.findings[0]?.code ?? 'dns-error'})`, txt.findings);
    if (txt.kind === 'none') {
      if (!this.fresh(domain, now)) this.negative.set(domain, now);
      return this.fallback(domain, 'no-record', `no valid _mta-sts TXT record (${txt.findings.filter((f) => f.severity === 'error').map((f) => f.code).join(', ') || 'record-missing'})`, txt.findings);
    }
    this.negative.delete(domain);
    const { record } = txt;
    if (opts.onRecord) {
      try {
        opts.onRecord();
      } catch { /* the caller's business */ }
    }
    const fresh = this.fresh(domain, now);
    if (fresh && fresh.id === record.id) {
      // RFC 8461 §3.3/§5.1: same id and not expired — no fetch.
      // Nothing durable changes: the policy is the one already stored. The new check and usage
      // times go to memory now and to the store with the next batch (maintain()); if they are
      // lost in a crash, the TXT record is merely checked again.
      const updated: CachedPolicy = { ...fresh, checkedAt: now, lastUsedAt: now };
      this.memory.put(updated);
      if (this.store) this.touched.add(domain);
      return this.apply(updated, 'cached', [`TXT id ${record.id} unchanged; cached policy applies until ${new Date(fresh.expiresAt).toISOString()}`], txt.findings, record);
    }
    const why = fresh ? `TXT id changed from ${fresh.id} to ${record.id}` : entry ? `cached policy id ${entry.id} expired` : 'no cached policy';
    const fetched = await this.fetchAndStore(domain, record, timeoutMs, txt.findings);
    if (fetched.entry) {
      return this.apply(fetched.entry, 'fetched', [why, `fetched policy id ${record.id}: mode ${fetched.entry.policy.mode}, max_age ${fetched.entry.policy.maxAge}`], fetched.findings, record);
    }
    return this.fallback(domain, fetched.backoff ? 'fetch-backoff' : 'fetch-failed', fetched.why, fetched.findings, record);
  }

  /** RFC 8461 §3.1: exactly one valid `v=STSv1` TXT record at `_mta-sts.<domain>`. */
  private async lookupRecord(domain: string, timeoutMs: number): Promise<RecordLookup> {
    let txt: string[][];
    try {
      txt = await this.dns(timeoutMs).txt(`_mta-sts.${domain}`);
    } catch (err) {
      if (err instanceof DnsLookupError && err.isNegativeAnswer) {
        return { kind: 'none', findings: [finding('record-missing', `no TXT record at _mta-sts.${domain}`)] };
      }
      const code = dnsFailureCode(err);
      return { kind: 'dns-failed', findings: [finding(code, `TXT lookup of _mta-sts.${domain}: ${(err as Error).message}`)] };
    }
    const selected = selectStsRecord(txt);
    if (!selected.record) return { kind: 'none', findings: selected.findings };
    return { kind: 'record', record: selected.record, findings: selected.findings };
  }

  /** Fetches the policy for `record.id` unless in back-off; stores it durably on success. */
  private async fetchAndStore(
    domain: string, record: StsRecord, timeoutMs: number, findings: Finding[],
  ): Promise<{ entry?: CachedPolicy; backoff?: boolean; why: string; findings: Finding[] }> {
    const key = `${domain} ${record.id}`;
    const startedAt = this.now();
    const failedAt = this.failures.get(key);
    if (failedAt !== undefined && startedAt - failedAt < this.backoffMs) {
      // RFC 8461 §3.3: limit further attempts to once per five minutes or longer per version id.
      return { backoff: true, why: `the fetch of policy id ${record.id} failed ${Math.round((startedAt - failedAt) / 1000)} s ago; no new attempt before ${Math.round(this.backoffMs / 1000)} s`, findings };
    }
    this.stats.fetches++;
    const res = await fetchPolicy(domain, { ...this.options.fetch, dns: this.dns(timeoutMs), timeoutMs });
    const all = [...findings, ...res.findings];
    let parsed: ReturnType<typeof parsePolicy> | undefined;
    if (res.ok && res.body !== undefined) {
      parsed = parsePolicy(new Uint8Array(res.body));
      all.push(...parsed.findings);
    }
    if (!parsed?.policy || res.body === undefined) {
      this.stats.fetchFailures++;
      this.failures.set(key, this.now());
      const codes = all.filter((f) => f.severity === 'error').map((f) => f.code);
      // An untrusted certificate's message names the trust store in use: log it with the codes.
      const untrusted = all.find((f) => f.code === 'policy-cert-untrusted');
      this.log.warn({ domain, id: record.id, findings: codes, ...(untrusted ? { detail: untrusted.message } : {}) }, 'MTA-STS policy fetch failed');
      return { why: `the fetch of policy id ${record.id} failed (${codes.join(', ') || 'no valid policy'})`, findings: all };
    }
    this.failures.delete(key);
    const p = parsed.policy;
    const entry: CachedPolicy = {
      domain, id: record.id, policy: p, text: res.body.toString('utf8'),
      // RFC 8461 §3.2: max_age counts from the time of the fetch.
      fetchedAt: startedAt, expiresAt: startedAt + p.maxAge * 1000, checkedAt: startedAt, lastUsedAt: startedAt,
    };
    // RFC 8461 §8.3: a new policy replaces the cached one, mode "none" included (it is cached too).
    await this.save(entry);
    this.log.info({ domain, id: record.id, mode: p.mode, maxAge: p.maxAge }, 'MTA-STS policy fetched');
    return { entry, why: 'fetched', findings: all };
  }

  /** Puts the entry in memory, then waits until the store has it durably (or has failed). */
  private async save(entry: CachedPolicy): Promise<void> {
    this.memory.put(entry);
    if (!this.store) return;
    if (this.degraded) {
      this.dirty.add(entry.domain);
      return;
    }
    try {
      await this.store.set(entry);
      this.storeRecovered();
    } catch (err) {
      this.dirty.add(entry.domain);
      this.storeFailed(err, 'set');
    }
  }

  /**
   * Writes the check and usage times changed since the last batch (one store round, which SQLite
   * commits as one transaction). Not needed for correctness: they only save a TXT check after a
   * restart and decide eviction.
   */
  private async flushTouched(): Promise<void> {
    if (!this.store || this.touched.size === 0) return;
    const domains = [...this.touched];
    this.touched.clear();
    if (this.degraded) {
      for (const d of domains) this.dirty.add(d);
      return;
    }
    const writes: Promise<void>[] = [];
    for (const d of domains) {
      const e = this.memory.peek(d);
      if (e) writes.push(this.store.set(e).catch((err: unknown) => {
        this.dirty.add(d);
        this.storeFailed(err, 'set');
      }));
    }
    await Promise.all(writes);
  }

  private async pullFromStore(domain: string): Promise<void> {
    if (!this.store || this.degraded) return;
    try {
      const s = await this.store.get(domain);
      this.storeRecovered();
      if (!s) return;
      const mine = this.memory.peek(domain);
      if (!mine || s.fetchedAt > mine.fetchedAt || (s.fetchedAt === mine.fetchedAt && s.checkedAt > mine.checkedAt)) {
        this.memory.put({ ...s, lastUsedAt: Math.max(s.lastUsedAt, mine?.lastUsedAt ?? 0) });
      }
    } catch (err) {
      this.storeFailed(err, 'get');
    }
  }

  private storeFailed(err: unknown, op: string): void {
    this.stats.storeErrors++;
    const wasDown = this.degraded;
    this.storeDownUntil = this.now() + this.storeRetryMs;
    if (!wasDown) {
      this.log.error({ store: this.store?.kind, op, err: (err as Error).message, retryInMs: this.storeRetryMs },
        'policy store failed; answering from the in-memory cache');
    }
  }

  private storeRecovered(): void {
    if (this.storeDownUntil === 0) return;
    this.storeDownUntil = 0;
    this.log.info({ store: this.store?.kind, pending: this.dirty.size }, 'policy store answers again');
    void this.flushDirty();
  }

  private async flushDirty(): Promise<void> {
    if (!this.store) return;
    for (const domain of [...this.dirty]) {
      const e = this.memory.peek(domain);
      try {
        if (e) await this.store.set(e);
        else await this.store.delete(domain);
        this.dirty.delete(domain);
      } catch (err) {
        this.storeFailed(err, 'write-back');
        return;
      }
    }
  }

  /**
   * One maintenance pass: prunes back-off records, removes unused entries, writes back entries
   * changed while the store was down, and refreshes the policies that are due.
   */
  maintain(): Promise<void> {
    this.maintaining ??= this.maintainOnce().finally(() => {
      this.maintaining = undefined;
    });
    return this.maintaining;
  }

  private async maintainOnce(): Promise<void> {
    const now = this.now();
    for (const [k, at] of this.failures) if (now - at >= this.backoffMs) this.failures.delete(k);
    for (const [k, at] of this.negative) if (now - at >= this.graceMs) this.negative.delete(k);
    for (const [k, at] of this.refreshFailedAt) if (now - at >= this.backoffMs) this.refreshFailedAt.delete(k);
    if (this.store && !this.degraded && this.dirty.size > 0) await this.flushDirty();
    await this.flushTouched();

    const due: CachedPolicy[] = [];
    for (const e of [...this.memory.values()]) {
      const unused = now - e.lastUsedAt;
      if (unused > this.unusedTtlMs || (now >= e.expiresAt && unused > DAY)) {
        this.memory.remove(e.domain);
        this.stats.evictions++;
        if (this.store) {
          if (this.degraded) this.dirty.add(e.domain);
          else await this.store.delete(e.domain).catch((err: unknown) => this.storeFailed(err, 'delete'));
        }
        continue;
      }
      if (this.refreshEnabled && now < e.expiresAt && !this.refreshFailedAt.has(e.domain) && now >= this.refreshDueAt(e)) due.push(e);
    }
    if (due.length === 0) return;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < due.length) {
        const e = due[next++]!;
        await this.refreshOne(e).catch((err: unknown) => this.log.error({ domain: e.domain, err: (err as Error).message }, 'refresh error'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.refreshConcurrency, due.length) }, worker));
  }

  /**
   * When an entry is next refreshed: its TXT record is re-checked once per refresh interval (at
   * most every max_age/2), and the policy is re-fetched between 50 % and 75 % of max_age, each
   * domain at its own point so that a cache filled at once is not refreshed all at once.
   */
  refreshDueAt(e: CachedPolicy): number {
    const maxAgeMs = e.expiresAt - e.fetchedAt;
    const s = spread(e.domain);
    const checkAt = e.checkedAt + Math.min(this.refreshIntervalMs, maxAgeMs / 2) * (0.75 + 0.25 * s);
    return Math.min(checkAt, this.renewAt(e));
  }

  private renewAt(e: CachedPolicy): number {
    return e.fetchedAt + (e.expiresAt - e.fetchedAt) * (0.5 + 0.25 * spread(e.domain));
  }

  /** RFC 8461 §3.3: proactively refresh a cached policy before it expires. */
  private async refreshOne(e: CachedPolicy): Promise<void> {
    this.stats.refreshes++;
    const domain = e.domain;
    const txt = await this.lookupRecord(domain, this.timeoutMs);
    const now = this.now();
    const current = this.memory.peek(domain) ?? e;
    const alert = (why: string, findings: Finding[]): void => {
      this.stats.refreshFailures++;
      this.refreshFailedAt.set(domain, now);
      // RFC 8461 §3.3: alert administrators when refresh fails, unless the cached mode is "none".
      const log = current.policy.mode === 'none' ? this.log.info.bind(this.log) : this.log.warn.bind(this.log);
      log({ domain, id: current.id, mode: current.policy.mode, expiresAt: new Date(current.expiresAt).toISOString(), findings: findings.map((f) => f.code) }, `MTA-STS policy refresh failed: ${why}`);
    };
    if (txt.kind !== 'record') {
      alert(txt.kind === 'dns-failed' ? 'TXT lookup failed' : 'no valid TXT record', txt.findings);
      return;
    }
    if (txt.record.id === current.id && now < this.renewAt(current)) {
      await this.save({ ...current, checkedAt: now });
      return;
    }
    const fetched = await this.fetchAndStore(domain, txt.record, this.timeoutMs, txt.findings);
    if (!fetched.entry) alert(fetched.why, fetched.findings);
    else {
      // Keep the usage time: a refresh is not a use.
      fetched.entry.lastUsedAt = current.lastUsedAt;
      this.memory.put(fetched.entry);
    }
  }
}
