/**
 * The dashboard's guards: authentication (a bearer token or basic-auth users, compared in constant
 * time), the rule that a dashboard bound beyond loopback must have authentication, CSRF tokens for
 * state-changing POSTs, and the security headers sent with every response.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface DashboardAuth {
  /** `Authorization: Bearer <token>` (or a basic-auth password equal to it, for browsers). */
  token?: string;
  /** Basic-auth users. */
  users?: { user: string; pass: string }[];
}

export class DashboardConfigError extends Error {
  override name = 'DashboardConfigError';
}

/** Splits HOST:PORT ([v6]:PORT accepted); a bare port means 127.0.0.1. */
export function parseListen(listen: string): { host: string; port: number } {
  let host = '127.0.0.1';
  let portText = listen;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(listen);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (listen.includes(':')) {
    const i = listen.lastIndexOf(':');
    host = listen.slice(0, i) || '127.0.0.1';
    portText = listen.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new DashboardConfigError(`dashboard listen address "${listen}" is not HOST:PORT`);
  return { host, port };
}

/** True for loopback addresses and "localhost": the only places a dashboard may listen without auth. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

export function hasAuth(auth: DashboardAuth | undefined): boolean {
  return Boolean(auth && ((auth.token && auth.token !== '') || (auth.users && auth.users.length > 0)));
}

/** Throws unless the listen address is loopback or authentication is configured. */
export function assertSafeBinding(host: string, auth: DashboardAuth | undefined): void {
  if (!isLoopbackHost(host) && !hasAuth(auth)) {
    throw new DashboardConfigError(
      `refusing to serve the dashboard on ${host} without authentication: set a token (--token or dashboard.token) or dashboard.users, or listen on 127.0.0.1`,
    );
  }
  for (const u of auth?.users ?? []) {
    if (!u.user || !u.pass || u.user.includes(':')) throw new DashboardConfigError('every dashboard user needs a user (without ":") and a pass');
  }
}

/** Constant-time comparison (digests first, so lengths do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Checks the request's Authorization header; true when no auth is configured. */
export function authorized(req: IncomingMessage, auth: DashboardAuth | undefined): boolean {
  if (!hasAuth(auth)) return true;
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer && auth!.token) return safeEqual(bearer[1]!, auth!.token);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return false;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = decoded.slice(0, colon);
  const pass = decoded.slice(colon + 1);
  let ok = false;
  // Evaluate every candidate, so the time taken does not say which user exists.
  for (const u of auth!.users ?? []) ok = (safeEqual(user, u.user) && safeEqual(pass, u.pass)) || ok;
  if (auth!.token) ok = safeEqual(pass, auth!.token) || ok;
  return ok;
}

/**
 * CSRF protection for POSTs: a double-submit token. The server sets a random `mtasts_csrf` cookie
 * (SameSite=Strict, HttpOnly) and puts HMAC(secret, cookie) in each form; a POST must carry both,
 * and must come from this origin (Origin or Referer header).
 */
export class CsrfGuard {
  private readonly secret = randomBytes(32);
  static readonly COOKIE = 'mtasts_csrf';

  /** The cookie value of this request, or a new one (then `setCookie` says what to send). */
  session(req: IncomingMessage): { cookie: string; setCookie?: string } {
    const existing = readCookie(req, CsrfGuard.COOKIE);
    if (existing && /^[A-Za-z0-9_-]{20,64}$/.test(existing)) return { cookie: existing };
    const cookie = randomBytes(24).toString('base64url');
    return { cookie, setCookie: `${CsrfGuard.COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Strict` };
  }

  tokenFor(cookie: string): string {
    return createHmac('sha256', this.secret).update(cookie).digest('base64url');
  }

  /** Validates a POST: same origin, cookie present, form token = HMAC(cookie). */
  verify(req: IncomingMessage, formToken: string | undefined): string | null {
    const host = req.headers.host;
    const origin = req.headers.origin ?? (req.headers.referer ? safeOrigin(req.headers.referer) : undefined);
    if (!origin || !host) return 'missing Origin header';
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return 'bad Origin header';
    }
    if (originHost !== host) return 'cross-origin request';
    const cookie = readCookie(req, CsrfGuard.COOKIE);
    if (!cookie) return 'missing CSRF cookie';
    if (!formToken || !safeEqual(formToken, this.tokenFor(cookie))) return 'bad CSRF token';
    return null;
  }
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** No inline scripts or styles, nothing from elsewhere, never framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}
