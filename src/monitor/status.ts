/**
 * The portfolio at a glance (`mtasts monitor status`, the dashboard's overview): per domain, the
 * latest verdict and mode, open problems, certificate days left, and the TLS-RPT success rate over
 * the last 7 days of stored reports.
 *
 * @example
 * ```ts
 * const { domains } = await monitorStatus(db, { domains: config.domains });
 * for (const d of domains) console.log(d.domain, d.verdict, d.openProblems.length);
 * ```
 */
import { ReportStore } from '../reports/store.js';
import { summarizeReports } from '../reports/summary.js';
import type { SqlDatabase } from '../store/sql.js';
import type { Severity, Verdict } from '../findings.js';
import { latestChecks, monitoredDomains, openProblems } from './history.js';

export interface DomainStatus {
  domain: string;
  /** As `check` gives it, from the latest check; null when never checked. */
  verdict: Verdict | null;
  mode: 'enforce' | 'testing' | 'none' | null;
  maxAge: number | null;
  recordId: string | null;
  openProblems: { problem: string; code: string; severity: Severity; subject?: string; since: string; message: string }[];
  /** Whole days left on the policy host's certificate and on the MX certificate closest to expiry. */
  certDaysLeft: { policyHost: number | null; mx: number | null };
  /** Stored TLS-RPT reports over the last 7 days: successful share of sessions (null: no sessions). */
  tlsrpt: { successRate: number | null; sessions: number; failures: number; days: number };
  lastChecked: string | null;
  /** Since when checks have passed without an error (null: failing now, or never checked). */
  passingSince: string | null;
}

/** TLS-RPT session counts per domain since a date (from the reports store). */
export type TlsRptTotals = (domains: string[], since: Date) => Promise<Map<string, { success: number; failure: number }>>;

export interface StatusOptions {
  /** The domains to list (the configuration's); default: every domain the monitor has checked. */
  domains?: readonly string[];
  now?: Date;
  /** Default: the reports store in the same database, when its tables exist. */
  tlsrpt?: TlsRptTotals;
}

const DAY_MS = 86_400_000;
export const STATUS_REPORT_DAYS = 7;

export async function monitorStatus(db: SqlDatabase, opts: StatusOptions = {}): Promise<{ domains: DomainStatus[] }> {
  const now = opts.now ?? new Date();
  const domains = opts.domains ? [...opts.domains] : await monitoredDomains(db);
  const [checks, states] = await Promise.all([latestChecks(db), openProblems(db)]);
  const since = new Date(now.getTime() - STATUS_REPORT_DAYS * DAY_MS);
  const totals = await (opts.tlsrpt ?? storeTotals(db))(domains, since).catch(() => new Map<string, { success: number; failure: number }>());
  const passing = await passingSinceAll(db);
  const daysLeft = (validTo: string): number => Math.floor((Date.parse(validTo) - now.getTime()) / DAY_MS);
  const out: DomainStatus[] = domains.map((domain) => {
    const c = checks.get(domain);
    const st = states.get(domain);
    const policyCert = c?.certs.find((x) => x.role === 'policy');
    const mxDays = (c?.certs ?? []).filter((x) => x.role === 'mx').map((x) => daysLeft(x.validTo));
    const t = totals.get(domain) ?? { success: 0, failure: 0 };
    const sessions = t.success + t.failure;
    return {
      domain,
      verdict: c?.verdict ?? null,
      mode: c?.mode ?? st?.last.mode ?? null,
      maxAge: c?.maxAge ?? st?.last.maxAge ?? null,
      recordId: c?.recordId ?? null,
      openProblems: Object.values(st?.open ?? {})
        .sort((a, b) => a.openedAt.localeCompare(b.openedAt))
        .map((o) => ({ problem: o.problem, code: o.code, severity: o.severity, ...(o.subject ? { subject: o.subject } : {}), since: o.openedAt, message: o.message })),
      certDaysLeft: { policyHost: policyCert ? daysLeft(policyCert.validTo) : null, mx: mxDays.length ? Math.min(...mxDays) : null },
      tlsrpt: { successRate: sessions > 0 ? t.success / sessions : null, sessions, failures: t.failure, days: STATUS_REPORT_DAYS },
      lastChecked: c?.at ?? null,
      passingSince: passing.get(domain) ?? null,
    };
  });
  return { domains: out };
}

/** passingSince for every domain in one query. */
async function passingSinceAll(db: SqlDatabase): Promise<Map<string, string>> {
  const rows = await db.query<{ domain: string; since: string | null }>(
    `SELECT c.domain AS domain, MIN(c.at) AS since FROM monitor_checks c
     LEFT JOIN (SELECT domain, MAX(at) AS failed FROM monitor_checks WHERE verdict = 'fail' GROUP BY domain) f ON f.domain = c.domain
     WHERE f.failed IS NULL OR c.at > f.failed GROUP BY c.domain`);
  return new Map(rows.filter((r) => r.since !== null).map((r) => [r.domain, r.since!]));
}

const stores = new WeakMap<SqlDatabase, Promise<ReportStore>>();

/** The TLS-RPT reports store over the monitor's database (tables created when missing), one per database. */
export function reportStoreOn(db: SqlDatabase): Promise<ReportStore> {
  let s = stores.get(db);
  if (!s) {
    s = ReportStore.on(db);
    s.catch(() => stores.delete(db));
    stores.set(db, s);
  }
  return s;
}

/** Session totals per domain from the TLS-RPT reports store (src/reports) in the same database. */
export function storeTotals(db: SqlDatabase): TlsRptTotals {
  return async (domains, since) => {
    const store = await reportStoreOn(db);
    const out = new Map<string, { success: number; failure: number }>();
    for (let i = 0; i < domains.length; i += 500) {
      const summary = await summarizeReports(store, { domains: domains.slice(i, i + 500), since });
      for (const d of summary.domains) {
        if (d.domain === null) continue;
        out.set(d.domain, d.days.reduce((t, x) => ({ success: t.success + x.success, failure: t.failure + x.failure }), { success: 0, failure: 0 }));
      }
    }
    return out;
  };
}
