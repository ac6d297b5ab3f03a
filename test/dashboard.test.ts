/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core), over a store filled
 * by the demo's path: monitor rounds over part of the test world and synthetic TLS-RPT reports, plus
 * a report whose organization name is markup. Screenshots of every page at 375 and 1440 px go to
 * test-artifacts/screenshots/ (git-ignored).
 *
 * Skipped, with a one-line reason, when /usr/bin/chromium is missing — except under CI=true, where
 * the missing browser fails the run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import pino from 'pino';
import { startDemo, type Demo } from '../src/dashboard/demo.js';
import { Monitor } from '../src/monitor/monitor.js';
import { percent } from '../src/dashboard/pages.js';
import { hostileReport } from '../src/dashboard/sample-reports.js';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { openDatabase, type SqlDatabase } from '../src/store/sql.js';
import { SCENARIOS } from '../src/testworld/index.js';
import { runCli } from './cli-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true'
  ? `chromium not found at ${CHROMIUM} (apt-get install chromium); browser tests skipped`
  : false;
const SHOTS = path.resolve('test-artifacts/screenshots');
const XSS = '<img src=x onerror=alert(1)>';
const WIDTHS = [375, 1440] as const;
const FAST = ['good.test', 'wildcard-mx.test', 'no-txt.test', 'mx-expired.test', 'mx-wrong-name.test', 'testing-no-tlsrpt.test', 'no-starttls.test'];

describe('dashboard in Chromium', { skip }, () => {
  let dir: string;
  let dbFile: string;
  let demo: Demo;
  let db: SqlDatabase;
  let dash: Dashboard;
  let browser: Browser;
  const dialogs: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mtasts-dash-browser-'));
    dbFile = path.join(dir, 'dash.db');
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    demo = await startDemo({
      db: dbFile,
      domains: SCENARIOS.filter((s) => FAST.includes(s.spec.domain)).map((s) => s.spec),
      rounds: 3,
      reportDays: 12,
      extraReports: [{ bytes: hostileReport('good.test', yesterday), source: 'test:hostile', transport: 'file' }],
    });
    db = await openDatabase(dbFile);
    dash = await startDashboard({ db, listen: '127.0.0.1:0', readOnly: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await dash?.close();
    await db?.close();
    await demo?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A page that records console errors, failed requests, page errors and dialogs. */
  async function openPage(width: number): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A chart's fetch cut short by navigating away is not a failure.
      if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    return { page, problems };
  }

  const url = (p: string) => new URL(p, dash.url).toString();

  async function firstReportId(): Promise<string> {
    const r = (await (await fetch(url('/api/reports?organization=Google%20Inc.&per_page=1'))).json()) as { items: { id: string }[] };
    return r.items[0]!.id;
  }

  test('every page loads with no console errors; screenshots at 375 and 1440 px', async () => {
    const hostile = (await (await fetch(url(`/api/reports?organization=${encodeURIComponent(XSS)}`))).json()) as { items: { id: string }[] };
    const pages: [string, string][] = [
      ['portfolio', '/?sort=-sessions'],
      ['domain', '/domains/rollout.test'],
      ['domain-failing', '/domains/mx-expired.test'],
      ['domain-reports-only', '/domains/reports-only.example'],
      ['reports', '/reports'],
      ['report', `/reports/${await firstReportId()}`],
      ['report-hostile', `/reports/${hostile.items[0]!.id}`],
      ['events', '/events'],
    ];
    for (const width of WIDTHS) {
      const { page, problems } = await openPage(width);
      for (const [name, p] of pages) {
        const res = await page.goto(url(p), { waitUntil: 'load' });
        assert.equal(res?.status(), 200, `${p} status`);
        if (name.startsWith('domain')) {
          // The charts are drawn from the API by the client script (uPlot).
          await page.waitForSelector('[data-chart="sessions"] .chart-canvas.drawn canvas', { timeout: 10_000 });
        }
        await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
        // Readable at this width: the page itself does not scroll sideways (wide tables scroll in their own box).
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 1, `${p} at ${width}px overflows by ${overflow}px`);
      }
      assert.deepEqual(problems, [], `no console errors or failed requests at ${width}px`);
      await page.close();
    }
    assert.deepEqual(dialogs, []);
  });

  test('numbers on screen equal `mtasts monitor status --json` and `mtasts reports summary --json`', async () => {
    const status = await runCli(['monitor', 'status', '--db', dbFile, '--json']);
    assert.equal(status.code, 0, status.err);
    const { domains } = JSON.parse(status.out) as { domains: { domain: string; verdict: string | null; mode: string | null; openProblems: unknown[]; tlsrpt: { sessions: number; successRate: number | null } }[] };
    assert.ok(domains.length >= FAST.length);
    const { page, problems } = await openPage(1440);
    await page.goto(url('/?per_page=500'), { waitUntil: 'load' });
    const counter = async (list: string, label: string) =>
      Number((await page.locator(`#${list} a`).filter({ hasText: label }).locator('.count').innerText()).replace(/,/g, ''));
    for (const v of ['pass', 'warn', 'fail'] as const) assert.equal(await counter('counters-verdict', v), domains.filter((d) => d.verdict === v).length, `verdict ${v}`);
    for (const m of ['enforce', 'testing'] as const) assert.equal(await counter('counters-mode', m), domains.filter((d) => d.mode === m).length, `mode ${m}`);
    assert.equal(await counter('counters-mode', 'no policy'), domains.filter((d) => d.mode === null).length);
    assert.equal(await page.locator('#portfolio tbody tr').count(), domains.length);
    const rows = new Map(await page.locator('#portfolio tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector('th a')!.textContent!, Array.from(tr.querySelectorAll('td'), (td) => (td as HTMLElement).innerText.trim())] as [string, string[]])));
    for (const d of domains) {
      const cells = rows.get(d.domain);
      assert.ok(cells, `${d.domain} has a row`);
      assert.equal(cells[2], String(d.openProblems.length), `${d.domain} open problems`);
      assert.equal(cells[5], percent(d.tlsrpt.successRate), `${d.domain} success rate`);
      assert.equal(Number(cells[6]!.replace(/,/g, '')), d.tlsrpt.sessions, `${d.domain} sessions`);
    }

    for (const domain of ['good.test', 'mx-expired.test', 'reports-only.example']) {
      await page.goto(url(`/domains/${domain}`), { waitUntil: 'load' });
      const since = await page.locator('#tlsrpt-h ~ p time').first().getAttribute('datetime');
      const summary = await runCli(['reports', 'summary', '--db', dbFile, '--domain', domain, '--since', since!.slice(0, 10), '--json']);
      assert.equal(summary.code, 0, summary.err);
      const s = JSON.parse(summary.out) as { reports: number; domains: { domain: string; days: { success: number; failure: number }[]; organizations: Record<string, { success: number; failure: number }>; resultTypes: Record<string, number> }[] };
      const d = s.domains.find((x) => x.domain === domain)!;
      const success = d.days.reduce((n, x) => n + x.success, 0);
      const failure = d.days.reduce((n, x) => n + x.failure, 0);
      const shown = async (k: string) => Number((await page.locator(`#tlsrpt-totals [data-k="${k}"]`).innerText()).replace(/,/g, ''));
      assert.equal(await shown('reports'), s.reports, `${domain} reports`);
      assert.equal(await shown('success'), success, `${domain} successful sessions`);
      assert.equal(await shown('failure'), failure, `${domain} failed sessions`);
      assert.equal(await shown('sessions'), success + failure, `${domain} sessions`);
      for (const [org, c] of Object.entries(d.organizations)) {
        const row = page.locator('#by-org tbody tr').filter({ has: page.locator('th', { hasText: org }) });
        assert.equal(Number((await row.locator('td').nth(1).innerText()).replace(/,/g, '')), c.failure, `${domain} ${org} failures`);
      }
      for (const [type, n] of Object.entries(d.resultTypes)) {
        const row = page.locator('#by-result tbody tr').filter({ has: page.locator('th', { hasText: type }) });
        assert.equal(Number((await row.locator('td').first().innerText()).replace(/,/g, '')), n, `${domain} ${type}`);
      }
    }
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('links: portfolio → domain → back; sort buttons work from the keyboard', async () => {
    const { page, problems } = await openPage(1440);
    await page.goto(url('/'), { waitUntil: 'load' });
    await page.locator('#portfolio').getByRole('link', { name: 'mx-expired.test', exact: true }).click();
    await page.waitForURL(/\/domains\/mx-expired\.test$/);
    assert.equal(await page.locator('h1').innerText(), 'mx-expired.test');
    assert.ok(await page.getByText('Fix:').first().isVisible(), 'findings show their fix');
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Portfolio' }).click();
    await page.waitForURL(url('/'));
    assert.equal(await page.locator('h1').innerText(), 'Portfolio');
    await page.goBack();
    await page.waitForURL(/\/domains\/mx-expired\.test$/);
    await page.goto(url('/'), { waitUntil: 'load' });
    // The sort headers are real buttons: focus one and press Enter.
    await page.getByRole('button', { name: /^Sessions 7 d/ }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/sort=sessions/);
    assert.equal(await page.locator('th[aria-sort]').innerText().then((t) => t.trim().startsWith('Sessions')), true);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('"Check now" from the browser: a same-origin POST with its CSRF token runs a real check', async () => {
    const monitor = new Monitor(demo.config, { logger: pino({ level: 'silent' }) });
    await monitor.open();
    const checked: string[] = [];
    const live = await startDashboard({
      db: monitor.db, listen: '127.0.0.1:0', readOnly: false,
      checkNow: async (domain) => {
        checked.push(domain);
        await monitor.checkNow(domain);
      },
    });
    const { page, problems } = await openPage(1440);
    try {
      const before = (await runCli(['monitor', 'status', '--db', dbFile, '--domain', 'good.test', '--json'])).out;
      await page.goto(new URL('/domains/good.test', live.url).toString(), { waitUntil: 'load' });
      await page.getByRole('button', { name: 'Check now' }).click();
      await page.waitForURL(/\/domains\/good\.test\?checked=1$/);
      assert.equal(await page.getByRole('status').innerText(), 'Checked good.test just now.');
      assert.deepEqual(checked, ['good.test']);
      const after = (await runCli(['monitor', 'status', '--db', dbFile, '--domain', 'good.test', '--json'])).out;
      const last = (o: string) => (JSON.parse(o) as { domains: { lastChecked: string }[] }).domains[0]!.lastChecked;
      assert.ok(last(after) > last(before), 'a new check was stored');
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
      await live.close();
      await monitor.close();
    }
  });

  test(`a report whose organization name is ${XSS} shows that text and runs nothing`, async () => {
    const { page, problems } = await openPage(1440);
    const before = dialogs.length;
    await page.goto(url(`/reports?organization=${encodeURIComponent(XSS)}`), { waitUntil: 'load' });
    assert.equal(await page.locator('#reports td.org').first().innerText(), XSS);
    await page.locator('#reports tbody a').first().click();
    await page.waitForURL(/\/reports\/\d+$/);
    assert.equal(await page.locator('dd.org').innerText(), XSS);
    assert.ok((await page.locator('pre.raw').innerText()).includes(`"organization-name": "${XSS}"`));
    await page.goto(url('/domains/good.test'), { waitUntil: 'load' });
    assert.equal(await page.locator('#by-org th', { hasText: XSS }).count(), 1);
    assert.equal(await page.locator('#by-mx th', { hasText: '<iframe src=javascript:alert(5)>' }).count(), 1);
    // Nothing became markup: no injected elements anywhere, no dialog, no error.
    for (const p of ['/reports', `/reports?organization=${encodeURIComponent(XSS)}`, '/domains/good.test']) {
      await page.goto(url(p), { waitUntil: 'load' });
      assert.equal(await page.locator('img[src="x"], iframe, svg[onload], b:text("bold")').count(), 0, p);
    }
    await page.waitForTimeout(200);
    assert.equal(dialogs.length, before);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
