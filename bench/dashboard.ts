/**
 * `npm run bench:dashboard`: the dashboard's portfolio page and API over a large store — by default
 * 10,000 domains with 90 days of monitor history (one check a day, a few events each) and 90 days
 * of TLS-RPT reports (one a day per domain) — served by the real CLI (`mtasts dashboard`) in a child
 * process. Prints time to first byte (cold: the first request, which assembles the portfolio; warm:
 * median and p95 of 20) and the bytes transferred (gzip) for each URL, and the whole page weight of
 * `/` with its assets. Targets (issue 10): < 300 ms server time and < 500 KB transferred.
 *
 * The store is seeded once through the monitor's and the reports store's own functions and kept in
 * bench/.out/ (git-ignored) for later runs. Options: --domains N (10000), --days N (90),
 * --report-domains N (all), --requests N (20), --reseed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { evaluate, emptyState, type MonitorEvent, type Observation } from '../src/monitor/events.js';
import { initMonitorSchema, saveCheck, saveEvents, saveState } from '../src/monitor/history.js';
import { ReportStore } from '../src/reports/store.js';
import { parseReport } from '../src/tlsrpt/report.js';
import { openDatabase } from '../src/store/sql.js';
import { freePort } from '../src/testworld/ports.js';

const { values } = parseArgs({
  options: {
    domains: { type: 'string', default: '10000' },
    days: { type: 'string', default: '90' },
    'report-domains': { type: 'string' },
    requests: { type: 'string', default: '20' },
    reseed: { type: 'boolean' },
  },
});
const DOMAINS = Number(values.domains);
const DAYS = Number(values.days);
const REPORT_DOMAINS = Math.min(DOMAINS, Number(values['report-domains'] ?? DOMAINS));
const REQUESTS = Number(values.requests);
const DAY = 86_400_000;
const OUT = path.resolve('bench/.out');
const dbFile = path.join(OUT, `dashboard-${DOMAINS}x${DAYS}-${REPORT_DOMAINS}.db`);
const name = (i: number) => `d${String(i).padStart(5, '0')}.bench.test`;

async function seed(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) rmSync(f, { force: true });
  const db = await openDatabase(dbFile);
  await initMonitorSchema(db);
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const started = Date.now();
  // Monitor history: one check per domain per day, through the monitor's own functions.
  const modes = ['enforce', 'testing', 'none'] as const;
  for (let i = 0; i < DOMAINS; i += 250) {
    await db.transaction(async (tx) => {
      for (let j = i; j < Math.min(DOMAINS, i + 250); j++) {
        const domain = name(j);
        const mode = modes[j % 3]!;
        const mx = `mx1.${domain}`;
        let state = emptyState();
        let prev: typeof state | null = null;
        for (let d = DAYS - 1; d >= 0; d--) {
          const at = new Date(today - d * DAY + 3_600_000).toISOString();
          const failing = j % 17 === 0 && d < 5;
          const policyText = `version: STSv1\r\nmode: ${mode}\r\nmx: ${mx}\r\nmax_age: ${d > 45 ? 86400 : 604800}\r\n`;
          const obs: Observation = {
            at, verdict: failing ? 'fail' : j % 5 === 0 ? 'warn' : 'pass',
            findings: failing ? [{ code: 'smtp-cert-expired', severity: 'error', section: 'smtp', message: `the certificate of ${mx} expired. Renew it.`, host: mx }] : [],
            recordId: d > 45 ? '20240101' : '20240301', recordMissing: false, policySha256: d > 45 ? 'a'.repeat(64) : 'b'.repeat(64), policyText,
            mode, maxAge: d > 45 ? 86400 : 604800, mxPatterns: [mx], mxHosts: [mx],
            certs: [
              { host: `mta-sts.${domain}`, role: 'policy', validTo: new Date(today + ((j % 80) + 5) * DAY).toISOString(), daysLeft: 0, valid: true },
              { host: mx, role: 'mx', validTo: new Date(today + ((j % 60) - (failing ? 70 : -3)) * DAY).toISOString(), daysLeft: 0, valid: !failing },
            ],
            elapsedMs: 120,
          };
          const roundId = `bench-${d}`;
          const r = evaluate(domain, prev, obs, { confirm: 1 });
          await saveCheck(tx, domain, roundId, obs);
          await saveEvents(tx, r.events as MonitorEvent[], roundId);
          state = r.state;
          prev = state;
        }
        await saveState(tx, domain, 'bench-0', new Date(today + 3_600_000).toISOString(), state);
      }
    });
    if (i % 2000 === 0) process.stderr.write(`  history: ${i + 250}/${DOMAINS} domains (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  // Reports: one a day per domain from one of two senders, through the reports store's insert.
  const store = await ReportStore.on(db);
  const orgs = ['Google Inc.', 'Microsoft Corporation'];
  let pending: Promise<unknown>[] = [];
  for (let j = 0; j < REPORT_DOMAINS; j++) {
    const domain = name(j);
    for (let d = DAYS; d >= 1; d--) {
      const date = new Date(today - d * DAY).toISOString().slice(0, 10);
      const failed = j % 11 === 0 ? 25 : (j + d) % 9 === 0 ? 1 : 0;
      const json = JSON.stringify({
        'organization-name': orgs[(j + d) % 2], 'date-range': { 'start-datetime': `${date}T00:00:00Z`, 'end-datetime': `${date}T23:59:59Z` },
        'contact-info': 'tlsrpt@sender.example', 'report-id': `${date}-${domain}`,
        policies: [{
          policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing', `mx: mx1.${domain}`, 'max_age: 86400'], 'policy-domain': domain, 'mx-host': [`mx1.${domain}`] },
          summary: { 'total-successful-session-count': 200 + (j % 300), 'total-failure-session-count': failed },
          ...(failed ? { 'failure-details': [{ 'result-type': 'certificate-expired', 'sending-mta-ip': '192.0.2.1', 'receiving-mx-hostname': `mx1.${domain}`, 'failed-session-count': failed }] } : {}),
        }],
      });
      const parsed = parseReport(json);
      pending.push(store.insert({ report: parsed.report!, warnings: parsed.warnings, rawGzip: gzipSync(json), source: 'bench', transport: 'file', receivedAt: new Date() }));
      if (pending.length >= 2000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    if (j % 1000 === 999) process.stderr.write(`  reports: ${j + 1}/${REPORT_DOMAINS} domains (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  await Promise.all(pending);
  await db.close();
  process.stderr.write(`seeded ${dbFile} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

interface Sample {
  ttfbMs: number;
  bytes: number;
  rawBytes: number;
  status: number;
}

function get(url: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      const ttfbMs = performance.now() - t0;
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ttfbMs, bytes, rawBytes: Number(res.headers['x-raw-length'] ?? 0), status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout ${url}`)));
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;

async function main(): Promise<void> {
  if (values.reseed || !existsSync(dbFile)) {
    process.stderr.write(`seeding ${DOMAINS} domains × ${DAYS} days (reports for ${REPORT_DOMAINS} domains)…\n`);
    await seed();
  }
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/serve-cli-entry.ts', 'dashboard', '--db', dbFile, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => (c.toString().includes('http://') ? resolve() : undefined));
      child.once('exit', (code) => reject(new Error(`mtasts dashboard exited (${code})`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const urls = ['/', '/?page=100', '/?verdict=fail&sort=-sessions', '/?q=d0999', '/api/portfolio', '/api/portfolio?page=50&per_page=100', `/domains/${name(42)}`, `/api/domains/${name(42)}`, '/reports', '/events'];
    console.log(`mtasts dashboard over ${DOMAINS} domains, ${DAYS} days of history, reports for ${REPORT_DOMAINS} domains (${dbFile})`);
    console.log('| URL | cold TTFB ms | warm TTFB ms median | p95 | transferred KB (gzip) |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const u of urls) {
      const cold = await get(base + u);
      if (cold.status !== 200) throw new Error(`${u}: HTTP ${cold.status}`);
      const warm: Sample[] = [];
      for (let i = 0; i < REQUESTS; i++) warm.push(await get(base + u));
      const t = warm.map((w) => w.ttfbMs);
      console.log(`| \`${u}\` | ${cold.ttfbMs.toFixed(0)} | ${pct(t, 0.5).toFixed(1)} | ${pct(t, 0.95).toFixed(1)} | ${(pct(warm.map((w) => w.bytes), 0.5) / 1024).toFixed(1)} |`);
    }
    // The whole page weight of the portfolio: HTML plus every asset it loads.
    const page = await fetch(`${base}/`);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    let total = (await get(`${base}/`)).bytes;
    for (const a of new Set(assets)) total += (await get(base + a)).bytes;
    console.log(`\nportfolio page weight: ${(total / 1024).toFixed(1)} KB transferred (HTML + ${new Set(assets).size} assets, gzip), ${html.length.toLocaleString('en-US')} bytes of HTML uncompressed`);
  } finally {
    child.kill('SIGTERM');
  }
}

await main();
