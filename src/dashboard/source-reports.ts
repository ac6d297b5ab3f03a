/** The reports half of the default DashboardSource: the TLS-RPT reports store (src/reports) and the advisor. */
import { getReport, listReports } from '../reports/list.js';
import { ReportStore } from '../reports/store.js';
import { summarizeReports } from '../reports/summary.js';
import type { SqlDatabase } from '../store/sql.js';
import type { DashboardSource } from './data.js';
import { adviceSource } from './source-advice.js';

type ReportsPart = Pick<DashboardSource, 'summary' | 'reports' | 'report' | 'advice'> & { store(): Promise<ReportStore> };

function day(date: string | undefined, offsetDays = 0): Date | undefined {
  if (date === undefined) return undefined;
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : new Date(t + offsetDays * 86_400_000);
}

export function reportsSource(db: SqlDatabase, opts: { advisor?: Record<string, number> } = {}): ReportsPart {
  let store: Promise<ReportStore> | null = null;
  // Creates the report tables when missing, so the dashboard works on a fresh database.
  const open = () => (store ??= ReportStore.on(db).catch((err) => {
    store = null;
    throw err;
  }));
  return {
    async summary(o) {
      return summarizeReports(await open(), { ...(o.domains ? { domains: o.domains } : {}), since: o.since, ...(o.until ? { until: o.until } : {}) });
    },
    async reports(q) {
      const since = day(q.since);
      // `until` is a day: reports of that day are included.
      const until = day(q.until, 1);
      const list = await listReports(await open(), {
        ...(q.domain ? { domain: q.domain } : {}),
        ...(q.organization ? { organization: q.organization } : {}),
        ...(since ? { since } : {}),
        ...(until ? { until } : {}),
        limit: q.perPage,
        offset: (q.page - 1) * q.perPage,
      });
      return {
        total: list.total,
        items: list.items.map((r) => ({
          id: r.id, organization: r.organization, reportId: r.reportId, domains: r.domains, start: r.start, end: r.end,
          success: r.success, failure: r.failure, warnings: r.warnings.length, dkim: r.dkim, transport: r.transport, receivedAt: r.receivedAt,
        })),
      };
    },
    async report(id) {
      const r = await getReport(await open(), id);
      if (r === null) return null;
      return {
        id: r.id, organization: r.organization, reportId: r.reportId, domains: r.domains, raw: r.raw, warnings: r.warnings,
        dkim: r.dkimInfo, source: r.source, receivedAt: r.receivedAt,
      };
    },
    store: open,
    ...adviceSource(db, opts),
  };
}
