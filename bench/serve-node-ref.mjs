/**
 * Reference contender for bench/serve-vs-nginx.ts: the smallest Node.js HTTPS server that does what
 * `mtasts serve` does for the benchmark's requests, so the bench can measure how much of the gap to
 * nginx is Node's own HTTP/1.1 + TLS stack rather than mtasts's code.
 *
 * - `https.createServer` (HTTP/1.1 only), Node's defaults apart from TLS 1.2–1.3 (mtasts's TLS_OPTIONS);
 * - the certificate is chosen by `SNICallback` from a Map of `SecureContext`s built at start, one per
 *   host, from the same certs/<host>.crt + .key files as the other servers;
 * - the policy follows the Host header (as for mtasts and nginx): one Map lookup, then one
 *   `res.writeHead(200, {...})` + `res.end(body)` with mtasts's headers (content-type, content-length,
 *   etag, x-content-type-options); anything else is a 404.
 * - no logging, no metrics, no limits, no reload.
 *
 * Plain JavaScript run by plain `node` (no loader):
 *
 *   node bench/serve-node-ref.mjs MANIFEST.json
 *
 * MANIFEST: { "listen": { "host": "127.0.0.1", "port": N }, "workers": 1,
 *             "hosts": [{ "host", "cert", "key", "policy", "etag" }, ...] } (cert/key/policy: file paths).
 * `workers` > 1 forks that many node:cluster workers (the primary only forks); 1 is a single process.
 * Prints "ready" on standard output once listening.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

const POLICY_PATH = '/.well-known/mta-sts.txt';
const manifest = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const workers = manifest.workers ?? 1;

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let up = 0;
  cluster.on('listening', () => {
    if (++up === workers) console.log('ready');
  });
  cluster.on('exit', () => process.exit(1));
} else {
  const contexts = new Map();
  const policies = new Map();
  for (const h of manifest.hosts) {
    contexts.set(h.host, tls.createSecureContext({
      cert: readFileSync(h.cert, 'utf8'), key: readFileSync(h.key, 'utf8'), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3',
    }));
    const body = readFileSync(h.policy);
    policies.set(h.host, {
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), etag: h.etag, 'x-content-type-options': 'nosniff' },
    });
  }
  const server = https.createServer({
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    SNICallback: (servername, cb) => {
      const ctx = contexts.get(servername);
      if (ctx) cb(null, ctx);
      else cb(new Error(`no certificate for ${servername}`));
    },
  }, (req, res) => {
    const host = req.headers.host ?? '';
    const colon = host.indexOf(':');
    const p = policies.get(colon < 0 ? host : host.slice(0, colon));
    if (p !== undefined && req.url === POLICY_PATH) {
      res.writeHead(200, p.headers);
      res.end(p.body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '10' });
      res.end('not found\n');
    }
  });
  server.listen(manifest.listen.port, manifest.listen.host, () => {
    if (workers === 1) console.log('ready');
  });
  process.on('SIGTERM', () => process.exit(0));
}
