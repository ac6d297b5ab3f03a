/**
 * Cold MTA-STS discovery-and-fetch: mtasts (`discoverPolicy`) against mailauth 4.x (`getPolicy`)
 * on the same test world, in the same run.
 *
 * The world (DNS, HTTPS on 127.0.0.1:443, certificates from a per-run CA) runs in this process with
 * `--domains` healthy domains. Each round starts a fresh child process (bench/contender.ts) that
 * discovers every domain at `--concurrency`, so every round is cold. The order of the contenders
 * rotates from round to round to spread out drift from other load on the machine; rates are medians over
 * `--rounds`. A final round per contender puts all domains in flight at once (`--flood`) and
 * counts the domains lost. A domain counts as found only when a policy in mode enforce came back.
 * Each round also times a reference that is not a contender: bare TLS handshakes with the same
 * policy hosts (no DNS, no HTTP), the most any client could reach here (`--no-floor` skips it).
 *
 * mailauth fetches from port 443 with the default trust store and no way to change either, so the
 * world's HTTPS server takes port 443 (root or CAP_NET_BIND_SERVICE needed) and both children run
 * with NODE_EXTRA_CA_CERTS=<world CA>; mtasts gets the CA through its `ca` option.
 *
 *   npm run bench -- [--domains 1000] [--concurrency 100] [--rounds 3] [--flood 1000] [--no-warmup] [--no-floor]
 *                    [--json out.json] [--strict]
 *
 * Exit status: 0 (1 with --strict when the target — 2× mailauth's rate and no domain lost in the
 * flood round — is missed), 2 when port 443 cannot be bound.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWorld, type DomainSpec, type World } from '../src/testworld/world.js';
import type { Impl, RoundResult } from './contender.js';

const IMPLS = ['mtasts', 'mailauth'] as const satisfies readonly Impl[];

const { values } = parseArgs({
  options: {
    domains: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    /** In-flight count of the loss round; 0 skips it. Default: all domains at once. */
    flood: { type: 'string' },
    /** Skip the untimed warm-up round of each contender. */
    'no-warmup': { type: 'boolean', default: false },
    /** Skip the reference rounds of bare TLS handshakes (see tlsFloorCheck in contender.ts). */
    'no-floor': { type: 'boolean', default: false },
    json: { type: 'string' },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench -- [--domains N] [--concurrency N] [--rounds N] [--flood N] [--no-warmup] [--no-floor] [--json FILE] [--strict]');
  process.exit(0);
}

const positiveInt = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
    process.exit(64);
  }
  return n;
};
const DOMAINS = positiveInt('domains', values.domains);
const CONCURRENCY = positiveInt('concurrency', values.concurrency);
const ROUNDS = positiveInt('rounds', values.rounds);
const FLOOD = positiveInt('flood', values.flood ?? String(DOMAINS));
const SUFFIX = 'bench.test';
/** A whole child round may not take longer than this (each domain is bounded at 30 s inside). */
const CHILD_LIMIT_MS = 90_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const contender = path.join(here, 'contender.ts');

interface Measured extends RoundResult {
  label: string;
  /** CPU time of the world (this process: DNS and HTTPS servers) while the child ran, in ms. */
  serverCpuMs: number;
}

async function startWorld(): Promise<World> {
  const specs: DomainSpec[] = Array.from({ length: DOMAINS }, (_, i) => ({ domain: `d${i}.${SUFFIX}` }));
  try {
    return await createWorld({ domains: specs, httpsPort: 443 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EADDRINUSE') {
      console.error(
        code === 'EACCES'
          ? 'bench: cannot listen on 127.0.0.1:443 (EACCES). mailauth always fetches policies from port 443,\n' +
            'so the test world must serve HTTPS there: run as root, or grant node CAP_NET_BIND_SERVICE\n' +
            '(sudo setcap cap_net_bind_service=+ep "$(command -v node)"), or lower net.ipv4.ip_unprivileged_port_start.'
          : 'bench: 127.0.0.1:443 is already in use (another bench run, or a local web server?). Free it and retry.',
      );
      process.exit(2);
    }
    throw err;
  }
}

function runChild(world: World, impl: Impl, concurrency: number, label: string): Promise<Measured> {
  const args = [
    '--import', 'tsx', contender,
    '--impl', impl,
    '--dns', world.dnsServer,
    '--ca-file', world.caFile,
    '--port', String(world.httpsPort),
    '--count', String(DOMAINS),
    '--suffix', SUFFIX,
    '--concurrency', String(concurrency),
  ];
  return new Promise((resolve, reject) => {
    const cpu0 = process.cpuUsage();
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: world.caFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const cpu = process.cpuUsage(cpu0);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as RoundResult;
        resolve({ ...r, label, serverCpuMs: (cpu.user + cpu.system) / 1000 });
      } catch {
        reject(new Error(`${impl} child (${label}) ended with ${signal ?? `code ${code}`} without a result:\n${err.slice(-2000)}`));
      }
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');

function describe(r: Measured): string {
  const lost = r.lost === 0 ? 'lost 0' : `lost ${r.lost} (${Object.entries(r.lostReasons).map(([k, v]) => `${k}×${v}`).join(', ')})`;
  return `${r.label.padEnd(10)} ${r.impl.padEnd(9)} c=${String(r.concurrency).padEnd(4)} ${f0(r.rate).padStart(5)} domains/s` +
    `  ${f0(r.elapsedMs).padStart(6)} ms  ${lost}  client CPU ${f2(r.cpuMs / r.count)} ms/domain, server CPU ${f2(r.serverCpuMs / r.count)} ms/domain`;
}

// ---------------------------------------------------------------------------------------------

const t0 = Date.now();
const world = await startWorld();
const log = (s: string): void => console.log(s);
log(`mtasts vs mailauth: cold discovery-and-fetch of ${DOMAINS} domains, concurrency ${CONCURRENCY}, ${ROUNDS} rounds each, flood ${FLOOD}`);
log(`world: DNS ${world.dnsServer}, HTTPS 127.0.0.1:${world.httpsPort}, started in ${Date.now() - t0} ms; node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);

const results: Measured[] = [];
const sayLost = (r: Measured): void => {
  log(describe(r));
  for (const s of r.lostSamples.slice(0, 2)) log(`             e.g. ${s}`);
};
try {
  if (!values['no-warmup']) {
    // Untimed: the world issues each host's certificate on its first handshake, and its own code
    // is cold; both would otherwise be charged to whichever contender runs first.
    for (const impl of IMPLS) sayLost(await runChild(world, impl, CONCURRENCY, 'warm-up'));
  }
  // Each round runs every contender once, the order rotating from round to round.
  const lineup: Impl[] = values['no-floor'] ? [...IMPLS] : [...IMPLS, 'tls-floor'];
  for (let round = 0; round < ROUNDS; round++) {
    const order = lineup.map((_, i) => lineup[(i + round) % lineup.length]!);
    if (round % 2 === 1) order.reverse();
    for (const impl of order) {
      const r = await runChild(world, impl, CONCURRENCY, `round ${round + 1}`);
      results.push(r);
      sayLost(r);
    }
  }
  if (FLOOD > 0) {
    for (const impl of IMPLS) {
      const r = await runChild(world, impl, FLOOD, 'flood');
      results.push(r);
      sayLost(r);
    }
  }
} finally {
  await world.close();
}

// ---------------------------------------------------------------------------------------------

interface Summary {
  impl: Impl;
  rates: number[];
  medianRate: number;
  medianClientCpuMsPerDomain: number;
  medianServerCpuMsPerDomain: number;
  lostInRounds: number;
  flood?: { concurrency: number; rate: number; lost: number; lostReasons: Record<string, number>; maxInFlight: number };
}
const summaries = new Map<Impl, Summary>();
for (const impl of [...IMPLS, 'tls-floor'] as const) {
  const rounds = results.filter((r) => r.impl === impl && r.label.startsWith('round'));
  if (rounds.length === 0) continue;
  const flood = results.find((r) => r.impl === impl && r.label === 'flood');
  summaries.set(impl, {
    impl,
    rates: rounds.map((r) => r.rate),
    medianRate: median(rounds.map((r) => r.rate)),
    medianClientCpuMsPerDomain: median(rounds.map((r) => r.cpuMs / r.count)),
    medianServerCpuMsPerDomain: median(rounds.map((r) => r.serverCpuMs / r.count)),
    lostInRounds: rounds.reduce((n, r) => n + r.lost, 0),
    ...(flood ? { flood: { concurrency: flood.concurrency, rate: flood.rate, lost: flood.lost, lostReasons: flood.lostReasons, maxInFlight: flood.maxInFlight } } : {}),
  });
}
const ours = summaries.get('mtasts');
const theirs = summaries.get('mailauth');
const floor = summaries.get('tls-floor');
const ratio = ours && theirs ? ours.medianRate / theirs.medianRate : NaN;
/** The same ratio taken within each round (contenders of one round ran back to back). */
const pairedRatios = Array.from({ length: ROUNDS }, (_, i) => {
  const a = results.find((r) => r.impl === 'mtasts' && r.label === `round ${i + 1}`);
  const b = results.find((r) => r.impl === 'mailauth' && r.label === `round ${i + 1}`);
  return a && b ? a.rate / b.rate : NaN;
});
const floorRatio = floor && theirs ? floor.medianRate / theirs.medianRate : NaN;
const target = ratio >= 2 && (ours?.flood?.lost ?? 0) === 0 && (ours?.lostInRounds ?? 0) === 0;

log('');
log(`| contender | median rate (domains/s, c=${CONCURRENCY}) | per round | client CPU ms/domain | server CPU ms/domain | lost (c=${CONCURRENCY}, all rounds) | rate at ${FLOOD} in flight | lost at ${FLOOD} in flight |`);
log('|---|---:|---|---:|---:|---:|---:|---:|');
for (const s of summaries.values()) {
  const name = s.impl === 'tls-floor' ? 'TLS handshake only (reference)' : s.impl;
  log(`| ${name} | ${f0(s.medianRate)} | ${s.rates.map(f0).join(' / ')} | ${f2(s.medianClientCpuMsPerDomain)} | ${f2(s.medianServerCpuMsPerDomain)} | ${s.lostInRounds} | ${s.flood ? `${f0(s.flood.rate)} | ${s.flood.lost}` : '– | –'} |`);
}
log('');
log(`ratio mtasts/mailauth (median rates): ${f2(ratio)}×; per round: ${pairedRatios.map(f2).join(' / ')}`);
if (floor) log(`reference: bare TLS handshakes / mailauth: ${f2(floorRatio)}× (every cold discovery-and-fetch makes this handshake and more, so no client can do better here)`);
log(`target (≥ 2× and no domain lost): ${target ? 'MET' : 'NOT MET'}`);
log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);

if (values.json) {
  await writeFile(values.json, JSON.stringify({
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    domains: DOMAINS, concurrency: CONCURRENCY, rounds: ROUNDS, flood: FLOOD,
    ratio, pairedRatios, floorRatio, target, summaries: [...summaries.values()], results,
  }, null, 2) + '\n');
}
process.exit(values.strict && !target ? 1 : 0);
