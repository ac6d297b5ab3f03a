/**
 * The dashboard's HTTP server without a browser: binding rules and authentication, security headers
 * and content types, CSRF protection of "check now", the API index, and bad input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { DashboardConfigError } from '../src/dashboard/security.js';
import { openDatabase, type SqlDatabase } from '../src/store/sql.js';
import { evaluate, type Observation } from '../src/monitor/events.js';
import { initMonitorSchema, saveCheck, saveState } from '../src/monitor/history.js';
import { monitorStatus } from '../src/monitor/status.js';
import { ingestPayload } from '../src/reports/ingest.js';
import { ReportStore } from '../src/reports/store.js';
import { hostileReport, sampleReports } from '../src/dashboard/sample-reports.js';
import pg from 'pg';

let dir: string;
let db: SqlDatabase;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mtasts-dash-'));
  db = await openDatabase(path.join(dir, 'dash.db'));
});
after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('refuses to listen beyond loopback without authentication', async () => {
  await assert.rejects(startDashboard({ db, listen: '0.0.0.0:0', readOnly: true }), DashboardConfigError);
  await assert.rejects(startDashboard({ db, listen: '[::]:0', readOnly: true }), /without authentication/);
  await assert.rejects(startDashboard({ db, listen: 'nonsense', readOnly: true }), /HOST:PORT/);
});

test('token and basic-auth users, compared in constant time', async () => {
  const dash = await startDashboard({ db, listen: '0.0.0.0:0', readOnly: true, auth: { token: 's3cret-token', users: [{ user: 'ops', pass: 'pw' }] } });
  try {
    const url = dash.url.replace('0.0.0.0', '127.0.0.1');
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer s3cret-token' } })).status, 200);
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    assert.equal((await fetch(url, { headers: basic('ops', 'pw') })).status, 200);
    assert.equal((await fetch(url, { headers: basic('ops', 'nope') })).status, 401);
    assert.equal((await fetch(`${url}api/portfolio`, { headers: basic('x', 's3cret-token') })).status, 200, 'the token works as a basic-auth password');
    // Assets need auth too (nothing is served to strangers).
    assert.equal((await fetch(`${url}assets/app.js`)).status, 401);
  } finally {
    await dash.close();
  }
});

async function withDashboard(opts: Partial<Parameters<typeof startDashboard>[0]>, fn: (d: Dashboard) => Promise<void>): Promise<void> {
  const dash = await startDashboard({ db, listen: '127.0.0.1:0', readOnly: true, ...opts });
  try {
    await fn(dash);
  } finally {
    await dash.close();
  }
}

test('security headers, content types and caching of pages, API and assets', async () => {
  await withDashboard({}, async (dash) => {
    const page = await fetch(dash.url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(csp.includes(d), `CSP has ${d}`);
    assert.ok(!csp.includes('unsafe-inline'));
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const body = await page.text();
    // No inline script or style anywhere in the markup.
    assert.doesNotMatch(body, /<script(?![^>]*\ssrc=)[^>]*>/);
    assert.doesNotMatch(body, /\sstyle=/);
    assert.doesNotMatch(body, /<style/);
    const js = /src="(\/assets\/app\.js\?v=[0-9a-f]+)"/.exec(body)?.[1];
    const css = /href="(\/assets\/app\.css\?v=[0-9a-f]+)"/.exec(body)?.[1];
    assert.ok(js && css, 'versioned asset URLs');
    const jsRes = await fetch(new URL(js, dash.url));
    assert.equal(jsRes.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(jsRes.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.ok((await jsRes.arrayBuffer()).byteLength > 20_000, 'uPlot is bundled');
    const cssRes = await fetch(new URL(css, dash.url));
    assert.equal(cssRes.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.match(await cssRes.text(), /\.uplot/);
    const etag = cssRes.headers.get('etag')!;
    assert.equal((await fetch(new URL('/assets/app.css', dash.url), { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await fetch(new URL('/assets/app.css', dash.url))).headers.get('cache-control'), 'no-cache');
    assert.equal((await fetch(new URL('/favicon.ico', dash.url))).headers.get('content-type'), 'image/svg+xml');
    assert.equal((await fetch(new URL('/assets/../package.json', dash.url))).status, 404);

    const index = await fetch(new URL('/api/', dash.url));
    assert.equal(index.headers.get('content-type'), 'application/json; charset=utf-8');
    const paths = ((await index.json()) as { endpoints: { path: string }[] }).endpoints.map((e) => e.path);
    for (const p of ['/api/portfolio', '/api/domains/{domain}', '/api/reports', '/api/reports/{id}', '/api/events']) assert.ok(paths.includes(p), p);
  });
});

test('bad input: unknown pages, bad domains, long URLs, wrong methods', async () => {
  await withDashboard({}, async (dash) => {
    assert.equal((await fetch(new URL('/nope', dash.url))).status, 404);
    assert.equal((await fetch(new URL('/domains/never-seen.example', dash.url))).status, 404);
    assert.equal((await fetch(new URL('/domains/bad%20name!', dash.url))).status, 400);
    const apiMissing = await fetch(new URL('/api/domains/never-seen.example', dash.url));
    assert.equal(apiMissing.status, 404);
    assert.match(((await apiMissing.json()) as { error: { message: string } }).error.message, /never-seen\.example/);
    assert.equal((await fetch(new URL(`/?q=${'a'.repeat(5000)}`, dash.url))).status, 414);
    assert.equal((await fetch(dash.url, { method: 'DELETE' })).status, 405);
    // Out-of-range parameters fall back to defaults instead of failing.
    const p = (await (await fetch(new URL('/api/portfolio?page=-3&per_page=99999&sort=evil', dash.url))).json()) as { perPage: number; page: number };
    assert.equal(p.perPage, 500);
    assert.equal(p.page, 1);
  });
});

test('"check now" is a same-origin POST with a CSRF token, and absent when read-only', async () => {
  await seedMonitored(db, 'watched.example');
  const checked: string[] = [];
  await withDashboard({ readOnly: false, checkNow: async (d) => void checked.push(d) }, async (dash) => {
    const pageUrl = new URL('/domains/watched.example', dash.url);
    const first = await fetch(pageUrl);
    const setCookie = first.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^mtasts_csrf=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    const html = await (await fetch(pageUrl, { headers: { cookie } })).text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    assert.equal(action, '/domains/watched.example/check');
    assert.ok(token);
    const origin = new URL(dash.url).origin;
    const post = (headers: Record<string, string>, body: string) =>
      fetch(new URL(action, dash.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, redirect: 'manual' });
    const ok = `csrf=${encodeURIComponent(token)}`;
    assert.equal((await post({ cookie, origin: 'https://evil.example' }, ok)).status, 403, 'cross-origin');
    assert.equal((await post({ cookie, origin }, 'csrf=forged')).status, 403, 'bad token');
    assert.equal((await post({ origin }, ok)).status, 403, 'no cookie');
    assert.equal((await post({ cookie: 'mtasts_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', origin }, ok)).status, 403, 'token of another cookie');
    assert.equal((await post({ cookie }, ok)).status, 403, 'no Origin');
    assert.deepEqual(checked, []);
    const done = await post({ cookie, origin }, ok);
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/domains/watched.example?checked=1');
    assert.deepEqual(checked, ['watched.example']);
    // A domain the monitor does not watch: refused without running a check.
    const other = await fetch(new URL('/domains/other.example/check', dash.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin }, body: ok, redirect: 'manual' });
    assert.equal(other.status, 404);
    assert.deepEqual(checked, ['watched.example']);
  });
  await withDashboard({ readOnly: true, checkNow: async (d) => void checked.push(d) }, async (dash) => {
    const res = await fetch(new URL('/domains/watched.example/check', dash.url), { method: 'POST', headers: { origin: new URL(dash.url).origin } });
    assert.equal(res.status, 403);
    const page = await fetch(new URL('/domains/watched.example', dash.url));
    assert.equal(page.headers.get('set-cookie'), null);
    assert.doesNotMatch(await page.text(), /csrf|Check now/);
  });
});

/** One stored check through the monitor's own history functions. */
async function seedMonitored(database: SqlDatabase, domain: string): Promise<void> {
  await initMonitorSchema(database);
  const at = new Date().toISOString();
  const obs: Observation = {
    at, verdict: 'pass', findings: [], recordId: '20240101', recordMissing: false, policySha256: 'ab'.repeat(32),
    policyText: 'version: STSv1\nmode: enforce\nmx: mx1.watched.example\nmax_age: 604800\n', mode: 'enforce', maxAge: 604800,
    mxPatterns: ['mx1.watched.example'], mxHosts: ['mx1.watched.example'], certs: [], elapsedMs: 5,
  };
  const { state } = evaluate(domain, null, obs);
  await database.transaction(async (tx) => {
    await saveCheck(tx, domain, 'round-1', obs);
    await saveState(tx, domain, 'round-1', at, state);
  });
}

test('portfolio API: counters, filters, sorting and pages; domain API: sections with fixes, policy diffs', async () => {
  const file = path.join(dir, 'portfolio.db');
  const pdb = await openDatabase(file);
  try {
    await initMonitorSchema(pdb);
    const verdicts = ['pass', 'warn', 'fail'] as const;
    const modes = ['enforce', 'testing', null] as const;
    const base = Date.now() - 3_600_000;
    await pdb.transaction(async (tx) => {
      for (let i = 0; i < 30; i++) {
        const domain = `p${String(i).padStart(2, '0')}.example`;
        const verdict = verdicts[i % 3]!;
        const findings = verdict === 'fail'
          ? [{ code: 'smtp-cert-expired' as const, severity: 'error' as const, section: 'smtp' as const, message: `the certificate of mx1.${domain} expired. Renew it.`, host: `mx1.${domain}` }]
          : verdict === 'warn' ? [{ code: 'smtp-cert-expiring' as const, severity: 'warning' as const, section: 'smtp' as const, message: 'expires soon' }] : [];
        let prev = null;
        for (let round = 0; round < 2; round++) {
          const at = new Date(base + round * 60_000).toISOString();
          const text = `version: STSv1\nmode: ${modes[i % 3] ?? 'none'}\nmx: mx1.${domain}\nmax_age: ${round === 0 ? 86400 : 604800}\n`;
          const obs: Observation = {
            at, verdict, findings, recordId: 'same', recordMissing: false, policySha256: round === 0 ? 'a'.repeat(64) : 'b'.repeat(64), policyText: text,
            mode: modes[i % 3]!, maxAge: 86400, mxPatterns: [], mxHosts: [`mx1.${domain}`],
            certs: [{ host: `mx1.${domain}`, role: 'mx', validTo: new Date(Date.now() + (i + 1) * 86_400_000 + 3_600_000).toISOString(), daysLeft: 0, valid: true }],
            elapsedMs: 1,
          };
          const r = evaluate(domain, prev, obs, { confirm: 1 });
          prev = r.state;
          await saveCheck(tx, domain, `r${round}`, obs);
          await saveState(tx, domain, `r${round}`, at, r.state);
        }
      }
    });
    const dash = await startDashboard({ db: pdb, listen: '127.0.0.1:0', readOnly: true });
    try {
      const api = async <T>(p: string) => (await (await fetch(new URL(p, dash.url))).json()) as T;
      type P = { total: number; matching: number; pages: number; counters: { verdict: Record<string, number>; mode: Record<string, number> }; rows: { domain: string; verdict: string; mode: string | null; openProblems: number; mxCertDaysLeft: number }[] };
      const all = await api<P>('/api/portfolio');
      assert.equal(all.total, 30);
      assert.deepEqual(all.counters.verdict, { pass: 10, warn: 10, fail: 10, none: 0 });
      assert.deepEqual(all.counters.mode, { enforce: 10, testing: 10, none: 0, 'no-policy': 10 });
      assert.equal(all.rows.length, 30);
      const failing = await api<P>('/api/portfolio?verdict=fail&mode=no-policy');
      assert.equal(failing.matching, 10);
      assert.ok(failing.rows.every((r) => r.verdict === 'fail' && r.mode === null));
      assert.equal((await api<P>('/api/portfolio?verdict=fail&mode=enforce')).matching, 0);
      const paged = await api<P>('/api/portfolio?per_page=7&page=3&sort=-mxCert');
      assert.equal(paged.pages, 5);
      assert.deepEqual(paged.rows.map((r) => r.domain), ['p15.example', 'p14.example', 'p13.example', 'p12.example', 'p11.example', 'p10.example', 'p09.example']);
      const noPolicy = await api<P>('/api/portfolio?mode=no-policy&q=p2');
      assert.deepEqual(noPolicy.rows.map((r) => r.domain), ['p20.example', 'p23.example', 'p26.example', 'p29.example']);
      const problems = await api<P>('/api/portfolio?problems=1&sort=-problems');
      assert.ok(problems.rows.length > 0 && problems.rows.every((r) => r.openProblems > 0));

      const page = await (await fetch(new URL('/?verdict=fail&sort=-mxCert', dash.url))).text();
      assert.match(page, /<caption>10 of 30 domains · showing 1–10/);
      assert.match(page, /aria-sort="descending"><button type="submit" name="sort" value="mxCert"/);

      type D = { latest: { sections: { id: string; status: string; findings: { code: string; fix: string; meaning: string }[] }[] }; policyHistory: { changedWithoutNewId: boolean; idChanged: boolean | null; diff: { op: string; text: string }[] | null }[]; timeline: unknown[] };
      const d = await api<D>('/api/domains/p02.example');
      const smtp = d.latest.sections.find((s) => s.id === 'smtp')!;
      assert.equal(smtp.status, 'error');
      assert.equal(smtp.findings[0]!.code, 'smtp-cert-expired');
      assert.match(smtp.findings[0]!.fix, /\w/);
      assert.equal(d.timeline.length, 2);
      assert.equal(d.policyHistory.length, 2);
      assert.equal(d.policyHistory[0]!.changedWithoutNewId, true, 'text changed under the same id');
      assert.deepEqual(d.policyHistory[0]!.diff!.filter((x) => x.op !== 'same'), [{ op: 'del', text: 'max_age: 86400' }, { op: 'add', text: 'max_age: 604800' }]);
      const html = await (await fetch(new URL('/domains/p02.example', dash.url))).text();
      assert.match(html, /text changed without a new id/);
      assert.match(html, /<span class="d-add">\+ max_age: 604800/);
      assert.match(html, /<strong>Fix:<\/strong>/);
    } finally {
      await dash.close();
    }
  } finally {
    await pdb.close();
  }
});

test('on PostgreSQL: every API endpoint and page, sessions equal to `monitor status`', async (t) => {
  const PG_DSN = process.env.MTASTS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: PG_DSN, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    const msg = `PostgreSQL at ${PG_DSN} is not reachable (${(err as Error).message})`;
    if (process.env.CI === 'true') assert.fail(`${msg}; CI must provide it`);
    t.skip(`${msg}: skipped (runs under CI=true)`);
    return;
  }
  const schema = `mtasts_dash_${process.pid}_${Date.now().toString(36)}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  let pdb: SqlDatabase | undefined;
  let dash: Dashboard | undefined;
  try {
    pdb = await openDatabase(`${PG_DSN}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
    await seedMonitored(pdb, 'watched.example');
    const store = await ReportStore.on(pdb);
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const [sample] = sampleReports([{ domain: 'watched.example', mode: 'enforce', policyLines: ['version: STSv1', 'mode: enforce', 'mx: mx1.watched.example', 'max_age: 604800'], mxHosts: ['mx1.watched.example'], failure: { resultType: 'certificate-expired', rate: 0.1 }, volume: 1000 }], { days: 1 });
    await ingestPayload(store, { bytes: sample!.bytes, source: 'test', transport: 'file' });
    await ingestPayload(store, { bytes: hostileReport('watched.example', day), source: 'test:hostile', transport: 'file' });
    dash = await startDashboard({ db: pdb, listen: '127.0.0.1:0', readOnly: true });
    const get = async <T>(p: string): Promise<T> => {
      const res = await fetch(new URL(p, dash!.url));
      assert.equal(res.status, 200, p);
      return (await res.json()) as T;
    };
    const status = await monitorStatus(pdb);
    const portfolio = await get<{ rows: { domain: string; tlsrpt: { sessions: number; failure: number } }[] }>('/api/portfolio');
    assert.equal(portfolio.rows[0]!.domain, 'watched.example');
    assert.ok(portfolio.rows[0]!.tlsrpt.sessions > 10);
    assert.equal(portfolio.rows[0]!.tlsrpt.sessions, status.domains[0]!.tlsrpt.sessions);
    assert.equal(portfolio.rows[0]!.tlsrpt.failure, status.domains[0]!.tlsrpt.failures);
    const domain = await get<{ reports: { reports: number; organizations: { key: string }[] } }>('/api/domains/watched.example');
    assert.equal(domain.reports.reports, 2);
    assert.ok(domain.reports.organizations.some((o) => o.key === '<img src=x onerror=alert(1)>'));
    const reports = await get<{ total: number; items: { id: string }[] }>('/api/reports?domain=watched.example');
    assert.equal(reports.total, 2);
    const one = await get<{ raw: string }>(`/api/reports/${reports.items[0]!.id}`);
    assert.match(one.raw, /organization-name/);
    assert.ok((await get<{ total: number }>('/api/events')).total >= 0);
    for (const p of ['/', '/domains/watched.example', '/reports', `/reports/${reports.items[0]!.id}`, '/events']) {
      assert.equal((await fetch(new URL(p, dash.url))).status, 200, p);
    }
  } finally {
    await dash?.close();
    await pdb?.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await admin.end();
  }
});
