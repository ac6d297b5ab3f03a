/**
 * `mtasts advise DOMAIN [--config FILE | --db DB] [--json]`: the rollout advisor (docs/monitor.md).
 *
 * With `--config`, the monitor's database, `advisor:` thresholds and `expiry_days`; with `--db` (or
 * MTASTS_DB, else ./mtasts.db), the default thresholds. Exit status: 0 with advice, 1 when the
 * domain has no stored check or the database cannot be used, 2 for a usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { toALabel } from '../dns/name.js';
import { DEFAULT_ADVISOR_CONFIG, type Advice, type Recommendation } from '../monitor/advisor.js';
import { adviseDomain, NoCheckError } from '../monitor/advise-data.js';
import { ConfigError, loadMonitorConfig, type MonitorConfig } from '../monitor/config.js';
import { openMonitorDb } from '../monitor/history.js';
import { databaseSpec } from '../store/sql.js';
import { Painter } from './format.js';
import { usage, UsageError, type Io } from './io.js';

export async function runAdvise(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, db: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  }));
  if (positionals.length !== 1) throw new UsageError('advise needs exactly one DOMAIN');
  if (values.config !== undefined && values.db !== undefined) throw new UsageError('give --config or --db, not both');
  const domain = toALabel(positionals[0]!.trim().replace(/\.$/, ''));
  if (domain === null) throw new UsageError(`"${positionals[0]}" is not a valid domain name`);
  let config: MonitorConfig | null = null;
  if (values.config !== undefined) {
    try {
      config = loadMonitorConfig(values.config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const i of err.issues) io.err(`${i.file}:${i.line}:${i.column}: ${i.message}`);
      io.err('mtasts: the configuration has errors (config-invalid)');
      return 2;
    }
  }
  const db = await openMonitorDb(config?.db ?? databaseSpec(values.db));
  try {
    const advice = await adviseDomain(db, domain, config?.advisor ?? DEFAULT_ADVISOR_CONFIG, { ...(config ? { expiryDays: config.expiryDays } : {}) });
    io.out(values.json ? JSON.stringify(advice) : formatAdvice(advice, Painter.for(io.stdout)));
    return 0;
  } catch (err) {
    if (err instanceof NoCheckError) {
      io.err(`mtasts: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}

const STYLE: Record<Recommendation, Parameters<Painter['paint']>[0]> = {
  'publish-testing': 'cyan', 'fix-first': 'red', 'stay-testing': 'yellow', 'move-to-enforce': 'green', 'raise-max-age': 'green', keep: 'green',
};

const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(2)}%`);

/** The advice for a terminal: recommendation, why, evidence, next steps. */
export function formatAdvice(a: Advice, p: Painter): string {
  const e = a.evidence;
  const lines = [`${p.paint('bold', a.domain)}: ${p.paint(STYLE[a.recommendation], a.recommendation)} (mode ${a.mode ?? 'unknown'}${e.maxAge !== null ? `, max_age ${e.maxAge}` : ''})`, '', 'Why:'];
  for (const r of a.reasons) lines.push(`  - ${r}`);
  lines.push('', 'Evidence:');
  const types = Object.entries(e.failuresByResultType).map(([t, x]) => `${t} ${pct(x.rate)}`).join(', ');
  lines.push(`  reports:  ${e.reportDays} day${e.reportDays === 1 ? '' : 's'}, ${e.sessions} sessions, ${pct(e.failureRate)} failed${types ? ` (${types})` : ''}, ${e.senders} sender${e.senders === 1 ? '' : 's'}`);
  lines.push(`  checks:   last ${e.checkedAt} (${e.verdict}); ${e.passingSince ? `passing for ${e.passingDays} days, since ${e.passingSince}` : 'failing now'}`);
  lines.push(`  MX:       ${e.mxHosts === null ? 'lookup failed' : e.mxHosts.join(', ') || 'none'}${e.mxNotCovered.length ? `; not covered: ${e.mxNotCovered.join(', ')}` : ''}`);
  if (e.minCertDaysLeft !== null) lines.push(`  certs:    ${e.certificates.length}, the soonest expiring in ${e.minCertDaysLeft} days`);
  if (a.nextSteps.length) {
    lines.push('', 'Next steps:');
    a.nextSteps.forEach((s, i) => lines.push(`  ${i + 1}. ${s.replace(/\n/g, '\n     ')}`));
  }
  return lines.join('\n');
}
