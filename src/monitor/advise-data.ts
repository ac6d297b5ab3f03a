/**
 * Gathers the advisor's input for one domain from the shared database: the latest check and how long
 * checks have passed (src/monitor/history.ts), the policy text last served, and the TLS-RPT reports
 * of the window (src/reports/summary.ts), then applies the pure rules of src/monitor/advisor.ts.
 *
 * The reports window is the last `report_days` + 2 whole UTC days before today: reports for a day
 * arrive during the next one, so two days of grace keep a late sender from hiding a full fortnight.
 *
 * @example
 * ```ts
 * const db = await openMonitorDb('mtasts.db');
 * const advice = await adviseDomain(db, 'example.com', config.advisor, { expiryDays: config.expiryDays });
 * ```
 */
import type { ReportStore } from '../reports/store.js';
import { summarizeReports, type DomainSummary } from '../reports/summary.js';
import type { SqlDatabase } from '../store/sql.js';
import { advise, DEFAULT_ADVISOR_CONFIG, type Advice, type AdvisorConfig, type AdvisorReports } from './advisor.js';
import { latestCheck, latestChecks, openProblems, passingSince, policyHistory, type CheckRecord } from './history.js';
import { reportStoreOn } from './status.js';

export interface AdviseOptions {
  now?: Date;
  /** Certificate expiry horizon, days (default 14, the monitor's `expiry_days`). */
  expiryDays?: number;
  /** Default: the reports store in the same database. */
  reportStore?: ReportStore;
}

/** The domain has no stored check: the monitor has not looked at it yet. */
export class NoCheckError extends Error {
  constructor(readonly domain: string) {
    super(`no check of ${domain} is stored: add it to the monitor's domains and run \`mtasts monitor --once --config FILE\` first`);
    this.name = 'NoCheckError';
  }
}

const DAY_MS = 86_400_000;
/** Days of grace for reports that arrive the day after the period they cover. */
export const REPORT_GRACE_DAYS = 2;

/** The reports window for `now`: [start of today − (report_days + grace) days, now). */
export function reportWindow(now: Date, cfg: AdvisorConfig): { since: Date; until: Date } {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return { since: new Date(today - (cfg.report_days + REPORT_GRACE_DAYS) * DAY_MS), until: now };
}

/** The advice for one domain. Throws {@link NoCheckError} when the monitor never checked it. */
export async function adviseDomain(db: SqlDatabase, domain: string, cfg: AdvisorConfig = DEFAULT_ADVISOR_CONFIG, opts: AdviseOptions = {}): Promise<Advice> {
  const now = opts.now ?? new Date();
  const check = await latestCheck(db, domain);
  if (check === null) throw new NoCheckError(domain);
  const window = reportWindow(now, cfg);
  const store = opts.reportStore ?? await reportStoreOn(db);
  const summary = await summarizeReports(store, { domains: [domain], since: window.since, until: window.until });
  return adviseFrom(db, check, summary.domains.find((x) => x.domain === domain) ?? null, window, cfg, { ...opts, now });
}

/**
 * The advice for many domains (a portfolio view): one reports summary for all of them. A domain
 * never checked maps to null.
 */
export async function adviseDomains(db: SqlDatabase, domains: readonly string[], cfg: AdvisorConfig = DEFAULT_ADVISOR_CONFIG, opts: AdviseOptions = {}): Promise<Map<string, Advice | null>> {
  const now = opts.now ?? new Date();
  const checks = await latestChecks(db);
  const window = reportWindow(now, cfg);
  const store = opts.reportStore ?? await reportStoreOn(db);
  const summaries = new Map<string, DomainSummary>();
  const wanted = domains.filter((d) => checks.has(d));
  for (let i = 0; i < wanted.length; i += 500) {
    const s = await summarizeReports(store, { domains: wanted.slice(i, i + 500), since: window.since, until: window.until });
    for (const d of s.domains) if (d.domain !== null) summaries.set(d.domain, d);
  }
  const out = new Map<string, Advice | null>();
  for (const domain of domains) {
    const check = checks.get(domain);
    out.set(domain, check ? await adviseFrom(db, check, summaries.get(domain) ?? null, window, cfg, { ...opts, now }) : null);
  }
  return out;
}

async function adviseFrom(
  db: SqlDatabase, check: CheckRecord, d: DomainSummary | null, window: { since: Date; until: Date }, cfg: AdvisorConfig, opts: AdviseOptions & { now: Date },
): Promise<Advice> {
  const { domain } = check;
  const now = opts.now;
  const [since, policies, states] = await Promise.all([passingSince(db, domain), policyHistory(db, domain), openProblems(db, domain)]);
  const open = Object.values(states.get(domain)?.open ?? {});
  // The text the latest check saw (same hash and id), else the latest kept.
  const policy = [...policies].reverse().find((p) => p.sha256 === check.policySha256 && p.recordId === check.recordId)
    ?? [...policies].reverse().find((p) => p.sha256 === check.policySha256)
    ?? null;
  const reports: AdvisorReports | null = d ? { days: d.days, resultTypes: d.resultTypes, organizations: d.organizations, mxHosts: d.mxHosts } : null;
  return advise({
    domain,
    now,
    check,
    passingSince: since,
    reports,
    reportWindow: { since: window.since.toISOString(), until: window.until.toISOString() },
    policyText: policy?.text ?? null,
    policyLastSeen: policy?.lastSeen ?? null,
    expiryDays: opts.expiryDays ?? 14,
    openProblems: open.map((o) => ({ code: o.code, severity: o.severity, message: o.message, ...(o.subject ? { subject: o.subject } : {}) })),
  }, cfg);
}
