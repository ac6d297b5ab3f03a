/**
 * One benchmark round in a fresh process, so that it is cold (no policy cache, no TLS session,
 * no warm resolver): discovers and fetches the MTA-STS policy of `--count` domains
 * (`d0.<suffix>` … `d<count-1>.<suffix>`) with at most `--concurrency` in flight, using either
 * this library (`discoverPolicy`) or mailauth 4.x (`getPolicy`), and prints one JSON line.
 *
 * Started by bench/check-vs-mailauth.ts with NODE_EXTRA_CA_CERTS=<world CA file> for both
 * contenders. mailauth can only trust the world CA that way (its fetch uses the default trust
 * store); mtasts is given the CA through its documented `ca` option (read from the same file).
 * Both use node:dns Resolvers with the same c-ares settings, pointed at the same world DNS server.
 *
 * Not meant to be run by hand, but it can be:
 *   NODE_EXTRA_CA_CERTS=ca.pem node --import tsx bench/contender.ts --impl mtasts --dns 127.0.0.1:5353 \
 *     --ca-file ca.pem --count 1000 --suffix bench.test --concurrency 100
 */
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { DnsClient } from '../src/dns/resolver.js';
import { discoverPolicy } from '../src/mtasts/discover.js';
import { runPool, type Outcome } from './pool.js';

export type Impl = 'mtasts' | 'mailauth' | 'tls-floor';

export interface RoundResult {
  impl: Impl;
  count: number;
  concurrency: number;
  found: number;
  lost: number;
  /** Why domains were lost, with counts (status or error code). */
  lostReasons: Record<string, number>;
  /** A few lost domains with their detail, for diagnosis. */
  lostSamples: string[];
  elapsedMs: number;
  /** Domains found per second of wall-clock time. */
  rate: number;
  /** CPU time of this process during the timed part (user + system), in milliseconds. */
  cpuMs: number;
  /** Largest number of requests in flight at once, as seen by the pool. */
  maxInFlight: number;
}

const { values } = parseArgs({
  options: {
    impl: { type: 'string' },
    dns: { type: 'string' },
    'ca-file': { type: 'string' },
    port: { type: 'string', default: '443' },
    count: { type: 'string', default: '1000' },
    suffix: { type: 'string', default: 'bench.test' },
    concurrency: { type: 'string', default: '100' },
    /** Per-lookup DNS deadline (ms), used for both contenders' c-ares settings. */
    'dns-timeout': { type: 'string', default: '5000' },
    /** Overall limit per domain (ms); a domain not done by then is lost. */
    'domain-timeout': { type: 'string', default: '30000' },
  },
});

const impl = values.impl as Impl;
if (impl !== 'mtasts' && impl !== 'mailauth' && impl !== 'tls-floor') throw new Error('--impl mtasts|mailauth|tls-floor');
if (!values.dns) throw new Error('--dns HOST:PORT required');
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const port = Number(values.port);
const dnsTimeoutMs = Number(values['dns-timeout']);
const domainTimeoutMs = Number(values['domain-timeout']);
const domains = Array.from({ length: count }, (_, i) => `d${i}.${values.suffix}`);

/** Same c-ares settings as DnsClient derives from its deadline (src/dns/resolver.ts). */
const caresOptions = { timeout: Math.max(100, Math.floor(dnsTimeoutMs / 3)), tries: 2 };

type Check = (domain: string) => Promise<Outcome>;

function mtastsCheck(): Check {
  const ca = values['ca-file'] ? [readFileSync(values['ca-file'], 'utf8')] : [];
  const dns = new DnsClient({ servers: [values.dns!], timeoutMs: dnsTimeoutMs });
  // mailauth's fetch has a 15 s (idle) timeout; give ours the same budget.
  const options = { dns, port, ca, timeoutMs: 15_000 };
  return async (domain) => {
    const d = await discoverPolicy(domain, options);
    if (d.status === 'found' && d.policy.mode === 'enforce') return { found: true };
    return { found: false, reason: d.status, detail: d.findings.map((f) => `${f.code}: ${f.message}`).join('; ') };
  };
}

function mailauthCheck(): Check {
  if (port !== 443) throw new Error('mailauth always fetches from port 443');
  const require = createRequire(import.meta.url);
  const { getPolicy } = require('mailauth/lib/mta-sts') as {
    getPolicy(domain: string, known: unknown, opts: { resolver: (name: string, rrtype: string) => Promise<unknown> }): Promise<{
      status: string;
      policy: { mode?: string; error?: { code?: string; message?: string } };
    }>;
  };
  const resolver = new Resolver(caresOptions);
  resolver.setServers([values.dns!]);
  const opts = { resolver: (name: string, rrtype: string) => resolver.resolve(name, rrtype) };
  return async (domain) => {
    const r = await getPolicy(domain, null, opts);
    if (r.status === 'found' && r.policy.mode === 'enforce') return { found: true };
    const err = r.policy.error;
    return { found: false, reason: err?.code ? `${r.status}:${err.code}` : r.status, detail: err?.message ?? '' };
  };
}

/**
 * Not a contender: a reference for what the machine can do at all. Only the TLS handshake with
 * each policy host (no DNS, no HTTP request, the address is known), with the certificate verified
 * by OpenSSL against the world CA and the host name checked by Node, then the socket is dropped.
 * Any cold discovery-and-fetch in Node costs at least this much per domain.
 */
function tlsFloorCheck(): Check {
  const ca = values['ca-file'] ? [readFileSync(values['ca-file'], 'utf8')] : [];
  const secureContext = tls.createSecureContext({ ca: [...tls.rootCertificates, ...ca] });
  return (domain) =>
    new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: `mta-sts.${domain}`, secureContext, ALPNProtocols: ['http/1.1'] });
      const timer = setTimeout(() => socket.destroy(new Error('handshake timeout')), 15_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(socket.authorized ? { found: true } : { found: false, reason: 'untrusted', detail: String(socket.authorizationError) });
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        resolve({ found: false, reason: 'tls-error', detail: err.message });
      });
    });
}

// Module loading and set-up are not timed; everything from the first query on is.
const check = impl === 'mtasts' ? mtastsCheck() : impl === 'mailauth' ? mailauthCheck() : tlsFloorCheck();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const pool = await runPool(domains, concurrency, check, domainTimeoutMs);
const elapsedMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);

const lostReasons: Record<string, number> = {};
const lostSamples: string[] = [];
for (const [domain, o] of pool.outcomes) {
  if (o.found) continue;
  lostReasons[o.reason] = (lostReasons[o.reason] ?? 0) + 1;
  if (lostSamples.length < 5) lostSamples.push(`${domain}: ${o.reason} ${o.detail}`.slice(0, 300));
}
const found = [...pool.outcomes.values()].filter((o) => o.found).length;
const result: RoundResult = {
  impl,
  count,
  concurrency,
  found,
  lost: count - found,
  lostReasons,
  lostSamples,
  elapsedMs,
  rate: found / (elapsedMs / 1000),
  cpuMs: (cpu.user + cpu.system) / 1000,
  maxInFlight: pool.maxInFlight,
};
process.stdout.write(JSON.stringify(result) + '\n');
// Keep-alive sockets (mailauth uses the global HTTPS agent) must not hold the process open.
process.exit(0);
