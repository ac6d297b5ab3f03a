/**
 * The sandbox behind `mtasts demo --dashboard` (and the dashboard's browser tests): the test world
 * on loopback, monitored over a few rounds while some domains change (a rollout from testing to
 * enforce with a new id, a policy edited without a new id, a certificate renewed), and synthetic
 * TLS-RPT reports over ~20 days — failures included — plus the shared sample reports of
 * test/fixtures/tlsrpt when present, all in one SQLite file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseMonitorConfig, type MonitorConfig } from '../monitor/config.js';
import { runMonitorRound, type RoundResult } from '../monitor/monitor.js';
import { ingestPayload, type ReportPayload } from '../reports/ingest.js';
import { ReportStore } from '../reports/store.js';
import { openDatabase } from '../store/sql.js';
import { createWorld, policyText, SCENARIOS, type DomainSpec, type World } from '../testworld/index.js';
import { sampleDomainOf, sampleReports } from './sample-reports.js';

export interface DemoOptions {
  /** SQLite file (created). */
  db: string;
  /** World specs to monitor (default: every scenario of the catalogue). */
  domains?: DomainSpec[];
  /** Add the demo's own domains that change between rounds (default true). */
  changingDomains?: boolean;
  /** Monitor rounds (default 3), 25 minutes apart in the monitor's clock, the last one now. */
  rounds?: number;
  /** Days of synthetic reports (default 20). */
  reportDays?: number;
  /** Also import test/fixtures/tlsrpt/*.json (default true, when the folder exists). */
  fixtures?: boolean;
  /** Extra report payloads to import (tests). */
  extraReports?: ReportPayload[];
  /** Per-step network timeout of the checks, ms (default 3000). */
  timeoutMs?: number;
  progress?: (message: string) => void;
}

export interface Demo {
  world: World;
  config: MonitorConfig;
  rounds: RoundResult[];
  reports: { imported: number; duplicate: number; rejected: number };
  /** Domains that only appear in reports. */
  reportOnlyDomains: string[];
  close(): Promise<void>;
}

const STAGE_MS = 25 * 60_000;

/** Domains whose deployment changes between rounds, to fill the policy history and events. */
function changingSpecs(stage: number, last: number): DomainSpec[] {
  const rolloutMx = ['mx1.rollout.test'];
  return [
    // testing → enforce in the last round, with a new id (derived from the text by the world).
    { domain: 'rollout.test', policy: policyText({ mode: stage < last ? 'testing' : 'enforce', mx: rolloutMx, maxAge: stage < last ? 86400 : 604800 }) },
    // The policy changes after the first round but the id stays "v1": RFC 8461 §3.1 says it must not.
    { domain: 'sneaky.test', stsTxt: [['v=STSv1; id=v1']], policy: policyText({ mx: ['mx1.sneaky.test'], maxAge: stage === 0 ? 86400 : 1209600 }) },
    // A certificate about to expire is renewed in the last round: its problem resolves.
    { domain: 'renewed.test', mx: [{ host: 'mx1.renewed.test', cert: stage < last ? 'expiring-soon' : 'valid' }] },
    // Healthy and in testing: the advisor's candidate for enforce.
    { domain: 'ready.test', policy: policyText({ mode: 'testing', mx: ['mx1.ready.test'] }) },
  ];
}

/** Where the shared sample reports live, from src/dashboard or dist/dashboard. */
export function fixturesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/tlsrpt');
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const progress = opts.progress ?? (() => {});
  const rounds = Math.max(1, opts.rounds ?? 3);
  const specs = opts.domains ?? SCENARIOS.map((s) => s.spec);
  const changing = opts.changingDomains ?? true;
  const world = await createWorld({ domains: [...specs, ...(changing ? changingSpecs(0, rounds - 1) : [])] });
  try {
    const domains = world.domains();
    const yaml = [
      `db: ${JSON.stringify(opts.db)}`,
      'domains:',
      ...domains.map((d) => `  - ${d}`),
      'check:',
      `  dns: ${JSON.stringify(world.dnsServer)}`,
      `  ca_file: ${JSON.stringify(world.caFile)}`,
      `  https_port: ${world.httpsPort}`,
      `  smtp_port: ${world.smtpPort}`,
      `  timeout: ${Math.round((opts.timeoutMs ?? 3000) / 1000) || 1}s`,
      '  concurrency: 64',
      'confirm: 1',
      'log_level: silent',
    ].join('\n');
    const config = parseMonitorConfig(yaml);
    const results: RoundResult[] = [];
    const logger = pino({ level: 'silent' });
    for (let stage = 0; stage < rounds; stage++) {
      if (changing && stage > 0) for (const s of changingSpecs(stage, rounds - 1)) await world.addDomain(s);
      const offset = (rounds - 1 - stage) * STAGE_MS;
      progress(`monitor round ${stage + 1} of ${rounds} over ${domains.length} domains…`);
      results.push(await runMonitorRound(config, { logger, now: () => new Date(Date.now() - offset) }));
    }

    progress('importing TLS-RPT reports…');
    const samples = world.domains().map((d) => {
      const spec = [...specs, ...(changing ? changingSpecs(rounds - 1, rounds - 1) : [])].find((s) => s.domain === d);
      return spec ? sampleDomainOf(spec, spec.policy ?? (spec.nullMx ? null : policyText({ mx: (spec.mx ?? [{ host: `mx1.${d}` }]).map((m) => m.host) }))) : null;
    }).filter((s) => s !== null);
    // A domain that is not monitored, seen only in reports, with a failing MX.
    samples.push({ domain: 'reports-only.example', mode: 'testing', policyLines: ['version: STSv1', 'mode: testing', 'mx: mx.reports-only.example', 'max_age: 86400'], mxHosts: ['mx.reports-only.example'], failure: { resultType: 'certificate-host-mismatch', rate: 0.05, mx: 'mx.reports-only.example' }, volume: 900 });
    const payloads: ReportPayload[] = sampleReports(samples, { days: opts.reportDays ?? 20 }).map((r) => ({ bytes: r.bytes, source: r.source, transport: 'file' }));
    const dir = fixturesDir();
    if ((opts.fixtures ?? true) && existsSync(dir)) {
      for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
        payloads.push({ bytes: readFileSync(path.join(dir, name)), source: path.join(dir, name), transport: 'file' });
      }
    }
    payloads.push(...(opts.extraReports ?? []));
    const db = await openDatabase(opts.db);
    const counts = { imported: 0, duplicate: 0, rejected: 0 };
    try {
      const store = await ReportStore.on(db);
      // Concurrent ingests share group commits.
      for (let i = 0; i < payloads.length; i += 200) {
        const items = await Promise.all(payloads.slice(i, i + 200).map((p) => ingestPayload(store, p)));
        for (const it of items.flat()) counts[it.status]++;
      }
    } finally {
      await db.close();
    }
    progress(`${counts.imported} reports imported`);
    const monitored = new Set(world.domains());
    return {
      world,
      config,
      rounds: results,
      reports: counts,
      reportOnlyDomains: [...new Set(samples.map((s) => s.domain).filter((d) => !monitored.has(d)))],
      close: () => world.close(),
    };
  } catch (err) {
    await world.close();
    throw err;
  }
}
