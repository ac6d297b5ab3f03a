/**
 * What the monitor's bookkeeping costs on top of the checks: one `mtasts monitor --once` round over
 * N test-world domains against plain `mtasts check --json` of the same domains, in the same run.
 *
 * The world (DNS, HTTPS, SMTP on loopback, certificates from a per-run CA) runs in this process with
 * `--domains` healthy domains. Each measurement is a fresh child process (bench/monitor-round-child.ts)
 * that runs the CLI from source and reports its wall time and peak RSS. The monitor keeps one SQLite
 * database across its rounds (the steady state: every round compares with the previous one and stores
 * its checks); an untimed warm-up round of each command comes first (the world issues each host's
 * certificate on first use; the monitor's first round creates the tables). Contenders alternate order
 * from round to round; medians are reported.
 *
 *   npm run bench:monitor -- [--domains 1000] [--concurrency 50] [--rounds 3] [--json out.json]
 *
 * Target: the monitor round takes under 10% more wall time than the plain check.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWorld, type DomainSpec } from '../src/testworld/world.js';

const { values } = parseArgs({
  options: {
    domains: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench:monitor -- [--domains N] [--concurrency N] [--rounds N] [--json FILE]');
  process.exit(0);
}
const int = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name}: expected a positive integer, got ${JSON.stringify(v)}`);
    process.exit(64);
  }
  return n;
};
const DOMAINS = int('domains', values.domains);
const CONCURRENCY = int('concurrency', values.concurrency);
const ROUNDS = int('rounds', values.rounds);

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const child = path.join(here, 'monitor-round-child.ts');

interface Result {
  label: string; kind: 'check' | 'monitor'; code: number; wallMs: number; maxRssKiB: number; lines: number;
  /** Monitor only, from its log: time of the checks, and of the bookkeeping after them. */
  checkMs?: number; storeMs?: number;
}

function run(kind: 'check' | 'monitor', args: string[], label: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(killer);
      const line = err.trim().split('\n').reverse().find((l) => l.startsWith('{"result"'));
      if (!line) return reject(new Error(`${kind} child (${label}) gave no result:\n${err.slice(-2000)}`));
      const r = (JSON.parse(line) as { result: Omit<Result, 'label' | 'kind'> }).result;
      const stored = err.split('\n').find((l) => l.includes('"round stored"'));
      const t = stored ? (JSON.parse(stored) as { checkMs?: number; storeMs?: number }) : {};
      resolve({ label, kind, ...r, ...(t.checkMs !== undefined ? { checkMs: t.checkMs, storeMs: t.storeMs } : {}) });
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const t0 = Date.now();
const specs: DomainSpec[] = Array.from({ length: DOMAINS }, (_, i) => ({ domain: `d${i}.monitor-bench.test` }));
const world = await createWorld({ domains: specs });
const dir = await mkdtemp(path.join(os.tmpdir(), 'mtasts-bench-monitor-'));
const results: Result[] = [];
try {
  const domainsFile = path.join(dir, 'domains.txt');
  await writeFile(domainsFile, `${specs.map((s) => s.domain).join('\n')}\n`);
  const config = path.join(dir, 'monitor.yaml');
  await writeFile(config, [
    `db: ${path.join(dir, 'monitor.db')}`,
    `domains_file: ${domainsFile}`,
    'interval: 1h',
    'log_level: debug',
    `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 10, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort}, concurrency: ${CONCURRENCY} }`,
    '',
  ].join('\n'));
  const checkArgs = ['check', '--json', '--file', domainsFile, '--dns', world.dnsServer, '--ca-file', world.caFile, '--timeout', '10',
    '--https-port', String(world.httpsPort), '--smtp-port', String(world.smtpPort), '--concurrency', String(CONCURRENCY)];
  const monitorArgs = ['monitor', '--config', config, '--once', '--json'];
  console.log(`monitor --once vs check --json: ${DOMAINS} domains, concurrency ${CONCURRENCY}, ${ROUNDS} rounds; node ${process.version}, ${os.cpus().length} CPUs`);
  const say = (r: Result): void => console.log(`${r.label.padEnd(8)} ${r.kind.padEnd(8)} ${(r.wallMs / 1000).toFixed(2).padStart(7)} s  peak RSS ${(r.maxRssKiB / 1024).toFixed(0).padStart(4)} MiB  exit ${r.code}  output lines ${r.lines}`
    + (r.storeMs !== undefined ? `  (checks ${(r.checkMs! / 1000).toFixed(2)} s, bookkeeping after them ${r.storeMs} ms)` : ''));
  say(await run('check', checkArgs, 'warm-up'));
  say(await run('monitor', monitorArgs, 'warm-up'));
  for (let i = 0; i < ROUNDS; i++) {
    const order: ('check' | 'monitor')[] = i % 2 === 0 ? ['monitor', 'check'] : ['check', 'monitor'];
    for (const kind of order) {
      const r = await run(kind, kind === 'check' ? checkArgs : monitorArgs, `round ${i + 1}`);
      results.push(r);
      say(r);
    }
  }
} finally {
  await world.close();
  await rm(dir, { recursive: true, force: true });
}

const of = (kind: 'check' | 'monitor') => results.filter((r) => r.kind === kind);
const wall = { check: median(of('check').map((r) => r.wallMs)), monitor: median(of('monitor').map((r) => r.wallMs)) };
const rss = { check: median(of('check').map((r) => r.maxRssKiB)), monitor: median(of('monitor').map((r) => r.maxRssKiB)) };
const paired = Array.from({ length: ROUNDS }, (_, i) => {
  const c = results.find((r) => r.kind === 'check' && r.label === `round ${i + 1}`);
  const m = results.find((r) => r.kind === 'monitor' && r.label === `round ${i + 1}`);
  return c && m ? m.wallMs / c.wallMs - 1 : NaN;
});
const overhead = wall.monitor / wall.check - 1;
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
console.log('');
console.log('| command | median wall time (s) | domains/s | median peak RSS (MiB) |');
console.log('|---|---:|---:|---:|');
for (const kind of ['check', 'monitor'] as const) {
  console.log(`| ${kind === 'check' ? '`mtasts check --json`' : '`mtasts monitor --once`'} | ${(wall[kind] / 1000).toFixed(2)} | ${(DOMAINS / (wall[kind] / 1000)).toFixed(0)} | ${(rss[kind] / 1024).toFixed(0)} |`);
}
console.log('');
console.log(`monitor bookkeeping on top of the checks (median wall time): ${pct(overhead)}; per round: ${paired.map(pct).join(' / ')}`);
console.log(`peak RSS: ${pct(rss.monitor / rss.check - 1)} more`);
const share = median(of('monitor').filter((r) => r.storeMs !== undefined).map((r) => r.storeMs! / r.checkMs!));
console.log(`inside the monitor process: bookkeeping after the checks (TLS-RPT summary, one transaction) = ${pct(share)} of the check time (median)`);
console.log(`target (< 10% wall time on top): ${overhead < 0.1 ? 'MET' : 'NOT MET'}`);
console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (values.json) {
  await writeFile(values.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, domains: DOMAINS, concurrency: CONCURRENCY, rounds: ROUNDS, wall, rss, overhead, paired, results }, null, 2)}\n`);
}
