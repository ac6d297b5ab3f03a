/**
 * Server-rendered pages. Every value from a report or a check goes through {@link html}'s escaping;
 * there is no inline script or style (the Content-Security-Policy forbids both): behaviour comes
 * from /assets/app.js and looks from /assets/app.css.
 */
import { html, raw, type SafeHtml } from './html.js';
import type {
  AdviceView, CheckSectionView, CountRow, DomainView, EventListView, EventView, FindingView, Portfolio,
  PortfolioQuery, PortfolioRow, PolicyVersionView, ReportDetailView, ReportListView, ReportsView,
} from './model.js';

export interface PageContext {
  /** Content hashes of the assets, for cache-busting URLs. */
  assetVersion: Record<string, string>;
  /** The CSRF token for forms, when state-changing actions are on. */
  csrfToken?: string;
  readOnly: boolean;
  /** A message shown on top (after "check now"). */
  flash?: string;
}

type Nav = 'portfolio' | 'reports' | 'events' | 'domain' | 'none';

export function layout(ctx: PageContext, title: string, nav: Nav, body: SafeHtml): string {
  const v = ctx.assetVersion;
  const link = (href: string, label: string, id: Nav) =>
    html`<a href="${href}"${raw(nav === id ? ' aria-current="page"' : '')}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · mtasts</title>
<link rel="icon" href="/assets/icon.svg?v=${v['icon.svg'] ?? ''}" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css?v=${v['app.css'] ?? ''}">
<script src="/assets/app.js?v=${v['app.js'] ?? ''}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/"><img src="/assets/icon.svg?v=${v['icon.svg'] ?? ''}" alt="" width="24" height="24"> mtasts</a>
  <nav aria-label="Main">${link('/', 'Portfolio', 'portfolio')}${link('/reports', 'Reports', 'reports')}${link('/events', 'Events', 'events')}</nav>
  ${ctx.readOnly ? html`<span class="ro" title="This dashboard cannot change anything">read-only</span>` : ''}
</header>
<main id="main" tabindex="-1">
${ctx.flash ? html`<p class="flash" role="status">${ctx.flash}</p>` : ''}
${body}
</main>
<footer class="foot">mtasts dashboard · times in UTC (hover for your local time) · <a href="/api/">JSON API</a></footer>
</body>
</html>
`.toString();
}

// --- small pieces ------------------------------------------------------------------------------

const VERDICT_LABEL: Record<string, [string, string]> = {
  pass: ['✓', 'pass'],
  warn: ['!', 'warn'],
  fail: ['✗', 'fail'],
};

export function verdictBadge(verdict: string | null): SafeHtml {
  if (verdict === null) return html`<span class="badge v-none"><span aria-hidden="true">–</span> not checked</span>`;
  const [icon, label] = VERDICT_LABEL[verdict] ?? ['?', verdict];
  return html`<span class="badge v-${verdict}"><span aria-hidden="true">${icon}</span> ${label}</span>`;
}

function severityBadge(sev: string): SafeHtml {
  const icon = sev === 'error' ? '✗' : sev === 'warning' ? '!' : 'i';
  return html`<span class="badge s-${sev}"><span aria-hidden="true">${icon}</span> ${sev}</span>`;
}

function stateBadge(state: string): SafeHtml {
  const icon = state === 'open' ? '●' : state === 'resolved' ? '✓' : 'i';
  return html`<span class="badge e-${state}"><span aria-hidden="true">${icon}</span> ${state}</span>`;
}

function modeLabel(mode: string | null): SafeHtml {
  if (mode === null) return html`<span class="mode m-nopolicy">no policy</span>`;
  return html`<span class="mode m-${mode}">${mode}</span>`;
}

/** "2026-11-29 05:59 UTC", with the ISO time for the client to add local time on hover. */
export function time(iso: string | null | undefined): SafeHtml {
  if (!iso) return html`<span class="muted">never</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  const text = `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`<time datetime="${d.toISOString()}" title="${d.toISOString()}">${text}</time>`;
}

function dateOnly(iso: string | null | undefined): SafeHtml {
  if (!iso) return html`<span class="muted">—</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  return html`<time datetime="${d.toISOString()}" title="${d.toISOString()}">${d.toISOString().slice(0, 10)}</time>`;
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US');
}

export function percent(rate: number | null): string {
  if (rate === null) return '—';
  const p = rate * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p >= 99.95 ? '99.9' : p.toFixed(1)} %`;
}

function days(n: number | null): SafeHtml {
  if (n === null) return html`<span class="muted">—</span>`;
  const cls = n < 0 ? 'bad' : n < 14 ? 'bad' : n < 30 ? 'warnish' : '';
  return html`<span class="${cls}">${n < 0 ? `expired ${-n} d ago` : `${n} d`}</span>`;
}

function domainLink(domain: string): SafeHtml {
  return html`<a href="/domains/${encodeURIComponent(domain)}">${domain}</a>`;
}

function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

function pager(base: string, params: Record<string, string | number | boolean | undefined | null>, page: number, pages: number | null, hasNext: boolean): SafeHtml {
  const link = (p: number, label: string, rel: string) => html`<a href="${base}${qs({ ...params, page: p === 1 ? undefined : p })}" rel="${rel}">${label}</a>`;
  const last = pages ?? page + (hasNext ? 1 : 0);
  return html`<nav class="pager" aria-label="Pages">
    ${page > 1 ? html`${link(1, '« First', 'first')} ${link(page - 1, '‹ Previous', 'prev')}` : html`<span class="muted">« First ‹ Previous</span>`}
    <span>Page ${num(page)}${pages !== null ? html` of ${num(Math.max(1, pages))}` : ''}</span>
    ${page < last ? html`${link(page + 1, 'Next ›', 'next')}${pages !== null ? html` ${link(pages, 'Last »', 'last')}` : ''}` : html`<span class="muted">Next › Last »</span>`}
  </nav>`;
}

function option(value: string, label: string, current: string | undefined): SafeHtml {
  return html`<option value="${value}"${raw(value === (current ?? '') ? ' selected' : '')}>${label}</option>`;
}

// --- portfolio ---------------------------------------------------------------------------------

const COLUMNS: { sort: PortfolioQuery['sort']; label: string; title?: string; numeric?: boolean }[] = [
  { sort: 'domain', label: 'Domain' },
  { sort: 'verdict', label: 'Verdict' },
  { sort: 'mode', label: 'Mode' },
  { sort: 'problems', label: 'Open problems', numeric: true },
  { sort: 'policyCert', label: 'Policy cert', title: 'days left on the policy host certificate', numeric: true },
  { sort: 'mxCert', label: 'MX cert (min)', title: 'days left on the MX certificate closest to expiry', numeric: true },
  { sort: 'successRate', label: 'TLS success 7 d', title: 'TLS-RPT successful sessions over 7 days', numeric: true },
  { sort: 'sessions', label: 'Sessions 7 d', numeric: true },
  { sort: 'recommendation', label: 'Advisor' },
  { sort: 'checked', label: 'Last checked' },
];

export function portfolioParams(q: PortfolioQuery, defaults: { perPage: number }): Record<string, string | number | boolean | undefined> {
  return {
    q: q.q,
    verdict: q.verdict,
    mode: q.mode,
    recommendation: q.recommendation,
    problems: q.problems ? '1' : undefined,
    sort: q.sort === 'domain' && q.dir === 'asc' ? undefined : `${q.dir === 'desc' ? '-' : ''}${q.sort}`,
    per_page: q.perPage === defaults.perPage ? undefined : q.perPage,
  };
}

/** The advisor's recommendations (src/monitor/advisor.ts), in words. */
const RECOMMENDATION_TEXT: Record<string, string> = {
  'publish-testing': 'publish in testing',
  'fix-first': 'fix first',
  'stay-testing': 'stay in testing',
  'move-to-enforce': 'ready for enforce',
  'raise-max-age': 'raise max_age',
  keep: 'keep as is',
};

function recommendationLabel(r: string | null): SafeHtml {
  if (r === null) return html`<span class="muted">—</span>`;
  return html`<span class="rec r-${r.replace(/[^a-z0-9-]/gi, '')}">${RECOMMENDATION_TEXT[r] ?? r.replace(/-/g, ' ')}</span>`;
}

function portfolioRow(r: PortfolioRow): SafeHtml {
  return html`<tr>
<th scope="row" data-label="Domain">${domainLink(r.domain)}${r.monitored ? '' : html` <span class="tag" title="Seen only in TLS-RPT reports; not monitored">reports only</span>`}</th>
<td data-label="Verdict">${verdictBadge(r.verdict)}</td>
<td data-label="Mode">${r.monitored ? modeLabel(r.mode) : html`<span class="muted">—</span>`}</td>
<td data-label="Open problems" class="num">${r.openProblems > 0 ? html`<a class="bad" href="/events${qs({ domain: r.domain, state: 'open' })}">${num(r.openProblems)}</a>` : '0'}</td>
<td data-label="Policy host cert (days left)" class="num">${days(r.policyCertDaysLeft)}</td>
<td data-label="Lowest MX cert (days left)" class="num">${days(r.mxCertDaysLeft)}</td>
<td data-label="TLS success (7 days)" class="num" data-rate="${r.tlsrpt.successRate ?? ''}">${percent(r.tlsrpt.successRate)}</td>
<td data-label="Sessions (7 days)" class="num" data-sessions="${r.tlsrpt.sessions}">${num(r.tlsrpt.sessions)}</td>
<td data-label="Advisor">${recommendationLabel(r.recommendation)}</td>
<td data-label="Last checked">${time(r.lastChecked)}</td>
</tr>`;
}

export function portfolioPage(ctx: PageContext, p: Portfolio, q: PortfolioQuery, defaults: { perPage: number }): string {
  const params = portfolioParams(q, defaults);
  const counter = (label: string, value: number, href: string, cls: string, icon: string) =>
    html`<li><a class="counter ${cls}" href="${href}"><span class="count">${num(value)}</span> <span class="label"><span aria-hidden="true">${icon}</span> ${label}</span></a></li>`;
  const vc = p.counters.verdict;
  const mc = p.counters.mode;
  const sortValue = (col: PortfolioQuery['sort']) => (q.sort === col && q.dir === 'asc' ? `-${col}` : col);
  const first = (p.page - 1) * p.perPage + 1;
  const lastRow = Math.min(p.matching, p.page * p.perPage);
  const body = html`
<h1>Portfolio</h1>
<section aria-labelledby="counters-h" class="counters">
  <h2 id="counters-h" class="visually-hidden">Counters</h2>
  <div>
    <h3>By verdict</h3>
    <ul class="counter-list" id="counters-verdict">
      ${counter('pass', vc.pass ?? 0, `/${qs({ verdict: 'pass' })}`, 'v-pass', '✓')}
      ${counter('warn', vc.warn ?? 0, `/${qs({ verdict: 'warn' })}`, 'v-warn', '!')}
      ${counter('fail', vc.fail ?? 0, `/${qs({ verdict: 'fail' })}`, 'v-fail', '✗')}
      ${counter('not checked', vc.none ?? 0, `/${qs({ verdict: 'none' })}`, 'v-none', '–')}
    </ul>
  </div>
  <div>
    <h3>By mode</h3>
    <ul class="counter-list" id="counters-mode">
      ${counter('enforce', mc.enforce ?? 0, `/${qs({ mode: 'enforce' })}`, 'm-enforce', '■')}
      ${counter('testing', mc.testing ?? 0, `/${qs({ mode: 'testing' })}`, 'm-testing', '◧')}
      ${counter('none', mc.none ?? 0, `/${qs({ mode: 'none' })}`, 'm-none', '○')}
      ${counter('no policy', mc['no-policy'] ?? 0, `/${qs({ mode: 'no-policy' })}`, 'm-nopolicy', '–')}
    </ul>
  </div>
</section>
<form method="get" action="/" class="filters" role="search" aria-label="Filter domains">
  <div class="filter-row">
    <label>Domain contains <input type="search" name="q" value="${q.q ?? ''}" maxlength="253" autocomplete="off"></label>
    <label>Verdict <select name="verdict" data-autosubmit>
      ${option('', 'any', q.verdict)}${option('pass', 'pass', q.verdict)}${option('warn', 'warn', q.verdict)}${option('fail', 'fail', q.verdict)}${option('none', 'not checked', q.verdict)}
    </select></label>
    <label>Mode <select name="mode" data-autosubmit>
      ${option('', 'any', q.mode)}${option('enforce', 'enforce', q.mode)}${option('testing', 'testing', q.mode)}${option('none', 'none', q.mode)}${option('no-policy', 'no policy', q.mode)}
    </select></label>
    <label>Advisor <select name="recommendation" data-autosubmit>
      ${option('', 'any', q.recommendation)}${p.recommendations.map((r) => option(r, RECOMMENDATION_TEXT[r] ?? r, q.recommendation))}
    </select></label>
    <label class="check"><input type="checkbox" name="problems" value="1"${raw(q.problems ? ' checked' : '')}> with open problems</label>
    ${q.perPage !== defaults.perPage ? html`<input type="hidden" name="per_page" value="${q.perPage}">` : ''}
    <button type="submit" name="sort" value="${params.sort ?? 'domain'}">Apply</button>
    <a href="/">Reset</a>
  </div>
  <div class="table-wrap">
  <table class="portfolio cards" id="portfolio">
    <caption>${num(p.matching)} of ${num(p.total)} domains${p.matching > 0 ? html` · showing ${num(first)}–${num(lastRow)}` : ''} · sorted by ${COLUMNS.find((c) => c.sort === q.sort)?.label ?? q.sort} (${q.dir === 'asc' ? 'ascending' : 'descending'})</caption>
    <thead><tr>
      ${COLUMNS.map((c) => html`<th scope="col"${raw(c.numeric ? ' class="num"' : '')}${raw(q.sort === c.sort ? ` aria-sort="${q.dir === 'asc' ? 'ascending' : 'descending'}"` : '')}><button type="submit" name="sort" value="${sortValue(c.sort)}" class="sort" title="Sort by ${c.title ?? c.label}">${c.label}<span class="arrow" aria-hidden="true">${q.sort === c.sort ? (q.dir === 'asc' ? ' ▲' : ' ▼') : ' ↕'}</span></button></th>`)}
    </tr></thead>
    <tbody>
      ${p.rows.length === 0 ? html`<tr><td colspan="10" class="empty">No domain matches these filters.</td></tr>` : p.rows.map(portfolioRow)}
    </tbody>
  </table>
  </div>
</form>
${pager('/', params, p.page, p.pages, false)}
<p class="muted small">Data as of ${time(p.generatedAt)}.${p.advice.computed < p.total ? ` Advice computed so far for ${num(p.advice.computed)} of ${num(p.total)} domains (the rest follow in the background; "—" until then).` : ''} Also as JSON: <a href="/api/portfolio${qs({ ...params, page: p.page === 1 ? undefined : p.page })}">/api/portfolio</a>.</p>`;
  return layout(ctx, 'Portfolio', 'portfolio', body);
}

// --- domain ------------------------------------------------------------------------------------

function findingItem(f: FindingView): SafeHtml {
  return html`<li class="finding f-${f.severity}">
  <div class="finding-head">${severityBadge(f.severity)} <code>${f.code}</code>${f.host ? html` <span class="host">${f.host}</span>` : ''}${f.rfc ? html` <span class="rfc">${f.rfc}</span>` : ''}</div>
  <p>${f.message}</p>
  ${f.meaning ? html`<p class="meaning"><strong>Meaning:</strong> ${f.meaning}</p>` : ''}
  ${f.fix ? html`<p class="fix"><strong>Fix:</strong> ${f.fix}</p>` : ''}
</li>`;
}

function sectionBlock(s: CheckSectionView): SafeHtml {
  const icon = s.status === 'error' ? '✗' : s.status === 'warning' ? '!' : '✓';
  return html`<section class="check-section st-${s.status}" aria-labelledby="sec-${s.id}">
  <h3 id="sec-${s.id}"><span class="st-icon" aria-hidden="true">${icon}</span> ${s.title} <span class="visually-hidden">(${s.status})</span></h3>
  ${s.facts.length > 0 ? html`<ul class="facts">${s.facts.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
  ${s.findings.length > 0 ? html`<ul class="findings">${s.findings.map(findingItem)}</ul>` : ''}
</section>`;
}

function advicePanel(a: AdviceView | null): SafeHtml {
  if (a === null) return html`<section class="panel advice" aria-labelledby="advice-h"><h2 id="advice-h">Advisor</h2><p class="muted">No advice available for this domain yet.</p></section>`;
  return html`<section class="panel advice" aria-labelledby="advice-h">
  <h2 id="advice-h">Advisor</h2>
  <p class="rec-line">Recommendation: ${recommendationLabel(a.recommendation)}${a.mode ? html` · current mode ${modeLabel(a.mode)}` : ''}</p>
  ${a.nextSteps.length > 0 ? html`<h3>Next step</h3><ol class="next-steps">${a.nextSteps.map((s) => html`<li>${s}</li>`)}</ol>` : ''}
  ${a.reasons.length > 0 ? html`<h3>Why</h3><ul>${a.reasons.map((s) => html`<li>${s}</li>`)}</ul>` : ''}
</section>`;
}

function timelineBlock(v: DomainView): SafeHtml {
  if (v.timeline.length === 0) return html`<p class="muted">No checks recorded.</p>`;
  // Consecutive checks with the same verdict and mode become one period.
  const periods: { from: string; to: string; verdict: string; mode: string | null; checks: number }[] = [];
  const sorted = [...v.timeline].sort((a, b) => a.at.localeCompare(b.at));
  for (const t of sorted) {
    const last = periods[periods.length - 1];
    if (last && last.verdict === t.verdict && last.mode === t.mode) {
      last.to = t.at;
      last.checks++;
    } else periods.push({ from: t.at, to: t.at, verdict: t.verdict, mode: t.mode, checks: 1 });
  }
  const shown = periods.slice(-50).reverse();
  return html`<ol class="strip" aria-hidden="true">${sorted.slice(-120).map((t) => html`<li class="v-${t.verdict}" title="${t.at} ${t.verdict}"></li>`)}</ol>
<div class="table-wrap"><table class="timeline cards">
  <caption>Verdict periods, newest first (${num(v.timeline.length)} checks)${v.passingSince ? html` · passing since ${time(v.passingSince)}` : ''}</caption>
  <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Verdict</th><th scope="col">Mode</th><th scope="col" class="num">Checks</th></tr></thead>
  <tbody>${shown.map((p) => html`<tr><td data-label="From">${time(p.from)}</td><td data-label="To">${time(p.to)}</td><td data-label="Verdict">${verdictBadge(p.verdict)}</td><td data-label="Mode">${modeLabel(p.mode)}</td><td class="num" data-label="Checks">${num(p.checks)}</td></tr>`)}</tbody>
</table></div>`;
}

export function eventsTable(events: EventView[], caption: string, showDomain: boolean): SafeHtml {
  if (events.length === 0) return html`<p class="muted">No events.</p>`;
  return html`<div class="table-wrap"><table class="events cards">
  <caption>${caption}</caption>
  <thead><tr><th scope="col">When</th>${showDomain ? html`<th scope="col">Domain</th>` : ''}<th scope="col">State</th><th scope="col">Severity</th><th scope="col">Code</th><th scope="col">Message</th></tr></thead>
  <tbody>${events.map((e) => html`<tr><td data-label="When">${time(e.at)}</td>${showDomain ? html`<td data-label="Domain">${domainLink(e.domain)}</td>` : ''}<td data-label="State">${stateBadge(e.state)}</td><td data-label="Severity">${severityBadge(e.severity)}</td><td data-label="Code"><code>${e.code}</code></td><td class="msg" data-label="Message">${e.message}</td></tr>`)}</tbody>
</table></div>`;
}

function policyBlock(versions: PolicyVersionView[]): SafeHtml {
  if (versions.length === 0) return html`<p class="muted">No policy text recorded.</p>`;
  return html`<ol class="policies">${versions.map((p, i) => html`<li class="policy-version">
  <h3>Version ${versions.length - i}${i === 0 ? ' (current)' : ''} · id <code>${p.id ?? '(none)'}</code>
    ${p.idChanged ? html`<span class="tag t-info">id changed</span>` : ''}
    ${p.changedWithoutNewId ? html`<span class="badge s-error"><span aria-hidden="true">✗</span> text changed without a new id</span>` : ''}</h3>
  <p class="muted small">seen ${time(p.firstSeen)} – ${time(p.lastSeen)}${p.sha256 ? html` · sha256 <code>${p.sha256.slice(0, 16)}…</code>` : ''}</p>
  ${p.diff ? html`<figure class="diff"><figcaption>Changes from the previous version</figcaption><pre>${p.diff.map((d) => html`<span class="d-${d.op}">${d.op === 'add' ? '+ ' : d.op === 'del' ? '- ' : '  '}${d.text}
</span>`)}</pre></figure>` : ''}
  <details><summary>Full text</summary><pre class="policy-text">${p.text}</pre></details>
</li>`)}</ol>`;
}

function barTable(id: string, caption: string, rows: CountRow[], keyHeader: string, withSuccess: boolean): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">No failures in this period.</p>`;
  const max = Math.max(1, ...rows.map((r) => (withSuccess ? (r.success ?? 0) + r.failure : r.failure)));
  return html`<div class="table-wrap"><table class="bars" id="${id}">
  <caption>${caption}</caption>
  <thead><tr><th scope="col">${keyHeader}</th>${withSuccess ? html`<th scope="col" class="num">Successful</th>` : ''}<th scope="col" class="num">Failed</th><th scope="col" class="barcol"><span class="visually-hidden">Bar</span></th></tr></thead>
  <tbody>${rows.map((r) => {
    const s = withSuccess ? r.success ?? 0 : 0;
    const ws = (s / max) * 100;
    const wf = (r.failure / max) * 100;
    return html`<tr><th scope="row" class="key">${r.key}</th>${withSuccess ? html`<td class="num">${num(s)}</td>` : ''}<td class="num">${num(r.failure)}</td><td class="barcol"><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="ok" x="0" y="0" height="10" width="${ws.toFixed(2)}"></rect><rect class="ko" x="${ws.toFixed(2)}" y="0" height="10" width="${wf.toFixed(2)}"></rect></svg></td></tr>`;
  })}</tbody>
</table></div>`;
}

function reportsBlock(domain: string, r: ReportsView | null, windowDays: number): SafeHtml {
  if (r === null || r.reports === 0) {
    return html`<p class="muted">No TLS-RPT reports about ${domain} in the last ${windowDays} days. Publish a TLS-RPT record (<code>_smtp._tls.${domain}</code>) with an rua address that feeds <code>mtasts reports</code>.</p>`;
  }
  const api = `/api/domains/${encodeURIComponent(domain)}${qs({ days: windowDays === 30 ? undefined : windowDays })}`;
  const policies = Object.entries(r.policies).map(([key, v]) => ({ key, success: v.success, failure: v.failure }));
  return html`
<ul class="totals" id="tlsrpt-totals">
  <li><span class="count" data-k="reports">${num(r.reports)}</span> reports</li>
  <li><span class="count" data-k="sessions">${num(r.totals.sessions)}</span> sessions</li>
  <li class="ok"><span class="count" data-k="success">${num(r.totals.success)}</span> <span aria-hidden="true">✓</span> successful</li>
  <li class="ko"><span class="count" data-k="failure">${num(r.totals.failure)}</span> <span aria-hidden="true">✗</span> failed</li>
  <li><span class="count" data-k="rate">${percent(r.totals.successRate)}</span> success rate</li>
</ul>
<p class="muted small">Window: ${windowDays} days since ${dateOnly(r.since)} · <a href="/domains/${encodeURIComponent(domain)}${qs({ days: windowDays === 90 ? 30 : 90 })}">show ${windowDays === 90 ? 30 : 90} days</a> · <a href="/reports${qs({ domain })}">the reports</a></p>
<div class="charts">
  <figure class="chart" data-chart="sessions" data-src="${api}">
    <figcaption>Sessions per day (UTC): successful and failed</figcaption>
    <div class="chart-canvas" role="img" aria-label="Bar chart of successful and failed sessions per day; the same numbers are in the table below"></div>
  </figure>
  <figure class="chart" data-chart="policies" data-src="${api}">
    <figcaption>Sessions per day by policy type</figcaption>
    <div class="chart-canvas" role="img" aria-label="Line chart of sessions per day for each policy type; the same numbers are in the table below"></div>
  </figure>
</div>
<details class="data-table"><summary>Sessions per day as a table</summary>
<div class="table-wrap"><table id="days-table"><caption>Sessions per day</caption>
<thead><tr><th scope="col">Day (UTC)</th><th scope="col" class="num">Successful</th><th scope="col" class="num">Failed</th></tr></thead>
<tbody>${r.days.map((d) => html`<tr><th scope="row">${d.date}</th><td class="num">${num(d.success)}</td><td class="num">${num(d.failure)}</td></tr>`)}</tbody></table></div>
</details>
<div class="grid2">
${barTable('by-policy', 'Sessions by policy type', policies, 'Policy type', true)}
${barTable('by-result', 'Failures by result type', r.resultTypes, 'Result type', false)}
${barTable('by-org', 'Sessions by sending organisation', r.organizations, 'Organisation', true)}
${barTable('by-mx', 'Failures by receiving MX host', r.mxHosts, 'MX host', false)}
</div>`;
}

export function domainPage(ctx: PageContext, v: DomainView, windowDays: number): string {
  const latest = v.latest;
  const tlsrpt = html`<section aria-labelledby="tlsrpt-h">
  <h2 id="tlsrpt-h">TLS-RPT</h2>
  ${reportsBlock(v.domain, v.reports, windowDays)}
</section>`;
  // A domain seen only in reports: its reports first, and what monitoring would add.
  const monitorSections = v.monitored || latest !== null
    ? html`
${advicePanel(v.advice)}
<section aria-labelledby="check-h">
  <h2 id="check-h">Latest check</h2>
  ${latest ? latest.sections.map(sectionBlock) : html`<p class="muted">Not checked yet.</p>`}
</section>
<section aria-labelledby="timeline-h">
  <h2 id="timeline-h">Verdict timeline</h2>
  ${timelineBlock(v)}
</section>
<section aria-labelledby="events-h">
  <h2 id="events-h">Events</h2>
  ${eventsTable(v.events, `Latest events for ${v.domain}`, false)}
  <p><a href="/events${qs({ domain: v.domain })}">All events for ${v.domain}</a></p>
</section>
<section aria-labelledby="policy-h">
  <h2 id="policy-h">Policy history</h2>
  ${policyBlock(v.policyHistory)}
</section>
${tlsrpt}`
    : html`${tlsrpt}
<section aria-labelledby="check-h" class="panel">
  <h2 id="check-h">Not monitored</h2>
  <p>${v.domain} appears only in TLS-RPT reports. Add it to the monitor's <code>domains</code> to see its checks, verdict timeline, events, policy history and the advisor's next step here.</p>
</section>`;
  const toc = v.monitored || latest !== null
    ? html`<a href="#advice-h">Advisor</a> <a href="#check-h">Latest check</a> <a href="#timeline-h">Timeline</a> <a href="#events-h">Events</a> <a href="#policy-h">Policy history</a> <a href="#tlsrpt-h">TLS-RPT</a>`
    : html`<a href="#tlsrpt-h">TLS-RPT</a> <a href="/reports${qs({ domain: v.domain })}">Its reports</a>`;
  const body = html`
<nav class="crumbs" aria-label="Breadcrumb"><a href="/">Portfolio</a> › <span aria-current="page">${v.domain}</span></nav>
<div class="domain-head">
  <h1>${v.domain}</h1>
  ${latest ? verdictBadge(latest.verdict) : v.monitored ? verdictBadge(null) : html`<span class="tag">reports only — not monitored</span>`}
  ${latest ? modeLabel(latest.mode) : ''}
  ${v.canCheckNow && ctx.csrfToken ? html`<form method="post" action="/domains/${encodeURIComponent(v.domain)}/check" class="inline">
    <input type="hidden" name="csrf" value="${ctx.csrfToken}"><button type="submit">Check now</button></form>` : ''}
</div>
${latest ? html`<p class="muted">Last checked ${time(latest.at)}${latest.recordId ? html` · record id <code>${latest.recordId}</code>` : ''}</p>` : ''}
<nav class="toc" aria-label="On this page">${toc}</nav>
${monitorSections}
<p class="muted small">As JSON: <a href="/api/domains/${encodeURIComponent(v.domain)}">/api/domains/${v.domain}</a> · <a href="/">Back to the portfolio</a></p>`;
  return layout(ctx, v.domain, 'domain', body);
}

// --- reports -----------------------------------------------------------------------------------

export function reportsPage(ctx: PageContext, v: ReportListView): string {
  const f = v.filter;
  const params = { domain: f.domain, organization: f.organization, since: f.since, until: f.until, per_page: v.perPage === 50 ? undefined : v.perPage };
  const pages = v.total === null ? null : Math.max(1, Math.ceil(v.total / v.perPage));
  const body = html`
<h1>TLS-RPT reports</h1>
<form method="get" action="/reports" class="filters" role="search" aria-label="Filter reports">
  <div class="filter-row">
    <label>Domain <input type="search" name="domain" value="${f.domain ?? ''}" maxlength="253"></label>
    <label>Organization <input type="search" name="organization" value="${f.organization ?? ''}" maxlength="200"></label>
    <label>Since <input type="date" name="since" value="${f.since ?? ''}"></label>
    <label>Until <input type="date" name="until" value="${f.until ?? ''}"></label>
    <button type="submit">Apply</button> <a href="/reports">Reset</a>
  </div>
</form>
${v.items.length === 0 ? html`<p class="muted">No reports match.</p>` : html`<div class="table-wrap"><table class="reports cards" id="reports">
  <caption>${v.total !== null ? html`${num(v.total)} reports` : 'Reports'}, newest first</caption>
  <thead><tr><th scope="col">Organization</th><th scope="col">Report</th><th scope="col">Domains</th><th scope="col">Period (UTC)</th><th scope="col" class="num">Successful</th><th scope="col" class="num">Failed</th><th scope="col">Warnings</th><th scope="col">DKIM</th><th scope="col">Received</th></tr></thead>
  <tbody>${v.items.map((r) => html`<tr>
    <td class="org" data-label="Organization">${r.organization}</td>
    <td data-label="Report"><a href="/reports/${encodeURIComponent(r.id)}">${r.reportId}</a></td>
    <td data-label="Domains">${r.domains.map((d, i) => html`${i > 0 ? ', ' : ''}${domainLink(d)}`)}</td>
    <td data-label="Period">${dateOnly(r.start)} – ${dateOnly(r.end)}</td>
    <td class="num" data-label="Successful">${num(r.success)}</td>
    <td class="num${r.failure > 0 ? ' bad' : ''}" data-label="Failed">${num(r.failure)}</td>
    <td data-label="Warnings">${r.warnings > 0 ? html`<span class="badge s-warning"><span aria-hidden="true">!</span> ${r.warnings}</span>` : html`<span class="muted">none</span>`}</td>
    <td data-label="DKIM">${r.dkim ?? html`<span class="muted">—</span>`}</td>
    <td data-label="Received">${time(r.receivedAt)}</td>
  </tr>`)}</tbody>
</table></div>`}
${pager('/reports', params, v.page, pages, v.items.length === v.perPage)}`;
  return layout(ctx, 'Reports', 'reports', body);
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function dkimText(dkim: unknown): string {
  if (dkim === null || dkim === undefined) return '— (not mailed)';
  if (typeof dkim === 'string') return dkim;
  const d = dkim as { result?: string; domain?: string; selector?: string; detail?: string };
  const who = [d.domain ? `d=${d.domain}` : '', d.selector ? `s=${d.selector}` : ''].filter(Boolean).join(' ');
  return `${d.result ?? 'unknown'}${who ? ` (${who})` : ''}${d.detail ? `: ${d.detail}` : ''}`;
}

export function reportPage(ctx: PageContext, r: ReportDetailView): string {
  const body = html`
<nav class="crumbs" aria-label="Breadcrumb"><a href="/reports">Reports</a> › <span aria-current="page">${r.reportId ?? r.id}</span></nav>
<h1>Report <span class="org">${r.reportId ?? r.id}</span></h1>
<dl class="meta">
  <dt>Organization</dt><dd class="org">${r.organization ?? '—'}</dd>
  <dt>Domains</dt><dd>${r.domains.length === 0 ? '—' : r.domains.map((d, i) => html`${i > 0 ? ', ' : ''}${domainLink(d)}`)}</dd>
  <dt>Source</dt><dd>${r.source ?? '—'}</dd>
  <dt>Received</dt><dd>${time(r.receivedAt)}</dd>
  <dt>DKIM</dt><dd>${dkimText(r.dkim)}</dd>
</dl>
<section aria-labelledby="warn-h"><h2 id="warn-h">Warnings</h2>
${r.warnings.length === 0 ? html`<p class="muted">None: the parser had nothing to tolerate in this report.</p>` : html`<ul class="findings">${r.warnings.map((w) => html`<li class="finding f-warning"><div class="finding-head">${severityBadge('warning')} <code>${w.code}</code></div><p>${w.message}</p></li>`)}</ul>`}
</section>
<section aria-labelledby="raw-h"><h2 id="raw-h">Raw JSON</h2>
<p class="muted small">As received (pretty-printed). <a href="/api/reports/${encodeURIComponent(r.id)}">JSON API</a></p>
<pre class="raw" tabindex="0">${prettyJson(r.raw)}</pre>
</section>`;
  return layout(ctx, `Report ${r.reportId ?? r.id}`, 'reports', body);
}

// --- events ------------------------------------------------------------------------------------

export function eventsPage(ctx: PageContext, v: EventListView): string {
  const f = v.filter;
  const params = { domain: f.domain, state: f.state, since: f.since, per_page: v.perPage === 50 ? undefined : v.perPage };
  const pages = v.total === null ? null : Math.max(1, Math.ceil(v.total / v.perPage));
  const body = html`
<h1>Events</h1>
<form method="get" action="/events" class="filters" role="search" aria-label="Filter events">
  <div class="filter-row">
    <label>Domain <input type="search" name="domain" value="${f.domain ?? ''}" maxlength="253"></label>
    <label>State <select name="state" data-autosubmit>${option('', 'any', f.state)}${option('open', 'open', f.state)}${option('resolved', 'resolved', f.state)}${option('notice', 'notice', f.state)}</select></label>
    <label>Since <input type="date" name="since" value="${f.since ?? ''}"></label>
    <button type="submit">Apply</button> <a href="/events">Reset</a>
  </div>
</form>
${eventsTable(v.items, v.total !== null ? `${num(v.total)} events, newest first` : 'Events, newest first', true)}
${pager('/events', params, v.page, pages, v.items.length === v.perPage)}`;
  return layout(ctx, 'Events', 'events', body);
}

export function errorPage(ctx: PageContext, status: number, message: string): string {
  return layout(ctx, `${status}`, 'none', html`<h1>${status === 404 ? 'Not found' : 'Error'}</h1><p>${message}</p><p><a href="/">Back to the portfolio</a></p>`);
}
