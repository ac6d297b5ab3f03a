/**
 * Fetching a policy (RFC 8461 §3.3): `GET https://mta-sts.<domain>/.well-known/mta-sts.txt`.
 *
 * The rules a sender applies, and that this fetch reports on:
 * - the host's addresses come from the same DNS client as everything else;
 * - the TLS certificate must be valid for `mta-sts.<domain>` (DNS-ID), trusted, and in date;
 * - only status 200 counts, redirects are never followed (their target is reported), no HTTP caching;
 * - the media type must be `text/plain` (§3.2);
 * - the body is capped (64 KiB) and the whole fetch is bounded in time, so a hostile or broken server
 *   can neither exhaust memory nor stall the caller.
 * Every address is tried, in order, until one gives an HTTP answer.
 *
 * @example
 * ```ts
 * const r = await fetchPolicy('example.com', { dns: new DnsClient() });
 * if (r.ok) console.log(r.body?.toString('utf8'));
 * ```
 */
import http from 'node:http';
import tls from 'node:tls';
import { AddressRefusedError, isNonPublicAddress } from '../dns/address-policy.js';
import { dnsFailureCode, DnsLookupError, type DnsClient } from '../dns/resolver.js';
import { finding, type Finding } from '../findings.js';
import { certificateFindings, clientContext, inspectPeerCertificate, type CertificateReport } from '../tls/certificate.js';
import { trustStore, type TrustStore } from '../tls/trust.js';
import { POLICY_MAX_BYTES } from './policy.js';

export const POLICY_PATH = '/.well-known/mta-sts.txt';
const USER_AGENT = 'mtasts/0.1 (+RFC 8461 policy fetch)';

export interface FetchPolicyOptions {
  dns: DnsClient;
  /** HTTPS port (default 443; tests use an unprivileged port). */
  port?: number;
  /** Extra trusted CA certificates (PEM), added to the default store; ignored when `trust` is given. */
  ca?: readonly string[];
  /** The CAs to trust (src/tls/trust.ts); default: bundled roots + NODE_EXTRA_CA_CERTS + `ca`. */
  trust?: TrustStore;
  /** Deadline for the whole fetch, all addresses included, in milliseconds (default 15000). */
  timeoutMs?: number;
  /** Largest body accepted (default 64 KiB). */
  maxBytes?: number;
  /** Refuse loopback, private and other non-public addresses (for services fed by untrusted input). */
  blockPrivate?: boolean;
  /** Warn when the certificate expires within this many days (default 14). */
  expiringDays?: number;
  now?: () => Date;
}

export interface PolicyFetchResult {
  host: string;
  url: string;
  addresses: string[];
  /** The address that gave the HTTP answer. */
  address?: string;
  tlsVersion?: string;
  certificate?: CertificateReport;
  status?: number;
  contentType?: string;
  /** The Location of a redirect, which is reported and never followed. */
  location?: string;
  body?: Buffer;
  /** True when a sender would accept this response as a policy body (it may still fail to parse). */
  ok: boolean;
  findings: Finding[];
  elapsedMs: number;
}

type Attempt =
  | { kind: 'unreachable'; detail: string }
  | { kind: 'handshake-failed'; detail: string }
  | { kind: 'timeout'; detail: string; certificate?: CertificateReport; tlsVersion?: string }
  | { kind: 'http-error'; detail: string; certificate?: CertificateReport; tlsVersion?: string }
  | {
      kind: 'response';
      certificate?: CertificateReport;
      tlsVersion?: string;
      status: number;
      contentType?: string;
      location?: string;
      body?: Buffer;
      tooLarge?: boolean;
    };

export async function fetchPolicy(domain: string, options: FetchPolicyOptions): Promise<PolicyFetchResult> {
  const started = Date.now();
  const deadlineAt = started + (options.timeoutMs ?? 15_000);
  const port = options.port ?? 443;
  const host = `mta-sts.${domain}`;
  const url = `https://${host}${port === 443 ? '' : `:${port}`}${POLICY_PATH}`;
  const result: PolicyFetchResult = { host, url, addresses: [], ok: false, findings: [], elapsedMs: 0 };
  const done = (): PolicyFetchResult => {
    result.elapsedMs = Date.now() - started;
    return result;
  };

  try {
    result.addresses = await options.dns.addresses(host);
  } catch (err) {
    if (err instanceof DnsLookupError && err.isNegativeAnswer) {
      result.findings.push(finding('policy-host-unresolvable', `${host} has no A or AAAA record (${err.kind})`));
    } else {
      const code = dnsFailureCode(err);
      result.findings.push(finding(code, (err as Error).message, { section: 'policy-host' }));
    }
    return done();
  }

  let candidates = result.addresses;
  if (options.blockPrivate) {
    candidates = candidates.filter((a) => !isNonPublicAddress(a));
    if (candidates.length === 0) {
      const refused = new AddressRefusedError(result.addresses.join(', '));
      result.findings.push(finding('address-not-public', `${host}: ${refused.message}`));
      return done();
    }
  }

  const trust = options.trust ?? trustStore({ extraPem: options.ca ?? [], extraLabel: 'extra CA certificates' });
  const context = clientContext(trust, 'https');
  const failures: string[] = [];
  let lastTlsFailure: string | undefined;
  for (let i = 0; i < candidates.length; i++) {
    const address = candidates[i]!;
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) break;
    // Leave later addresses a share of the time for connecting; once connected, use all that is left.
    const connectBudget = Math.max(Math.min(remaining, 1000), Math.floor(remaining / (candidates.length - i)));
    const attempt = await attemptFetch({
      address, host, port,
      context,
      trustName: trust.description,
      connectDeadlineAt: Date.now() + connectBudget,
      deadlineAt,
      maxBytes: options.maxBytes ?? POLICY_MAX_BYTES,
      now: options.now?.() ?? new Date(),
    });
    if (attempt.kind === 'unreachable') {
      failures.push(`${address}: ${attempt.detail}`);
      continue;
    }
    if (attempt.kind === 'handshake-failed') {
      failures.push(`${address}: ${attempt.detail}`);
      lastTlsFailure = `${address}: ${attempt.detail}`;
      continue;
    }
    result.address = address;
    if (attempt.certificate) {
      result.certificate = attempt.certificate;
      result.findings.push(...certificateFindings(attempt.certificate, 'policy', host, options.expiringDays));
    }
    if (attempt.tlsVersion) result.tlsVersion = attempt.tlsVersion;
    if (attempt.kind === 'timeout') {
      result.findings.push(finding('policy-fetch-timeout', `${url} (${address}): ${attempt.detail}`));
      return done();
    }
    if (attempt.kind === 'http-error') {
      result.findings.push(finding('policy-http-error', `${url} (${address}): ${attempt.detail}`));
      return done();
    }
    return judgeResponse(result, attempt, url, done);
  }

  if (Date.now() >= deadlineAt && failures.length < candidates.length) {
    result.findings.push(finding('policy-fetch-timeout', `no address of ${host} answered within ${options.timeoutMs ?? 15_000} ms${failures.length ? ` (${failures.join('; ')})` : ''}`));
  } else if (lastTlsFailure !== undefined) {
    result.findings.push(finding('policy-tls-handshake', `TLS handshake with ${host} failed: ${failures.join('; ')}`));
  } else {
    result.findings.push(finding('policy-host-unreachable', `could not connect to ${host} port ${port}: ${failures.join('; ')}`));
  }
  return done();
}

/** Judges a complete HTTP answer: status, redirect, media type, size. */
function judgeResponse(
  result: PolicyFetchResult,
  attempt: Extract<Attempt, { kind: 'response' }>,
  url: string,
  done: () => PolicyFetchResult,
): PolicyFetchResult {
  result.status = attempt.status;
  if (attempt.contentType !== undefined) result.contentType = attempt.contentType;
  if (attempt.status >= 300 && attempt.status < 400) {
    // RFC 8461 §3.3: senders MUST NOT follow redirects.
    const target = attempt.location ?? '(no Location header)';
    if (attempt.location !== undefined) result.location = attempt.location;
    const loop = attempt.location !== undefined && sameUrl(attempt.location, url) ? ' (a redirect to itself: a loop)' : '';
    result.findings.push(finding('policy-redirect', `${url} answered ${attempt.status} redirecting to ${target}${loop}`));
    return done();
  }
  if (attempt.status !== 200) {
    // RFC 8461 §3.3: only a 200 response carries a policy.
    result.findings.push(finding('policy-http-status', `${url} answered HTTP ${attempt.status}, not 200`));
    return done();
  }
  const mediaType = attempt.contentType?.split(';')[0]?.trim().toLowerCase();
  let acceptable = true;
  if (mediaType !== 'text/plain') {
    // RFC 8461 §3.2: the media type MUST be text/plain; parameters such as charset are ignored.
    const seen = attempt.contentType === undefined ? 'no Content-Type header' : `Content-Type "${attempt.contentType}"`;
    result.findings.push(finding('policy-content-type', `${url} was served with ${seen}`));
    acceptable = false;
  }
  if (attempt.tooLarge) {
    // RFC 8461 §3.3: senders bound the size of what they read; a policy is tiny.
    result.findings.push(finding('policy-too-large', `${url} sent more than ${POLICY_MAX_BYTES} bytes; reading stopped there`));
    return done();
  }
  if (attempt.body) result.body = attempt.body;
  result.ok = acceptable && (result.certificate?.valid ?? false);
  return done();
}

function sameUrl(location: string, url: string): boolean {
  try {
    return new URL(location, url).href === new URL(url).href;
  } catch {
    return false;
  }
}

interface AttemptParams {
  address: string;
  host: string;
  port: number;
  context: tls.SecureContext;
  trustName: string;
  connectDeadlineAt: number;
  deadlineAt: number;
  maxBytes: number;
  now: Date;
}

/** One GET against one address. Never rejects; every outcome is an Attempt. */
function attemptFetch(p: AttemptParams): Promise<Attempt> {
  return new Promise((resolve) => {
    let stage: 'connect' | 'handshake' | 'response' | 'body' = 'connect';
    let certificate: CertificateReport | undefined;
    let tlsVersion: string | undefined;
    let received = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const socket = tls.connect({
      host: p.address,
      port: p.port,
      servername: p.host, // SNI: the policy host name, never the address
      secureContext: p.context,
      // Names are matched by our own RFC 6125 DNS-ID rules (src/tls/identity.ts), not Node's.
      checkServerIdentity: () => undefined,
      rejectUnauthorized: false, // judged below so that every problem is reported
      ALPNProtocols: ['http/1.1'],
    });

    const finish = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const withTls = <T extends object>(a: T): T => ({
      ...a,
      ...(certificate ? { certificate } : {}),
      ...(tlsVersion ? { tlsVersion } : {}),
    });
    const arm = (at: number): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const detail =
          stage === 'connect' ? 'TCP connection not established in time'
          : stage === 'handshake' ? 'TLS handshake not completed in time'
          : stage === 'response' ? 'no HTTP response in time'
          : `body not complete in time (${received} bytes received)`;
        finish(stage === 'connect' || stage === 'handshake' ? { kind: 'unreachable', detail } : withTls({ kind: 'timeout', detail }));
      }, Math.max(0, at - Date.now()));
    };
    arm(p.connectDeadlineAt);

    socket.once('connect', () => {
      stage = 'handshake';
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (stage === 'connect') finish({ kind: 'unreachable', detail: err.code ?? err.message });
      else if (stage === 'handshake') finish({ kind: 'handshake-failed', detail: err.message });
      else finish(withTls({ kind: 'http-error', detail: err.message }));
    });
    socket.once('secureConnect', () => {
      stage = 'response';
      arm(p.deadlineAt);
      certificate = inspectPeerCertificate(socket, p.host, p.now, p.trustName) ?? undefined;
      tlsVersion = socket.getProtocol() ?? undefined;
      const req = http.request({
        createConnection: () => socket,
        method: 'GET',
        path: POLICY_PATH,
        maxHeaderSize: 16 * 1024,
        // RFC 8461 §3.3: HTTP caching MUST NOT be used.
        headers: { Host: p.host, 'User-Agent': USER_AGENT, Accept: 'text/plain', 'Cache-Control': 'no-cache', Connection: 'close' },
      });
      req.on('error', (err) => finish(withTls({ kind: 'http-error', detail: err.message })));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const contentType = res.headers['content-type'];
        const location = res.headers.location;
        const base = withTls({
          kind: 'response' as const,
          status,
          ...(contentType !== undefined ? { contentType } : {}),
          ...(location !== undefined ? { location } : {}),
        });
        if (status !== 200) {
          finish(base);
          return;
        }
        stage = 'body';
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > p.maxBytes) {
            finish({ ...base, tooLarge: true });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish({ ...base, body: Buffer.concat(chunks) }));
        res.on('aborted', () => finish(withTls({ kind: 'http-error', detail: 'connection closed before the body was complete' })));
        res.on('error', (err) => finish(withTls({ kind: 'http-error', detail: err.message })));
      });
      req.end();
    });
  });
}
