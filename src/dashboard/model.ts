/**
 * The dashboard's view models: what the JSON API returns and what the pages render. Built by
 * `data.ts` from the monitor's history (src/monitor), the reports store (src/reports) and the
 * advisor; nothing here does I/O.
 */
import type { Section, Severity, Verdict } from '../findings.js';
import type { DiffLine } from './diff.js';

export type Mode = 'enforce' | 'testing' | 'none';

export interface TlsRptTotals {
  sessions: number;
  success: number;
  failure: number;
  /** success / sessions, or null without sessions. */
  successRate: number | null;
}

export interface PortfolioRow {
  domain: string;
  /** In the monitor's list (false: seen only in TLS-RPT reports). */
  monitored: boolean;
  verdict: Verdict | null;
  /** The published policy's mode; null when there is no valid policy (or no check yet). */
  mode: Mode | null;
  /** Open problems: monitor events in state "open". */
  openProblems: number;
  policyCertDaysLeft: number | null;
  /** The lowest certificate lifetime left among the MX hosts. */
  mxCertDaysLeft: number | null;
  /** TLS-RPT sessions over the last 7 days. */
  tlsrpt: TlsRptTotals;
  /** The advisor's recommendation, e.g. "move-to-enforce". */
  recommendation: string | null;
  lastChecked: string | null;
}

export const PORTFOLIO_SORTS = ['domain', 'verdict', 'mode', 'problems', 'policyCert', 'mxCert', 'successRate', 'sessions', 'recommendation', 'checked'] as const;
export type PortfolioSort = (typeof PORTFOLIO_SORTS)[number];

export interface PortfolioQuery {
  q?: string;
  verdict?: Verdict | 'none';
  mode?: Mode | 'no-policy';
  recommendation?: string;
  /** Only domains with open problems. */
  problems?: boolean;
  sort: PortfolioSort;
  dir: 'asc' | 'desc';
  page: number;
  perPage: number;
}

export interface Portfolio {
  total: number;
  /** Rows after filtering (before pagination). */
  matching: number;
  counters: { verdict: Record<string, number>; mode: Record<string, number> };
  page: number;
  perPage: number;
  pages: number;
  rows: PortfolioRow[];
  /** Recommendations seen so far (for the filter). */
  recommendations: string[];
  /** Advice is computed per domain in the background: how many have it, and rows shown without it yet. */
  advice: { computed: number; pendingOnPage: number };
  generatedAt: string;
}

export interface FindingView {
  code: string;
  severity: Severity;
  section: Section;
  message: string;
  meaning: string | null;
  fix: string | null;
  rfc: string | null;
  host: string | null;
}

export interface CheckSectionView {
  id: Section;
  title: string;
  status: 'ok' | 'warning' | 'error';
  facts: string[];
  findings: FindingView[];
}

export interface LatestCheckView {
  at: string;
  verdict: Verdict;
  mode: Mode | null;
  recordId: string | null;
  sections: CheckSectionView[];
}

export interface EventView {
  id: string;
  domain: string;
  code: string;
  state: 'open' | 'resolved' | 'notice';
  severity: Severity;
  message: string;
  at: string;
}

export interface PolicyVersionView {
  id: string | null;
  sha256: string | null;
  firstSeen: string;
  lastSeen: string;
  text: string;
  /** Against the previous (older) version; null for the first. */
  diff: DiffLine[] | null;
  /** The id changed from the previous version's (null: no previous). */
  idChanged: boolean | null;
  /** The text changed while the id stayed the same: senders with a cached policy never refetch. */
  changedWithoutNewId: boolean;
}

export interface CountRow {
  key: string;
  success?: number;
  failure: number;
  total?: number;
}

export interface ReportsView {
  /** Reports about this domain in the window. */
  reports: number;
  totals: TlsRptTotals;
  since: string;
  days: { date: string; success: number; failure: number; policies?: Record<string, { success: number; failure: number }> }[];
  policies: Record<string, { success: number; failure: number }>;
  resultTypes: CountRow[];
  organizations: CountRow[];
  mxHosts: CountRow[];
}

export interface AdviceView {
  mode: string | null;
  recommendation: string;
  reasons: string[];
  nextSteps: string[];
  evidence: Record<string, unknown>;
}

export interface DomainView {
  domain: string;
  monitored: boolean;
  latest: LatestCheckView | null;
  timeline: { at: string; verdict: Verdict; mode: Mode | null }[];
  passingSince: string | null;
  events: EventView[];
  policyHistory: PolicyVersionView[];
  reports: ReportsView | null;
  advice: AdviceView | null;
  canCheckNow: boolean;
}

export interface ReportListItem {
  id: string;
  organization: string;
  reportId: string;
  domains: string[];
  start: string | null;
  end: string | null;
  success: number;
  failure: number;
  warnings: number;
  dkim: string | null;
  transport: string | null;
  receivedAt: string | null;
}

export interface ReportListView {
  total: number | null;
  page: number;
  perPage: number;
  items: ReportListItem[];
  filter: { domain?: string; organization?: string; since?: string; until?: string };
}

export interface ReportDetailView {
  id: string;
  organization: string | null;
  reportId: string | null;
  domains: string[];
  raw: string;
  warnings: { code: string; message: string }[];
  dkim: unknown;
  source: string | null;
  receivedAt: string | null;
}

export interface EventListView {
  total: number | null;
  page: number;
  perPage: number;
  items: EventView[];
  filter: { domain?: string; state?: string; since?: string };
}
