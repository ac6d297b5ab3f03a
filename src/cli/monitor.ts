/**
 * `mtasts monitor`: watch a portfolio over time (docs/monitor.md).
 *
 *   mtasts monitor --config FILE [--once] [--json] [--check-config] [--log-level LEVEL]
 *   mtasts monitor events (--config FILE | --db DB) [--domain D] [--since DATE] [--state S] [--code C] [--limit N] [--json]
 *   mtasts monitor status (--config FILE | --db DB) [--domain D] [--json]
 *
 * Exit status: 0, or 2 for a usage or configuration error (1 when the database cannot be used).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { toALabel } from '../dns/name.js';
import { ConfigError, loadMonitorConfig, type MonitorConfig } from '../monitor/config.js';
import type { MonitorEvent } from '../monitor/events.js';
import { listEvents, openMonitorDb } from '../monitor/history.js';
import { Monitor } from '../monitor/monitor.js';
import { monitorStatus, type DomainStatus } from '../monitor/status.js';
import { parseDuration } from '../serve/config.js';
import { databaseSpec } from '../store/sql.js';
import { Painter } from './format.js';
import { positiveNumber, usage, UsageError, type Io } from './io.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export async function runMonitor(args: string[], io: Io): Promise<number> {
  if (args[0] === 'events') return runEvents(args.slice(1), io);
  if (args[0] === 'status') return runStatus(args.slice(1), io);
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      once: { type: 'boolean' },
      json: { type: 'boolean' },
      'check-config': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  }));
  if (positionals.length > 0) throw new UsageError(`unknown monitor subcommand "${positionals[0]}" (expected events or status)`);
  if (values.config === undefined) throw new UsageError('monitor needs --config FILE');
  const config = loadConfigOrReport(values.config, io);
  if (config === null) return 2;
  if (values['log-level'] !== undefined) {
    if (!LOG_LEVELS.includes(values['log-level'])) throw new UsageError(`--log-level needs one of ${LOG_LEVELS.join(', ')}`);
    config.logLevel = values['log-level'];
  }
  if (values['check-config']) {
    io.out(`${values.config}: OK, ${config.domains.length} domain${config.domains.length === 1 ? '' : 's'}, database ${config.db.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}`);
    return 0;
  }
  if (values.once) return runOnce(config, io, Boolean(values.json));
  return runService(values.config, config);
}

function loadConfigOrReport(file: string, io: Io): MonitorConfig | null {
  try {
    return loadMonitorConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) io.err(`${i.file}:${i.line}:${i.column}: ${i.message}`);
      io.err('mtasts: the configuration has errors (config-invalid)');
      return null;
    }
    throw err;
  }
}

/** `--once`: one round of every domain now; events printed; alerts delivered. */
async function runOnce(config: MonitorConfig, io: Io, json: boolean): Promise<number> {
  // Logs go to standard error, so that standard output holds the events.
  const logger = pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, base: { service: 'mtasts-monitor', pid: process.pid } }, pino.destination(2));
  const monitor = new Monitor(config, { logger });
  await monitor.open();
  try {
    const round = await monitor.runOnce();
    const painter = Painter.for(io.stdout);
    for (const e of round.events) io.out(json ? JSON.stringify(e) : formatEvent(e, painter));
    if (!json) {
      io.err(`mtasts monitor: ${round.checked} domain${round.checked === 1 ? '' : 's'} checked, ${round.events.length} event${round.events.length === 1 ? '' : 's'}`
        + `${round.alerts.delivered + round.alerts.failed > 0 ? `, alerts: ${round.alerts.delivered} delivered, ${round.alerts.failed} failed (kept for retry)` : ''}`);
    }
  } finally {
    await monitor.close();
  }
  return 0;
}

/** The long-running service: SIGHUP reloads, SIGTERM/SIGINT stop cleanly. */
async function runService(file: string, config: MonitorConfig): Promise<number> {
  const monitor = new Monitor(config);
  await monitor.open({ queue: true });
  await monitor.start();
  const onHup = (): void => {
    monitor.log.info('SIGHUP: reloading the configuration');
    try {
      monitor.reload(loadMonitorConfig(file));
    } catch (err) {
      monitor.reloadFailed(err instanceof ConfigError ? err.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`).join('; ') : (err as Error).message);
    }
  };
  process.on('SIGHUP', onHup);
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      monitor.log.info({ signal }, 'shutting down');
      void monitor.close().then(() => resolve(0), (err: Error) => {
        monitor.log.error({ err: err.message }, 'shutdown');
        resolve(1);
      });
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

/** The database of `--db`, else of `--config`, else MTASTS_DB / ./mtasts.db. */
function dbSpecOf(values: { config?: string; db?: string }, io: Io): { spec: string; config: MonitorConfig | null } | null {
  if (values.config !== undefined && values.db !== undefined) throw new UsageError('give --config or --db, not both');
  if (values.config !== undefined) {
    const config = loadConfigOrReport(values.config, io);
    return config === null ? null : { spec: config.db, config };
  }
  return { spec: databaseSpec(values.db), config: null };
}

/** YYYY-MM-DD, an ISO 8601 time, or a duration back from now (`24h`, `7d`). */
export function parseSince(value: string, now = new Date()): Date {
  const ms = /^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(value.trim()) ? parseDuration(value) : null;
  if (ms !== null) return new Date(now.getTime() - ms);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
    const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value.trim()) ? `${value.trim()}T00:00:00Z` : value.trim());
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new UsageError(`--since needs a date (2024-05-01), a time (2024-05-01T12:00:00Z) or a duration back from now (24h, 7d), got "${value}"`);
}

function domainOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const a = toALabel(value.trim().replace(/\.$/, ''));
  if (a === null) throw new UsageError(`--domain needs a domain name, got "${value}"`);
  return a;
}

async function runEvents(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' }, db: { type: 'string' }, domain: { type: 'string' }, since: { type: 'string' },
      state: { type: 'string' }, code: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  }));
  const state = values.state;
  if (state !== undefined && !['open', 'resolved', 'notice'].includes(state)) throw new UsageError('--state needs open, resolved or notice');
  const since = values.since !== undefined ? parseSince(values.since) : undefined;
  const limit = positiveNumber('--limit', values.limit, 100_000, { integer: true });
  const domain = domainOption(values.domain);
  const target = dbSpecOf(values, io);
  if (target === null) return 2;
  const db = await openMonitorDb(target.spec);
  try {
    const events = await listEvents(db, {
      ...(domain ? { domain } : {}), ...(since ? { since } : {}), ...(state ? { state: state as MonitorEvent['state'] } : {}),
      ...(values.code ? { code: values.code } : {}), limit,
    });
    const painter = Painter.for(io.stdout);
    for (const e of events) io.out(values.json ? JSON.stringify(e) : formatEvent(e, painter));
    if (!values.json && events.length === 0) io.err('no events');
  } finally {
    await db.close();
  }
  return 0;
}

async function runStatus(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, db: { type: 'string' }, domain: { type: 'string', multiple: true }, json: { type: 'boolean' } },
    strict: true,
  }));
  const target = dbSpecOf(values, io);
  if (target === null) return 2;
  const only = values.domain?.map((d) => domainOption(d)!);
  const db = await openMonitorDb(target.spec);
  try {
    const status = await monitorStatus(db, { ...(only ? { domains: only } : target.config ? { domains: target.config.domains } : {}) });
    if (values.json) io.out(JSON.stringify(status));
    else io.out(formatStatus(status.domains, Painter.for(io.stdout)));
  } finally {
    await db.close();
  }
  return 0;
}

export function formatEvent(e: MonitorEvent, painter: Painter): string {
  const colour = e.state === 'resolved' ? 'green' : e.severity === 'error' ? 'red' : e.severity === 'warning' ? 'yellow' : 'dim';
  const tag = painter.paint(colour, `${e.state.padEnd(8)} ${e.severity.padEnd(7)}`);
  return `${e.at}  ${tag} ${e.domain}  ${e.code}${e.subject ? ` (${e.subject})` : ''}\n    ${e.message}`;
}

export function formatStatus(rows: DomainStatus[], painter: Painter): string {
  if (rows.length === 0) return 'no domains';
  const pct = (r: number | null): string => (r === null ? '–' : `${(r * 100).toFixed(r >= 0.9995 || r === 0 ? 0 : 1)}%`);
  const table = rows.map((d) => [
    d.domain,
    d.verdict ?? 'unchecked',
    d.mode ?? '–',
    String(d.openProblems.length),
    `${d.certDaysLeft.policyHost ?? '–'}/${d.certDaysLeft.mx ?? '–'}`,
    d.tlsrpt.sessions > 0 ? `${pct(d.tlsrpt.successRate)} of ${d.tlsrpt.sessions}` : '–',
    d.lastChecked ?? 'never',
  ]);
  const head = ['domain', 'verdict', 'mode', 'problems', 'cert days (policy/mx)', 'tls-rpt 7d', 'last checked'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[], colourVerdict = false): string => cells.map((c, i) => {
    const padded = c.padEnd(widths[i]!);
    if (!colourVerdict || i !== 1) return padded;
    return painter.paint(c === 'fail' ? 'red' : c === 'warn' ? 'yellow' : c === 'pass' ? 'green' : 'dim', padded);
  }).join('  ').trimEnd();
  const out = [line(head), ...table.map((r) => line(r, true))];
  for (const d of rows) {
    for (const p of d.openProblems) out.push(`  ${d.domain}: ${p.severity} ${p.code}${p.subject ? ` (${p.subject})` : ''} since ${p.since}`);
  }
  return out.join('\n');
}
