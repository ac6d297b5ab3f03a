/**
 * The HTTPS report endpoint of RFC 8460 §5.4: reporters POST one report per request, as
 * `application/tlsrpt+json` or `application/tlsrpt+gzip`, to the `rua=https://…` URI.
 *
 * Answers:
 * - `201 Created` once a new report is durably stored (its transaction committed), `200 OK` for
 *   a report already stored (a duplicate is a success: the reporter must not retry it);
 * - `400` for a body that is not a valid report, `413` for one over the size limit, checked on the
 *   declared length, while the body streams in, and (by `ingestPayload`) after decompression;
 * - `415` for any other media type or content coding, `405` for other methods on the path, `404`
 *   for other paths (standalone server), `408` when the body does not arrive within the deadline,
 *   `503` when too many reports are being stored at once (with `Retry-After`).
 *
 * Every answer is JSON: `{"status": "imported"|"duplicate"|"rejected", ...}` with `code` and
 * `message` for errors.
 *
 * The same handler runs standalone (`startReportReceiver`, `mtasts reports receive`: HTTPS with a
 * certificate, or plain HTTP behind a reverse proxy) and inside `mtasts serve` (`reports:` section).
 *
 * @example
 * ```ts
 * const store = await ReportStore.open('reports.db');
 * const r = await startReportReceiver({ store, listen: '127.0.0.1:8443', path: '/tlsrpt', cert, key });
 * console.log(r.url); // https://127.0.0.1:8443/tlsrpt
 * await r.close();
 * ```
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULT_LIMITS, ingestPayload, type ImportItem, type IntakeLimits } from './ingest.js';
import type { ReportStore } from './store.js';

/** RFC 8460 §6.4, §6.5: the two registered media types of a report. */
export const REPORT_MEDIA_TYPES = ['application/tlsrpt+json', 'application/tlsrpt+gzip'] as const;

export interface ReportHandlerOptions {
  /** The URL path that accepts reports (default `/tlsrpt`); exact match, query string ignored. */
  path?: string;
  /** Decoding limits; `maxCompressedBytes` is also the request body limit. */
  limits?: IntakeLimits;
  /** Deadline for the whole request body to arrive, ms (default 30000). */
  bodyTimeoutMs?: number;
  /** Most reports being received and stored at once (default 16); more get 503. */
  maxConcurrent?: number;
  log?: Logger;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** Handles a request when it is for the report path: returns true when it took it (and will answer). */
export type ReportHandler = (req: AnyRequest, res: AnyResponse) => boolean;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * The HTTP status for a rejected report: 413 for the size and element limits (as IntakeError
 * decides for decoding), 415 for media types, else 400.
 */
export function statusForRejection(code: string | undefined): 400 | 413 | 415 {
  if (code === undefined) return 400;
  if (/too-large|too-many/.test(code)) return 413;
  if (code === 'receive-media-type' || code === 'receive-content-encoding') return 415;
  return 400;
}

/** `type/subtype` of a Content-Type value, lower case, parameters dropped. */
function mediaType(value: string | undefined): string {
  return (value ?? '').split(';')[0]!.trim().toLowerCase();
}

class BodyError extends Error {
  constructor(readonly answer: Answer) {
    super(String(answer.body.message));
  }
}

/** Reads the body with a byte cap and a deadline; never holds more than `max` bytes. */
function readBody(req: AnyRequest, max: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: BodyError | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        // Stop reading; the connection is closed after the answer.
        req.resume();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks, size));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        finish(new BodyError({ status: 413, body: { status: 'rejected', code: 'report-too-large', message: `the request body is over the limit of ${max} bytes` } }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onError = (err: Error): void => finish(new BodyError({ status: 400, body: { status: 'rejected', code: 'receive-aborted', message: err.message } }));
    const onAborted = (): void => finish(new BodyError({ status: 400, body: { status: 'rejected', code: 'receive-aborted', message: 'the client aborted the request' } }));
    const timer = setTimeout(() => finish(new BodyError({
      status: 408, body: { status: 'rejected', code: 'receive-timeout', message: `the request body did not arrive within ${timeoutMs} ms` },
    })), timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function send(req: AnyRequest, res: AnyResponse, a: Answer, closeConnection: boolean): void {
  const body = `${JSON.stringify(a.body)}\n`;
  const r = res as ServerResponse;
  if (r.headersSent || r.writableEnded || (res as { destroyed?: boolean }).destroyed) return;
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...a.headers,
  };
  // HTTP/1.1: an unread or partly read body leaves the connection unusable.
  if (closeConnection && req.httpVersionMajor === 1) headers.connection = 'close';
  try {
    r.writeHead(a.status, headers);
    r.end(body);
  } catch {
    return; // the client is gone (a reset HTTP/2 stream): nobody to answer
  }
  if (closeConnection && req.httpVersionMajor === 1) r.once('finish', () => (req.socket as Socket | undefined)?.end());
}

/**
 * The request handler: takes requests for `path` (any host), returns false for others so that a
 * host server (standalone or `mtasts serve`) can answer them.
 */
export function createReportHandler(store: ReportStore, opts: ReportHandlerOptions = {}): ReportHandler {
  const path = opts.path ?? '/tlsrpt';
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 30_000;
  const maxConcurrent = opts.maxConcurrent ?? 16;
  const log = opts.log;
  let active = 0;

  const handle = async (req: AnyRequest, res: AnyResponse): Promise<void> => {
    const started = Date.now();
    const remote = req.socket?.remoteAddress ?? 'unknown';
    let answer: Answer;
    let close = false;
    let item: ImportItem | undefined;
    const method = req.method ?? '';
    const type = mediaType(req.headers['content-type'] as string | undefined);
    const coding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (method !== 'POST') {
      close = true;
      answer = { status: 405, headers: { allow: 'POST' }, body: { status: 'rejected', code: 'receive-method', message: 'reports are submitted with POST (RFC 8460 §5.4)' } };
    } else if (!(REPORT_MEDIA_TYPES as readonly string[]).includes(type)) {
      // RFC 8460 §5.4: the body is application/tlsrpt+json or application/tlsrpt+gzip.
      close = true;
      answer = { status: 415, headers: { accept: REPORT_MEDIA_TYPES.join(', ') }, body: { status: 'rejected', code: 'receive-media-type', message: `the content type must be application/tlsrpt+json or application/tlsrpt+gzip, got ${JSON.stringify(type || '(none)')}` } };
    } else if (!['identity', 'gzip', 'x-gzip'].includes(coding)) {
      close = true;
      answer = { status: 415, body: { status: 'rejected', code: 'receive-content-encoding', message: `content encoding ${JSON.stringify(coding)} is not supported (gzip or none)` } };
    } else if (declared !== undefined && Number.isFinite(declared) && declared > limits.maxCompressedBytes) {
      close = true;
      answer = { status: 413, body: { status: 'rejected', code: 'report-too-large', message: `the request body (${declared} bytes) is over the limit of ${limits.maxCompressedBytes} bytes` } };
    } else if (active >= maxConcurrent) {
      close = true;
      answer = { status: 503, headers: { 'retry-after': '5' }, body: { status: 'rejected', code: 'receive-busy', message: 'too many reports are being stored right now; retry later' } };
    } else {
      active++;
      try {
        const bytes = await readBody(req, limits.maxCompressedBytes, bodyTimeoutMs);
        // ingestPayload decodes gzip by content (also for a gzip content coding), caps the decoded
        // size, parses, dedupes, and resolves only once the report is committed.
        const items = await ingestPayload(store, { bytes, source: `https:${remote}`, transport: 'https', receivedAt: new Date() }, limits);
        item = items.find((i) => i.status === 'rejected') ?? items[0];
        if (item === undefined) {
          answer = { status: 400, body: { status: 'rejected', code: 'report-source-empty', message: 'the body holds no report' } };
        } else if (item.status === 'rejected') {
          answer = { status: statusForRejection(item.code), body: { status: 'rejected', code: item.code, message: item.message } };
        } else {
          const body: Record<string, unknown> = { status: item.status, organization: item.organization, reportId: item.reportId };
          if (item.warnings && item.warnings.length > 0) body.warnings = item.warnings;
          answer = { status: item.status === 'imported' ? 201 : 200, body };
        }
      } catch (err) {
        if (err instanceof BodyError) {
          close = true;
          answer = err.answer;
        } else {
          // The store failed: the report is not stored, so the reporter must retry (RFC 8460 §5.4).
          log?.error({ err: (err as Error).message, remote }, 'storing a report failed');
          answer = { status: 503, headers: { 'retry-after': '60' }, body: { status: 'rejected', code: 'receive-store-unavailable', message: 'the report could not be stored; retry later' } };
        }
      } finally {
        active--;
      }
    }
    if (answer.status >= 400 && method === 'POST' && !req.readableEnded) close = true;
    send(req, res, answer, close);
    log?.info({
      remote, status: answer.status, code: answer.body.code, organization: item?.organization, reportId: item?.reportId,
      bytes: declared, ms: Date.now() - started,
    }, 'report request');
  };

  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    if (pathname !== path) return false;
    handle(req, res).catch((err: Error) => {
      log?.error({ err: err.message }, 'report request failed');
      send(req, res, { status: 500, body: { status: 'rejected', code: 'internal-error', message: 'internal error' } }, true);
    });
    return true;
  };
}

export interface ReportReceiverOptions extends ReportHandlerOptions {
  store: ReportStore;
  /** `HOST:PORT` (port 0: ephemeral). */
  listen: string;
  /** PEM certificate chain and key: HTTPS. Without them, plain HTTP (behind a TLS-terminating proxy). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Header deadline, ms (default 10000). */
  headersTimeoutMs?: number;
  /** Most open connections (default 1000). */
  maxConnections?: number;
}

export interface ReportReceiver {
  /** The report URL, e.g. `https://127.0.0.1:8443/tlsrpt`. */
  url: string;
  address: AddressInfo;
  server: http.Server | https.Server;
  /** Replaces the certificate (on SIGHUP after a renewal). */
  setCertificate(cert: string | Buffer, key: string | Buffer): void;
  /** Stops accepting connections, lets requests in flight finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Parses `HOST:PORT` or `[V6]:PORT`. */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** Starts a standalone report endpoint: the handler on `path`, 404 elsewhere. */
export async function startReportReceiver(opts: ReportReceiverOptions): Promise<ReportReceiver> {
  const addr = parseHostPort(opts.listen);
  if (!addr) throw new Error(`--listen needs HOST:PORT, got "${opts.listen}"`);
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('give both a certificate and its key, or neither');
  const path = opts.path ?? '/tlsrpt';
  const handler = createReportHandler(opts.store, { ...opts, path });
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const bodyTimeout = opts.bodyTimeoutMs ?? 30_000;
  const serverOptions: http.ServerOptions = {
    headersTimeout,
    // The whole request (headers and body); the handler's own body deadline is the shorter one.
    requestTimeout: headersTimeout + bodyTimeout + 5000,
    keepAliveTimeout: 5000,
    maxHeaderSize: 16 * 1024,
    // How often node:http enforces the header and request deadlines (its default is 30 s).
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 4))),
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (handler(req, res)) return;
    const body = `${JSON.stringify({ status: 'rejected', code: 'receive-not-found', message: `reports are accepted at ${path}` })}\n`;
    res.shouldKeepAlive = false;
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
  };
  const server = opts.cert !== undefined && opts.key !== undefined
    ? https.createServer({ ...serverOptions, cert: opts.cert, key: opts.key, minVersion: 'TLSv1.2' }, onRequest)
    : http.createServer(serverOptions, onRequest);
  server.maxConnections = opts.maxConnections ?? 1000;
  server.setTimeout(headersTimeout + bodyTimeout + 5000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  const hostText = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${scheme}://${hostText}:${address.port}${path}`,
    address,
    server,
    setCertificate(cert, key) {
      if (server instanceof https.Server) server.setSecureContext({ cert, key });
    },
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
