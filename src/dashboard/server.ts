/**
 * The dashboard's HTTP server (node:http): server-rendered pages, a JSON API under /api/, and the
 * front-end assets, all from this process (no CDN). It binds 127.0.0.1 by default and refuses to
 * listen anywhere else without authentication. The only state-changing action, "check now", exists
 * when the caller (the monitor) passes `checkNow`, and is a POST guarded against CSRF.
 *
 * @example
 * ```ts
 * const db = await openDatabase('mtasts.db');
 * const dash = await startDashboard({ db, listen: '127.0.0.1:8080', readOnly: true });
 * console.log(dash.url); // http://127.0.0.1:8080/
 * await dash.close();
 * ```
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { SqlDatabase } from '../store/sql.js';
import { loadAssets, type Asset } from './assets.js';
import { DashboardData, type DashboardDataOptions, type ListQuery } from './data.js';
import { PORTFOLIO_SORTS, type PortfolioQuery, type PortfolioSort } from './model.js';
import { domainPage, errorPage, eventsPage, portfolioPage, reportPage, reportsPage, type PageContext } from './pages.js';
import {
  assertSafeBinding, authorized, CsrfGuard, parseListen, setSecurityHeaders, type DashboardAuth,
} from './security.js';
import { normalizeDomainParam } from './params.js';

export interface DashboardLog {
  info?(msg: string): void;
  warn?(msg: string): void;
  error?(msg: string): void;
}

export interface DashboardOptions extends DashboardDataOptions {
  db: SqlDatabase;
  /** HOST:PORT (port 0 picks a free one); default 127.0.0.1:8080. */
  listen?: string;
  auth?: DashboardAuth;
  /** No state-changing actions (standalone `mtasts dashboard`). */
  readOnly: boolean;
  /** Runs a check of one domain now (the monitor passes it; needs readOnly false). */
  checkNow?: (domain: string) => Promise<void>;
  log?: DashboardLog;
}

export interface Dashboard {
  url: string;
  server: Server;
  data: DashboardData;
  close(): Promise<void>;
}

const DEFAULT_PER_PAGE = 50;
const MAX_PER_PAGE = 500;
const MAX_URL = 4096;
const MAX_BODY = 4096;

/** The API's index: every endpoint with its parameters. */
export const API_INDEX = {
  name: 'mtasts dashboard API',
  version: 1,
  endpoints: [
    { method: 'GET', path: '/api/', description: 'this index' },
    { method: 'GET', path: '/api/portfolio', description: 'one row per domain with counters by verdict and mode', params: ['q', 'verdict (pass|warn|fail|none)', 'mode (enforce|testing|none|no-policy)', 'recommendation', 'problems (1)', `sort (${PORTFOLIO_SORTS.join('|')}, "-" prefix for descending)`, 'page', `per_page (≤ ${MAX_PER_PAGE})`] },
    { method: 'GET', path: '/api/domains/{domain}', description: 'latest check by section with fixes, verdict timeline, events, policy history with diffs, TLS-RPT totals and chart data, advice', params: ['days (1-366, TLS-RPT window, default 30)'] },
    { method: 'GET', path: '/api/reports', description: 'TLS-RPT reports, newest first', params: ['domain', 'organization', 'since (YYYY-MM-DD)', 'until (YYYY-MM-DD)', 'page', 'per_page'] },
    { method: 'GET', path: '/api/reports/{id}', description: 'one report: raw JSON text, warnings, DKIM result, source' },
    { method: 'GET', path: '/api/events', description: 'monitor events, newest first', params: ['domain', 'state (open|resolved|notice)', 'since (YYYY-MM-DD)', 'page', 'per_page'] },
    { method: 'POST', path: '/domains/{domain}/check', description: 'check a domain now (only when served by `mtasts monitor`; form field csrf, same-origin)' },
  ],
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:8080');
  assertSafeBinding(host, options.auth);
  const assets = await loadAssets();
  const assetVersion: Record<string, string> = {};
  for (const a of assets.values()) assetVersion[a.name] = a.hash;
  const data = new DashboardData(options.db, options);
  const csrf = new CsrfGuard();
  const canCheck = !options.readOnly && options.checkNow !== undefined;
  const log = options.log ?? {};

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    setSecurityHeaders(res);
    if ((req.url ?? '').length > MAX_URL) throw new HttpError(414, 'URL too long');
    if (!authorized(req, options.auth)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="mtasts dashboard", charset="UTF-8"');
      throw new HttpError(401, 'authentication required');
    }
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path.startsWith('/assets/') || path === '/favicon.ico') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      const name = path === '/favicon.ico' ? 'icon.svg' : path.slice('/assets/'.length);
      const asset = assets.get(name);
      if (!asset) throw new HttpError(404, 'no such asset');
      return sendAsset(req, res, asset, url.searchParams.get('v') === asset.hash);
    }

    const session = csrf.session(req);
    if (session.setCookie && canCheck) res.setHeader('Set-Cookie', session.setCookie);
    const ctx: PageContext = { assetVersion, readOnly: !canCheck, ...(canCheck ? { csrfToken: csrf.tokenFor(session.cookie) } : {}) };

    const checkMatch = /^\/domains\/([^/]+)\/check$/.exec(path);
    if (checkMatch) {
      if (method !== 'POST') throw new HttpError(405, 'method not allowed');
      if (!canCheck) throw new HttpError(403, 'this dashboard is read-only');
      const domain = normalizeDomainParam(checkMatch[1]!);
      if (domain === null) throw new HttpError(400, 'not a domain name');
      const form = await readForm(req);
      const problem = csrf.verify(req, form.get('csrf') ?? undefined);
      if (problem) throw new HttpError(403, `refused: ${problem}`);
      if (!(await data.isMonitored(domain))) throw new HttpError(404, `${domain} is not monitored`);
      await options.checkNow!(domain);
      data.invalidate();
      res.statusCode = 303;
      res.setHeader('Location', `/domains/${encodeURIComponent(domain)}?checked=1`);
      res.setHeader('Cache-Control', 'no-store');
      res.end();
      return;
    }

    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');

    if (path === '/api' || path === '/api/') return sendJson(req, res, API_INDEX);
    if (path === '/api/portfolio') return sendJson(req, res, await data.portfolio(portfolioQuery(url.searchParams)));
    if (path === '/api/reports') return sendJson(req, res, await data.reports(listFilter(url.searchParams, ['domain', 'organization', 'since', 'until'])));
    if (path === '/api/events') return sendJson(req, res, await data.events(listFilter(url.searchParams, ['domain', 'state', 'since'])));
    let m = /^\/api\/domains\/([^/]+)$/.exec(path);
    if (m) {
      const domain = normalizeDomainParam(m[1]!);
      if (domain === null) throw new HttpError(400, 'not a domain name');
      const view = await data.domain(domain, { days: windowDays(url.searchParams), canCheckNow: canCheck });
      if (view === null) throw new HttpError(404, `nothing is known about ${domain}`);
      return sendJson(req, res, view);
    }
    m = /^\/api\/reports\/([^/]+)$/.exec(path);
    if (m) {
      const report = await data.report(decodeURIComponent(m[1]!));
      if (report === null) throw new HttpError(404, 'no such report');
      return sendJson(req, res, report);
    }
    if (path.startsWith('/api/')) throw new HttpError(404, 'no such endpoint; see /api/');

    if (path === '/') {
      const q = portfolioQuery(url.searchParams);
      return sendHtml(req, res, portfolioPage(ctx, await data.portfolio(q), q, { perPage: DEFAULT_PER_PAGE }));
    }
    m = /^\/domains\/([^/]+)\/?$/.exec(path);
    if (m) {
      const domain = normalizeDomainParam(m[1]!);
      if (domain === null) throw new HttpError(400, 'not a domain name');
      const days = windowDays(url.searchParams);
      const view = await data.domain(domain, { days, canCheckNow: canCheck });
      if (view === null) throw new HttpError(404, `Nothing is known about ${domain}: it is neither monitored nor named in any report.`);
      if (url.searchParams.get('checked') === '1') ctx.flash = `Checked ${domain} just now.`;
      return sendHtml(req, res, domainPage(ctx, view, days));
    }
    if (path === '/reports' || path === '/reports/') return sendHtml(req, res, reportsPage(ctx, await data.reports(listFilter(url.searchParams, ['domain', 'organization', 'since', 'until']))));
    m = /^\/reports\/([^/]+)$/.exec(path);
    if (m) {
      const report = await data.report(decodeURIComponent(m[1]!));
      if (report === null) throw new HttpError(404, 'No such report.');
      return sendHtml(req, res, reportPage(ctx, report));
    }
    if (path === '/events' || path === '/events/') return sendHtml(req, res, eventsPage(ctx, await data.events(listFilter(url.searchParams, ['domain', 'state', 'since']))));
    throw new HttpError(404, 'No such page.');
  };

  const server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error';
      if (!(err instanceof HttpError)) log.error?.(`dashboard: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = status;
      res.setHeader('Cache-Control', 'no-store');
      const wantsJson = (req.url ?? '').startsWith('/api/') || (req.url ?? '') === '/api';
      if (wantsJson) {
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.end(JSON.stringify({ error: { status, message } }));
      } else {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(errorPage({ assetVersion, readOnly: !canCheck }, status, message));
      }
    });
  });
  // Bounded time for slow or idle clients.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Assemble the portfolio now, so the first visitor does not wait for it.
  data.warm();
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}/`;
  log.info?.(`dashboard on ${url}`);
  return {
    url,
    server,
    data,
    close: async () => {
      data.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Let a background assembly finish before the caller closes the database.
      await data.idle();
    },
  };
}

/** gzip when the client takes it and the body is worth it. */
function acceptsGzip(req: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
}

const gzipCache = new WeakMap<Buffer, Buffer>();

function sendBody(req: IncomingMessage, res: ServerResponse, body: Buffer, cacheable = false): void {
  res.setHeader('Vary', 'Accept-Encoding');
  let out = body;
  if (body.length > 1024 && acceptsGzip(req)) {
    let z = cacheable ? gzipCache.get(body) : undefined;
    if (!z) {
      z = gzipSync(body, { level: 6 });
      if (cacheable) gzipCache.set(body, z);
    }
    out = z;
    res.setHeader('Content-Encoding', 'gzip');
  }
  res.setHeader('Content-Length', out.length);
  res.end(req.method === 'HEAD' ? undefined : out);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset, versioned: boolean): void {
  res.setHeader('Content-Type', asset.type);
  res.setHeader('ETag', `"${asset.hash}"`);
  // Versioned URLs (?v=<hash>) never change; others revalidate.
  res.setHeader('Cache-Control', versioned ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (req.headers['if-none-match'] === `"${asset.hash}"`) {
    res.statusCode = 304;
    res.end();
    return;
  }
  sendBody(req, res, asset.body, true);
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  sendBody(req, res, Buffer.from(JSON.stringify(value)));
}

function sendHtml(req: IncomingMessage, res: ServerResponse, page: string): void {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  sendBody(req, res, Buffer.from(page));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new HttpError(415, 'expected a form (application/x-www-form-urlencoded)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const v = params.get(name);
  if (v === null || !/^\d{1,9}$/.test(v)) return fallback;
  return Math.min(max, Math.max(min, Number(v)));
}

function windowDays(params: URLSearchParams): number {
  return intParam(params, 'days', 30, 1, 366);
}

export function portfolioQuery(params: URLSearchParams): PortfolioQuery {
  let sortText = params.get('sort') ?? 'domain';
  let dir: 'asc' | 'desc' = 'asc';
  if (sortText.startsWith('-')) {
    dir = 'desc';
    sortText = sortText.slice(1);
  }
  const sort: PortfolioSort = (PORTFOLIO_SORTS as readonly string[]).includes(sortText) ? (sortText as PortfolioSort) : 'domain';
  const verdict = params.get('verdict');
  const mode = params.get('mode');
  const q: PortfolioQuery = {
    sort,
    dir,
    page: intParam(params, 'page', 1, 1, 1_000_000),
    perPage: intParam(params, 'per_page', DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
  };
  const text = (params.get('q') ?? '').trim().toLowerCase().slice(0, 253);
  if (text !== '') q.q = text;
  if (verdict === 'pass' || verdict === 'warn' || verdict === 'fail' || verdict === 'none') q.verdict = verdict;
  if (mode === 'enforce' || mode === 'testing' || mode === 'none' || mode === 'no-policy') q.mode = mode;
  const rec = params.get('recommendation');
  if (rec && /^[a-z0-9-]{1,64}$/.test(rec)) q.recommendation = rec;
  if (params.get('problems') === '1') q.problems = true;
  return q;
}

export type ListFilter = ListQuery;

function listFilter(params: URLSearchParams, keys: ('domain' | 'organization' | 'state' | 'since' | 'until')[]): ListFilter {
  const f: ListFilter = { page: intParam(params, 'page', 1, 1, 1_000_000), perPage: intParam(params, 'per_page', DEFAULT_PER_PAGE, 1, MAX_PER_PAGE) };
  for (const k of keys) {
    const v = (params.get(k) ?? '').trim().slice(0, 253);
    if (v === '') continue;
    if ((k === 'since' || k === 'until') && !/^\d{4}-\d{2}-\d{2}$/.test(v)) continue;
    if (k === 'state' && v !== 'open' && v !== 'resolved' && v !== 'notice') continue;
    f[k] = k === 'domain' ? v.toLowerCase().replace(/\.$/, '') : v;
  }
  return f;
}
