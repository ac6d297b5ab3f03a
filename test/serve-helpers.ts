/** Shared by test/serve*.test.ts and test/publish*.test.ts: real HTTPS/HTTP2 clients and fixtures. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import pino, { type Logger } from 'pino';
import type { TestCA } from '../src/testworld/index.js';

export { runCli, type Run } from './cli-harness.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Issues a certificate per host from `ca` into a new directory as <host>.crt/.key (or .pem). */
export async function certDir(ca: TestCA, hosts: readonly string[], opts: { dir?: string; pem?: boolean } = {}): Promise<string> {
  const dir = opts.dir ?? tempDir('mtasts-certs-');
  mkdirSync(dir, { recursive: true });
  for (const host of hosts) {
    const c = await ca.issue({ names: [host] });
    if (opts.pem) writeFileSync(join(dir, `${host}.pem`), c.chainPem + c.keyPem);
    else {
      writeFileSync(join(dir, `${host}.crt`), c.chainPem);
      writeFileSync(join(dir, `${host}.key`), c.keyPem);
    }
  }
  return dir;
}

/** A pino logger whose lines are collected as parsed JSON objects. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  alpn: string | false | null;
  tlsVersion: string | null;
  peerCertNames: string;
}

/** An HTTPS/1.1 request to 127.0.0.1:port with SNI and Host = `host`, verifying against `ca`. */
export function httpsRequest(port: number, host: string, ca: string, opts: {
  path?: string; method?: string; headers?: Record<string, string>; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; servername?: string; timeoutMs?: number;
} = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: opts.path ?? '/.well-known/mta-sts.txt', method: opts.method ?? 'GET',
      servername: opts.servername ?? host, headers: { host, ...opts.headers }, ca, agent: false, timeout: opts.timeoutMs ?? 5000,
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const sock = res.socket as TLSSocket;
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
          alpn: sock.alpnProtocol ?? null, tlsVersion: sock.getProtocol?.() ?? null,
          peerCertNames: sock.getPeerCertificate?.()?.subjectaltname ?? '',
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/2 request over a fresh session (ALPN h2), verifying against `ca`. */
export async function h2Request(port: number, host: string, ca: string, opts: { path?: string; method?: string; headers?: Record<string, string>; session?: http2.ClientHttp2Session } = {}): Promise<HttpResult & { session: http2.ClientHttp2Session }> {
  const session = opts.session ?? http2.connect(`https://127.0.0.1:${port}`, { ca, servername: host });
  return new Promise((resolve, reject) => {
    session.once('error', reject);
    const req = session.request({ ':method': opts.method ?? 'GET', ':path': opts.path ?? '/.well-known/mta-sts.txt', ':authority': host, ...opts.headers });
    req.setTimeout(5000, () => req.close());
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { headers = h as typeof headers; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const sock = session.socket as TLSSocket;
      resolve({
        status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString('utf8'),
        alpn: session.alpnProtocol ?? null, tlsVersion: sock.getProtocol?.() ?? null, peerCertNames: '', session,
      });
    });
    req.end();
  });
}
