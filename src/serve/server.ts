/**
 * `PolicyServer`: serves the MTA-STS policies of many domains over HTTPS (RFC 8461 §3.3).
 *
 * - `GET`/`HEAD https://mta-sts.<domain>/.well-known/mta-sts.txt` → 200, `text/plain; charset=utf-8`,
 *   the canonical policy text, an `ETag` (the record id) honouring `If-None-Match` with 304.
 *   Anything else → a plain 404 (405 for other methods on the policy path); never a redirect,
 *   which senders must not follow (§3.3).
 * - TLS 1.2/1.3 with the certificate picked by SNI; a client without SNI or naming a host that is
 *   not configured gets its handshake aborted, so no customer's certificate is shown to it.
 * - HTTP/2 and HTTP/1.1 on one port (ALPN).
 * - Certificates from a directory or from ACME (HTTP-01 on the plain HTTP listener).
 * - `reload()` swaps configuration and certificates without touching open connections; a bad
 *   configuration is logged and rejected, and the old one keeps serving.
 * - `/healthz` and `/metrics` (Prometheus) on a separate admin listener.
 * - Hostile clients are bounded: handshake, header and idle timeouts, header size limits, request
 *   bodies never read, and a cap on connections.
 *
 * @example
 * ```ts
 * const server = new PolicyServer({ config: loadConfig('serve.yaml') });
 * await server.start();
 * console.log(server.addresses.https.port);
 * await server.close();
 * ```
 */
import { watch, type FSWatcher } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import path from 'node:path';
import type { SecureContext } from 'node:tls';
import pino, { type Logger } from 'pino';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { POLICY_PATH } from '../mtasts/fetch.js';
import { createReportHandler, type ReportHandler } from '../reports/receiver.js';
import { ReportStore } from '../reports/store.js';
import { databaseSpec } from '../store/sql.js';
import { AcmeManager } from './acme.js';
import { loadCertificateDir, TLS_OPTIONS, type HostCertificate } from './certs.js';
import { ConfigError, formatIssue, loadConfig, type ListenAddress, type ServeConfig } from './config.js';

export interface PolicyServerOptions {
  config: ServeConfig;
  /** Default: pino at the configuration's log_level, to standard output. */
  logger?: Logger;
  /** Reload when the configuration file changes (needs `config.file`). Default false. */
  watch?: boolean;
  /** Debounce of file-change reloads, ms (default 300). */
  watchDebounceMs?: number;
  /** Collect Node's default process metrics too (default true). */
  defaultMetrics?: boolean;
  /** Listen on these instead of the configuration's addresses (the admin one: null disables). */
  listenOverride?: Partial<ServeConfig['listen']>;
}

export interface ServerAddresses {
  https: AddressInfo;
  http: AddressInfo | null;
  admin: AddressInfo | null;
}

interface State {
  config: ServeConfig;
  contexts: Map<string, SecureContext>;
}

const ACME_PREFIX = '/.well-known/acme-challenge/';
const TEXT = 'text/plain; charset=utf-8';

/** Host name of an HTTP Host or :authority value: lower case, no port, no trailing dot. */
function hostOf(authority: string | undefined): string {
  if (authority === undefined) return '';
  let h = authority.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

const NOT_FOUND_HEADERS = { 'content-type': TEXT, 'content-length': '10' };
const NOT_ALLOWED_HEADERS = { 'content-type': TEXT, 'content-length': '19', allow: 'GET, HEAD' };

interface PreparedResponse {
  etag: string;
  ok: Record<string, string>;
  notModified: Record<string, string>;
}

/**
 * Response headers of a policy, built once per configuration entry (a reload makes new entries,
 * so they never go stale). node:http only reads the objects passed to writeHead.
 */
const prepared = new WeakMap<object, PreparedResponse>();
function preparedResponse(entry: { id: string; body: Buffer }): PreparedResponse {
  let p = prepared.get(entry);
  if (p === undefined) {
    const etag = `"${entry.id}"`;
    p = {
      etag,
      ok: { 'content-type': TEXT, 'content-length': String(entry.body.length), etag, 'x-content-type-options': 'nosniff' },
      notModified: { etag },
    };
    prepared.set(entry, p);
  }
  return p;
}

/** RFC 9110 §13.1.2: does If-None-Match match this (strong) ETag? Weak comparison is used. */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export class PolicyServer {
  readonly log: Logger;
  readonly registry = new Registry();
  private state: State;
  private https: Http2SecureServer | undefined;
  private plain: http.Server | undefined;
  private admin: http.Server | undefined;
  private acme: AcmeManager | undefined;
  private watcher: FSWatcher | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();
  private reloading: Promise<boolean> = Promise.resolve(true);
  private started = false;
  /** The `reports:` endpoint (RFC 8460 §5.4), when configured: its handler and store. */
  private reports: { path: string; handler: ReportHandler; store: ReportStore } | undefined;
  /**
   * Requests answered, by status and protocol: plain numbers on the request path, handed to the
   * prom-client counter when /metrics is scraped (its labelled inc() hashes the labels every time).
   */
  private readonly requestCounts = new Map<number, { status: string; protocol: string; n: number }>();
  private readonly metrics: {
    requests: Counter<'status' | 'protocol'>;
    reloads: Counter<'result'>;
    acmeOrders: Counter<'result'>;
    domains: Gauge;
    connections: Gauge;
    certExpiry: Gauge<'host'>;
  };

  constructor(private readonly options: PolicyServerOptions) {
    this.state = { config: options.config, contexts: new Map() };
    this.log = options.logger ?? pino({ level: options.config.logLevel, base: { pid: process.pid } });
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;
    this.metrics = {
      requests: new Counter({
        name: 'mtasts_serve_requests_total', help: 'HTTPS requests answered, by status and protocol.', labelNames: ['status', 'protocol'], registers,
        collect() {
          for (const c of self.requestCounts.values()) {
            if (c.n > 0) this.inc({ status: c.status, protocol: c.protocol }, c.n);
            c.n = 0;
          }
        },
      }),
      reloads: new Counter({ name: 'mtasts_serve_reloads_total', help: 'Configuration reloads, by result (ok or error).', labelNames: ['result'], registers }),
      acmeOrders: new Counter({ name: 'mtasts_serve_acme_orders_total', help: 'ACME certificate orders, by result.', labelNames: ['result'], registers }),
      domains: new Gauge({ name: 'mtasts_serve_domains', help: 'Policy domains configured.', registers, collect() { this.set(self.state.config.domains.size); } }),
      connections: new Gauge({ name: 'mtasts_serve_connections', help: 'Open TCP connections on the HTTPS listener.', registers, collect() { this.set(self.sockets.size); } }),
      certExpiry: new Gauge({ name: 'mtasts_serve_certificate_expiry_seconds', help: 'Unix time at which each host\'s certificate expires.', labelNames: ['host'], registers }),
    };
  }

  get config(): ServeConfig {
    return this.state.config;
  }

  /** The addresses actually bound (ports resolved when 0 was asked for). */
  get addresses(): ServerAddresses {
    const a = (s: NetServer | http.Server | Http2SecureServer | undefined): AddressInfo | null => (s?.address() as AddressInfo | null) ?? null;
    const https = a(this.https);
    if (https === null) throw new Error('PolicyServer: not started');
    return { https, http: a(this.plain), admin: a(this.admin) };
  }

  /** Host names (mta-sts.<domain>) that currently have a certificate and are served. */
  servedHosts(): string[] {
    return [...this.state.contexts.keys()].sort();
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('PolicyServer: already started');
    this.started = true;
    const config = this.state.config;
    for (const w of config.warnings) this.log.warn({ issue: formatIssue(w) }, 'configuration warning');
    if (config.certificates.kind === 'acme') {
      this.acme = new AcmeManager(config.certificates, this.log.child({ component: 'acme' }), {
        onCertificate: (cert) => this.installCertificate(cert),
        onOrder: (_host, result) => this.metrics.acmeOrders.inc({ result }),
      });
    }
    this.state = await this.buildState(config, this.state.contexts);
    if (config.reports) {
      const store = await ReportStore.open(databaseSpec(config.reports.db));
      const log = this.log.child({ component: 'reports' });
      const handler = createReportHandler(store, { path: config.reports.path, log, bodyTimeoutMs: config.limits.headersTimeoutMs * 2 });
      this.reports = { path: config.reports.path, handler, store };
      log.info({ path: config.reports.path, db: store.db.name }, 'TLS-RPT report endpoint enabled');
    }

    const listen = { ...config.listen, ...this.options.listenOverride };
    const limits = config.limits;
    const server = http2.createSecureServer({
      allowHTTP1: true,
      ...TLS_OPTIONS,
      // Unknown or absent SNI: no context, so the handshake is aborted and no certificate leaks.
      SNICallback: (servername, cb) => {
        const ctx = this.state.contexts.get(servername.toLowerCase().replace(/\.$/, ''));
        if (ctx) cb(null, ctx);
        else cb(new Error(`no certificate for server name "${servername}"`), undefined);
      },
      handshakeTimeout: limits.handshakeTimeoutMs,
      maxSessionMemory: 4,
      maxHeaderListPairs: 64,
      maxSendHeaderBlockLength: limits.maxHeaderBytes,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes, enablePush: false },
    });
    // HTTP/1.1 limits (the http2 server hands HTTP/1.1 connections to node:http's parser).
    const h1 = server as unknown as {
      headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; maxHeaderSize: number;
      connectionsCheckingInterval: number; maxRequestsPerSocket: number;
    };
    h1.headersTimeout = limits.headersTimeoutMs;
    h1.requestTimeout = limits.headersTimeoutMs * 2;
    h1.keepAliveTimeout = limits.idleTimeoutMs;
    h1.maxHeaderSize = limits.maxHeaderBytes;
    h1.connectionsCheckingInterval = Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4)));
    server.maxConnections = limits.maxConnections;
    // Idle connections (either protocol) are closed; HTTP/2 sessions get the same timeout.
    server.setTimeout(limits.idleTimeoutMs);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => this.handle(req, res));
    server.on('tlsClientError', (err: Error) => {
      if (this.log.isLevelEnabled('debug')) this.log.debug({ err: err.message }, 'TLS handshake failed');
    });
    server.on('sessionError', () => { /* a broken HTTP/2 session only affects its own client */ });
    this.https = server;

    const opened: { close(): void }[] = [];
    try {
      await listenOn(server, listen.https);
      opened.push(server);
      if (listen.http) {
        this.plain = this.plainServer();
        await listenOn(this.plain, listen.http);
        opened.push(this.plain);
      }
      if (listen.admin) {
        this.admin = this.adminServer();
        await listenOn(this.admin, listen.admin);
        opened.push(this.admin);
      }
    } catch (err) {
      for (const s of opened) s.close();
      this.acme?.close();
      await this.reports?.store.close();
      throw err;
    }
    if (this.acme) this.acme.start();
    if (this.options.watch && config.file) this.watchFile(config.file);
    const addr = this.addresses;
    this.log.info({
      https: `${addr.https.address}:${addr.https.port}`, http: addr.http ? `${addr.http.address}:${addr.http.port}` : null,
      admin: addr.admin ? `${addr.admin.address}:${addr.admin.port}` : null, domains: config.domains.size, served: this.state.contexts.size,
    }, 'mtasts serve listening');
  }

  /**
   * Replaces the configuration: from `next`, or by re-reading the configuration file. Returns false
   * (and keeps the current configuration) when it has errors or certificates are missing.
   */
  reload(next?: ServeConfig): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.doReload(next));
    return this.reloading;
  }

  private async doReload(next?: ServeConfig): Promise<boolean> {
    const file = this.state.config.file;
    let config: ServeConfig;
    try {
      if (next) config = next;
      else if (file) config = loadConfig(file);
      else throw new Error('no configuration file to reload from');
      for (const w of config.warnings) this.log.warn({ issue: formatIssue(w) }, 'configuration warning');
      const old = this.state.config;
      if (JSON.stringify(old.listen) !== JSON.stringify(config.listen) || old.workers !== config.workers) {
        this.log.warn('listen addresses and workers only change on restart; the rest of the new configuration is applied');
      }
      if (JSON.stringify(old.reports ?? null) !== JSON.stringify(config.reports ?? null)) this.log.warn('the reports section only changes on restart');
      if (old.certificates.kind !== config.certificates.kind) throw new Error('switching between certificates.dir and certificates.acme needs a restart');
      const state = await this.buildState(config, new Map());
      this.state = state;
      this.metrics.reloads.inc({ result: 'ok' });
      this.log.info({ domains: config.domains.size, served: state.contexts.size }, 'configuration reloaded');
      if (this.acme) void this.acme.checkAll();
      return true;
    } catch (err) {
      this.metrics.reloads.inc({ result: 'error' });
      const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : [(err as Error).message];
      const code = err instanceof ConfigError ? 'config-invalid' : err instanceof CertificateProblem ? 'serve-certificate-missing' : 'config-invalid';
      this.log.error({ code, issues }, `configuration rejected, still serving the previous one: ${issues.join('; ')}`);
      return false;
    }
  }

  /** Certificates for every configured host; throws (dir mode) when any is missing or bad. */
  private async buildState(config: ServeConfig, contexts: Map<string, SecureContext>): Promise<State> {
    const hosts = [...config.hosts.keys()];
    let certs: Map<string, HostCertificate>;
    if (config.certificates.kind === 'dir') {
      const loaded = await loadCertificateDir(config.certificates.dir, hosts);
      if (loaded.problems.length > 0) throw new CertificateProblem(loaded.problems.join('; '));
      certs = loaded.certs;
    } else {
      if (!this.acme) throw new Error('internal: ACME manager missing');
      this.acme.updateConfig(config.certificates);
      this.acme.hosts = hosts;
      certs = await this.acme.loadExisting(hosts);
    }
    const next = new Map(contexts);
    for (const h of [...next.keys()]) if (!config.hosts.has(h)) next.delete(h);
    this.metrics.certExpiry.reset();
    const now = Date.now();
    for (const [host, c] of certs) {
      next.set(host, c.context);
      this.metrics.certExpiry.set({ host }, Math.floor(c.notAfter.getTime() / 1000));
      if (c.notAfter.getTime() < now) this.log.warn({ host, notAfter: c.notAfter.toISOString() }, 'certificate has expired');
    }
    return { config, contexts: next };
  }

  private installCertificate(cert: HostCertificate): void {
    if (!this.state.config.hosts.has(cert.host)) return;
    const contexts = new Map(this.state.contexts);
    contexts.set(cert.host, cert.context);
    this.state = { ...this.state, contexts };
    this.metrics.certExpiry.set({ host: cert.host }, Math.floor(cert.notAfter.getTime() / 1000));
  }

  private countRequest(status: number, h2: boolean): void {
    const key = h2 ? status : -status;
    let c = this.requestCounts.get(key);
    if (!c) {
      c = { status: String(status), protocol: h2 ? 'h2' : 'http/1.1', n: 0 };
      this.requestCounts.set(key, c);
    }
    c.n++;
  }

  private handle(req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse): void {
    // The keep-alive hot path: no allocation beyond what node:http needs. The host is looked up as
    // sent first (senders send it in lower case without port); the headers of a 200 are built once
    // per policy entry; timing is read only when the request is logged.
    const debug = this.log.isLevelEnabled('debug');
    const started = debug ? process.hrtime.bigint() : 0n;
    const r = res as ServerResponse;
    const h2 = req.httpVersionMajor === 2;
    const headers = req.headers;
    const authority = (h2 ? headers[':authority'] as string | undefined : undefined) ?? headers.host;
    const hosts = this.state.config.hosts;
    let entry = authority === undefined ? undefined : hosts.get(authority);
    const host = entry !== undefined ? authority! : hostOf(authority);
    entry ??= hosts.get(host);
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    // The TLS-RPT report endpoint on every served host (it reads the body and answers by itself).
    if (this.reports !== undefined && pathname === this.reports.path && this.reports.handler(req, res)) {
      res.once('finish', () => this.countRequest(res.statusCode, h2));
      return;
    }
    const method = req.method ?? '';
    // A request body is never read; on HTTP/1.1 the connection is closed after the answer.
    if (!h2 && (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined)) r.shouldKeepAlive = false;

    let status: number;
    if (entry === undefined || pathname !== POLICY_PATH) {
      status = 404;
      r.writeHead(404, NOT_FOUND_HEADERS);
      r.end(method === 'HEAD' ? undefined : 'not found\n');
    } else if (method !== 'GET' && method !== 'HEAD') {
      status = 405;
      r.writeHead(405, NOT_ALLOWED_HEADERS);
      r.end('method not allowed\n');
    } else {
      // RFC 8461 §3.3: the policy is served with status 200 and media type text/plain (§3.2).
      const prepared = preparedResponse(entry);
      const inm = headers['if-none-match'] as string | undefined;
      if (inm !== undefined && noneMatch(inm, prepared.etag)) {
        status = 304;
        r.writeHead(304, prepared.notModified);
        r.end();
      } else {
        status = 200;
        r.writeHead(200, prepared.ok);
        r.end(method === 'HEAD' ? undefined : entry.body);
      }
    }
    this.countRequest(status, h2);
    if (debug) {
      this.log.debug({ host, method, path: pathname, status, protocol: h2 ? 'h2' : 'http/1.1', remote: req.socket?.remoteAddress, us: Number((process.hrtime.bigint() - started) / 1000n) }, 'request');
    }
  }

  /** Port 80: ACME HTTP-01 challenges, 404 for everything else (no redirect to HTTPS). */
  private plainServer(): http.Server {
    const limits = this.state.config.limits;
    const s = http.createServer({ maxHeaderSize: limits.maxHeaderBytes, requestTimeout: limits.headersTimeoutMs * 2, headersTimeout: limits.headersTimeoutMs, keepAliveTimeout: 5000 }, (req, res) => {
      const url = req.url ?? '';
      let status = 404;
      let body = 'not found\n';
      if (url.startsWith(ACME_PREFIX) && (req.method === 'GET' || req.method === 'HEAD')) {
        // RFC 8555 §8.3: the key authorization, as text, at /.well-known/acme-challenge/<token>.
        const key = this.acme?.challenge(url.slice(ACME_PREFIX.length));
        if (key !== undefined) {
          status = 200;
          body = key;
        }
      }
      if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) res.shouldKeepAlive = false;
      res.writeHead(status, { 'content-type': TEXT, 'content-length': String(Buffer.byteLength(body)) });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (this.log.isLevelEnabled('debug')) this.log.debug({ listener: 'http', method: req.method, path: url, status, host: req.headers.host }, 'request');
    });
    s.maxConnections = limits.maxConnections;
    s.setTimeout(limits.idleTimeoutMs);
    return s;
  }

  /** `/healthz` and `/metrics`. */
  private adminServer(): http.Server {
    const s = http.createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5000 }, (req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': TEXT, allow: 'GET, HEAD' }).end('method not allowed\n');
      } else if (url === '/healthz') {
        const body = JSON.stringify({ status: 'ok', domains: this.state.config.domains.size, served: this.state.contexts.size });
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
      } else if (url === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: Error) => res.writeHead(500, { 'content-type': TEXT }).end(`${err.message}\n`),
        );
      } else {
        res.writeHead(404, { 'content-type': TEXT }).end('not found\n');
      }
    });
    s.maxConnections = 100;
    s.setTimeout(30_000);
    return s;
  }

  private watchFile(file: string): void {
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    // Watch the directory: editors and config managers replace the file rather than write into it.
    this.watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base) return;
      if (this.watchTimer) clearTimeout(this.watchTimer);
      this.watchTimer = setTimeout(() => {
        this.log.info({ file }, 'configuration file changed; reloading');
        void this.reload();
      }, this.options.watchDebounceMs ?? 300);
    });
    this.watcher.on('error', (err) => this.log.error({ err: err.message }, 'watching the configuration file failed'));
  }

  /** Stops listening, lets in-flight requests finish briefly, then closes remaining connections. */
  async close(graceMs = 1000): Promise<void> {
    this.watcher?.close();
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.acme?.close();
    const closing = [this.https, this.plain, this.admin].filter((s): s is NonNullable<typeof s> => s !== undefined)
      .map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const plain = this.plain as (http.Server & { closeIdleConnections?(): void }) | undefined;
    plain?.closeIdleConnections?.();
    (this.admin as (http.Server & { closeIdleConnections?(): void }) | undefined)?.closeIdleConnections?.();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
      (this.plain as http.Server | undefined)?.closeAllConnections();
      (this.admin as http.Server | undefined)?.closeAllConnections();
    }, graceMs);
    await Promise.all(closing);
    clearTimeout(timer);
    await this.reports?.store.close();
    this.reports = undefined;
  }
}

/** A configured host without a usable certificate (finding code serve-certificate-missing). */
export class CertificateProblem extends Error {
  override readonly name = 'CertificateProblem';
}

function listenOn(server: NetServer | http.Server | Http2SecureServer, addr: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
