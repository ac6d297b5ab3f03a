/**
 * Summaries of stored TLS-RPT reports, per policy domain (`mtasts reports summary`).
 *
 * Counting rules:
 * - each report counts once in `reports`, however many paths brought it in (dedupe at intake);
 * - `policies` gives each policy type's totals separately (RFC 8460 §4.4 summary totals, as sent);
 * - a domain's overall numbers (`days`, `organizations`, `resultTypes`, `mxHosts`) come from ONE
 *   policy type per report — `sts` when the report has it for the domain, else `tlsa`, else
 *   `no-policy-found` — because a sender applying both MTA-STS and DANE reports the same sessions
 *   under each (the `counted` column of tlsrpt_policies);
 * - mailed reports whose DKIM signature did not verify (`dkim_result` other than `pass`) are left out
 *   unless `includeUnverified` (RFC 8460 §3: mailed reports are signed; files and HTTPS carry none);
 * - a policy without `policy-domain` is shown under the domain the intake knew (the mail
 *   TLS-Report-Domain header), else under `null`.
 *
 * @example
 * ```ts
 * const s = await summarizeReports(store, { domains: ['example.com'], since: new Date('2024-01-01') });
 * s.domains[0]?.policies.sts; // { success: 5326, failure: 303 }
 * ```
 */
import type { SqlParam } from '../store/sql.js';
import type { ReportStore } from './store.js';

export interface SessionCounts {
  success: number;
  failure: number;
}

export interface DaySummary extends SessionCounts {
  /** UTC day the report period starts, YYYY-MM-DD. */
  date: string;
  policies?: Record<string, SessionCounts>;
}

export interface DomainSummary {
  domain: string | null;
  /** Totals per policy type (sts, tlsa, no-policy-found), each type on its own. */
  policies: Record<string, SessionCounts>;
  /** Failed sessions per result type, from the failure details. */
  resultTypes: Record<string, number>;
  /** Sessions per sending organization. */
  organizations: Record<string, SessionCounts>;
  /** Failed sessions per receiving MX host (receiving-mx-hostname, else receiving-ip). */
  mxHosts: Record<string, number>;
  /** Sessions per UTC day, oldest first. */
  days: DaySummary[];
}

export interface ReportSummary {
  /** Distinct reports counted. */
  reports: number;
  domains: DomainSummary[];
}

export interface SummaryOptions {
  domains?: string[];
  /** Reports whose period starts at or after this instant. */
  since?: Date;
  /** Reports whose period starts before this instant. */
  until?: Date;
  /** Also count mailed reports whose DKIM signature did not verify. */
  includeUnverified?: boolean;
}

/**
 * The WHERE clause over `r` (reports) and its parameters; the domain filter is on `p.domain` of a
 * joined policy, or (with `policiesTable`) a subquery on it.
 */
export function reportFilter(opts: SummaryOptions & { organization?: string }, policiesTable: string | null): { where: string; params: SqlParam[] } {
  const clauses: string[] = [];
  const params: SqlParam[] = [];
  if (opts.since) {
    clauses.push('r.period_start >= ?');
    params.push(opts.since.toISOString());
  }
  if (opts.until) {
    clauses.push('r.period_start < ?');
    params.push(opts.until.toISOString());
  }
  if (!opts.includeUnverified) {
    // RFC 8460 §3: a mailed report counts only with a verified DKIM signature.
    clauses.push("(r.transport <> 'mail' OR r.dkim_result = 'pass')");
  }
  if (opts.organization !== undefined) {
    clauses.push('r.organization = ?');
    params.push(opts.organization);
  }
  if (opts.domains && opts.domains.length > 0) {
    const domains = opts.domains.map((d) => d.toLowerCase().replace(/\.$/, ''));
    const marks = domains.map(() => '?').join(', ');
    clauses.push(policiesTable === null ? `p.domain IN (${marks})` : `r.id IN (SELECT report FROM ${policiesTable} WHERE domain IN (${marks}))`);
    params.push(...domains);
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

const num = (v: unknown): number => Number(v ?? 0);

export async function summarizeReports(store: ReportStore, opts: SummaryOptions = {}): Promise<ReportSummary> {
  const { reports, policies, failures } = store.tables;
  const db = store.db;
  const { where, params } = reportFilter(opts, null);
  const from = `FROM ${reports} r JOIN ${policies} p ON p.report = r.id`;
  const and = where === '' ? 'WHERE' : `${where} AND`;

  const [countRows, typeRows, dayRows, orgRows, resultRows, mxRows] = await Promise.all([
    db.query<{ n: number }>(`SELECT COUNT(DISTINCT r.id) AS n ${from} ${where}`, params),
    db.query<{ domain: string | null; policy_type: string; s: number; f: number }>(
      `SELECT p.domain, p.policy_type, SUM(p.successful_sessions) AS s, SUM(p.failed_sessions) AS f ${from} ${where}
       GROUP BY p.domain, p.policy_type`, params),
    db.query<{ domain: string | null; day: string; policy_type: string; counted: number; s: number; f: number }>(
      `SELECT p.domain, r.day, p.policy_type, p.counted, SUM(p.successful_sessions) AS s, SUM(p.failed_sessions) AS f ${from} ${where}
       GROUP BY p.domain, r.day, p.policy_type, p.counted`, params),
    db.query<{ domain: string | null; organization: string; s: number; f: number }>(
      `SELECT p.domain, r.organization, SUM(p.successful_sessions) AS s, SUM(p.failed_sessions) AS f ${from} ${and} p.counted = 1
       GROUP BY p.domain, r.organization`, params),
    db.query<{ domain: string | null; result_type: string; n: number }>(
      `SELECT p.domain, x.result_type, SUM(x.failed_sessions) AS n ${from} JOIN ${failures} x ON x.policy = p.id ${and} p.counted = 1
       GROUP BY p.domain, x.result_type`, params),
    db.query<{ domain: string | null; mx: string; n: number }>(
      `SELECT p.domain, COALESCE(x.receiving_mx_hostname, x.receiving_ip) AS mx, SUM(x.failed_sessions) AS n ${from}
       JOIN ${failures} x ON x.policy = p.id ${and} p.counted = 1 AND COALESCE(x.receiving_mx_hostname, x.receiving_ip) IS NOT NULL
       GROUP BY p.domain, COALESCE(x.receiving_mx_hostname, x.receiving_ip)`, params),
  ]);

  const byDomain = new Map<string | null, DomainSummary & { dayMap: Map<string, DaySummary> }>();
  const domainOf = (d: string | null) => {
    let s = byDomain.get(d);
    if (s === undefined) {
      s = { domain: d, policies: {}, resultTypes: {}, organizations: {}, mxHosts: {}, days: [], dayMap: new Map() };
      byDomain.set(d, s);
    }
    return s;
  };
  for (const r of typeRows) domainOf(r.domain).policies[r.policy_type] = { success: num(r.s), failure: num(r.f) };
  for (const r of dayRows) {
    const d = domainOf(r.domain);
    let day = d.dayMap.get(r.day);
    if (day === undefined) {
      day = { date: r.day, success: 0, failure: 0, policies: {} };
      d.dayMap.set(r.day, day);
    }
    const t = (day.policies![r.policy_type] ??= { success: 0, failure: 0 });
    t.success += num(r.s);
    t.failure += num(r.f);
    if (num(r.counted) === 1) {
      day.success += num(r.s);
      day.failure += num(r.f);
    }
  }
  for (const r of orgRows) domainOf(r.domain).organizations[r.organization] = { success: num(r.s), failure: num(r.f) };
  for (const r of resultRows) domainOf(r.domain).resultTypes[r.result_type] = num(r.n);
  for (const r of mxRows) domainOf(r.domain).mxHosts[r.mx] = num(r.n);

  const domains = [...byDomain.values()]
    .sort((a, b) => (a.domain === null ? 1 : b.domain === null ? -1 : a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0))
    .map(({ dayMap, ...rest }): DomainSummary => ({
      ...rest,
      days: [...dayMap.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)),
    }));
  return { reports: num(countRows[0]?.n), domains };
}
