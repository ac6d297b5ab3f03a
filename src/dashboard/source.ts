/**
 * The default {@link DashboardSource}: reads through the monitor's history functions
 * (src/monitor/history.ts, status.ts), the reports store (src/reports) and the advisor
 * (src/monitor/advise-data.ts), all over the one SqlDatabase. It owns no tables.
 */
import { FINDINGS, type Finding, type Section } from '../findings.js';
import type { SqlDatabase } from '../store/sql.js';
import { checkHistory, latestCheck, listEvents, passingSince, policyHistory, initMonitorSchema, type CheckRecord } from '../monitor/history.js';
import { monitorStatus, type TlsRptTotals } from '../monitor/status.js';
import type { ReportStore } from '../reports/store.js';
import type { DashboardSource, ListQuery, SourceCheck, SourceStatus } from './data.js';
import type { EventView, Mode } from './model.js';
import { reportsSource } from './source-reports.js';

const DAY = 86_400_000;

/** The section a stored finding belongs to (stored findings keep code, severity, message, host). */
function sectionOf(code: string): Section {
  return (FINDINGS as Record<string, { section: Section } | undefined>)[code]?.section ?? 'consistency';
}

function factsOf(c: CheckRecord, policyText: string | null): Partial<Record<Section, string[]>> {
  const facts: Partial<Record<Section, string[]>> = {};
  const add = (s: Section, line: string) => (facts[s] ??= []).push(line);
  if (c.recordId !== null) add('record', `_mta-sts TXT id=${c.recordId}`);
  const days = (validTo: string) => Math.floor((Date.parse(validTo) - Date.now()) / DAY);
  for (const cert of c.certs) {
    const left = days(cert.validTo);
    const line = `${cert.host}: certificate ${cert.valid ? 'valid' : 'not valid'}, ${left < 0 ? `expired ${-left} days ago` : `${left} days left`} (until ${cert.validTo.slice(0, 10)})`;
    add(cert.role === 'policy' ? 'policy-host' : 'smtp', line);
  }
  if (c.mode !== null) add('policy', `mode ${c.mode}${c.maxAge !== null ? `, max_age ${c.maxAge} (${Math.round(c.maxAge / 86400)} days)` : ''}`);
  if (policyText !== null) {
    const mx = policyText.split(/\r?\n/).filter((l) => /^mx\s*:/.test(l)).map((l) => l.replace(/^mx\s*:\s*/, ''));
    if (mx.length > 0) add('policy', `mx ${mx.join(', ')}`);
  }
  if (c.policySha256 !== null) add('policy', `sha256 ${c.policySha256.slice(0, 16)}…`);
  if (c.mx !== null) add('mx', c.mx.length === 0 ? 'no MX hosts' : `MX hosts: ${c.mx.join(', ')}`);
  return facts;
}

function eventView(e: { id: string; domain: string; code: string; state: EventView['state']; severity: EventView['severity']; message: string; at: string }): EventView {
  return { id: e.id, domain: e.domain, code: e.code, state: e.state, severity: e.severity, message: e.message, at: e.at };
}

function dayStart(date: string): Date | undefined {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : new Date(t);
}

export function sqlSource(db: SqlDatabase, opts: { advisor?: Record<string, number> } = {}): DashboardSource {
  let schema: Promise<void> | null = null;
  // The dashboard may start on an empty database (before any monitor round): create the tables it reads.
  const ready = () => (schema ??= initMonitorSchema(db).catch((err) => {
    schema = null;
    throw err;
  }));
  const { store, ...reports } = reportsSource(db, opts);
  return {
    ...reports,
    async version() {
      await ready();
      const s = await store();
      // Highest row ids: O(log n) on both databases; a new check, event or report changes one.
      const ev = db.kind === 'sqlite' ? 'SELECT MAX(rowid) AS v FROM monitor_events' : 'SELECT MAX(at) AS v FROM monitor_events';
      const [c, e, r] = await Promise.all([
        db.query<{ v: unknown }>('SELECT MAX(id) AS v FROM monitor_checks'),
        db.query<{ v: unknown }>(ev),
        db.query<{ v: unknown }>(`SELECT MAX(id) AS v FROM ${s.tables.reports}`),
      ]);
      return `${String(c[0]?.v ?? '')}|${String(e[0]?.v ?? '')}|${String(r[0]?.v ?? '')}`;
    },
    async status(): Promise<SourceStatus[]> {
      await ready();
      const { domains } = await monitorStatus(db, { tlsrpt: sessionTotals(db, store) });
      return domains.map((d) => ({
        domain: d.domain,
        verdict: d.verdict,
        mode: d.mode,
        openProblems: d.openProblems.length,
        policyCertDaysLeft: d.certDaysLeft.policyHost,
        mxCertDaysLeft: d.certDaysLeft.mx,
        lastChecked: d.lastChecked,
        tlsrpt: { sessions: d.tlsrpt.sessions, failure: d.tlsrpt.failures, success: d.tlsrpt.sessions - d.tlsrpt.failures, successRate: d.tlsrpt.successRate },
      }));
    },
    async isMonitored(domain) {
      await ready();
      const rows = await db.query('SELECT 1 AS x FROM monitor_state WHERE domain = ?', [domain]);
      return rows.length > 0;
    },
    async latestCheck(domain): Promise<SourceCheck | null> {
      await ready();
      const c = await latestCheck(db, domain);
      if (c === null) return null;
      const policies = await policyHistory(db, domain);
      const current = c.policySha256 ? policies.filter((p) => p.sha256 === c.policySha256).pop() : undefined;
      const findings: Finding[] = c.findings.map((f) => ({
        code: f.code as Finding['code'],
        severity: f.severity,
        section: sectionOf(f.code),
        message: f.message,
        ...(f.host ? { host: f.host } : {}),
      }));
      return { at: c.at, verdict: c.verdict, mode: c.mode as Mode | null, recordId: c.recordId, findings, facts: factsOf(c, current?.text ?? null) };
    },
    async timeline(domain, since) {
      await ready();
      const checks = await checkHistory(db, domain, { since, limit: 5000 });
      return checks.map((c) => ({ at: c.at, verdict: c.verdict, mode: c.mode as Mode | null }));
    },
    async passingSince(domain) {
      await ready();
      const d = await passingSince(db, domain);
      return d === null ? null : d.toISOString();
    },
    async policyHistory(domain) {
      await ready();
      const rows = await policyHistory(db, domain);
      return rows.map((p) => ({ id: p.recordId, sha256: p.sha256, firstSeen: p.firstSeen, lastSeen: p.lastSeen, text: p.text }));
    },
    async events(q: ListQuery) {
      await ready();
      // Newest first: listEvents is oldest first, so count, then read the right window from the end.
      const filter = {
        ...(q.domain ? { domain: q.domain } : {}),
        ...(q.state ? { state: q.state as EventView['state'] } : {}),
        ...(q.since && dayStart(q.since) ? { since: dayStart(q.since)! } : {}),
      };
      const total = await countEvents(db, filter);
      const end = total - (q.page - 1) * q.perPage;
      if (end <= 0) return { items: [], total };
      const start = Math.max(0, end - q.perPage);
      const items = await listEvents(db, { ...filter, offset: start, limit: end - start });
      return { items: items.reverse().map(eventView), total };
    },
  };
}

/**
 * TLS-RPT sessions per domain since a date, in one grouped query: the same counting as the reports
 * summary (src/reports/summary.ts: one policy type per report, `counted = 1`; mailed reports only
 * with a verified DKIM signature, RFC 8460 §3; reports whose period starts at or after `since`), so
 * the portfolio equals `mtasts monitor status`. The `day` index narrows the scan to the window.
 */
export function sessionTotals(db: SqlDatabase, store: () => Promise<ReportStore>): TlsRptTotals {
  return async (domains, since) => {
    const s = await store();
    const { reports, policies } = s.tables;
    // SQLite: CROSS JOIN makes the planner walk the window's reports first (by the day index).
    const join = db.kind === 'sqlite' ? `${reports} r CROSS JOIN ${policies} p ON p.report = r.id` : `${reports} r JOIN ${policies} p ON p.report = r.id`;
    const rows = await db.query<{ domain: string; s: number; f: number }>(
      `SELECT p.domain AS domain, SUM(p.successful_sessions) AS s, SUM(p.failed_sessions) AS f FROM ${join}
       WHERE r.day >= ? AND r.period_start >= ? AND p.counted = 1 AND p.domain IS NOT NULL
         AND (r.transport <> 'mail' OR r.dkim_result = 'pass')
       GROUP BY p.domain`,
      [since.toISOString().slice(0, 10), since.toISOString()]);
    const wanted = new Set(domains);
    const out = new Map<string, { success: number; failure: number }>();
    for (const r of rows) if (wanted.has(r.domain)) out.set(r.domain, { success: Number(r.s), failure: Number(r.f) });
    return out;
  };
}

async function countEvents(db: SqlDatabase, f: { domain?: string; state?: string; since?: Date }): Promise<number> {
  const where: string[] = [];
  const params: string[] = [];
  if (f.domain) { where.push('domain = ?'); params.push(f.domain); }
  if (f.state) { where.push('state = ?'); params.push(f.state); }
  if (f.since) { where.push('at >= ?'); params.push(f.since.toISOString()); }
  const rows = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM monitor_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`, params);
  return Number(rows[0]?.n ?? 0);
}
