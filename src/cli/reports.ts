/**
 * `mtasts reports import|summary|list|receive`: TLS-RPT report intake and analysis. See
 * docs/reports.md and docs/cli.md. Exit status: 0 success, 1 anything rejected (import) or a
 * database error, 2 a usage error.
 */
import { parseArgs } from 'node:util';
import { importReports } from '../reports/import.js';
import type { ImportItem } from '../reports/ingest.js';
import { listReports, type ReportListEntry } from '../reports/list.js';
import { ReportStore } from '../reports/store.js';
import { summarizeReports, type ReportSummary } from '../reports/summary.js';
import { databaseSpec } from '../store/sql.js';
import { positiveNumber, usage, UsageError, type Io } from './io.js';

const USAGE = `Usage:
  mtasts reports import [--db DB] [--json] [--dns HOST[:PORT]] [--retention-days N] PATH...
  mtasts reports summary [--db DB] [--domain D]... [--since DATE] [--until DATE] [--include-unverified] [--json]
  mtasts reports list [--db DB] [--json] [--domain D] [--organization ORG] [--since DATE] [--until DATE] [--limit N] [--offset N]
  mtasts reports receive --listen HOST:PORT [--path /tlsrpt] [--cert FILE --key FILE] [--db DB]`;

export async function runReports(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'import':
      return runImport(rest, io);
    case 'summary':
      return runSummary(rest, io);
    case 'list':
      return runList(rest, io);
    case 'receive':
      return (await import('./reports-receive.js')).runReportsReceive(rest, io);
    case undefined:
      throw new UsageError(`reports needs a subcommand\n${USAGE}`);
    default:
      throw new UsageError(`unknown reports subcommand "${sub}"\n${USAGE}`);
  }
}

/**
 * A command-line date: `YYYY-MM-DD` (a whole UTC day; as `--until` it includes that day) or an
 * RFC 3339 date-time.
 */
export function parseDateOption(name: string, value: string | undefined, isUntil: boolean): Date | undefined {
  if (value === undefined) return undefined;
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  let d: Date;
  if (day) {
    const start = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    if (start.toISOString().slice(0, 10) !== value) throw new UsageError(`${name} needs a real calendar date, got "${value}"`);
    d = new Date(start.getTime() + (isUntil ? 86_400_000 : 0));
  } else {
    d = /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(NaN);
  }
  if (Number.isNaN(d.getTime())) throw new UsageError(`${name} needs a date (YYYY-MM-DD or an RFC 3339 date-time), got "${value}"`);
  return d;
}

async function openStore(db: string | undefined, io: Io): Promise<ReportStore | null> {
  const spec = databaseSpec(db);
  try {
    return await ReportStore.open(spec);
  } catch (err) {
    io.err(`mtasts: cannot open the report database ${spec}: ${(err as Error).message}`);
    return null;
  }
}

async function runImport(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: {
      db: { type: 'string' },
      json: { type: 'boolean' },
      dns: { type: 'string', multiple: true },
      'retention-days': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  }));
  if (positionals.length === 0) throw new UsageError('reports import needs at least one PATH (a file, folder, mbox, Maildir, or - for standard input)');
  const retention = values['retention-days'] === undefined ? undefined : positiveNumber('--retention-days', values['retention-days'], 0, { integer: true });
  // Loaded only when asked for: a file-only import should not pay for the DNS and check modules.
  const dns = values.dns
    ? new (await import('../dns/resolver.js')).DnsClient({ servers: values.dns.map((await import('./check.js')).parseDnsServer) })
    : undefined;
  const store = await openStore(values.db, io);
  if (store === null) return 1;
  let items: ImportItem[];
  try {
    items = await importReports(store, positionals, { ...(dns ? { dns } : {}), readStdin: () => io.readStdin() });
    if (retention !== undefined) await store.prune(retention);
  } catch (err) {
    io.err(`mtasts: reports import: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
  const imported = items.filter((i) => i.status === 'imported').length;
  const duplicates = items.filter((i) => i.status === 'duplicate').length;
  const rejected = items.filter((i) => i.status === 'rejected').length;
  if (values.json) {
    io.out(JSON.stringify({ imported, duplicates, rejected, items }));
  } else {
    for (const i of items) {
      if (i.status === 'rejected') {
        io.out(`rejected   ${i.source}: ${i.code}: ${i.message}`);
      } else {
        const warn = i.warnings && i.warnings.length > 0 ? `  warnings: ${i.warnings.map((w) => w.code).join(', ')}` : '';
        io.out(`${i.status.padEnd(10)} ${i.source}: ${i.organization} ${i.reportId}${warn}`);
      }
    }
    io.out(`${imported} imported, ${duplicates} duplicate${duplicates === 1 ? '' : 's'}, ${rejected} rejected`);
  }
  return rejected > 0 ? 1 : 0;
}

const rate = (success: number, failure: number): string =>
  success + failure === 0 ? '-' : `${((100 * success) / (success + failure)).toFixed(2)}%`;

/** The readable summary: one row per domain and policy type, then the failures by result type. */
export function formatSummary(s: ReportSummary): string[] {
  const rows: string[][] = [['DOMAIN', 'POLICY', 'SUCCESS', 'FAILURE', 'SUCCESS RATE']];
  for (const d of s.domains) {
    for (const [type, c] of Object.entries(d.policies)) {
      rows.push([d.domain ?? '(none)', type, String(c.success), String(c.failure), rate(c.success, c.failure)]);
    }
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  const lines = [`${s.reports} report${s.reports === 1 ? '' : 's'}`];
  if (s.domains.length === 0) return lines;
  lines.push('');
  for (const r of rows) lines.push(r.map((c, col) => (col >= 2 ? c.padStart(widths[col]!) : c.padEnd(widths[col]!))).join('  ').trimEnd());
  const failing = s.domains.filter((d) => Object.keys(d.resultTypes).length > 0);
  if (failing.length > 0) {
    lines.push('', 'Failed sessions by result type:');
    for (const d of failing) {
      const parts = Object.entries(d.resultTypes).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`);
      lines.push(`  ${d.domain ?? '(none)'}: ${parts.join(', ')}`);
    }
  }
  return lines;
}

async function runSummary(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: {
      db: { type: 'string' },
      domain: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      'include-unverified': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    allowPositionals: false,
    strict: true,
  }));
  const since = parseDateOption('--since', values.since, false);
  const until = parseDateOption('--until', values.until, true);
  const store = await openStore(values.db, io);
  if (store === null) return 1;
  let summary: ReportSummary;
  try {
    summary = await summarizeReports(store, {
      ...(values.domain ? { domains: values.domain } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
      includeUnverified: values['include-unverified'] ?? false,
    });
  } catch (err) {
    io.err(`mtasts: reports summary: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
  if (values.json) io.out(JSON.stringify(summary));
  else for (const line of formatSummary(summary)) io.out(line);
  return 0;
}

function formatListLine(r: ReportListEntry): string {
  const warnings = r.warnings.length > 0 ? r.warnings.map((w) => w.code).join(',') : '-';
  return [r.organization, r.reportId, `${r.start.slice(0, 19)}Z..${r.end.slice(0, 19)}Z`, r.source, r.dkim ?? '-', warnings].join('  ');
}

async function runList(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: {
      db: { type: 'string' },
      json: { type: 'boolean' },
      domain: { type: 'string' },
      organization: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  }));
  const since = parseDateOption('--since', values.since, false);
  const until = parseDateOption('--until', values.until, true);
  const limit = positiveNumber('--limit', values.limit, 1000, { integer: true });
  const offset = values.offset === undefined || values.offset === '0' ? 0 : positiveNumber('--offset', values.offset, 0, { integer: true });
  const store = await openStore(values.db, io);
  if (store === null) return 1;
  try {
    const list = await listReports(store, {
      ...(values.domain !== undefined ? { domain: values.domain } : {}),
      ...(values.organization !== undefined ? { organization: values.organization } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
      limit,
      offset,
    });
    if (values.json) io.out(JSON.stringify({ total: list.total, reports: list.items }));
    else {
      io.out('SENDER  REPORT-ID  PERIOD  SOURCE  DKIM  WARNINGS');
      for (const r of list.items) io.out(formatListLine(r));
      if (list.total > list.items.length) io.out(`(${list.items.length} of ${list.total}; see --limit and --offset)`);
    }
  } catch (err) {
    io.err(`mtasts: reports list: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
  return 0;
}
