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
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DnsClient } from '../dns/resolver.js';
import { PostgresStore } from '../store/postgres.js';
import { RedisStore } from '../store/redis.js';
import { SqliteStore } from '../store/sqlite.js';
import type { PolicyStore } from '../store/types.js';
import { splitPemCertificates } from '../tls/certificate.js';
import type { ResolverConfig } from './config.js';
import { encodeNetstring, NetstringDecoder, NetstringError } from './netstring.js';
import { domainFromKey, renderReply, type ZoneConfig } from './postfix.js';
import { PolicyResolver } from './resolver.js';

const MAX_REQUEST = 2048;
const IDLE_MS = 5 * 60_000;

/** MX host names per domain, cached for the grace period (they shape the `match=` list). */
class MxCache {
  private readonly map = new Map<string, { at: number; hosts: string[] | null }>();
  constructor(private readonly dns: (timeoutMs: number) => DnsClient, private readonly ttlMs: number) {}

  async get(domain: string, timeoutMs: number): Promise<string[] | null> {
    const now = Date.now();
    const c = this.map.get(domain);
    if (c && now - c.at < this.ttlMs) return c.hosts;
    let hosts: string[] | null;
    try {
      hosts = (await this.dns(timeoutMs).mx(domain)).map((m) => m.exchange.toLowerCase()).filter((h) => h !== '' && h !== '.');
    } catch {
      hosts = null;
    }
    if (this.map.size > 200_000) this.map.clear();
    this.map.set(domain, { at: now, hosts });
    return hosts;
  }
}

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
    fetch: { ...(config.httpsPort ? { port: config.httpsPort } : {}), ...(ca ? { ca } : {}) },
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
  const requests = new Counter({ name: 'mtasts_resolver_requests_total', help: 'socketmap requests by zone and reply', labelNames: ['zone', 'reply'], registers: [registry] });
  const duration = new Histogram({ name: 'mtasts_resolver_request_duration_seconds', help: 'socketmap request latency', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15], registers: [registry] });
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
  const zoneFor = (name: string): ZoneConfig => config.zones.get(name) ?? config.defaultZone;
  const handle = async (raw: Buffer): Promise<string> => {
    const started = process.hrtime.bigint();
    const text = raw.toString('utf8');
    const sp = text.indexOf(' ');
    const zoneName = sp < 0 ? text : text.slice(0, sp);
    const key = sp < 0 ? '' : text.slice(sp + 1);
    const zone = zoneFor(zoneName);
    const zoneLabel = config.zones.has(zoneName) ? zoneName : 'default';
    let reply = 'NOTFOUND ';
    let kind = 'notfound';
    try {
      const domain = domainFromKey(key);
      if (domain !== null) {
        const res = await resolver.resolve(domain, { timeoutMs: zone.timeout * 1000 });
        const needMx = res.policy !== null && (res.policy.policy.mode === 'enforce' || (res.policy.policy.mode === 'testing' && zone.strictTesting));
        const mx = needMx ? await mxCache.get(domain, zone.timeout * 1000) : null;
        const r = renderReply(res, zone, mx);
        reply = r.text;
        kind = r.kind;
        log.debug({ zone: zoneName, key, domain, reason: res.reason, reply }, 'lookup');
      }
    } catch (err) {
      // Lookups never reject; this is a bug. Postfix treats TEMP as a temporary failure (defer).
      log.error({ key, err: (err as Error).message }, 'lookup failed');
      reply = 'TEMP internal error';
      kind = 'temp';
    }
    requests.inc({ zone: zoneLabel, reply: kind });
    duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return reply;
  };

  const sockets = new Set<net.Socket>();
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];
  const server = net.createServer((sock) => {
    sockets.add(sock);
    connections.inc();
    sock.setNoDelay(true);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    const decoder = new NetstringDecoder(MAX_REQUEST);
    let tail: Promise<void> = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      let reqs: Buffer[];
      try {
        reqs = decoder.push(chunk);
      } catch (err) {
        log.warn({ err: (err as NetstringError).message, peer: sock.remoteAddress }, 'bad netstring request; closing the connection');
        sock.destroy();
        return;
      }
      for (const req of reqs) {
        inflight++;
        const answer = handle(req);
        tail = tail.then(async () => {
          const reply = await answer;
          if (!sock.destroyed) sock.write(encodeNetstring(reply));
        }).finally(() => {
          inflight--;
          if (inflight === 0) {
            for (const w of idleWaiters) w();
            idleWaiters = [];
          }
        });
      }
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
  log.info({ address, cache: config.cache.type, zones: [...config.zones.keys()] }, 'mtasts resolver listening');

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

