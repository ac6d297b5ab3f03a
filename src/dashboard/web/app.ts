/**
 * The dashboard's client script (bundled with uPlot by esbuild; loaded from /assets/app.js, never
 * inline). Pages are rendered on the server and work without it; this adds:
 * - local time on hover for every `<time>` (the text stays UTC);
 * - the TLS-RPT charts of a domain page, drawn from the JSON API;
 * - auto-submit of the filter selects.
 * Data is only ever inserted as text (textContent), never as markup.
 */
import uPlot from 'uplot';

interface DayPoint {
  date: string;
  success: number;
  failure: number;
  policies?: Record<string, { success: number; failure: number }>;
}

function localizeTimes(root: ParentNode): void {
  for (const el of Array.from(root.querySelectorAll<HTMLTimeElement>('time[datetime]'))) {
    const d = new Date(el.dateTime);
    if (Number.isNaN(d.getTime())) continue;
    el.title = `Your local time: ${d.toLocaleString()}`;
  }
}

const PALETTE = ['#2e7d32', '#c62828', '#1565c0', '#ef6c00', '#6a1b9a', '#00838f', '#5d4037', '#ad1457'];

function chartWidth(el: HTMLElement): number {
  return Math.max(280, Math.min(1400, el.clientWidth || 600));
}

function drawSessions(el: HTMLElement, days: DayPoint[], perPolicy: boolean): uPlot | null {
  if (days.length === 0) return null;
  const xs = days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
  const series: uPlot.Series[] = [{ label: 'Day (UTC)', value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) }];
  const data: (number | null)[][] = [xs];
  if (!perPolicy) {
    // Two bars per day, side by side: successes left of the day's tick, failures right of it.
    series.push({ label: 'Successful sessions', stroke: PALETTE[0], fill: 'rgba(46,125,50,0.45)', width: 1, paths: uPlot.paths.bars!({ size: [0.4, 30], align: -1 }), points: { show: false } });
    series.push({ label: 'Failed sessions', stroke: PALETTE[1], fill: 'rgba(198,40,40,0.7)', width: 1, paths: uPlot.paths.bars!({ size: [0.4, 30], align: 1 }), points: { show: false } });
    data.push(days.map((d) => d.success), days.map((d) => d.failure));
  } else {
    const types = new Set<string>();
    for (const d of days) for (const t of Object.keys(d.policies ?? {})) types.add(t);
    let i = 2;
    for (const t of [...types].sort()) {
      series.push({ label: `${t} success`, stroke: PALETTE[i++ % PALETTE.length], width: 2 });
      data.push(days.map((d) => d.policies?.[t]?.success ?? 0));
      series.push({ label: `${t} failure`, stroke: PALETTE[i++ % PALETTE.length], width: 2, dash: [6, 4] });
      data.push(days.map((d) => d.policies?.[t]?.failure ?? 0));
    }
    if (types.size === 0) return null;
  }
  const opts: uPlot.Options = {
    width: chartWidth(el),
    height: 260,
    series,
    // Whole days: half a day of room on each side, ticks on days, labelled MM-DD (UTC).
    scales: {
      x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] },
      y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.08] },
    },
    axes: [
      { space: 48, incrs: [86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 28 * 86_400], values: (_u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(5, 10)) },
      { label: 'sessions', size: 60 },
    ],
    legend: { live: false },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
  };
  return new uPlot(opts, data as uPlot.AlignedData, el);
}

async function drawCharts(): Promise<void> {
  const figures = Array.from(document.querySelectorAll<HTMLElement>('[data-chart]'));
  if (figures.length === 0) return;
  const sources = new Map<string, Promise<{ days: DayPoint[] } | null>>();
  const plots: { el: HTMLElement; plot: uPlot }[] = [];
  for (const fig of figures) {
    const src = fig.dataset.src;
    if (!src || !src.startsWith('/api/')) continue;
    let p = sources.get(src);
    if (!p) {
      p = fetch(src, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then((r) => (r.ok ? r.json() : null))
        .then((j) => (j && j.reports ? { days: (j.reports.days ?? []) as DayPoint[] } : null))
        .catch(() => null);
      sources.set(src, p);
    }
    const data = await p;
    const target = fig.querySelector<HTMLElement>('.chart-canvas');
    if (!data || !target) continue;
    const plot = drawSessions(target, data.days, fig.dataset.chart === 'policies');
    if (plot) {
      target.classList.add('drawn');
      plots.push({ el: target, plot });
    } else {
      target.textContent = 'No sessions in this period.';
    }
  }
  let pending = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const { el, plot } of plots) plot.setSize({ width: chartWidth(el), height: 260 });
    });
  });
}

function autoSubmitFilters(): void {
  for (const sel of Array.from(document.querySelectorAll<HTMLSelectElement>('select[data-autosubmit]'))) {
    sel.addEventListener('change', () => sel.form?.requestSubmit());
  }
}

function start(): void {
  localizeTimes(document);
  autoSubmitFilters();
  void drawCharts();
  document.documentElement.classList.add('js');
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
