/**
 * The rollout advisor: its pure rules (src/monitor/advisor.ts), one recommendation and threshold
 * edge at a time; then end to end over the test world (real DNS, HTTPS and SMTP on loopback), with
 * check history stored by a monitor round and through the history functions, and synthetic RFC 8460
 * reports over 15 days stored through the reports intake, for every recommendation; the CLI; and
 * the same data path on PostgreSQL (skipped when absent, failing under CI=true).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { checkDomains } from '../src/check/check.js';
import { DnsClient } from '../src/dns/resolver.js';
import { advise, DEFAULT_ADVISOR_CONFIG, nextMaxAge, type Advice, type AdvisorCheck, type AdvisorInput, type AdvisorReports } from '../src/monitor/advisor.js';
import { adviseDomain, adviseDomains, NoCheckError } from '../src/monitor/advise-data.js';
import { loadMonitorConfig } from '../src/monitor/config.js';
import { observe } from '../src/monitor/events.js';
import { openMonitorDb, saveCheck } from '../src/monitor/history.js';
import { Monitor } from '../src/monitor/monitor.js';
import { reportStoreOn } from '../src/monitor/status.js';
import { parsePolicy, serializePolicy } from '../src/mtasts/policy.js';
import { policyId } from '../src/publish/records.js';
import { ingestPayload } from '../src/reports/ingest.js';
import type { SqlDatabase } from '../src/store/sql.js';
import { createWorld, policyText, type DomainSpec, type World } from '../src/testworld/index.js';
import { runCli } from './cli-harness.js';
import { PG_URL, requireService } from './prereq.js';

const DAY = 86_400_000;
const NOW = new Date('2026-06-15T12:00:00.000Z');
const D = 'example.com';

function certs(daysLeft: number, valid = true): AdvisorCheck['certs'] {
  const validTo = new Date(NOW.getTime() + daysLeft * DAY + 3600_000).toISOString();
  return [
    { host: `mta-sts.${D}`, role: 'policy', validTo, daysLeft, valid },
    { host: `mx1.${D}`, role: 'mx', validTo: new Date(NOW.getTime() + 80 * DAY).toISOString(), daysLeft: 80, valid: true },
  ];
}

function check(over: Partial<AdvisorCheck> = {}): AdvisorCheck {
  return {
    at: new Date(NOW.getTime() - 3600_000).toISOString(), verdict: 'pass', mode: 'testing', maxAge: 86400, recordId: 'old1',
    findings: [], mx: [`mx1.${D}`], certs: certs(60), ...over,
  };
}

/** `days` days of reports, `perDay` sessions a day spread over `senders` organizations, `failures` failed in all. */
function reports(o: { days?: number; perDay?: number; senders?: number; failures?: number } = {}): AdvisorReports {
  const days = o.days ?? 15;
  const perDay = o.perDay ?? 20;
  const senders = o.senders ?? 2;
  const failures = o.failures ?? 0;
  const list = Array.from({ length: days }, (_, i) => ({
    date: new Date(NOW.getTime() - (i + 1) * DAY).toISOString().slice(0, 10), success: perDay - (i === 0 ? failures : 0), failure: i === 0 ? failures : 0,
  }));
  const total = days * perDay;
  const organizations: AdvisorReports['organizations'] = {};
  for (let s = 0; s < senders; s++) organizations[`Sender ${s}`] = { success: Math.floor(total / senders), failure: 0 };
  if (failures > 0) organizations['Sender 0']!.failure = failures;
  return {
    days: list, organizations,
    resultTypes: failures > 0 ? { 'certificate-host-mismatch': failures } : {},
    mxHosts: failures > 0 ? { [`mx1.${D}`]: failures } : {},
  };
}

const testingText = policyText({ mode: 'testing', mx: [`mx1.${D}`], maxAge: 86400 });

function input(over: Partial<AdvisorInput> = {}): AdvisorInput {
  return {
    domain: D, now: NOW, check: check(), passingSince: new Date(NOW.getTime() - 8 * DAY), reports: reports(),
    policyText: testingText, policyLastSeen: new Date(NOW.getTime() - 3600_000).toISOString(), expiryDays: 14, ...over,
  };
}

/** The TXT line of a proposal matches the policy text's content-hash id. */
function assertProposalConsistent(a: Advice): void {
  assert.ok(a.proposal, 'a proposal');
  assert.equal(a.proposal!.id, policyId(a.proposal!.policyText));
  assert.equal(a.proposal!.records[0], `_mta-sts.${D}. 3600 IN TXT "v=STSv1; id=${a.proposal!.id}"`);
  assert.notEqual(parsePolicy(a.proposal!.policyText).policy, null, 'the proposed policy parses');
  const steps = a.nextSteps.join('\n');
  assert.ok(steps.includes(a.proposal!.records[0]!), 'the TXT record is in the next steps');
  for (const line of a.proposal!.policyText.trim().split(/\r?\n/)) assert.ok(steps.includes(line), `policy line "${line}" in the next steps`);
}

describe('advisor rules (pure)', () => {
  test('publish-testing: no record; the proposal is a testing policy from the MX hosts and a TLS-RPT record', () => {
    const a = advise(input({ check: check({ mode: null, maxAge: null, recordId: null, verdict: 'fail', findings: [{ code: 'record-missing', severity: 'error', message: 'no record' }, { code: 'tlsrpt-missing', severity: 'warning', message: 'x' }], certs: [] }), policyText: null }));
    assert.equal(a.recommendation, 'publish-testing');
    assertProposalConsistent(a);
    assert.match(a.proposal!.policyText, /mode: testing/);
    assert.match(a.proposal!.policyText, /mx: mx1\.example\.com/);
    assert.equal(a.proposal!.records[1], `_smtp._tls.${D}. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@${D}"`);
    assert.match(a.nextSteps.at(-1)!, /Safe now/);
  });

  test('publish-testing: mode none; keep for a null MX', () => {
    assert.equal(advise(input({ check: check({ mode: 'none' }) })).recommendation, 'publish-testing');
    const nullMx = advise(input({ check: check({ mode: null, mx: [], findings: [{ code: 'record-missing', severity: 'error', message: '' }, { code: 'mx-null', severity: 'info', message: '' }] }) }));
    assert.equal(nullMx.recommendation, 'keep');
  });

  test('fix-first: an MX not covered, with a widened policy to publish', () => {
    const a = advise(input({ check: check({ verdict: 'fail', mx: [`mx1.${D}`, 'mx2.other.net'], findings: [{ code: 'mx-not-covered', severity: 'error', message: 'MX mx2.other.net matches none', host: 'mx2.other.net' }] }) }));
    assert.equal(a.recommendation, 'fix-first');
    assert.deepEqual(a.evidence.mxNotCovered, ['mx2.other.net']);
    assert.match(a.reasons[0]!, /^mx-not-covered: /);
    assertProposalConsistent(a);
    assert.deepEqual(parsePolicy(a.proposal!.policyText).policy!.mx, [`mx1.${D}`, 'mx2.other.net']);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.mode, 'testing', 'only the mx list changes');
  });

  test('fix-first: a problem only history shows (policy-changed-same-id, open in the monitor)', () => {
    const a = advise(input({ openProblems: [{ code: 'policy-changed-same-id', severity: 'error', message: 'the policy changed but the id did not; change the id' }] }));
    assert.equal(a.recommendation, 'fix-first');
    assert.match(a.reasons[0]!, /^policy-changed-same-id: /);
    assert.equal(advise(input({ openProblems: [{ code: 'tlsrpt-failures', severity: 'warning', message: 'x' }] })).recommendation, 'move-to-enforce', 'warnings do not block');
  });

  test('fix-first: a certificate inside the horizon (edge: 14 days is inside, 15 is not); an invalid one', () => {
    assert.equal(advise(input({ check: check({ certs: certs(14) }) })).recommendation, 'fix-first');
    const a = advise(input({ check: check({ certs: certs(14) }) }));
    assert.ok(a.reasons.some((r) => /mta-sts\.example\.com expires in 14 days/.test(r)), a.reasons.join('\n'));
    assert.ok(a.nextSteps.some((s) => /Renew the certificate of mta-sts\.example\.com/.test(s)));
    assert.equal(advise(input({ check: check({ certs: certs(15) }) })).recommendation, 'move-to-enforce');
    assert.equal(advise(input({ check: check({ certs: certs(60, false) }) })).recommendation, 'fix-first');
    assert.equal(advise(input({ check: check({ certs: certs(20) }), expiryDays: 30 })).recommendation, 'fix-first', 'the horizon is the configured one');
  });

  test('move-to-enforce: every condition met; the proposal is the same policy in enforce with a new id', () => {
    const a = advise(input());
    assert.equal(a.recommendation, 'move-to-enforce', a.reasons.join('\n'));
    assertProposalConsistent(a);
    const p = parsePolicy(a.proposal!.policyText).policy!;
    assert.equal(p.mode, 'enforce');
    assert.deepEqual(p.mx, [`mx1.${D}`]);
    assert.equal(p.maxAge, 86400);
    assert.notEqual(a.proposal!.id, policyId(testingText));
    assert.equal(a.evidence.reportDays, 15);
    assert.equal(a.evidence.sessions, 300);
    assert.equal(a.evidence.senders, 2);
    assert.equal(a.evidence.passingDays, 8);
    assert.equal(a.mode, 'testing');
  });

  test('stay-testing at each threshold edge (report_days, min_sessions, min_senders, max_failure_rate, passing_days)', () => {
    const cfg = DEFAULT_ADVISOR_CONFIG;
    assert.equal(cfg.report_days, 14);
    const rec = (over: Partial<AdvisorInput>) => advise(input(over)).recommendation;
    assert.equal(rec({ reports: reports({ days: 14, perDay: 20 }) }), 'move-to-enforce');
    assert.equal(rec({ reports: reports({ days: 13, perDay: 20 }) }), 'stay-testing');
    assert.equal(rec({ reports: reports({ days: 15, perDay: 100 / 15 }) }), 'move-to-enforce', '100 sessions');
    assert.equal(rec({ reports: reports({ days: 15, perDay: 99 / 15 }) }), 'stay-testing', '99 sessions');
    assert.equal(rec({ reports: reports({ senders: 1 }) }), 'stay-testing', 'one sender is not enough');
    assert.equal(advise(input({ reports: reports({ senders: 1 }) }), { ...cfg, min_senders: 1 }).recommendation, 'move-to-enforce');
    // 300 sessions: 3 failed is exactly 1% (not below), 2 is below.
    assert.equal(rec({ reports: reports({ failures: 3 }) }), 'stay-testing');
    assert.equal(rec({ reports: reports({ failures: 2 }) }), 'move-to-enforce');
    assert.equal(rec({ passingSince: new Date(NOW.getTime() - 7 * DAY) }), 'move-to-enforce');
    assert.equal(rec({ passingSince: new Date(NOW.getTime() - 7 * DAY + 3600_000) }), 'stay-testing');
    assert.equal(rec({ passingSince: null }), 'stay-testing');
    assert.equal(rec({ reports: null }), 'stay-testing');
    const none = advise(input({ reports: null }));
    assert.ok(none.reasons.some((r) => /0 days of TLS-RPT reports; 14 needed/.test(r)));
  });

  test('stay-testing with failures: the reasons name the failing MX hosts, senders and result types', () => {
    const a = advise(input({ reports: reports({ failures: 30 }) }));
    assert.equal(a.recommendation, 'stay-testing');
    const why = a.reasons.join('\n');
    assert.match(why, /30 failed of 300 sessions \(10\.00%\)/);
    assert.match(why, /failing MX hosts: mx1\.example\.com \(30 failed\)/);
    assert.match(why, /failing senders: Sender 0 \(30 of \d+ failed\)/);
    assert.match(why, /certificate-host-mismatch 30/);
    assert.deepEqual(a.evidence.failuresByResultType, { 'certificate-host-mismatch': { sessions: 30, rate: 0.1 } });
  });

  test('raise-max-age walks a stable enforce domain up: 1 hour → 1 day → 1 week, then keep', () => {
    const enforce = (maxAge: number, over: Partial<AdvisorInput> = {}) => {
      const text = policyText({ mode: 'enforce', mx: [`mx1.${D}`], maxAge });
      return advise(input({ check: check({ mode: 'enforce', maxAge }), policyText: text, ...over }));
    };
    const a = enforce(3600);
    assert.equal(a.recommendation, 'raise-max-age');
    assertProposalConsistent(a);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.maxAge, 86400);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.mode, 'enforce');
    const b = enforce(86400);
    assert.equal(b.recommendation, 'raise-max-age');
    assert.equal(parsePolicy(b.proposal!.policyText).policy!.maxAge, 604800);
    assert.equal(enforce(604800).recommendation, 'keep');
    assert.equal(enforce(31557600).recommendation, 'keep');
    // Not stable yet: keep, and say when to raise.
    const young = enforce(86400, { passingSince: new Date(NOW.getTime() - 2 * DAY) });
    assert.equal(young.recommendation, 'keep');
    assert.match(young.reasons[0]!, /not yet stable/);
    assert.equal(nextMaxAge(1), 86400);
    assert.equal(nextMaxAge(604800), null);
  });

  test('fix-first in enforce when reports fail above the threshold, with a fallback to testing and when it takes effect', () => {
    const text = policyText({ mode: 'enforce', mx: [`mx1.${D}`], maxAge: 604800 });
    const lastSeen = '2026-06-15T11:00:00.000Z';
    const a = advise(input({ check: check({ mode: 'enforce', maxAge: 604800 }), policyText: text, policyLastSeen: lastSeen, reports: reports({ failures: 30 }) }));
    assert.equal(a.recommendation, 'fix-first');
    assert.match(a.reasons.join('\n'), /in enforce mode, TLS-RPT reports show 30 failed/);
    assertProposalConsistent(a);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.mode, 'testing');
    assert.ok(a.nextSteps.some((s) => s.includes('2026-06-22T11:00:00.000Z')), 'old policy expires max_age after it was last served');
  });
});

// --- end to end over the test world ----------------------------------------------------------------

const E2E = {
  none: 'none.adv.test',
  broken: 'broken.adv.test',
  young: 'young.adv.test',
  failing: 'failing.adv.test',
  ready: 'ready.adv.test',
  short: 'short.adv.test',
  week: 'week.adv.test',
};

/** An RFC 8460 report for one domain and day. */
function rfc8460(o: { org: string; domain: string; day: string; mode: string; success: number; failures?: { mx: string; n: number; type: string }[] }): Buffer {
  const failed = (o.failures ?? []).reduce((n, f) => n + f.n, 0);
  return Buffer.from(JSON.stringify({
    'organization-name': o.org,
    'date-range': { 'start-datetime': `${o.day}T00:00:00Z`, 'end-datetime': `${o.day}T23:59:59Z` },
    'contact-info': `tlsrpt@${o.org.toLowerCase().replace(/\W+/g, '')}.example`,
    'report-id': `${o.org}-${o.domain}-${o.day}`,
    policies: [{
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', `mode: ${o.mode}`, `mx: mx1.${o.domain}`, 'max_age: 86400'], 'policy-domain': o.domain, 'mx-host': [`mx1.${o.domain}`] },
      summary: { 'total-successful-session-count': o.success, 'total-failure-session-count': failed },
      'failure-details': (o.failures ?? []).map((f) => ({ 'result-type': f.type, 'sending-mta-ip': '192.0.2.7', 'receiving-mx-hostname': f.mx, 'failed-session-count': f.n })),
    }],
  }));
}

describe('advisor end to end: test world, stored checks and reports', () => {
  let world: World;
  let dir: string;
  let db: SqlDatabase;
  let configFile: string;
  const now = new Date();

  before(async () => {
    const testing = (d: string, over: Omit<DomainSpec, 'domain'> = {}): DomainSpec => ({ domain: d, policy: policyText({ mode: 'testing', mx: [`mx1.${d}`], maxAge: 86400 }), ...over });
    world = await createWorld({
      domains: [
        { domain: E2E.none, stsTxt: null },
        testing(E2E.broken, { mx: [{ host: `mx1.${E2E.broken}` }, { host: `mx2.${E2E.broken}` }] }),
        testing(E2E.young),
        testing(E2E.failing),
        testing(E2E.ready),
        { domain: E2E.short, policy: policyText({ mode: 'enforce', mx: [`mx1.${E2E.short}`], maxAge: 86400 }) },
        { domain: E2E.week, policy: policyText({ mode: 'enforce', mx: [`mx1.${E2E.week}`], maxAge: 604800 }) },
      ],
    });
    dir = await mkdtemp(path.join(tmpdir(), 'mtasts-advisor-'));
    configFile = path.join(dir, 'monitor.yaml');
    const domains = Object.values(E2E);
    await writeFile(configFile, [
      `db: ${path.join(dir, 'mtasts.db')}`,
      `domains: [${domains.join(', ')}]`,
      `check: { dns: "${world.dnsServer}", ca_file: ${world.caFile}, timeout: 3, https_port: ${world.httpsPort}, smtp_port: ${world.smtpPort}, concurrency: 10 }`,
      'expiry_days: 14',
      'advisor: { report_days: 14, passing_days: 7, max_failure_rate: 0.01, min_sessions: 100, min_senders: 2 }',
      '',
    ].join('\n'));
    const config = loadMonitorConfig(configFile);

    // History: every domain checked 8 days ago (stored through the history functions), except
    // young.adv.test; then one monitor round now.
    db = await openMonitorDb(config.db);
    const reportsOld = await checkDomains(domains.filter((d) => d !== E2E.young), {
      dns: new DnsClient({ servers: [world.dnsServer], timeoutMs: 3000 }), ca: [world.caPem], timeoutMs: 3000,
      httpsPort: world.httpsPort, smtpPort: world.smtpPort, concurrency: 10,
    });
    const old = new Date(now.getTime() - 8 * DAY).toISOString();
    await db.transaction(async (tx) => {
      for (const r of reportsOld) assert.ok(await saveCheck(tx, r.domain, 'r-old', { ...observe(r), at: old }));
    });
    const monitor = new Monitor(config, { logger: pino({ level: 'silent' }) });
    await monitor.open();
    try {
      const round = await monitor.runOnce();
      assert.equal(round.stored, domains.length);
    } finally {
      await monitor.close();
    }

    // Reports: 15 days before today, two senders, through the intake.
    const store = await reportStoreOn(db);
    const today = Math.floor(now.getTime() / DAY) * DAY;
    for (let i = 1; i <= 15; i++) {
      const day = new Date(today - i * DAY).toISOString().slice(0, 10);
      for (const domain of [E2E.failing, E2E.ready, E2E.short, E2E.week]) {
        const mode = domain === E2E.short || domain === E2E.week ? 'enforce' : 'testing';
        for (const org of ['Big Mail Inc', 'Small Relay']) {
          const failures = domain === E2E.failing && org === 'Small Relay' ? [{ mx: `mx1.${domain}`, n: 4, type: 'certificate-expired' }] : [];
          const [item] = await ingestPayload(store, { bytes: rfc8460({ org, domain, day, mode, success: 10, failures }), source: `${org}-${day}.json`, transport: 'file' });
          assert.equal(item!.status, 'imported', item!.message);
        }
      }
      // young.adv.test: only 3 days of reports.
      if (i <= 3) await ingestPayload(store, { bytes: rfc8460({ org: 'Big Mail Inc', domain: E2E.young, day, mode: 'testing', success: 50 }), source: `young-${day}.json`, transport: 'file' });
    }
  });

  after(async () => {
    await db?.close();
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const adviseNow = (d: string) => adviseDomain(db, d, DEFAULT_ADVISOR_CONFIG, { expiryDays: 14 });

  test('publish-testing for a domain without a record', async () => {
    const a = await adviseNow(E2E.none);
    assert.equal(a.recommendation, 'publish-testing', a.reasons.join('\n'));
    assert.match(a.proposal!.policyText, /mx: mx1\.none\.adv\.test/);
    assert.equal(a.proposal!.records.length, 1, 'the domain has a TLS-RPT record: no second one proposed');
  });

  test('fix-first for a testing domain with an MX not covered', async () => {
    const a = await adviseNow(E2E.broken);
    assert.equal(a.recommendation, 'fix-first', a.reasons.join('\n'));
    assert.deepEqual(a.evidence.mxNotCovered, [`mx2.${E2E.broken}`]);
    assert.deepEqual(parsePolicy(a.proposal!.policyText).policy!.mx, [`mx1.${E2E.broken}`, `mx2.${E2E.broken}`]);
  });

  test('stay-testing: too few days of reports and checks', async () => {
    const a = await adviseNow(E2E.young);
    assert.equal(a.recommendation, 'stay-testing');
    assert.equal(a.evidence.reportDays, 3);
    assert.ok(a.reasons.some((r) => /3 days of TLS-RPT reports/.test(r)));
    assert.ok(a.reasons.some((r) => /checks have passed for 0 days/.test(r)));
  });

  test('stay-testing: failures above the threshold, naming the MX host and the sender', async () => {
    const a = await adviseNow(E2E.failing);
    assert.equal(a.recommendation, 'stay-testing');
    assert.equal(a.evidence.failures, 60);
    assert.equal(a.evidence.sessions, 360);
    const why = a.reasons.join('\n');
    assert.match(why, /failing MX hosts: mx1\.failing\.adv\.test \(60 failed\)/);
    assert.match(why, /failing senders: Small Relay \(60 of 210 failed\)/);
    assert.match(why, /certificate-expired 60/);
  });

  test('move-to-enforce: 15 days of clean reports from two senders, 8 days of passing checks', async () => {
    const a = await adviseNow(E2E.ready);
    assert.equal(a.recommendation, 'move-to-enforce', a.reasons.join('\n'));
    assert.equal(a.evidence.reportDays, 15);
    assert.equal(a.evidence.senders, 2);
    assert.ok(a.evidence.passingDays >= 7.9);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.mode, 'enforce');
    assert.equal(a.proposal!.id, policyId(a.proposal!.policyText));
    // The proposal keeps what the domain serves, except the mode.
    const served = parsePolicy(policyText({ mode: 'testing', mx: [`mx1.${E2E.ready}`], maxAge: 86400 })).policy!;
    assert.equal(a.proposal!.policyText, serializePolicy({ ...served, mode: 'enforce' }));
  });

  test('raise-max-age for a stable enforce domain with max_age one day; keep at one week', async () => {
    const a = await adviseNow(E2E.short);
    assert.equal(a.recommendation, 'raise-max-age', a.reasons.join('\n'));
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.maxAge, 604800);
    const b = await adviseNow(E2E.week);
    assert.equal(b.recommendation, 'keep', b.reasons.join('\n'));
  });

  test('an unknown domain: NoCheckError', async () => {
    await assert.rejects(adviseNow('unknown.adv.test'), NoCheckError);
  });

  test('adviseDomains: the portfolio at once agrees with one domain at a time', async () => {
    const at = new Date();
    const all = await adviseDomains(db, [...Object.values(E2E), 'unknown.adv.test'], DEFAULT_ADVISOR_CONFIG, { expiryDays: 14, now: at });
    assert.equal(all.get('unknown.adv.test'), null);
    const got = Object.fromEntries(Object.entries(E2E).map(([k, d]) => [k, all.get(d)?.recommendation]));
    assert.deepEqual(got, {
      none: 'publish-testing', broken: 'fix-first', young: 'stay-testing', failing: 'stay-testing', ready: 'move-to-enforce', short: 'raise-max-age', week: 'keep',
    });
    assert.deepEqual(all.get(E2E.failing), await adviseDomain(db, E2E.failing, DEFAULT_ADVISOR_CONFIG, { expiryDays: 14, now: at }));
  });

  test('CLI: mtasts advise DOMAIN --config FILE [--json]; exit 1 for an unchecked domain, 2 for usage', async () => {
    const json = await runCli(['advise', E2E.ready, '--config', configFile, '--json']);
    assert.equal(json.code, 0, json.err);
    const a = JSON.parse(json.out) as Advice;
    assert.deepEqual(Object.keys(a).slice(0, 6), ['domain', 'mode', 'recommendation', 'reasons', 'evidence', 'nextSteps']);
    assert.equal(a.recommendation, 'move-to-enforce');
    const text = await runCli(['advise', E2E.failing, '--config', configFile]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /failing\.adv\.test: stay-testing \(mode testing, max_age 86400\)/);
    assert.match(text.out, /Next steps:/);
    const viaDb = await runCli(['advise', E2E.week, '--db', path.join(dir, 'mtasts.db'), '--json']);
    assert.equal(JSON.parse(viaDb.out).recommendation, 'keep');
    const unknown = await runCli(['advise', 'unknown.adv.test', '--config', configFile]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no check of unknown\.adv\.test is stored/);
    assert.equal((await runCli(['advise', '--config', configFile])).code, 2);
    assert.equal((await runCli(['advise', 'a.test', '--config', configFile, '--db', 'x.db'])).code, 2);
  });
});

test('PostgreSQL: adviseDomain over checks and reports stored in PostgreSQL', async (t) => {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  if (!(await requireService(t, `PostgreSQL at ${PG_URL}`, async () => { await admin.connect(); return true; }))) return;
  const schema = `mtasts_advisor_${process.pid}_${Date.now().toString(36)}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  let db: SqlDatabase | undefined;
  try {
    db = await openMonitorDb(`${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
    const domain = 'pg.adv.test';
    const text = policyText({ mode: 'testing', mx: [`mx1.${domain}`], maxAge: 86400 });
    const now = new Date();
    const obs = (at: Date) => ({
      at: at.toISOString(), verdict: 'pass' as const, findings: [], recordId: 'pg1', recordMissing: false, policySha256: 'a'.repeat(64), policyText: text,
      mode: 'testing' as const, maxAge: 86400, mxPatterns: [`mx1.${domain}`], mxHosts: [`mx1.${domain}`],
      certs: [{ host: `mta-sts.${domain}`, role: 'policy' as const, validTo: new Date(now.getTime() + 80 * DAY).toISOString(), daysLeft: 80, valid: true }], elapsedMs: 5,
    });
    await db.transaction(async (tx) => {
      await saveCheck(tx, domain, 'r-1', obs(new Date(now.getTime() - 9 * DAY)));
      await saveCheck(tx, domain, 'r-2', obs(now));
    });
    const store = await reportStoreOn(db);
    const today = Math.floor(now.getTime() / DAY) * DAY;
    for (let i = 1; i <= 14; i++) {
      const day = new Date(today - i * DAY).toISOString().slice(0, 10);
      for (const org of ['Big Mail Inc', 'Small Relay']) {
        const [item] = await ingestPayload(store, { bytes: rfc8460({ org, domain, day, mode: 'testing', success: 5 }), source: `${org}-${day}`, transport: 'file' });
        assert.equal(item!.status, 'imported', item!.message);
      }
    }
    const a = await adviseDomain(db, domain, DEFAULT_ADVISOR_CONFIG, { now });
    assert.equal(a.recommendation, 'move-to-enforce', a.reasons.join('\n'));
    assert.equal(a.evidence.reportDays, 14);
    assert.equal(a.evidence.sessions, 140);
    assert.equal(a.evidence.senders, 2);
    assert.equal(parsePolicy(a.proposal!.policyText).policy!.mode, 'enforce');
  } finally {
    await db?.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});
