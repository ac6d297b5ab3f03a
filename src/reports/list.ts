/**
 * Listing stored reports (`mtasts reports list`, the dashboard) and reading one back with its raw
 * JSON as received.
 *
 * @example
 * ```ts
 * const { total, items } = await listReports(store, { domain: 'example.com', limit: 50 });
 * const one = await getReport(store, items[0]!.id);
 * console.log(one?.raw);
 * ```
 */
import { gunzip as gunzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import type { ReportWarning } from '../tlsrpt/report.js';
import type { SqlParam } from '../store/sql.js';
import type { DkimInfo, ReportStore } from './store.js';
import { reportFilter } from './summary.js';

const gunzip = promisify(gunzipCb);

export interface ReportListFilter {
  domain?: string;
  organization?: string;
  /** Reports whose period starts at or after this instant. */
  since?: Date;
  /** Reports whose period starts before this instant. */
  until?: Date;
  /** Default 100, at most 10000. */
  limit?: number;
  offset?: number;
}

export interface ReportListEntry {
  /** The store's row id (as text, the same on SQLite and PostgreSQL). */
  id: string;
  organization: string;
  reportId: string;
  /** Policy domains in the report (or the intake's TLS-Report-Domain where a policy has none). */
  domains: string[];
  start: string;
  end: string;
  /** Sessions, counted once per domain (sts preferred over tlsa, see summary.ts). */
  success: number;
  failure: number;
  source: string;
  transport: string;
  /** DKIM result of a mailed report, null for files and HTTPS. */
  dkim: string | null;
  warnings: ReportWarning[];
  receivedAt: string;
}

export interface ReportList {
  /** Reports matching the filter (all pages). */
  total: number;
  items: ReportListEntry[];
}

export interface ReportDetail extends ReportListEntry {
  /** The report JSON exactly as received (after decompression). */
  raw: string;
  contact: string | null;
  dkimInfo: DkimInfo | null;
}

interface ReportRow {
  id: number;
  organization: string;
  report_id: string;
  period_start: string;
  period_end: string;
  source: string;
  transport: string;
  dkim_result: string | null;
  dkim_domain: string | null;
  dkim_selector: string | null;
  dkim_detail: string | null;
  warnings: string;
  received_at: string;
  contact: string | null;
}

const COLUMNS = 'r.id, r.organization, r.report_id, r.period_start, r.period_end, r.source, r.transport, r.dkim_result, r.dkim_domain, r.dkim_selector, r.dkim_detail, r.warnings, r.received_at, r.contact';

function parseWarnings(text: string): ReportWarning[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as ReportWarning[]) : [];
  } catch {
    return [];
  }
}

async function entries(store: ReportStore, rows: ReportRow[]): Promise<ReportListEntry[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => Number(r.id));
  const policies = await store.db.query<{ report: number; domain: string | null; counted: number; s: number; f: number }>(
    `SELECT report, domain, counted, successful_sessions AS s, failed_sessions AS f FROM ${store.tables.policies}
     WHERE report IN (${ids.map(() => '?').join(', ')}) ORDER BY report, position`, ids);
  const byReport = new Map<number, { domains: string[]; s: number; f: number }>();
  for (const p of policies) {
    const e = byReport.get(Number(p.report)) ?? { domains: [], s: 0, f: 0 };
    if (p.domain !== null && !e.domains.includes(p.domain)) e.domains.push(p.domain);
    if (Number(p.counted) === 1) {
      e.s += Number(p.s);
      e.f += Number(p.f);
    }
    byReport.set(Number(p.report), e);
  }
  return rows.map((r) => {
    const e = byReport.get(Number(r.id)) ?? { domains: [], s: 0, f: 0 };
    return {
      id: String(r.id),
      organization: r.organization,
      reportId: r.report_id,
      domains: e.domains,
      start: r.period_start,
      end: r.period_end,
      success: e.s,
      failure: e.f,
      source: r.source,
      transport: r.transport,
      dkim: r.dkim_result,
      warnings: parseWarnings(r.warnings),
      receivedAt: r.received_at,
    };
  });
}

/** Reports matching the filter, newest period first. */
export async function listReports(store: ReportStore, filter: ReportListFilter = {}): Promise<ReportList> {
  const limit = Math.min(Math.max(Math.floor(filter.limit ?? 100), 1), 10_000);
  const offset = Math.max(Math.floor(filter.offset ?? 0), 0);
  const { where, params } = reportFilter({
    ...(filter.domain !== undefined ? { domains: [filter.domain] } : {}),
    ...(filter.organization !== undefined ? { organization: filter.organization } : {}),
    ...(filter.since ? { since: filter.since } : {}),
    ...(filter.until ? { until: filter.until } : {}),
    includeUnverified: true,
  }, store.tables.policies);
  const { reports } = store.tables;
  const [count, rows] = await Promise.all([
    store.db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${reports} r ${where}`, params),
    store.db.query<ReportRow>(`SELECT ${COLUMNS} FROM ${reports} r ${where} ORDER BY r.period_start DESC, r.id DESC LIMIT ? OFFSET ?`,
      [...params, limit, offset] as SqlParam[]),
  ]);
  return { total: Number(count[0]?.n ?? 0), items: await entries(store, rows) };
}

/** One report by its row id, with the raw JSON; null when there is none. */
export async function getReport(store: ReportStore, id: string | number): Promise<ReportDetail | null> {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  const rows = await store.db.query<ReportRow & { raw: Buffer | Uint8Array }>(
    `SELECT ${COLUMNS}, r.raw FROM ${store.tables.reports} r WHERE r.id = ?`, [n]);
  const row = rows[0];
  if (row === undefined) return null;
  const [entry] = await entries(store, [row]);
  const raw = (await gunzip(Buffer.from(row.raw))).toString('utf8');
  const dkimInfo: DkimInfo | null = row.dkim_result === null ? null : {
    result: row.dkim_result as DkimInfo['result'],
    ...(row.dkim_domain !== null ? { domain: row.dkim_domain } : {}),
    ...(row.dkim_selector !== null ? { selector: row.dkim_selector } : {}),
    ...(row.dkim_detail !== null ? { detail: row.dkim_detail } : {}),
  };
  return { ...entry!, raw, contact: row.contact, dkimInfo };
}
