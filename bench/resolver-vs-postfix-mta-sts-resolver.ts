/**
 * `mtasts resolver` vs postfix-mta-sts-resolver (`mta-sts-daemon`, Debian package) as Postfix
 * socketmap servers, against the same local world of N domains, with one netstring load
 * generator used identically for both.
 *
 *   node --import tsx bench/resolver-vs-postfix-mta-sts-resolver.ts [--domains 1000] [--rounds 3]
 *        [--conns 100] [--flood 1000] [--warm-seconds 8] [--memory 100000] [--skip-memory]
 *
 * Needs root and Linux: the peer resolves with the system resolver (pycares reads
 * /etc/resolv.conf for TXT; aiohttp's ThreadedResolver uses getaddrinfo) and fetches
 * https://mta-sts.DOMAIN/ on port 443 with the default trust store. So:
 * - the world DNS listens on 127.84.0.53:53 and the world HTTPS on 127.84.0.1:443 (unusual
 *   loopback addresses, so nothing else using 127.0.0.1:53/443 — e.g. `npm run bench` — collides);
 * - the peer runs in a private mount namespace (`unshare -m`) where a temp resolv.conf
 *   (`nameserver 127.84.0.53`) is bind-mounted over /etc/resolv.conf — the machine's own file is
 *   never touched — and with SSL_CERT_FILE = the world CA (Python's ssl default context honours it);
 * - `mtasts resolver` gets the same DNS server (`dns_servers`), CA (`ca_file`) and port 443.
 * Ours runs as deployed, from the compiled package (`bin/mtasts.js resolver`, dist/; run
 * `npm run build` first — the bench refuses a dist/ older than src/), the peer from its Debian
 * entry point `/usr/bin/mta-sts-daemon`.
 * Both run as separate processes, started fresh for every round (so cold means cold), with
 * `cache_grace: 3600` (within the grace period both answer from cache without DNS), proactive
 * fetching off, and their default zone (timeout 4 s). Ours uses the SQLite store (the default,
 * synchronous=FULL, in a temp dir); the peer its `internal` in-memory cache.
 *
 * Phases per round and contender: start → cold (every domain once, over --conns connections)
 * → warm (--warm-seconds of random cached domains over --conns connections) → stop; then a fresh
 * start → flood (--flood connections, one cold lookup each, all at once) → stop.
 * A lookup is "lost" unless the reply is `OK secure match=…` within 30 s (every world domain
 * has an enforce policy). Memory: see measureMemory().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { NetstringDecoder, netstringText } from '../src/resolver/netstring.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { policyText } from '../src/testworld/world.js';
import { freePort } from '../src/testworld/ports.js';
import { startResolverBenchWorld } from './resolver-bench-world.js';

const { values: args } = parseArgs({
  options: {
    domains: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    conns: { type: 'string', default: '100' },
    flood: { type: 'string', default: '1000' },
    'warm-seconds': { type: 'string', default: '8' },
    memory: { type: 'string', default: '100000' },
    'skip-memory': { type: 'boolean', default: false },
    /** Adds `mtasts resolver` with `cache.type: internal` (memory only), to separate the store's cost. */
    'also-internal': { type: 'boolean', default: false },
  },
});
const N = Number(args.domains);
const ROUNDS = Number(args.rounds);
const CONNS = Number(args.conns);
const FLOOD = Number(args.flood);
const WARM_MS = Number(args['warm-seconds']) * 1000;
const MEMORY_N = Number(args.memory);
const DNS_ADDR = '127.84.0.53';
const HTTPS_ADDR = '127.84.0.1';
const LOOKUP_TIMEOUT_MS = 30_000;
const here = path.dirname(fileURLToPath(import.meta.url));
const ZONE_SUFFIX = 'rb.test';
const domainName = (i: number): string => `d${i}.${ZONE_SUFFIX}`;

// ------------------------------------------------------------------------------------------
// Load generator: netstring socketmap client, one outstanding request per connection (as
// Postfix's smtp(8) processes use the map), connections share one work queue.

interface LoadResult { ok: number; lost: number; ms: number; samples: string[] }

/** Every open Conn, for the one timer that enforces LOOKUP_TIMEOUT_MS (no timer per lookup). */
const liveConns = new Set<Conn>();
let sweeper: NodeJS.Timeout | undefined;
function sweep(): void {
  const now = performance.now();
  for (const c of liveConns) c.expire(now);
}

class Conn {
  private sock: net.Socket | undefined;
  private decoder = new NetstringDecoder(200_000);
  private pending: { resolve: (r: string) => void; reject: (e: Error) => void; sentAt: number } | undefined;
  constructor(private readonly port: number) {}

  private open(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.port, '127.0.0.1');
      s.setNoDelay(true);
      s.once('connect', () => resolve(s));
      s.once('error', (e) => {
        reject(e);
        this.fail(e);
      });
      s.on('close', () => {
        if (this.sock === s) this.sock = undefined;
        this.fail(new Error('connection closed'));
      });
      s.on('data', (c: Buffer) => {
        for (const r of this.decoder.push(c)) {
          const p = this.pending;
          this.pending = undefined;
          p?.resolve(r.toString('utf8'));
        }
      });
    });
  }
  private fail(e: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }
  /** Called about once a second: a lookup unanswered for LOOKUP_TIMEOUT_MS is lost. */
  expire(now: number): void {
    if (this.pending && now - this.pending.sentAt >= LOOKUP_TIMEOUT_MS) {
      this.fail(new Error('timeout'));
      this.sock?.destroy();
    }
  }
  async lookup(req: string): Promise<string> {
    if (!this.sock) {
      this.decoder = new NetstringDecoder(200_000);
      this.sock = await this.open();
    }
    const sock = this.sock;
    liveConns.add(this);
    sweeper ??= setInterval(sweep, 1000);
    return new Promise<string>((resolve, reject) => {
      this.pending = { resolve, reject, sentAt: performance.now() };
      sock.write(netstringText(req));
    });
  }
  close(): void {
    liveConns.delete(this);
    if (liveConns.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
    this.sock?.destroy();
  }
}

/** Runs `next()`-supplied keys over `conns` connections until next() returns undefined. */
async function load(port: number, conns: number, next: () => string | undefined): Promise<LoadResult> {
  let ok = 0;
  let lost = 0;
  const samples: string[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conns }, async () => {
    const c = new Conn(port);
    for (let key = next(); key !== undefined; key = next()) {
      try {
        const r = await c.lookup(`postfix ${key}`);
        if (r.startsWith('OK secure match=')) ok++;
        else {
          lost++;
          if (samples.length < 3) samples.push(`${key}: ${r}`);
        }
      } catch (err) {
        lost++;
        if (samples.length < 3) samples.push(`${key}: ${(err as Error).message}`);
      }
    }
    c.close();
  }));
  return { ok, lost, ms: performance.now() - t0, samples };
}

// ------------------------------------------------------------------------------------------
// Contenders

interface Running { proc: ChildProcess; port: number; pid: number; stderr: () => string }
interface Contender { name: string; start(dir: string): Promise<Running> }

async function waitListening(port: number, proc: ChildProcess, err: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${err()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not listening after ${timeoutMs} ms: ${err()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spawnTracked(cmd: string, argv: string[], env: NodeJS.ProcessEnv): { proc: ChildProcess; stderr: () => string } {
  const proc = spawn(cmd, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let buf = '';
  proc.stderr!.on('data', (c: Buffer) => { buf = (buf + c.toString()).slice(-4000); });
  return { proc, stderr: () => buf };
}

/** The pid of the process that actually serves (the peer runs under unshare/sh `exec`). */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function makeContenders(world: { caFile: string }, opts: { alsoInternal?: boolean } = {}): Contender[] {
  const oursWith = (internal: boolean): Contender => ({
    name: internal ? 'mtasts resolver (internal cache, no store)' : 'mtasts resolver (SQLite store)',
    async start(dir) {
      const port = await freePort();
      const cfg = path.join(dir, 'mtasts.yml');
      await writeFile(cfg, `host: 127.0.0.1
port: ${port}
cache_grace: 3600
cache:
${internal ? `  type: internal
  options:
    cache_size: 200000` : `  type: sqlite
  options:
    filename: ${path.join(dir, 'policies.sqlite')}`}
proactive_policy_fetching:
  enabled: false
default_zone:
  strict_testing: false
  timeout: 4
dns_servers: ["${DNS_ADDR}:53"]
ca_file: ${world.caFile}
https_port: 443
log_level: error
`);
      // As deployed: the compiled package entry (bin/mtasts.js → dist/), no tsx loader.
      const { proc, stderr } = spawnTracked(process.execPath, [path.join(here, '..', 'bin', 'mtasts.js'), 'resolver', '--config', cfg], process.env);
      await waitListening(port, proc, stderr);
      return { proc, port, pid: proc.pid!, stderr };
    },
  });
  const ours = oursWith(false);
  const peer: Contender = {
    name: 'postfix-mta-sts-resolver 1.1.2 (internal cache)',
    async start(dir) {
      const port = await freePort();
      const cfg = path.join(dir, 'mta-sts-daemon.yml');
      await writeFile(cfg, `host: 127.0.0.1
port: ${port}
reuse_port: true
shutdown_timeout: 2
cache_grace: 3600
cache:
  type: internal
  options:
    cache_size: 200000
proactive_policy_fetching:
  enabled: false
default_zone:
  strict_testing: false
  timeout: 4
`);
      const resolv = path.join(dir, 'resolv.conf');
      await writeFile(resolv, `nameserver ${DNS_ADDR}\noptions timeout:2 attempts:2\n`);
      const { proc, stderr } = spawnTracked('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
        `mount --bind "$0" /etc/resolv.conf && exec /usr/bin/mta-sts-daemon -v error -c "$1"`, resolv, cfg],
      { ...process.env, SSL_CERT_FILE: world.caFile });
      await waitListening(port, proc, stderr);
      return { proc, port, pid: proc.pid!, stderr };
    },
  };
  return opts.alsoInternal ? [ours, peer, oursWith(true)] : [ours, peer];
}

async function stop(r: Running): Promise<void> {
  if (r.proc.exitCode !== null) return;
  const exited = new Promise((res) => r.proc.once('exit', res));
  r.proc.kill('SIGTERM');
  const t = setTimeout(() => r.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

// ------------------------------------------------------------------------------------------
// Memory with 100,000 cached policies

/**
 * Ours: 100k synthetic policies written to a SQLite store, then a fresh `mtasts resolver` on that
 * file (it loads every entry into memory at start-up, as after a restart in production); RSS of
 * the process once it listens, versus the same with an empty store.
 * Peer: its `internal` cache lives only in the process and is filled only by lookups (each a DNS
 * query and an HTTPS fetch: 100k would take many minutes here), so the same number of entries
 * is put, in a separate Python process, into the daemon's own InternalLRUCache class as the
 * CacheEntry tuples it stores (policy dicts as parse_mta_sts_policy returns them), measuring that
 * interpreter's RSS increase, added to the idle daemon's RSS. An estimate, and labelled so.
 */
async function measureMemory(world: { caFile: string }, base: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const [ours, peer] = makeContenders(world);
  const now = Date.now();
  const emptyDir = path.join(base, 'mem-empty');
  await mkdir(emptyDir);
  let r = await ours!.start(emptyDir);
  await new Promise((res) => setTimeout(res, 1000));
  const oursEmpty = rssKiB(r.pid);
  await stop(r);

  const fullDir = path.join(base, 'mem-full');
  await mkdir(fullDir);
  const store = new SqliteStore({ filename: path.join(fullDir, 'policies.sqlite') });
  const t0 = performance.now();
  for (let i = 0; i < MEMORY_N; i += 2000) {
    await Promise.all(Array.from({ length: Math.min(2000, MEMORY_N - i) }, (_, j) => {
      const d = `m${i + j}.mem.test`;
      const mx = [`mx1.${d}`, `mx2.${d}`];
      return store.set({
        domain: d, id: `20261123T${i + j}`, policy: { version: 'STSv1', mode: 'enforce', mx, maxAge: 604800, extensions: [] },
        text: policyText({ mx }), fetchedAt: now, expiresAt: now + 604800_000, checkedAt: now, lastUsedAt: now,
      });
    }));
  }
  await store.close();
  const fillMs = performance.now() - t0;
  const tStart = performance.now();
  r = await ours!.start(fullDir);
  const loadMs = performance.now() - tStart;
  // Use a few entries so that the answer path is exercised, then settle.
  await load(r.port, 10, (() => { let k = 0; return () => (k < 1000 ? `m${k++ * 97}.mem.test` : undefined); })());
  await new Promise((res) => setTimeout(res, 2000));
  const oursFull = rssKiB(r.pid);
  await stop(r);
  out.ours = `${(oursFull / 1024).toFixed(0)} MiB with ${MEMORY_N} policies (${(oursEmpty / 1024).toFixed(0)} MiB empty; +${((oursFull - oursEmpty) / MEMORY_N * 1024).toFixed(0)} bytes/policy). Store filled in ${(fillMs / 1000).toFixed(1)} s; start-up with ${MEMORY_N} entries ${(loadMs / 1000).toFixed(1)} s`;

  const peerDir = path.join(base, 'mem-peer');
  await mkdir(peerDir);
  r = await peer!.start(peerDir);
  await new Promise((res) => setTimeout(res, 1000));
  // The serving process is the exec'd daemon (unshare → sh → exec), same pid as spawned unless unshare forks.
  const peerIdle = rssKiB(r.pid);
  await stop(r);
  const py = `
import asyncio, resource, re, time
from postfix_mta_sts_resolver.internal_cache import InternalLRUCache
from postfix_mta_sts_resolver.base_cache import CacheEntry
from postfix_mta_sts_resolver.utils import parse_mta_sts_policy
def rss():
    return int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))
async def main():
    c = InternalLRUCache(cache_size=${MEMORY_N * 2})
    before = rss()
    for i in range(${MEMORY_N}):
        d = 'm%d.mem.test' % i
        text = 'version: STSv1\\r\\nmode: enforce\\r\\nmx: mx1.%s\\r\\nmx: mx2.%s\\r\\nmax_age: 604800\\r\\n' % (d, d)
        pol = parse_mta_sts_policy(text)
        pol['max_age'] = int(pol['max_age'])
        await c.set(d, CacheEntry(time.time(), '20261123T%d' % i, pol))
    print(before, rss())
asyncio.run(main())
`;
  const res = await new Promise<string>((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', py], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    p.stdout.on('data', (c: Buffer) => { o += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { e += c.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve(o.trim()) : reject(new Error(e))));
  });
  const [pyBefore, pyAfter] = res.split(/\s+/).map(Number) as [number, number];
  const delta = pyAfter - pyBefore;
  out.peer = `≈ ${((peerIdle + delta) / 1024).toFixed(0)} MiB estimated (idle daemon ${(peerIdle / 1024).toFixed(0)} MiB + ${(delta / 1024).toFixed(0)} MiB for ${MEMORY_N} entries in its InternalLRUCache, measured in a separate interpreter; +${(delta / MEMORY_N * 1024).toFixed(0)} bytes/policy)`;
  return out;
}

// ------------------------------------------------------------------------------------------

/** Ours runs from dist/ (as deployed); refuse to measure a build older than the sources. */
function assertDistFresh(): void {
  const srcDir = path.join(here, '..', 'src');
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = path.join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
  }, 0);
  const built = statSync(path.join(here, '..', 'dist', 'resolver', 'server.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (built < newest(srcDir)) throw new Error('dist/ is older than src/: run `npm run build` first (the bench runs `bin/mtasts.js`, as deployed)');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('needs root on Linux (port 53/443, unshare -m)');
  assertDistFresh();
  const tSetup = performance.now();
  const { base, caFile, dns, https } = await startResolverBenchWorld({ count: N, name: domainName, dnsAddr: DNS_ADDR, httpsAddr: HTTPS_ADDR });
  console.error(`world: ${N} domains in ${((performance.now() - tSetup) / 1000).toFixed(1)} s; DNS ${DNS_ADDR}:53, HTTPS ${HTTPS_ADDR}:443`);
  const world = { caFile };
  const contenders = makeContenders(world, { alsoInternal: args['also-internal'] });
  type Row = { cold: number[]; coldLost: number; warm: number[]; warmLost: number; floodRate: number[]; floodLost: number; samples: string[]; coldPerRound: string[] };
  const rows = new Map<string, Row>(contenders.map((c) => [c.name, { cold: [], coldLost: 0, warm: [], warmLost: 0, floodRate: [], floodLost: 0, samples: [], coldPerRound: [] }]));
  const t0 = performance.now();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const row = rows.get(c.name)!;
        const dir = await mkdtemp(path.join(base, 'run-'));
        let r = await c.start(dir);
        try {
          let i = 0;
          const cold = await load(r.port, CONNS, () => (i < N ? domainName(i++) : undefined));
          row.cold.push((cold.ok + cold.lost) / (cold.ms / 1000));
          row.coldLost += cold.lost;
          row.samples.push(...cold.samples);
          let x = 12345 + round;
          const end = performance.now() + WARM_MS;
          const warm = await load(r.port, CONNS, () => {
            if (performance.now() >= end) return undefined;
            x = (x * 1103515245 + 12345) & 0x7fffffff;
            return domainName(x % N);
          });
          row.warm.push((warm.ok + warm.lost) / (warm.ms / 1000));
          row.warmLost += warm.lost;
          row.samples.push(...warm.samples);
          console.error(`round ${round + 1} ${c.name}: cold ${row.cold.at(-1)!.toFixed(0)}/s lost ${cold.lost}; warm ${row.warm.at(-1)!.toFixed(0)}/s lost ${warm.lost}`);
        } finally {
          await stop(r);
        }
        const dir2 = await mkdtemp(path.join(base, 'flood-'));
        r = await c.start(dir2);
        try {
          let i = 0;
          const flood = await load(r.port, FLOOD, () => (i < FLOOD ? domainName(i++ % N) : undefined));
          row.floodRate.push((flood.ok + flood.lost) / (flood.ms / 1000));
          row.floodLost += flood.lost;
          row.samples.push(...flood.samples);
          console.error(`round ${round + 1} ${c.name}: flood ${FLOOD} in flight ${row.floodRate.at(-1)!.toFixed(0)}/s lost ${flood.lost}`);
        } finally {
          await stop(r);
        }
      }
    }
    const totalS = (performance.now() - t0) / 1000;
    const mem = args['skip-memory'] ? undefined : await measureMemory(world, base);
    const [a, b] = contenders.map((c) => rows.get(c.name)!) as [Row, Row];
    const lines: string[] = [];
    lines.push(`Command: \`node --import tsx bench/resolver-vs-postfix-mta-sts-resolver.ts --domains ${N} --rounds ${ROUNDS} --conns ${CONNS} --flood ${FLOOD} --warm-seconds ${WARM_MS / 1000}\` — ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} vCPUs, Node ${process.version}; lookup rounds took ${totalS.toFixed(0)} s.`);
    lines.push('');
    lines.push(`| contender | warm lookups/s, c=${CONNS} (median; per round) | cold lookups/s, ${N} domains, c=${CONNS} (median; per round) | lost c=${CONNS} | lookups/s at ${FLOOD} in flight (cold) | lost at ${FLOOD} in flight (all rounds) |`);
    lines.push('|---|---|---|---:|---|---:|');
    for (const c of contenders) {
      const r = rows.get(c.name)!;
      const f = (xs: number[]): string => `**${median(xs).toFixed(0)}**; ${xs.map((v) => v.toFixed(0)).join(' / ')}`;
      lines.push(`| ${c.name} | ${f(r.warm)} | ${f(r.cold)} | ${r.coldLost + r.warmLost} | ${f(r.floodRate)} | ${r.floodLost} |`);
    }
    lines.push('');
    lines.push(`Ratios (ours / peer, medians): warm **${(median(a.warm) / median(b.warm)).toFixed(2)}×** (target ≥ 3×), cold **${(median(a.cold) / median(b.cold)).toFixed(2)}×** (target ≥ 2×), flood ${(median(a.floodRate) / median(b.floodRate)).toFixed(2)}×; lost at ${FLOOD} in flight: ours ${a.floodLost}, peer ${b.floodLost} (target 0).`);
    if (mem) {
      lines.push('');
      lines.push(`Resident memory, ${MEMORY_N} cached policies: ours ${mem.ours}; peer ${mem.peer}.`);
    }
    for (const c of contenders) {
      const s = rows.get(c.name)!.samples;
      if (s.length) lines.push(`\nSample lost lookups, ${c.name}: ${s.slice(0, 3).map((x) => `\`${x}\``).join(', ')}`);
    }
    console.log(lines.join('\n'));
  } finally {
    await dns.close();
    await https.close();
    await rm(base, { recursive: true, force: true });
  }
}

await main();
