/**
 * Cold MTA-STS discovery-and-fetch on the same test world, in the same run:
 *
 * - `mtasts`: the library's `discoverPolicy` (TXT, A+AAAA, HTTPS GET, parse), in a child process;
 * - `mailauth`: mailauth's `getPolicy` (whatever version is installed; printed in the header);
 * - `tls-floor`: a reference, not a contender: bare TLS handshakes with the same policy hosts (no
 *   DNS, no HTTP), the most any Node client could reach here (`--no-floor` skips it);
 * - `check`: the whole `mtasts check --no-smtp --json --concurrency C --file DOMAINS` process as a
 *   user runs it (`node bin/mtasts.js`, the compiled dist/), timed from spawn to exit, so process
 *   start, module loading, the MX and TLS-RPT lookups, the findings and the JSON output all count.
 *   `--check-workers default,1,2` adds one contender per value (`default` passes no `--workers`).
 *
 * The library contenders (bench/contender.ts) time from their first query: module loading is not
 * charged to them. The check process is charged for everything, as the issue's target asks.
 *
 * The world (DNS, HTTPS on 127.0.0.1:443, certificates from a per-run CA) runs in this process with
 * `--domains` healthy domains. Each round starts fresh child processes, so every round is cold. The
 * order of the contenders rotates from round to round to spread out drift from other load on the
 * machine; rates are medians over `--rounds`, ratios are medians of the per-round ratios (the
 * contenders of one round ran back to back). A final round per contender puts all domains in flight
 * at once (`--flood`) and counts the domains lost. A domain counts as found only when a policy in
 * mode enforce came back (for `check`: a report with that policy and no error finding).
 *
 * mailauth fetches from port 443 with the default trust store and no way to change either, so the
 * world's HTTPS server takes port 443 (root or CAP_NET_BIND_SERVICE needed) and every child runs
 * with NODE_EXTRA_CA_CERTS=<world CA>; mtasts gets the CA through its `ca` option, `check` through
 * `--ca-file`.
 *
 *   npm run bench -- [--domains 1000] [--concurrency 100] [--rounds 3] [--flood 1000] [--no-warmup] [--no-floor]
 *                    [--check-workers default] [--no-check] [--cli bin/mtasts.js] [--json out.json] [--strict]
 *
 * Run `npm run build` first: `check` runs from dist/ (a stale dist/ is reported, not refused).
 *
 * Exit status: 0 (1 with --strict when a target is missed: check ≥ 0.95× discoverPolicy, ≥ 0.8× the
 * TLS reference, ahead of mailauth, and no domain lost), 2 when port 443 cannot be bound.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWorld, type DomainSpec, type World } from '../src/testworld/world.js';
import type { Impl, RoundResult } from './contender.js';

const LIBS = ['mtasts', 'mailauth'] as const satisfies readonly Impl[];

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
    /** `check` contenders: comma-separated `--workers` values, `default` for none given. */
    'check-workers': { type: 'string', default: 'default' },
    'no-check': { type: 'boolean', default: false },
    /** The mtasts entry point `check` runs (default bin/mtasts.js, which loads dist/). */
    cli: { type: 'string' },
    json: { type: 'string' },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench -- [--domains N] [--concurrency N] [--rounds N] [--flood N] [--no-warmup] [--no-floor] [--check-workers default,1,auto] [--no-check] [--json FILE] [--strict]');
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
const CHECK_WORKERS = values['no-check'] ? [] : values['check-workers'].split(',').map((s) => s.trim()).filter((s) => s !== '');
for (const w of CHECK_WORKERS) {
  if (w !== 'default' && w !== 'auto' && !/^[1-9]\d*$/.test(w)) {
    console.error(`--check-workers: expected default, auto or a positive integer, got ${JSON.stringify(w)}`);
    process.exit(64);
  }
}
const SUFFIX = 'bench.test';
/** A whole child round may not take longer than this (each domain is bounded at 30 s inside). */
const CHILD_LIMIT_MS = 90_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const contender = path.join(here, 'contender.ts');
const cliEntry = path.resolve(values.cli ?? path.join(repoRoot, 'bin', 'mtasts.js'));

/** A contender's name: a library impl, or `check` / `check --workers N`. */
type Name = string;
const checkName = (w: string): Name => (w === 'default' ? 'check' : `check --workers ${w}`);
const CHECKS: Name[] = CHECK_WORKERS.map(checkName);

interface Measured extends Omit<RoundResult, 'impl'> {
  name: Name;
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

function runLibChild(world: World, impl: Impl, concurrency: number, label: string): Promise<Measured> {
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
        const { impl: _impl, ...r } = JSON.parse(line) as RoundResult;
        resolve({ ...r, name: impl, label, serverCpuMs: (cpu.user + cpu.system) / 1000 });
      } catch {
        reject(new Error(`${impl} child (${label}) ended with ${signal ?? `code ${code}`} without a result:\n${err.slice(-2000)}`));
      }
    });
  });
}

/** GNU time gives the child's CPU (all its threads); without it, client CPU is not reported for check. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/**
 * One `mtasts check --no-smtp --json` process over all domains, timed from spawn to exit (wall
 * clock), as a user runs it. Its stdout is parsed afterwards, outside the timing.
 */
async function runCheckChild(world: World, domainFile: string, workers: string, concurrency: number, label: string, tmp: string): Promise<Measured> {
  const args = [
    cliEntry, 'check', '--no-smtp', '--json',
    '--concurrency', String(concurrency),
    '--dns', world.dnsServer,
    '--https-port', String(world.httpsPort),
    '--ca-file', world.caFile,
    '--file', domainFile,
    ...(workers === 'default' ? [] : ['--workers', workers]),
  ];
  const outFile = path.join(tmp, `check-${process.hrtime.bigint()}.jsonl`);
  const timeFile = `${outFile}.time`;
  const [cmd, argv] = GNU_TIME ? [GNU_TIME, ['-q', '-f', '%U %S', '-o', timeFile, process.execPath, ...args]] : [process.execPath, args];
  const { writeStream, done } = await openOut(outFile);
  const name = checkName(workers);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const child = spawn(cmd, argv, {
    cwd: repoRoot,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: world.caFile },
    stdio: ['ignore', writeStream, 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearTimeout(killer);
  await done();
  const lines = (await readFile(outFile, 'utf8')).split('\n').filter((l) => l !== '');
  let clientCpuMs = NaN;
  if (GNU_TIME) {
    const [u, s] = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split(/\s+/).map(Number);
    if (u !== undefined && s !== undefined && Number.isFinite(u + s)) clientCpuMs = (u + s) * 1000;
  }
  const lostReasons: Record<string, number> = {};
  const lostSamples: string[] = [];
  let found = 0;
  for (const line of lines) {
    const r = JSON.parse(line) as { domain: string; verdict: string; policy: { parsed: { mode: string } | null } | null; findings: { code: string; severity: string; message: string }[] };
    const firstError = r.findings.find((f) => f.severity === 'error');
    if (r.policy?.parsed?.mode === 'enforce' && !firstError) {
      found++;
      continue;
    }
    const reason = firstError?.code ?? `mode ${r.policy?.parsed?.mode ?? 'none'}`;
    lostReasons[reason] = (lostReasons[reason] ?? 0) + 1;
    if (lostSamples.length < 5) lostSamples.push(`${r.domain}: ${reason} ${firstError?.message ?? ''}`.slice(0, 300));
  }
  if (lines.length !== DOMAINS) {
    lostReasons['no-report'] = DOMAINS - lines.length;
    lostSamples.push(`exit ${code}, ${lines.length} reports; stderr: ${err.slice(-500)}`);
  }
  await rm(outFile, { force: true });
  await rm(timeFile, { force: true });
  return {
    name, label, count: DOMAINS, concurrency, found, lost: DOMAINS - found, lostReasons, lostSamples,
    elapsedMs, rate: found / (elapsedMs / 1000), cpuMs: clientCpuMs, maxInFlight: concurrency,
    serverCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** The child writes straight into a file, so that this process (the world) does not read its output while timing. */
async function openOut(file: string): Promise<{ writeStream: import('node:fs').WriteStream; done: () => Promise<void> }> {
  const { createWriteStream } = await import('node:fs');
  const writeStream = createWriteStream(file);
  await new Promise<void>((resolve, reject) => writeStream.once('open', () => resolve()).once('error', reject));
  return { writeStream, done: () => new Promise<void>((resolve) => writeStream.end(() => resolve())) };
}

/** `check` runs from dist/: say so when dist/ is older than the sources it was built from. */
function distStaleness(): string | null {
  const built = statSync(path.join(repoRoot, 'dist', 'cli', 'main.js'), { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return 'dist/ is missing: run `npm run build` first';
  let newest = 0;
  let newestFile = '';
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const m = statSync(p).mtimeMs;
        if (m > newest) [newest, newestFile] = [m, p];
      }
    }
  };
  walk(path.join(repoRoot, 'src'));
  return newest > built ? `dist/ is older than ${path.relative(repoRoot, newestFile)}: run \`npm run build\` for a current measure` : null;
}

function mailauthVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', 'mailauth', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');

function describe(r: Measured): string {
  const lost = r.lost === 0 ? 'lost 0' : `lost ${r.lost} (${Object.entries(r.lostReasons).map(([k, v]) => `${k}×${v}`).join(', ')})`;
  return `${r.label.padEnd(10)} ${r.name.padEnd(20)} c=${String(r.concurrency).padEnd(4)} ${f0(r.rate).padStart(5)} domains/s` +
    `  ${f0(r.elapsedMs).padStart(6)} ms  ${lost}  client CPU ${f2(r.cpuMs / r.count)} ms/domain, server CPU ${f2(r.serverCpuMs / r.count)} ms/domain`;
}

// ---------------------------------------------------------------------------------------------

const t0 = Date.now();
const world = await startWorld();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'mtasts-bench-check-'));
const domainFile = path.join(tmp, 'domains.txt');
await writeFile(domainFile, Array.from({ length: DOMAINS }, (_, i) => `d${i}.${SUFFIX}\n`).join(''));
const log = (s: string): void => console.log(s);
log(`cold discovery-and-fetch of ${DOMAINS} domains, concurrency ${CONCURRENCY}, ${ROUNDS} rounds each, flood ${FLOOD}`);
log(`world: DNS ${world.dnsServer}, HTTPS 127.0.0.1:${world.httpsPort}, started in ${Date.now() - t0} ms; node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); mailauth ${mailauthVersion()}`);
if (CHECKS.length > 0) {
  const stale = values.cli ? null : distStaleness();
  log(`check: node ${path.relative(repoRoot, cliEntry)} check --no-smtp --json --concurrency ${CONCURRENCY} --file <${DOMAINS} domains> [--workers W]${stale ? `  (warning: ${stale})` : ''}`);
}

const run = (name: Name, concurrency: number, label: string): Promise<Measured> => {
  if (name === 'check') return runCheckChild(world, domainFile, 'default', concurrency, label, tmp);
  if (name.startsWith('check --workers ')) return runCheckChild(world, domainFile, name.slice('check --workers '.length), concurrency, label, tmp);
  return runLibChild(world, name as Impl, concurrency, label);
};

const results: Measured[] = [];
const say = (r: Measured): void => {
  log(describe(r));
  for (const s of r.lostSamples.slice(0, 2)) log(`             e.g. ${s}`);
};
const contenders: Name[] = [...LIBS, ...CHECKS];
try {
  if (!values['no-warmup']) {
    // Untimed: the world issues each host's certificate on its first handshake, and its own code
    // is cold; both would otherwise be charged to whichever contender runs first.
    for (const name of contenders) say(await run(name, CONCURRENCY, 'warm-up'));
  }
  // Each round runs every contender once, the order rotating from round to round.
  const lineup: Name[] = values['no-floor'] ? contenders : [...contenders, 'tls-floor'];
  for (let round = 0; round < ROUNDS; round++) {
    const order = lineup.map((_, i) => lineup[(i + round) % lineup.length]!);
    if (round % 2 === 1) order.reverse();
    for (const name of order) {
      const r = await run(name, CONCURRENCY, `round ${round + 1}`);
      results.push(r);
      say(r);
    }
  }
  if (FLOOD > 0) {
    for (const name of contenders) {
      const r = await run(name, FLOOD, 'flood');
      results.push(r);
      say(r);
    }
  }
} finally {
  await world.close();
  await rm(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

interface Summary {
  name: Name;
  rates: number[];
  medianRate: number;
  medianClientCpuMsPerDomain: number;
  medianServerCpuMsPerDomain: number;
  lostInRounds: number;
  flood?: { concurrency: number; rate: number; lost: number; lostReasons: Record<string, number>; maxInFlight: number };
}
const summaries = new Map<Name, Summary>();
for (const name of [...contenders, 'tls-floor']) {
  const rounds = results.filter((r) => r.name === name && r.label.startsWith('round'));
  if (rounds.length === 0) continue;
  const flood = results.find((r) => r.name === name && r.label === 'flood');
  summaries.set(name, {
    name,
    rates: rounds.map((r) => r.rate),
    medianRate: median(rounds.map((r) => r.rate)),
    medianClientCpuMsPerDomain: median(rounds.map((r) => r.cpuMs / r.count)),
    medianServerCpuMsPerDomain: median(rounds.map((r) => r.serverCpuMs / r.count)),
    lostInRounds: rounds.reduce((n, r) => n + r.lost, 0),
    ...(flood ? { flood: { concurrency: flood.concurrency, rate: flood.rate, lost: flood.lost, lostReasons: flood.lostReasons, maxInFlight: flood.maxInFlight } } : {}),
  });
}

/** a/b within each round (the contenders of one round ran back to back), and their median. */
function ratio(a: Name, b: Name): { perRound: number[]; median: number } {
  const perRound = Array.from({ length: ROUNDS }, (_, i) => {
    const x = results.find((r) => r.name === a && r.label === `round ${i + 1}`);
    const y = results.find((r) => r.name === b && r.label === `round ${i + 1}`);
    return x && y ? x.rate / y.rate : NaN;
  });
  return { perRound, median: median(perRound) };
}

log('');
log(`| contender | median rate (domains/s, c=${CONCURRENCY}) | per round | client CPU ms/domain | server CPU ms/domain | lost (c=${CONCURRENCY}, all rounds) | rate at ${FLOOD} in flight | lost at ${FLOOD} in flight |`);
log('|---|---:|---|---:|---:|---:|---:|---:|');
for (const s of summaries.values()) {
  const label = s.name === 'tls-floor' ? 'TLS handshake only (reference)'
    : s.name === 'mtasts' ? 'mtasts discoverPolicy'
    : s.name === 'mailauth' ? `mailauth ${mailauthVersion()} getPolicy`
    : `\`${s.name}\` (whole process)`;
  log(`| ${label} | ${f0(s.medianRate)} | ${s.rates.map(f0).join(' / ')} | ${f2(s.medianClientCpuMsPerDomain)} | ${f2(s.medianServerCpuMsPerDomain)} | ${s.lostInRounds} | ${s.flood ? `${f0(s.flood.rate)} | ${s.flood.lost}` : '– | –'} |`);
}
log('');
const fmtRatio = (r: { perRound: number[]; median: number }): string => `${f2(r.median)}× (per round ${r.perRound.map(f2).join(' / ')})`;
const lib = ratio('mtasts', 'mailauth');
log(`discoverPolicy / mailauth: ${fmtRatio(lib)}`);
if (summaries.has('tls-floor')) {
  log(`discoverPolicy / TLS reference: ${fmtRatio(ratio('mtasts', 'tls-floor'))}; mailauth / TLS reference: ${fmtRatio(ratio('mailauth', 'tls-floor'))}`);
}
interface CheckTargets { name: Name; vsDiscover: number; vsFloor: number; vsMailauth: number; met: boolean }
const checkTargets: CheckTargets[] = [];
for (const name of CHECKS) {
  const d = ratio(name, 'mtasts');
  const f = ratio(name, 'tls-floor');
  const m = ratio(name, 'mailauth');
  const s = summaries.get(name);
  const met = d.median >= 0.95 && (!summaries.has('tls-floor') || f.median >= 0.8) && m.median > 1 && (s?.lostInRounds ?? 1) === 0 && (s?.flood?.lost ?? 0) === 0;
  checkTargets.push({ name, vsDiscover: d.median, vsFloor: f.median, vsMailauth: m.median, met });
  log(`\`${name}\` / discoverPolicy: ${fmtRatio(d)}  (target ≥ 0.95)`);
  if (summaries.has('tls-floor')) log(`\`${name}\` / TLS reference: ${fmtRatio(f)}  (target ≥ 0.8)`);
  log(`\`${name}\` / mailauth: ${fmtRatio(m)}  (target > 1)`);
  log(`\`${name}\` targets: ${met ? 'MET' : 'NOT MET'}`);
}
log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);

if (values.json) {
  await writeFile(values.json, JSON.stringify({
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    mailauth: mailauthVersion(),
    domains: DOMAINS, concurrency: CONCURRENCY, rounds: ROUNDS, flood: FLOOD,
    discoverVsMailauth: lib, checkTargets, summaries: [...summaries.values()], results,
  }, null, 2) + '\n');
}
process.exit(values.strict && checkTargets.some((t) => !t.met) ? 1 : 0);
