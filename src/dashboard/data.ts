/**
 * Where the dashboard's numbers come from. {@link DashboardData} turns what the monitor (history,
 * events, status), the reports store (summaries, lists) and the advisor provide — through a
 * {@link DashboardSource}, by default {@link sqlSource} over one SqlDatabase — into the view models of
 * model.ts: it paginates, sorts and filters the portfolio, groups a check's findings by section with
 * each finding's meaning and fix from the registry, and diffs consecutive policy texts.
 *
 * The portfolio of every domain is assembled once and reused for `cacheMs` (default 10 s), so paging
 * and sorting through 10,000 domains does not re-read the database on each request; after that it is
 * served stale once while a fresh one is assembled in the background.
 */
import { CHECK_SECTIONS, FINDINGS, type Finding, type Section, type Verdict } from '../findings.js';
import type { SqlDatabase } from '../store/sql.js';
import { lineDiff } from './diff.js';
import type {
  AdviceView, CheckSectionView, CountRow, DomainView, EventListView, EventView, FindingView, LatestCheckView, Mode,
  Portfolio, PortfolioQuery, PortfolioRow, PolicyVersionView, ReportDetailView, ReportListView, ReportsView, TlsRptTotals,
} from './model.js';
import { sqlSource } from './source.js';

/** One monitored domain's status row (from the monitor's status). */
export interface SourceStatus {
  domain: string;
  verdict: Verdict | null;
  mode: Mode | null;
  openProblems: number;
  policyCertDaysLeft: number | null;
  mxCertDaysLeft: number | null;
  lastChecked: string | null;
  /** When the status already carries the advisor's recommendation. */
  recommendation?: string | null;
  /** TLS-RPT sessions over the last 7 days, when the status carries them (else from `summary`). */
  tlsrpt?: TlsRptTotals;
}

export interface SourceCheck {
  at: string;
  verdict: Verdict;
  mode: Mode | null;
  findings: Finding[];
  recordId: string | null;
  /** One line of facts per section, as the CLI shows above the findings. */
  facts: Partial<Record<Section, string[]>>;
}

export interface SourceSummaryDomain {
  domain: string | null;
  reports?: number;
  policies: Record<string, { success: number; failure: number }>;
  resultTypes: Record<string, number>;
  organizations: Record<string, { success: number; failure: number }>;
  mxHosts: Record<string, number>;
  days: { date: string; success: number; failure: number; policies?: Record<string, { success: number; failure: number }> }[];
}

export interface ListQuery {
  domain?: string;
  organization?: string;
  state?: string;
  since?: string;
  until?: string;
  page: number;
  perPage: number;
}

/** What the dashboard reads; sqlSource implements it over the monitor's and the reports' tables. */
export interface DashboardSource {
  status(): Promise<SourceStatus[]>;
  isMonitored(domain: string): Promise<boolean>;
  latestCheck(domain: string): Promise<SourceCheck | null>;
  timeline(domain: string, since: Date): Promise<{ at: string; verdict: Verdict; mode: Mode | null }[]>;
  passingSince(domain: string): Promise<string | null>;
  policyHistory(domain: string): Promise<{ id: string | null; sha256: string | null; firstSeen: string; lastSeen: string; text: string }[]>;
  events(q: ListQuery): Promise<{ items: EventView[]; total: number | null }>;
  /** TLS-RPT summary per policy domain since a date (all domains when `domains` is absent). */
  summary(opts: { domains?: string[]; since: Date; until?: Date }): Promise<{ reports: number; domains: SourceSummaryDomain[] }>;
  reports(q: ListQuery): Promise<{ items: ReportListView['items']; total: number | null }>;
  report(id: string): Promise<ReportDetailView | null>;
  advice(domain: string): Promise<AdviceView | null>;
  /**
   * A cheap fingerprint of the data (highest row ids): when it is unchanged, assembled views stay
   * valid. Null when the source cannot tell (then views expire after `cacheMs`).
   */
  version(): Promise<string | null>;
}

export interface DashboardDataOptions {
  /** How long the assembled portfolio is reused, ms (default 10000; 0 disables). */
  cacheMs?: number;
  /** Overrides where data comes from (tests, benches). */
  source?: DashboardSource;
  /** Clock (tests). */
  now?: () => Date;
  /** Passed to the default source: the advisor's thresholds. */
  advisor?: Record<string, number>;
}


const DAY = 86_400_000;
const VERDICT_ORDER: Record<string, number> = { fail: 0, warn: 1, pass: 2 };
const MODE_ORDER: Record<string, number> = { none: 0, testing: 1, enforce: 2 };

export function totalsOf(policies: Record<string, { success: number; failure: number }>): TlsRptTotals {
  let success = 0;
  let failure = 0;
  for (const v of Object.values(policies)) {
    success += v.success;
    failure += v.failure;
  }
  const sessions = success + failure;
  return { sessions, success, failure, successRate: sessions === 0 ? null : success / sessions };
}

export function findingView(f: Finding): FindingView {
  const spec = (FINDINGS as Record<string, { meaning: string; fix: string; rfc?: string } | undefined>)[f.code];
  return {
    code: f.code,
    severity: f.severity,
    section: f.section,
    message: f.message,
    meaning: spec?.meaning ?? null,
    fix: spec?.fix ?? null,
    rfc: f.rfc ?? spec?.rfc ?? null,
    host: f.host ?? null,
  };
}

export function sectionsOf(check: SourceCheck): CheckSectionView[] {
  const out: CheckSectionView[] = [];
  for (const { id, title } of CHECK_SECTIONS) {
    const findings = check.findings.filter((f) => f.section === id).map(findingView);
    const facts = check.facts[id] ?? [];
    if (id === 'input' && findings.length === 0) continue;
    if (id === 'consistency' && findings.length === 0 && facts.length === 0) continue;
    const status = findings.some((f) => f.severity === 'error') ? 'error' : findings.some((f) => f.severity === 'warning') ? 'warning' : 'ok';
    out.push({ id, title, status, facts, findings });
  }
  return out;
}

function countRows(record: Record<string, number | { success: number; failure: number }>, limit = 25): CountRow[] {
  const rows: CountRow[] = Object.entries(record).map(([key, v]) =>
    typeof v === 'number' ? { key, failure: v, total: v } : { key, success: v.success, failure: v.failure, total: v.success + v.failure });
  // Most failures first, then most sessions; ties by name so the order is stable.
  rows.sort((a, b) => b.failure - a.failure || (b.total ?? 0) - (a.total ?? 0) || a.key.localeCompare(b.key));
  return rows.slice(0, limit);
}

export function reportsViewOf(s: SourceSummaryDomain, reports: number, since: Date): ReportsView {
  // Totals from the days, which count each session once (a sender reporting the same sessions under
  // both sts and tlsa is counted under one type; see src/reports/summary.ts).
  let success = 0;
  let failure = 0;
  for (const d of s.days) {
    success += d.success;
    failure += d.failure;
  }
  const sessions = success + failure;
  return {
    reports,
    totals: { sessions, success, failure, successRate: sessions === 0 ? null : success / sessions },
    since: since.toISOString(),
    days: [...s.days].sort((a, b) => a.date.localeCompare(b.date)),
    policies: s.policies,
    resultTypes: countRows(s.resultTypes),
    organizations: countRows(s.organizations),
    mxHosts: countRows(s.mxHosts),
  };
}

/** Days since `since` inclusive, as UTC midnight. */
function windowStart(now: Date, days: number): Date {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return new Date(midnight - (days - 1) * DAY);
}

interface Assembled {
  /** When assembled (ms) and the data version it reflects. */
  at: number;
  version: string | null;
  rows: PortfolioRow[];
}

/** A view is reassembled at the latest this often even when the data did not change (days left, windows). */
const MAX_AGE_MS = 10 * 60_000;
/** Time a page may spend computing missing advice for its rows before showing them as pending. */
const ADVICE_BUDGET_MS = 150;

export class DashboardData {
  readonly source: DashboardSource;
  private readonly cacheMs: number;
  private readonly now: () => Date;
  private cached: Assembled | null = null;
  private building: Promise<Assembled> | null = null;
  private lastVersionCheck = 0;
  /** Advice per domain, with the data version it was computed for. */
  private readonly advice = new Map<string, { version: string | null; at: number; value: AdviceView | null }>();
  private filling = false;
  private closed = false;

  constructor(db: SqlDatabase, options: DashboardDataOptions = {}) {
    this.source = options.source ?? sqlSource(db, options.advisor ? { advisor: options.advisor } : {});
    this.cacheMs = options.cacheMs ?? 10_000;
    this.now = options.now ?? (() => new Date());
  }

  /** Forget everything assembled (after "check now" or an import): the next request rebuilds. */
  invalidate(): void {
    this.cached = null;
    this.advice.clear();
  }

  /** Stops background work (the advice filler). */
  close(): void {
    this.closed = true;
  }

  /** Resolves when no background work is running. */
  async idle(): Promise<void> {
    while (this.building || this.filling) {
      await this.building?.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Assembles the portfolio now, so the first visitor does not wait for it. */
  warm(): void {
    void this.rebuild().catch(() => {});
  }

  isMonitored(domain: string): Promise<boolean> {
    return this.source.isMonitored(domain);
  }

  private fresh(entry: { at: number; version: string | null }, version: string | null): boolean {
    const age = Date.now() - entry.at;
    if (age < this.cacheMs) return true;
    return version !== null && entry.version === version && age < MAX_AGE_MS;
  }

  private async allRows(): Promise<Assembled> {
    const cached = this.cached;
    if (cached && Date.now() - cached.at < this.cacheMs) return cached;
    if (cached && this.cacheMs > 0) {
      // Past cacheMs: a cheap version check; unchanged data keeps the assembly (up to MAX_AGE_MS),
      // changed data is answered stale once while a fresh assembly runs in the background.
      if (Date.now() - this.lastVersionCheck > 1000) {
        this.lastVersionCheck = Date.now();
        const version = await this.source.version().catch(() => null);
        if (this.fresh(cached, version)) return cached;
        if (!this.building) void this.rebuild().catch(() => {});
      }
      return cached;
    }
    return this.rebuild();
  }

  private rebuild(): Promise<Assembled> {
    if (this.building) return this.building;
    this.building = (async () => {
      const version = await this.source.version().catch(() => null);
      const status = await this.source.status();
      const since = windowStart(this.now(), 7);
      const needSummary = status.some((s) => s.tlsrpt === undefined);
      const summary = needSummary ? await this.source.summary({ since }) : { reports: 0, domains: [] };
      const byDomain = new Map<string, SourceSummaryDomain>();
      for (const d of summary.domains) if (d.domain !== null) byDomain.set(d.domain, d);
      const rows: PortfolioRow[] = status.map((s) => ({
        domain: s.domain,
        monitored: true,
        verdict: s.verdict,
        mode: s.mode,
        openProblems: s.openProblems,
        policyCertDaysLeft: s.policyCertDaysLeft,
        mxCertDaysLeft: s.mxCertDaysLeft,
        tlsrpt: s.tlsrpt ?? totalsOf(byDomain.get(s.domain)?.policies ?? {}),
        recommendation: s.recommendation ?? null,
        lastChecked: s.lastChecked,
      }));
      const result: Assembled = { at: Date.now(), version, rows };
      if (this.cacheMs > 0) this.cached = result;
      return result;
    })().finally(() => {
      this.building = null;
    });
    const built = this.building;
    void built.then((a) => this.fillAdvice(a)).catch(() => {});
    return built;
  }

  /** The advice of one domain, from the cache when it is fresh. */
  async adviceFor(domain: string, version: string | null): Promise<AdviceView | null> {
    const hit = this.advice.get(domain);
    if (hit && this.fresh(hit, version)) return hit.value;
    const value = await this.source.advice(domain).catch(() => null);
    this.advice.set(domain, { version, at: Date.now(), value });
    return value;
  }

  /** Computes the advice of every domain in the background, one at a time, so requests interleave. */
  private async fillAdvice(a: Assembled): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      for (const r of a.rows) {
        if (this.closed || this.cached !== a) return;
        const hit = this.advice.get(r.domain);
        // In the background, advice younger than MAX_AGE_MS is kept even when the data changed
        // elsewhere: one pass over a large portfolio at most every 10 minutes. Rows on a page are
        // refreshed by version when shown.
        if (hit && (hit.version === a.version || Date.now() - hit.at < MAX_AGE_MS)) continue;
        const value = await this.source.advice(r.domain).catch(() => null);
        this.advice.set(r.domain, { version: a.version, at: Date.now(), value });
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.filling = false;
    }
  }

  private recommendationOf(r: PortfolioRow): string | null {
    return r.recommendation ?? this.advice.get(r.domain)?.value?.recommendation ?? null;
  }

  async portfolio(q: PortfolioQuery): Promise<Portfolio> {
    const assembled = await this.allRows();
    const { rows } = assembled;
    const counters = { verdict: { pass: 0, warn: 0, fail: 0, none: 0 } as Record<string, number>, mode: { enforce: 0, testing: 0, none: 0, 'no-policy': 0 } as Record<string, number> };
    const recommendations = new Set<string>();
    for (const r of rows) {
      counters.verdict[r.verdict ?? 'none']!++;
      counters.mode[r.mode ?? 'no-policy']!++;
      const rec = this.recommendationOf(r);
      if (rec !== null) recommendations.add(rec);
    }
    const filtered = rows.filter((r) =>
      (q.q === undefined || r.domain.includes(q.q)) &&
      (q.verdict === undefined || (r.verdict ?? 'none') === q.verdict) &&
      (q.mode === undefined || (r.mode ?? 'no-policy') === q.mode) &&
      (q.recommendation === undefined || this.recommendationOf(r) === q.recommendation) &&
      (!q.problems || r.openProblems > 0));
    const key = q.sort === 'recommendation' ? (r: PortfolioRow) => this.recommendationOf(r) : sortKey(q.sort);
    const sign = q.dir === 'asc' ? 1 : -1;
    // Missing values (null) sort last in either direction; ties by domain name.
    filtered.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka === null && kb !== null) return 1;
      if (kb === null && ka !== null) return -1;
      if (ka !== null && kb !== null && ka !== kb) return (ka < kb ? -1 : 1) * sign;
      return a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0;
    });
    const pages = Math.max(1, Math.ceil(filtered.length / q.perPage));
    const page = Math.min(q.page, pages);
    const shown = filtered.slice((page - 1) * q.perPage, page * q.perPage);
    // The rows shown get their advice now, within a small time budget; the rest stay pending.
    const started = Date.now();
    const out: PortfolioRow[] = [];
    let pending = 0;
    for (const r of shown) {
      let rec = this.recommendationOf(r);
      const hit = this.advice.get(r.domain);
      if (r.recommendation === null && (!hit || !this.fresh(hit, assembled.version))) {
        if (Date.now() - started < ADVICE_BUDGET_MS) rec = (await this.adviceFor(r.domain, assembled.version))?.recommendation ?? null;
        else if (!hit) pending++;
      }
      out.push({ ...r, recommendation: rec });
    }
    let advised = 0;
    for (const r of rows) if (this.advice.has(r.domain)) advised++;
    return {
      total: rows.length,
      matching: filtered.length,
      counters,
      page,
      perPage: q.perPage,
      pages,
      rows: out,
      recommendations: [...recommendations].sort(),
      advice: { computed: advised, pendingOnPage: pending },
      generatedAt: new Date(assembled.at).toISOString(),
    };
  }

  async domain(domain: string, opts: { days: number; canCheckNow: boolean }): Promise<DomainView | null> {
    const now = this.now();
    const since = windowStart(now, opts.days);
    const [monitored, latest, timeline, passing, policies, events, summary, advice] = await Promise.all([
      this.source.isMonitored(domain),
      this.source.latestCheck(domain),
      this.source.timeline(domain, new Date(now.getTime() - 90 * DAY)),
      this.source.passingSince(domain),
      this.source.policyHistory(domain),
      this.source.events({ domain, page: 1, perPage: 25 }),
      this.source.summary({ domains: [domain], since }),
      this.source.version().catch(() => null).then((v) => this.adviceFor(domain, v)),
    ]);
    const s = summary.domains.find((d) => d.domain === domain) ?? null;
    const reportCount = summary.reports;
    if (!monitored && latest === null && s === null && reportCount === 0) return null;
    const latestView: LatestCheckView | null = latest
      ? { at: latest.at, verdict: latest.verdict, mode: latest.mode, recordId: latest.recordId, sections: sectionsOf(latest) }
      : null;
    return {
      domain,
      monitored,
      latest: latestView,
      timeline,
      passingSince: passing,
      events: events.items,
      policyHistory: policyVersions(policies),
      reports: s ? reportsViewOf(s, reportCount, since) : null,
      advice: monitored ? advice : null,
      canCheckNow: opts.canCheckNow && monitored,
    };
  }

  async reports(q: ListQuery): Promise<ReportListView> {
    const r = await this.source.reports(q);
    const filter: ReportListView['filter'] = {};
    if (q.domain) filter.domain = q.domain;
    if (q.organization) filter.organization = q.organization;
    if (q.since) filter.since = q.since;
    if (q.until) filter.until = q.until;
    return { total: r.total, page: q.page, perPage: q.perPage, items: r.items, filter };
  }

  report(id: string): Promise<ReportDetailView | null> {
    return this.source.report(id);
  }

  async events(q: ListQuery): Promise<EventListView> {
    const r = await this.source.events(q);
    const filter: EventListView['filter'] = {};
    if (q.domain) filter.domain = q.domain;
    if (q.state) filter.state = q.state;
    if (q.since) filter.since = q.since;
    return { total: r.total, page: q.page, perPage: q.perPage, items: r.items, filter };
  }
}

function sortKey(sort: PortfolioQuery['sort']): (r: PortfolioRow) => string | number | null {
  switch (sort) {
    case 'domain': return (r) => r.domain;
    case 'verdict': return (r) => (r.verdict === null ? null : VERDICT_ORDER[r.verdict]!);
    case 'mode': return (r) => (r.mode === null ? -1 : MODE_ORDER[r.mode]!);
    case 'problems': return (r) => r.openProblems;
    case 'policyCert': return (r) => r.policyCertDaysLeft;
    case 'mxCert': return (r) => r.mxCertDaysLeft;
    case 'successRate': return (r) => r.tlsrpt.successRate;
    case 'sessions': return (r) => r.tlsrpt.sessions;
    case 'recommendation': return (r) => r.recommendation;
    case 'checked': return (r) => r.lastChecked;
  }
}

/** Newest first, each with the diff from the version before it and whether the id changed. */
export function policyVersions(history: { id: string | null; sha256: string | null; firstSeen: string; lastSeen: string; text: string }[]): PolicyVersionView[] {
  const chronological = [...history].sort((a, b) => a.firstSeen.localeCompare(b.firstSeen));
  const out: PolicyVersionView[] = chronological.map((p, i) => {
    const prev = i > 0 ? chronological[i - 1]! : null;
    const textChanged = prev !== null && prev.text !== p.text;
    return {
      ...p,
      diff: prev ? lineDiff(prev.text, p.text) : null,
      idChanged: prev ? prev.id !== p.id : null,
      // RFC 8461 §3.1: the id must change whenever the policy changes, or cached senders keep the old one.
      changedWithoutNewId: textChanged && prev!.id === p.id,
    };
  });
  return out.reverse();
}
