/**
 * `mtasts monitor` over the test world (real DNS, HTTPS and SMTP servers on loopback) with a real
 * SQLite file and a local webhook receiver: rounds are run one by one while the world changes
 * between them, and the events, the stored history and the alerts received are checked.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadMonitorConfig, parseMonitorConfig, ConfigError } from '../src/monitor/config.js';
import type { MonitorEvent } from '../src/monitor/events.js';
import { applyRetention, checkHistory, latestCheck, listEvents, openMonitorDb, passingSince, policyHistory } from '../src/monitor/history.js';
import { Monitor, type RoundResult } from '../src/monitor/monitor.js';
import { monitorStatus } from '../src/monitor/status.js';
import { openDatabase } from '../src/store/sql.js';
import { createWorld, policyText, type DomainSpec, type World } from '../src/testworld/index.js';
import { runCli } from './cli-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const quiet = { level: 'silent' } as const;

/** A webhook receiver that records every POST body. */
async function startReceiver(): Promise<{ url: string; bodies: { text: string; events: MonitorEvent[] }[]; close(): Promise<void> }> {
  const bodies: { text: string; events: MonitorEvent[] }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string; events: MonitorEvent[] });
      } catch { /* counted as nothing */ }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const spec = (domain: string, over: Omit<DomainSpec, 'domain'> = {}): DomainSpec => ({ domain, ...over });

describe('monitor over the test world', () => {
  let world: World;
  let dir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let configFile: string;
  let monitor: Monitor;
  const rounds: RoundResult[] = [];
  const byCode = (r: RoundResult, domain: string): string[] => r.events.filter((e) => e.domain === domain).map((e) => `${e.state}:${e.code}`).sort();

  const DOMAINS = ['same-id.test', 'flaky.test', 'notice.test', 'expiring.test', 'lowered.test'];
  const initial: DomainSpec[] = [
    spec('same-id.test', { stsTxt: [['v=STSv1; id=v1']] }),
    spec('flaky.test'),
    spec('notice.test', { policy: policyText({ mode: 'testing', mx: ['mx1.notice.test'] }), stsTxt: [['v=STSv1; id=n1']] }),
    spec('expiring.test', { mx: [{ host: 'mx1.expiring.test', cert: 'expiring-soon' }] }),
    spec('lowered.test', { policy: policyText({ mode: 'enforce', mx: ['mx1.lowered.test'], maxAge: 86400 }), stsTxt: [['v=STSv1; id=l1']] }),
  ];

  before(async () => {
    world = await createWorld({ domains: initial });
    dir = await mkdtemp(path.join(tmpdir(), 'mtasts-monitor-test-'));
    receiver = await startReceiver();
    configFile = path.join(dir, 'monitor.yaml');
    await writeFile(configFile, [
      `db: ${path.join(dir, 'mtasts.db')}`,
      `domains: [${DOMAINS.join(', ')}]`,
      'interval: 1h',
      `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 5, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort}, concurrency: 10 }`,
      'confirm: 2',
      'expiry_days: 14',
      'alerts:',
      `  webhooks: [{ url: "${receiver.url}", secret: s3cret }]`,
      '',
    ].join('\n'));
    monitor = new Monitor(loadMonitorConfig(configFile), { logger: (await import('pino')).default(quiet) });
    await monitor.open();

    // Round 1: the starting portfolio.
    rounds.push(await monitor.runOnce());
    // Round 2: a policy edited under the same id; a one-round outage; planned changes.
    await world.addDomain(spec('same-id.test', { stsTxt: [['v=STSv1; id=v1']], policy: policyText({ mx: ['mx1.same-id.test'], maxAge: 1209600 }) }));
    await world.addDomain(spec('flaky.test', { policyHost: 'unreachable' }));
    await world.addDomain(spec('notice.test', {
      policy: policyText({ mode: 'enforce', mx: ['mx1.notice.test', 'mx2.notice.test'] }), stsTxt: [['v=STSv1; id=n2']],
      mx: [{ host: 'mx1.notice.test' }, { host: 'mx2.notice.test' }],
    }));
    await world.addDomain(spec('lowered.test', { policy: policyText({ mode: 'testing', mx: ['mx1.lowered.test'], maxAge: 86400 }), stsTxt: [['v=STSv1; id=l2']] }));
    rounds.push(await monitor.runOnce());
    // Round 3: the outage is over; the same-id problem persists.
    await world.addDomain(spec('flaky.test'));
    rounds.push(await monitor.runOnce());
    // Round 4: the id is changed at last.
    await world.addDomain(spec('same-id.test', { stsTxt: [['v=STSv1; id=v2']], policy: policyText({ mx: ['mx1.same-id.test'], maxAge: 1209600 }) }));
    rounds.push(await monitor.runOnce());
  });

  after(async () => {
    await monitor?.close();
    await receiver?.close();
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('round 1: healthy domains are quiet; an MX certificate inside the horizon opens', () => {
    const [r1] = rounds;
    assert.equal(r1!.checked, DOMAINS.length);
    assert.equal(r1!.stored, DOMAINS.length);
    for (const d of ['same-id.test', 'flaky.test', 'notice.test', 'lowered.test']) assert.deepEqual(byCode(r1!, d), [], d);
    const e = r1!.events.find((x) => x.domain === 'expiring.test');
    assert.equal(e?.code, 'smtp-cert-expiring');
    assert.equal(e?.subject, 'mx1.expiring.test');
    assert.match(e!.message, /inside the 14-day horizon/);
  });

  test('policy-changed-same-id opens, is alerted once, and resolves after the id changes', () => {
    const [, r2, r3, r4] = rounds;
    assert.deepEqual(byCode(r2!, 'same-id.test'), ['open:policy-changed-same-id']);
    assert.deepEqual(byCode(r3!, 'same-id.test'), []);
    assert.deepEqual(byCode(r4!, 'same-id.test'), ['notice:policy-id-changed', 'resolved:policy-changed-same-id']);
    const alerted = receiver.bodies.flatMap((b) => b.events).filter((e) => e.domain === 'same-id.test' && e.code === 'policy-changed-same-id');
    assert.deepEqual(alerted.map((e) => e.state), ['open', 'resolved'], 'one alert when it opens, one when it resolves');
    assert.equal(alerted[0]!.problem, alerted[1]!.problem);
    for (const b of receiver.bodies) assert.ok(typeof b.text === 'string' && b.text.length > 0, 'each POST has a one-line text');
  });

  test('confirm: 2 suppresses a one-round outage of the policy host', () => {
    for (const r of rounds) assert.deepEqual(byCode(r, 'flaky.test'), []);
    assert.ok(!receiver.bodies.flatMap((b) => b.events).some((e) => e.domain === 'flaky.test'));
  });

  test('notices: id, mode and MX set changes; cache-expiry when enforce is lowered', () => {
    const r2 = rounds[1]!;
    assert.deepEqual(byCode(r2, 'notice.test'), ['notice:mode-changed', 'notice:mx-changed', 'notice:policy-id-changed']);
    assert.deepEqual(byCode(r2, 'lowered.test'), ['notice:cache-expiry', 'notice:mode-changed', 'notice:policy-id-changed']);
    const cache = r2.events.find((e) => e.domain === 'lowered.test' && e.code === 'cache-expiry')!;
    const served = Date.parse(rounds[0]!.events.length ? rounds[0]!.startedAt : rounds[0]!.startedAt);
    const until = /until (\S+)$/.exec(cache.message.replace(/\. Keep the old.*$/, ''))?.[1];
    assert.ok(until, cache.message);
    const delta = Date.parse(until) - served;
    assert.ok(delta >= 86_400_000 && delta < 86_400_000 + 60_000, `until = last served + max_age (86400 s): ${cache.message}`);
  });

  test('history: checks, policy texts and events are stored and queryable', async () => {
    const db = monitor.db;
    const checks = await checkHistory(db, 'same-id.test');
    assert.equal(checks.length, 4);
    assert.equal(checks[0]!.recordId, 'v2');
    assert.equal(checks[0]!.mode, 'enforce');
    assert.deepEqual(checks[0]!.mx, ['mx1.same-id.test']);
    assert.ok(checks[0]!.certs.some((c) => c.role === 'policy' && c.host === 'mta-sts.same-id.test' && c.daysLeft > 14));
    assert.ok(checks[0]!.certs.some((c) => c.role === 'mx' && c.host === 'mx1.same-id.test'));
    const policies = await policyHistory(db, 'same-id.test');
    assert.deepEqual(policies.map((p) => [p.recordId, /max_age: (\d+)/.exec(p.text)?.[1]]), [['v1', '604800'], ['v1', '1209600'], ['v2', '1209600']]);
    assert.equal((await latestCheck(db, 'flaky.test'))?.verdict, 'pass');
    const events = await listEvents(db, { domain: 'same-id.test' });
    assert.deepEqual(events.map((e) => `${e.state}:${e.code}`).sort(), ['notice:policy-id-changed', 'open:policy-changed-same-id', 'resolved:policy-changed-same-id']);
    const flaky = await checkHistory(db, 'flaky.test');
    assert.equal(flaky[2]!.verdict, 'fail', 'the outage round is stored as the check saw it');
    assert.equal((await passingSince(db, 'flaky.test'))?.toISOString(), flaky[1]!.at, 'passing since the round after the outage');
    assert.equal((await passingSince(db, 'same-id.test'))?.toISOString(), checks[3]!.at, 'the check verdict itself never failed');
  });

  test('status: verdict, mode, open problems and certificate days per domain', async () => {
    const { domains } = await monitorStatus(monitor.db, { domains: DOMAINS });
    const by = new Map(domains.map((d) => [d.domain, d]));
    assert.equal(by.get('same-id.test')!.verdict, 'pass');
    assert.equal(by.get('lowered.test')!.mode, 'testing');
    assert.deepEqual(by.get('expiring.test')!.openProblems.map((p) => p.code), ['smtp-cert-expiring']);
    assert.ok(by.get('expiring.test')!.certDaysLeft.mx! <= 3);
    assert.ok(by.get('expiring.test')!.certDaysLeft.policyHost! > 14);
    assert.deepEqual(by.get('same-id.test')!.tlsrpt, { successRate: null, sessions: 0, failures: 0, days: 7 });
  });

  test('CLI: monitor status and events print JSON from --config or --db', async () => {
    const status = await runCli(['monitor', 'status', '--config', configFile, '--json']);
    assert.equal(status.code, 0, status.err);
    const parsed = JSON.parse(status.out) as { domains: { domain: string; verdict: string }[] };
    assert.deepEqual(parsed.domains.map((d) => d.domain), DOMAINS);
    const events = await runCli(['monitor', 'events', '--db', path.join(dir, 'mtasts.db'), '--domain', 'notice.test', '--json']);
    assert.equal(events.code, 0, events.err);
    assert.deepEqual(events.lines.map((l) => (JSON.parse(l) as MonitorEvent).code).sort(), ['mode-changed', 'mx-changed', 'policy-id-changed']);
    const table = await runCli(['monitor', 'status', '--config', configFile]);
    assert.match(table.out, /expiring\.test\s+warn/);
    const bad = await runCli(['monitor', 'events', '--config', configFile, '--since', 'yesterday-ish']);
    assert.equal(bad.code, 2);
  });

  test('retention deletes old history but keeps each domain\'s latest check and policy (runs last)', async () => {
    const r = await applyRetention(monitor.db, new Date(Date.now() + 60_000));
    assert.equal(r.checks, DOMAINS.length * 3);
    assert.equal((await checkHistory(monitor.db, 'same-id.test')).length, 1);
    assert.equal((await policyHistory(monitor.db, 'same-id.test')).length, 1);
    assert.deepEqual(await listEvents(monitor.db, { domain: 'same-id.test' }), []);
  });
});

describe('monitor with TLS-RPT reports', () => {
  test('a report POSTed to the receiver of `reports.listen` opens tlsrpt-failures and shows in status and on the dashboard', async () => {
    const world = await createWorld({ domains: [spec('rpt.test')] });
    const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-monitor-rpt-'));
    const config = parseMonitorConfig([
      `db: ${path.join(dir, 'm.db')}`, 'domains: [rpt.test]', 'confirm: 1',
      `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 5, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort} }`,
      'reports: { listen: "127.0.0.1:0" }', 'dashboard: { listen: "127.0.0.1:0" }', '',
    ].join('\n'), { file: 'm.yaml', baseDir: dir });
    const monitor = new Monitor(config, { logger: (await import('pino')).default(quiet) });
    await monitor.open();
    try {
      await monitor.start();
      const yesterday = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000);
      const report = {
        'organization-name': 'Sender Inc.', 'report-id': `r-${Date.now()}`, 'contact-info': 'tlsrpt@sender.example',
        'date-range': { 'start-datetime': yesterday.toISOString().replace('.000', ''), 'end-datetime': new Date(yesterday.getTime() + 86_399_000).toISOString().replace('.000', '') },
        policies: [{
          policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx1.rpt.test', 'max_age: 604800'], 'policy-domain': 'rpt.test' },
          summary: { 'total-successful-session-count': 95, 'total-failure-session-count': 5 },
          'failure-details': [{ 'result-type': 'certificate-expired', 'sending-mta-ip': '192.0.2.1', 'receiving-mx-hostname': 'mx1.rpt.test', 'failed-session-count': 5 }],
        }],
      };
      assert.ok(monitor.receiverUrl, 'the receiver listens');
      const res = await fetch(monitor.receiverUrl!, { method: 'POST', headers: { 'content-type': 'application/tlsrpt+json' }, body: JSON.stringify(report) });
      assert.equal(res.status, 201, await res.text());
      // The service's own first round may already have seen the report; either way it opens once.
      await monitor.checkNow('rpt.test');
      const opened = await listEvents(monitor.db, { domain: 'rpt.test', code: 'tlsrpt-failures' });
      assert.equal(opened.length, 1, JSON.stringify(opened));
      const e = opened[0]!;
      assert.equal(e.state, 'open');
      assert.equal(e.severity, 'error', `enforce with certificate failures: ${JSON.stringify(await checkHistory(monitor.db, 'rpt.test'))}`);
      assert.match(e.message, /5 of 100 sessions \(5\.00%/);
      const { domains } = await monitorStatus(monitor.db, { domains: ['rpt.test'] });
      assert.deepEqual(domains[0]!.tlsrpt, { successRate: 0.95, sessions: 100, failures: 5, days: 7 });
      // The dashboard served by the monitor shows the same database.
      assert.ok(monitor.dashboardUrl, 'the dashboard listens');
      const page = await fetch(new URL('/api/domains/rpt.test', monitor.dashboardUrl!));
      assert.equal(page.status, 200);
      assert.match(await page.text(), /tlsrpt-failures/);
    } finally {
      await monitor.close();
      await world.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('stopping the monitor', () => {
  test('a round that cannot finish within the stop timeout is abandoned: nothing of it is stored', async () => {
    const world = await createWorld({ domains: [spec('slow.test', { http: { kind: 'hang' } }), spec('quick.test')] });
    const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-monitor-stop-'));
    const config = parseMonitorConfig([
      `db: ${path.join(dir, 'm.db')}`, 'domains: [slow.test, quick.test]',
      `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 5, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort} }`, '',
    ].join('\n'), { baseDir: dir });
    try {
      const monitor = new Monitor(config, { logger: (await import('pino')).default(quiet), stopTimeoutMs: 300 });
      await monitor.open();
      const round = monitor.runOnce();
      const outcome = round.then(() => 'stored', (err: Error) => err.message);
      await new Promise((r) => setTimeout(r, 200));
      const t = Date.now();
      await monitor.close();
      assert.ok(Date.now() - t < 2000, 'close() does not wait for the hanging check');
      assert.match(await outcome, /abandoned/);
      const db = await openMonitorDb(path.join(dir, 'm.db'));
      try {
        assert.deepEqual(await checkHistory(db, 'quick.test'), [], 'the abandoned round stored nothing');
      } finally {
        await db.close();
      }
      // The next start checks both domains (they are due: never stored).
      const again = new Monitor(config, { logger: (await import('pino')).default(quiet) });
      await again.open();
      try {
        const r = await again.runOnce();
        assert.equal(r.stored, 2);
      } finally {
        await again.close();
      }
    } finally {
      await world.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('monitor configuration', () => {
  test('errors name the file, line and column; defaults are sensible', () => {
    assert.throws(() => parseMonitorConfig('domains: [example.com]\ninterval: soon\ncheck: { timeout: 5, smtpp: true }\n', { file: 'm.yaml' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.message;
      assert.match(text, /^m\.yaml:2:\d+: interval: expected seconds or a duration/m);
      assert.match(text, /^m\.yaml:3:\d+: check\.smtpp: unknown key/m);
      return true;
    });
    const c = parseMonitorConfig('domains: [Example.COM, bücher.example]\n', { env: {} });
    assert.deepEqual(c.domains, ['example.com', 'xn--bcher-kva.example']);
    assert.equal(c.db, 'mtasts.db');
    assert.equal(c.intervalMs, 3_600_000);
    assert.equal(c.confirm, 2);
    assert.equal(c.expiryDays, 14);
    assert.equal(c.tlsrptFailureRate, 0.01);
    assert.equal(c.check.concurrency, 50);
    assert.deepEqual(c.alerts, { webhooks: [] });
    assert.equal(c.advisor.report_days, 14);
  });
});

describe('mtasts monitor as a service', () => {
  test('--once exits 0; a bad configuration exits 2; SIGHUP reloads (bad config rejected); SIGTERM stops', async () => {
    const world = await createWorld({ domains: [spec('svc-a.test'), spec('svc-b.test')] });
    const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-monitor-svc-'));
    const db = path.join(dir, 'm.db');
    const write = (domains: string[], extra = ''): Promise<void> => writeFile(path.join(dir, 'm.yaml'), [
      `db: ${db}`, `domains: [${domains.join(', ')}]`, 'interval: 1h', 'metrics: { listen: "127.0.0.1:0" }', 'log_level: info',
      `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 5, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort} }`, extra, '',
    ].join('\n'));
    try {
      await writeFile(path.join(dir, 'bad.yaml'), 'domains: [a.test]\nconfirm: -1\n');
      const bad = await runCli(['monitor', '--config', path.join(dir, 'bad.yaml'), '--once']);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /bad\.yaml:2:\d+: confirm: expected a whole number/);

      await write(['svc-a.test']);
      const once = await runCli(['monitor', '--config', path.join(dir, 'm.yaml'), '--once', '--json']);
      assert.equal(once.code, 0, once.err);

      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'serve-cli-entry.ts'), 'monitor', '--config', path.join(dir, 'm.yaml')], {
        cwd: path.resolve(here, '..'), stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => {
        const end = Date.now() + ms;
        while (!(await ok())) {
          if (Date.now() > end) assert.fail(`timed out waiting for ${what}; log:\n${log}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      try {
        await waitFor('the service to start', () => /mtasts monitor started/.test(log));
        const metricsAt = /"metrics":"([\d.:]+)"/.exec(log)?.[1];
        assert.ok(metricsAt, log);
        // A bad configuration is rejected and the old one kept.
        await writeFile(path.join(dir, 'm.yaml'), 'domains: [svc-a.test\n');
        child.kill('SIGHUP');
        await waitFor('the reload to be rejected', () => /configuration reload rejected/.test(log));
        // A good one adds a domain, which is checked at once (never checked before).
        await write(['svc-a.test', 'svc-b.test']);
        child.kill('SIGHUP');
        const store = await openDatabase(db);
        try {
          await waitFor('svc-b.test to be checked', async () => (await store.query('SELECT 1 FROM monitor_checks WHERE domain = ?', ['svc-b.test'])).length > 0);
        } finally {
          await store.close();
        }
        const metrics = await (await fetch(`http://${metricsAt}/metrics`)).text();
        assert.match(metrics, /mtasts_monitor_checks_total\{verdict="(pass|warn|fail)"\} [1-9]/);
        assert.match(metrics, /mtasts_monitor_reloads_total\{result="error"\} 1/);
        child.kill('SIGTERM');
        assert.equal(await exited, 0, log);
        assert.match(log, /mtasts monitor stopped/);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      const h = await openMonitorDb(db);
      try {
        // svc-a.test: checked by --once, then by the service only if its phase point came in between.
        assert.ok((await checkHistory(h, 'svc-a.test')).length >= 1);
        assert.equal((await checkHistory(h, 'svc-b.test')).length, 1, 'svc-b.test checked once, at once');
      } finally {
        await h.close();
      }
    } finally {
      await world.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
