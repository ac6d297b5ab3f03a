/**
 * The test world's policy web server: one HTTPS listener that picks its certificate by SNI and
 * its answer by Host header, reproducing well-behaved and broken MTA-STS policy hosts.
 */
import https from 'node:https';
import type http from 'node:http';
import type net from 'node:net';

import { SniContexts, type CertPair, type CertSource } from './sni-contexts.js';

export type { CertPair, CertSource };

export const POLICY_PATH = '/.well-known/mta-sts.txt';

/** What the server does for requests to one host. */
export type Behaviour =
  /** Serves `body` at /.well-known/mta-sts.txt only (404 elsewhere). */
  | { kind: 'policy'; body: string | Buffer; /** default 'text/plain' */ contentType?: string; /** default 200 */ status?: number }
  | { kind: 'redirect'; location: string; /** default 301 */ status?: 301 | 302 | 307 | 308 }
  /** Redirects every request to the same URL. */
  | { kind: 'redirect-loop' }
  /** A `bytes`-long text/plain body of "a"s, with Content-Length, streamed. */
  | { kind: 'huge'; bytes: number }
  /** Headers, then `bytesPerSecond` (default 1) bytes each second until the client goes away. */
  | { kind: 'slow'; bytesPerSecond?: number }
  /** Reads the request and never answers. */
  | { kind: 'hang' }
  | { kind: 'status'; status: number }
  /** Destroys the connection when the request arrives. */
  | { kind: 'reset' };

export interface HttpsServer {
  address: string;
  port: number;
  /** Serves this certificate to clients sending SNI `host` (exact, case-insensitive; no wildcard matching). */
  setCertificate(host: string, cert: CertSource): void;
  removeCertificate(host: string): void;
  /** Routes requests whose Host (port stripped) is `host`; `null` removes the host (404). */
  setBehaviour(host: string, behaviour: Behaviour | null): void;
  /** Requests received per Host (normalized). */
  requests: Map<string, number>;
  requestCount(host: string): number;
  close(): Promise<void>;
}

const normHost = (h: string): string => h.replace(/\.$/, '').toLowerCase();

/** Host header without port; handles `[v6]:port`. */
function hostOf(header: string | undefined): string {
  if (!header) return '';
  const h = header.trim();
  if (h.startsWith('[')) return normHost(h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined));
  const colon = h.lastIndexOf(':');
  return normHost(colon >= 0 ? h.slice(0, colon) : h);
}

/**
 * Starts the server. `defaultCert` is sent when SNI is absent or unknown; it should name only
 * `default.invalid` so that an unknown host never gets a certificate that happens to match.
 */
export async function startHttpsServer(opts: {
  defaultCert: CertPair;
  address?: string;
  port?: number;
}): Promise<HttpsServer> {
  const address = opts.address ?? '127.0.0.1';
  const certificates = new SniContexts();
  const behaviours = new Map<string, Behaviour>();
  const requests = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let port = 0;


  const server = https.createServer({
    cert: opts.defaultCert.certPem,
    key: opts.defaultCert.keyPem,
    SNICallback: (servername, cb) => {
      const ctx = certificates.get(normHost(servername));
      if (!ctx) {
        cb(null, undefined); // keep the default certificate
        return;
      }
      ctx.then((c) => cb(null, c), (err: Error) => cb(err, undefined));
    },
  });
  // Loopback tests should not wait for HTTP keep-alive sockets.
  server.keepAliveTimeout = 1000;

  server.on('connection', (sock: net.Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  // Clients that abort (rejected certificate, size limit reached) are normal here: stay quiet.
  server.on('tlsClientError', (_err, sock) => sock.destroy());
  server.on('clientError', (_err, sock) => sock.destroy());

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const host = hostOf(req.headers.host);
    requests.set(host, (requests.get(host) ?? 0) + 1);
    const b = behaviours.get(host);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    const plain = (status: number, text: string): void => {
      res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (!b) return plain(404, 'no such host\n');

    switch (b.kind) {
      case 'policy': {
        if (path !== POLICY_PATH) return plain(404, 'not found\n');
        const body = typeof b.body === 'string' ? Buffer.from(b.body, 'utf8') : b.body;
        res.writeHead(b.status ?? 200, { 'Content-Type': b.contentType ?? 'text/plain', 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case 'redirect':
        res.writeHead(b.status ?? 301, { Location: b.location, 'Content-Length': 0 });
        res.end();
        return;
      case 'redirect-loop':
        res.writeHead(301, { Location: `https://${req.headers.host ?? host}${req.url ?? '/'}`, 'Content-Length': 0 });
        res.end();
        return;
      case 'status':
        return plain(b.status, `status ${b.status}\n`);
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        return; // the socket is destroyed by close() or by the client
      case 'huge': {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': b.bytes });
        if (req.method === 'HEAD') return void res.end();
        const chunk = Buffer.alloc(64 * 1024, 'a');
        let left = b.bytes;
        // Honour backpressure so a client that stops reading does not make us buffer 10 MB.
        const pump = (): void => {
          while (left > 0 && !res.destroyed) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          if (left === 0) res.end();
        };
        pump();
        return;
      }
      case 'slow': {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.flushHeaders();
        const per = Math.max(1, Math.floor(b.bytesPerSecond ?? 1));
        const timer = setInterval(() => {
          if (res.destroyed) return stop();
          res.write(Buffer.alloc(per, 'a'));
        }, 1000);
        timer.unref();
        timers.add(timer);
        const stop = (): void => {
          clearInterval(timer);
          timers.delete(timer);
        };
        res.on('close', stop);
        return;
      }
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  port = typeof a === 'object' && a ? a.port : 0;

  let closing: Promise<void> | undefined;
  return {
    address,
    port,
    requests,
    setCertificate(host, cert) {
      certificates.set(normHost(host), cert);
    },
    removeCertificate(host) {
      certificates.delete(normHost(host));
    },
    setBehaviour(host, behaviour) {
      if (behaviour === null) behaviours.delete(normHost(host));
      else behaviours.set(normHost(host), behaviour);
    },
    requestCount(host) {
      return requests.get(normHost(host)) ?? 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const t of timers) clearInterval(t);
        timers.clear();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
