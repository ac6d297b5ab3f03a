/**
 * The Postfix socketmap server of `mtasts resolver`: netstring requests `NAME KEY` on TCP or a
 * unix socket, answered in order per connection (lookups of one connection run concurrently),
 * with Prometheus metrics, structured logs and graceful shutdown.
 *
 * postfix main.cf:  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
 */
import { mkdirSync, readFileSync, unlinkSync, chmodSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { DnsClient } from '../dns/resolver.js';
import { PostgresStore } from '../store/postgres.js';
import { RedisStore } from '../store/redis.js';
import { SqliteStore } from '../store/sqlite.js';
import type { CachedPolicy, PolicyStore } from '../store/types.js';
import { splitPemCertificates } from '../tls/certificate.js';
import { trustStore } from '../tls/trust.js';
import type { ResolverConfig } from './config.js';
import { NetstringDecoder, NetstringError, netstringText } from './netstring.js';
import { domainFromKey, renderReply, type ZoneConfig } from './postfix.js';
import { PolicyResolver } from './resolver.js';

const MAX_REQUEST = 2048;
const IDLE_MS = 5 * 60_000;

/** MX host names per domain, cached for the grace period (they shape the `match=` list). */
class MxCache {
  private readonly map = new Map<string, { at: number; hosts: string[] | null }>();
  private readonly inflight = new Map<string, Promise<string[] | null>>();
  constructor(private readonly dns: (timeoutMs: number) => DnsClient, private readonly ttlMs: number) {}

  /** The cached MX hosts (null: the lookup failed) while fresh; undefined when a lookup is needed. */
  peek(domain: string): string[] | null | undefined {
    const c = this.map.get(domain);
    return c && Date.now() - c.at < this.ttlMs ? c.hosts : undefined;
  }

  /** The MX hosts, looked up unless fresh in the cache; concurrent calls share one lookup. */
  get(domain: string, timeoutMs: number): Promise<string[] | null> {
    const c = this.peek(domain);
    if (c !== undefined) return Promise.resolve(c);
    let p = this.inflight.get(domain);
    if (!p) {
      const now = Date.now();
      p = this.dns(timeoutMs).mx(domain).then(
        (mx) => mx.map((m) => m.exchange.toLowerCase()).filter((h) => h !== '' && h !== '.'),
        () => null,
      ).then((hosts) => {
        if (this.map.size > 200_000) this.map.clear();
        this.map.set(domain, { at: now, hosts });
        return hosts;
      }).finally(() => this.inflight.delete(domain));
      this.inflight.set(domain, p);
    }
    return p;
  }
}

/**
 * A Prometheus histogram without labels whose observe() is a few array operations; prom-client's
 * Histogram validates and hashes labels on every call. Registered with registry.registerMetric.
 */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Seconds. */
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += this.counts[i]!;
      values.push({ labels: { le }, value: acc, metricName: `${this.name}_bucket` });
    });
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A reply rendered for one cached policy, zone and MX set (reused while all three are unchanged). */
interface RenderedReply { zone: ZoneConfig; mx: readonly string[] | null; text: string; kind: 'secure' | 'notfound' }

export async function createStore(config: ResolverConfig, log: Logger): Promise<PolicyStore | undefined> {
  const c = config.cache;
  switch (c.type) {
    case 'internal':
      return undefined;
    case 'sqlite':
      mkdirSync(path.dirname(path.resolve(c.filename)), { recursive: true });
      return new SqliteStore({ filename: c.filename, timeoutMs: c.timeout * 1000 });
    case 'redis': {
      const s = new RedisStore({ url: c.url, prefix: c.prefix });
      // A store that is down at start-up is not fatal: the resolver runs from memory meanwhile.
      await s.connect().catch((err: Error) => log.error({ err: err.message }, 'redis not reachable at start-up'));
      return s;
    }
    case 'postgres': {
      const s = new PostgresStore({ dsn: c.dsn, table: c.table });
      await s.connect().catch((err: Error) => log.error({ err: err.message }, 'postgres not reachable at start-up'));
      return s;
    }
  }
}

export interface SocketmapServer {
  /** `host:port` or the socket path. */
  address: string;
  port: number | undefined;
  resolver: PolicyResolver;
  registry: Registry;
  metricsPort: number | undefined;
  /** Graceful: stop accepting, finish in-flight lookups (up to shutdown_timeout), close the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Overrides the store built from the configuration. */
  store?: PolicyStore;
  now?: () => number;
}

export async function startSocketmapServer(config: ResolverConfig, opts: StartOptions = {}): Promise<SocketmapServer> {
  const log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'mtasts-resolver' } });
  const ca = config.caFile ? splitPemCertificates(readFileSync(config.caFile, 'utf8')) : undefined;
  const trust = trustStore({ mode: config.trust, ...(ca ? { extraPem: ca, extraLabel: `ca_file (${config.caFile})` } : {}) });
  const store = opts.store ?? (await createStore(config, log));
  const dnsClients = new Map<number, DnsClient>();
  const dnsFor = (timeoutMs: number): DnsClient => {
    let c = dnsClients.get(timeoutMs);
    if (!c) {
      c = new DnsClient({ timeoutMs, ...(config.dnsServers ? { servers: config.dnsServers } : {}) });
      dnsClients.set(timeoutMs, c);
    }
    return c;
  };
  const resolver = new PolicyResolver({
    ...(config.dnsServers ? { dnsServers: config.dnsServers } : {}),
    ...(store ? { store } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    fetch: { ...(config.httpsPort ? { port: config.httpsPort } : {}), trust },
    timeoutMs: config.defaultZone.timeout * 1000,
    graceMs: config.cacheGrace * 1000,
    fetchBackoffMs: config.fetchBackoff * 1000,
    refresh: config.proactive.enabled,
    refreshIntervalMs: config.proactive.interval * 1000,
    refreshConcurrency: config.proactive.concurrencyLimit,
    unusedTtlMs: config.unusedTtl * 1000,
    ...(config.cache.type === 'internal' ? { memoryLimit: config.cache.cacheSize } : {}),
    logger: log,
  });
  await resolver.start();
  const mxCache = new MxCache(dnsFor, config.cacheGrace * 1000);

  // --- metrics -----------------------------------------------------------------------------
  const registry = new Registry();
  // Per-request metrics are counted in plain numbers and handed to prom-client at scrape time:
  // its per-call label hashing and validation cost more than the rest of a cached lookup.
  const requestCounts = new Map<string, { zone: string; reply: string; n: number }>();
  new Counter({
    name: 'mtasts_resolver_requests_total', help: 'socketmap requests by zone and reply', labelNames: ['zone', 'reply'], registers: [registry],
    collect() {
      for (const c of requestCounts.values()) {
        if (c.n > 0) this.inc({ zone: c.zone, reply: c.reply }, c.n);
        c.n = 0;
      }
    },
  });
  const duration = new LatencyHistogram('mtasts_resolver_request_duration_seconds', 'socketmap request latency', [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15]);
  registry.registerMetric(duration as unknown as Metric);
  const connections = new Gauge({ name: 'mtasts_resolver_connections', help: 'open socketmap connections', registers: [registry] });
  new Gauge({ name: 'mtasts_resolver_cache_entries', help: 'policies in the in-memory cache', registers: [registry], collect() { this.set(resolver.memory.size); } });
  new Gauge({ name: 'mtasts_resolver_store_degraded', help: '1 while the store is down and the cache runs from memory', registers: [registry], collect() { this.set(resolver.degraded ? 1 : 0); } });
  const statCounter = (name: keyof typeof resolver.stats, help: string): void => {
    new Gauge({ name: `mtasts_resolver_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`, help, registers: [registry], collect() { this.set(resolver.stats[name]); } });
  };
  statCounter('fetches', 'policy fetches');
  statCounter('fetchFailures', 'failed policy fetches');
  statCounter('refreshes', 'proactive refreshes');
  statCounter('refreshFailures', 'failed proactive refreshes');
  statCounter('evictions', 'entries removed as unused');
  statCounter('storeErrors', 'store operation failures');

  // --- socketmap -----------------------------------------------------------------------------
  // The hot path (a cached policy within the grace period, MX hosts cached) answers synchronously,
  // with no promise, no allocation beyond the reply, and the reply text reused while the policy
  // entry and MX set are unchanged. Everything else goes through resolver.resolve().
  const debug = log.isLevelEnabled('debug');
  const zoneFor = (name: string): ZoneConfig => config.zones.get(name) ?? config.defaultZone;
  /** Socketmap key → domain (or null: not an MTA-STS lookup); validation done once per key. */
  const domains = new Map<string, string | null>();
  const domainOf = (key: string): string | null => {
    let d = domains.get(key);
    if (d === undefined) {
      d = domainFromKey(key);
      if (domains.size >= 100_000) domains.clear();
      domains.set(key, d);
    }
    return d;
  };
  /** Rendered replies per cached entry object; a replaced entry (new check, new policy) drops out. */
  const rendered = new WeakMap<CachedPolicy, RenderedReply[]>();
  const needsMx = (p: CachedPolicy | null, zone: ZoneConfig): boolean =>
    p !== null && (p.policy.mode === 'enforce' || (p.policy.mode === 'testing' && zone.strictTesting));
  const render = (domain: string, policy: CachedPolicy, zone: ZoneConfig, mx: readonly string[] | null): RenderedReply => {
    let list = rendered.get(policy);
    const found = list?.find((r) => r.zone === zone && r.mx === mx);
    if (found) return found;
    const r = renderReply({ domain, policy, reason: 'cached', reasons: [], findings: [] }, zone, mx);
    const out: RenderedReply = { zone, mx, text: r.text, kind: r.kind };
    if (!list) rendered.set(policy, (list = []));
    if (list.length >= 8) list.shift();
    list.push(out);
    return out;
  };
  const count = (zoneLabel: string, kind: string, started: number): void => {
    const k = `${zoneLabel}\0${kind}`;
    const c = requestCounts.get(k);
    if (c) c.n++;
    else requestCounts.set(k, { zone: zoneLabel, reply: kind, n: 1 });
    duration.observe((performance.now() - started) / 1000);
  };

  const slow = async (domain: string, zone: ZoneConfig, zoneName: string, zoneLabel: string, key: string, started: number): Promise<string> => {
    let reply = 'NOTFOUND ';
    let kind = 'notfound';
    try {
      const timeoutMs = zone.timeout * 1000;
      // Every lookup a reply needs starts at once, so that a silent DNS server costs one timeout,
      // not one per lookup: with a cached policy that needs the MX hosts, the MX lookup runs beside
      // the TXT check; otherwise a valid TXT record starts it beside the policy fetch.
      const known = resolver.memory.peek(domain);
      const early = known && needsMx(known, zone) ? mxCache.get(domain, timeoutMs) : undefined;
      const res = await resolver.resolve(domain, { timeoutMs, onRecord: () => void mxCache.get(domain, timeoutMs) });
      const mx = needsMx(res.policy, zone) ? await (early ?? mxCache.get(domain, timeoutMs)) : null;
      const r = res.policy && res.reason === 'cached' ? render(domain, res.policy, zone, mx) : renderReply(res, zone, mx);
      reply = r.text;
      kind = r.kind;
      if (debug) log.debug({ zone: zoneName, key, domain, reason: res.reason, reply }, 'lookup');
    } catch (err) {
      // Lookups never reject; this is a bug. Postfix treats TEMP as a temporary failure (defer).
      log.error({ key, err: (err as Error).message }, 'lookup failed');
      reply = 'TEMP internal error';
      kind = 'temp';
    }
    count(zoneLabel, kind, started);
    return reply;
  };

  /** The reply to one request: a string when known at once, else a promise (never rejects). */
  const handle = (raw: Buffer): string | Promise<string> => {
    const started = performance.now();
    const text = raw.toString('utf8');
    const sp = text.indexOf(' ');
    const zoneName = sp < 0 ? text : text.slice(0, sp);
    const key = sp < 0 ? '' : text.slice(sp + 1);
    const zone = zoneFor(zoneName);
    const zoneLabel = config.zones.has(zoneName) ? zoneName : 'default';
    const domain = domainOf(key);
    if (domain === null) {
      count(zoneLabel, 'notfound', started);
      return 'NOTFOUND ';
    }
    const hit = resolver.cached(domain);
    if (hit !== undefined) {
      const mx = needsMx(hit, zone) ? mxCache.peek(domain) : null;
      if (mx !== undefined) {
        const r = hit === null ? { text: 'NOTFOUND ', kind: 'notfound' } : render(domain, hit, zone, mx);
        if (debug) log.debug({ zone: zoneName, key, domain, reason: hit ? 'cached' : 'no-record', reply: r.text }, 'lookup');
        count(zoneLabel, r.kind, started);
        return r.text;
      }
    }
    return slow(domain, zone, zoneName, zoneLabel, key, started);
  };

  const sockets = new Set<net.Socket>();
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];
  const settled = (): void => {
    inflight--;
    if (inflight === 0) {
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
  };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    connections.inc();
    sock.setNoDelay(true);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    const decoder = new NetstringDecoder(MAX_REQUEST);
    // Replies go out in request order. Answers known at once are written together, in one write
    // per read, unless an earlier answer of this connection is still pending; then they queue
    // behind it.
    let tail: Promise<void> = Promise.resolve();
    let pending = 0;
    const write = (reply: string): void => {
      if (!sock.destroyed) sock.write(netstringText(reply));
    };
    sock.on('data', (chunk: Buffer) => {
      let reqs: Buffer[];
      try {
        reqs = decoder.push(chunk);
      } catch (err) {
        log.warn({ err: (err as NetstringError).message, peer: sock.remoteAddress }, 'bad netstring request; closing the connection');
        sock.destroy();
        return;
      }
      let batch = '';
      for (const req of reqs) {
        const answer = handle(req);
        if (pending === 0 && typeof answer === 'string') {
          batch += netstringText(answer);
          continue;
        }
        if (batch !== '') {
          if (!sock.destroyed) sock.write(batch);
          batch = '';
        }
        pending++;
        inflight++;
        tail = tail.then(() => answer).then(write).finally(() => {
          pending--;
          settled();
        });
      }
      if (batch !== '' && !sock.destroyed) sock.write(batch);
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      sockets.delete(sock);
      connections.dec();
    });
  });
  server.maxConnections = 10_000;

  let address: string;
  let port: number | undefined;
  if (config.path) {
    try {
      unlinkSync(config.path); // a stale socket from an earlier run
    } catch { /* none */ }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: config.path, backlog: 1024 }, () => resolve());
    });
    if (config.mode !== undefined) chmodSync(config.path, config.mode);
    address = config.path;
  } else {
    // reuse_port needs SO_REUSEPORT, which Node offers from 22.12 on; on older Node it is ignored.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.host, port: config.port, backlog: 1024 }, () => resolve());
    });
    const a = server.address() as net.AddressInfo;
    port = a.port;
    address = `${config.host}:${port}`;
  }
  log.info({ address, cache: config.cache.type, zones: [...config.zones.keys()], trust: trust.description, trustedCertificates: trust.certificates.length }, 'mtasts resolver listening');

  let metricsServer: http.Server | undefined;
  let metricsPort: number | undefined;
  if (config.metrics) {
    metricsServer = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    metricsServer.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      metricsServer!.once('error', reject);
      metricsServer!.listen(config.metrics!.port, config.metrics!.host, () => resolve());
    });
    metricsPort = (metricsServer.address() as net.AddressInfo).port;
    log.info({ metrics: `${config.metrics.host}:${metricsPort}` }, 'metrics listening');
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info({ inflight, connections: sockets.size }, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if (inflight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => idleWaiters.push(resolve)),
          new Promise<void>((resolve) => { timer = setTimeout(resolve, config.shutdownTimeout * 1000); }),
        ]);
        clearTimeout(timer);
        if (inflight > 0) log.warn({ inflight }, 'shutdown timeout expired; remaining lookups abandoned');
      }
      for (const s of sockets) s.end();
      setTimeout(() => { for (const s of sockets) s.destroy(); }, 1000).unref();
      await closed;
      if (metricsServer) await new Promise<void>((resolve) => metricsServer!.close(() => resolve()));
      await resolver.close();
      log.info('stopped');
    })();
    return closing;
  };

  return { address, port, resolver, registry, metricsPort, close };
}

