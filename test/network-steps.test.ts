/**
 * The network steps on their own, against the test world: the policy fetch (every address tried,
 * hostile servers bounded in time and size, redirects never followed), discovery, the STARTTLS probe,
 * non-public address refusal, and the consistency check across two runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkDomain } from '../src/check/check.js';
import { DnsClient } from '../src/dns/resolver.js';
import { discoverPolicy } from '../src/mtasts/discover.js';
import { fetchPolicy } from '../src/mtasts/fetch.js';
import { probeMx } from '../src/smtp/probe.js';
import { createWorld, policyText, WORLD_ADDRESSES, type World } from '../src/testworld/index.js';

const TIMEOUT = 1500;

describe('network steps', () => {
  let world: World;
  let dns: DnsClient;
  const opts = () => ({ dns, ca: [world.caPem], port: world.httpsPort, timeoutMs: TIMEOUT });

  before(async () => {
    world = await createWorld({
      domains: [
        { domain: 'ok.test' },
        { domain: 'multi-addr.test' },
        { domain: 'slow.test', http: { kind: 'slow' } },
        { domain: 'huge.test', http: { kind: 'huge', bytes: 10 * 1024 * 1024 } },
        { domain: 'loop.test', http: { kind: 'redirect-loop' } },
        { domain: 'changing.test' },
        { domain: 'dead.test', dns: 'silent' },
      ],
    });
    dns = new DnsClient({ servers: [world.dnsServer], timeoutMs: TIMEOUT });
    // mta-sts.multi-addr.test: first an address where nothing listens, then the real server.
    world.dns.zone.set('mta-sts.multi-addr.test', [
      { type: 'A', address: WORLD_ADDRESSES.unreachable },
      { type: 'A', address: WORLD_ADDRESSES.ok },
    ]);
  });
  after(async () => {
    await world?.close();
  });

  test('fetches a policy with a valid certificate', async () => {
    const r = await fetchPolicy('ok.test', opts());
    assert.equal(r.ok, true, JSON.stringify(r.findings));
    assert.equal(r.status, 200);
    assert.match(r.contentType ?? '', /^text\/plain/);
    assert.equal(r.certificate?.matchedName, 'mta-sts.ok.test');
    assert.match(r.body?.toString('utf8') ?? '', /^version: STSv1\r\n/);
  });

  test('tries every address before giving up', async () => {
    const r = await fetchPolicy('multi-addr.test', opts());
    assert.equal(r.addresses.length, 2);
    assert.equal(r.ok, true, JSON.stringify(r.findings));
    assert.equal(r.address, WORLD_ADDRESSES.ok);
  });

  test('a server sending one byte a second ends within the timeout with policy-fetch-timeout', async () => {
    const started = Date.now();
    const r = await fetchPolicy('slow.test', opts());
    const took = Date.now() - started;
    assert.deepEqual(r.findings.map((f) => f.code), ['policy-fetch-timeout']);
    assert.ok(took >= TIMEOUT - 100 && took < TIMEOUT + 1000, `took ${took} ms`);
    assert.equal(r.ok, false);
  });

  test('a 10 MB body stops at the 64 KiB cap', async () => {
    const r = await fetchPolicy('huge.test', opts());
    assert.deepEqual(r.findings.map((f) => f.code), ['policy-too-large']);
    assert.equal(r.body, undefined);
  });

  test('a redirect loop is reported as a redirect to itself, never followed', async () => {
    const r = await fetchPolicy('loop.test', opts());
    assert.deepEqual(r.findings.map((f) => f.code), ['policy-redirect']);
    assert.match(r.findings[0]!.message, /loop/);
    assert.ok(r.location);
  });

  test('a DNS server that never answers ends in dns-timeout, within the timeout', async () => {
    const started = Date.now();
    const d = await discoverPolicy('dead.test', opts());
    assert.equal(d.status, 'dns-failed');
    assert.deepEqual(d.findings.map((f) => f.code), ['dns-timeout']);
    assert.ok(Date.now() - started < TIMEOUT + 500);
  });

  test('discovery finds a valid policy and its record', async () => {
    const d = await discoverPolicy('ok.test', opts());
    assert.equal(d.status, 'found');
    if (d.status === 'found') {
      assert.equal(d.policy.mode, 'enforce');
      assert.match(d.record.id, /^[A-Za-z0-9]{1,32}$/);
      assert.equal(d.text, policyText({ mx: ['mx1.ok.test'] }));
    }
  });

  test('the STARTTLS probe reports protocol, cipher and a valid certificate', async () => {
    const r = await probeMx('mx1.ok.test', { dns, ca: [world.caPem], port: world.smtpPort, timeoutMs: TIMEOUT });
    assert.equal(r.ok, true, JSON.stringify(r.findings));
    assert.equal(r.starttls, true);
    assert.match(r.banner ?? '', /^220 /);
    assert.ok(r.cipher);
    assert.ok((r.certificate?.daysLeft ?? 0) > 30);
  });

  test('non-public targets are refused when blockPrivate is on, and only then', async () => {
    const blocked = await fetchPolicy('ok.test', { ...opts(), blockPrivate: true });
    assert.deepEqual(blocked.findings.map((f) => f.code), ['address-not-public']);
    const probe = await probeMx('mx1.ok.test', { dns, port: world.smtpPort, timeoutMs: TIMEOUT, blockPrivate: true });
    assert.deepEqual(probe.findings.map((f) => f.code), ['address-not-public']);
    assert.equal((await fetchPolicy('ok.test', opts())).ok, true);
  });

  test('a policy changed under the same id is caught on the second check', async () => {
    const common = { dns, ca: [world.caPem], httpsPort: world.httpsPort, smtpPort: world.smtpPort, timeoutMs: TIMEOUT, smtp: false };
    const first = await checkDomain('changing.test', common);
    assert.equal(first.verdict, 'pass', JSON.stringify(first.findings));
    const id = first.observation.id!;
    // The operator edits the policy but forgets the id.
    await world.addDomain({ domain: 'changing.test', stsTxt: [[`v=STSv1; id=${id}`]], policy: policyText({ mx: ['mx1.changing.test'], maxAge: 1209600 }) });
    const second = await checkDomain('changing.test', { ...common, previous: first.observation });
    assert.ok(second.findings.some((f) => f.code === 'policy-changed-same-id'), JSON.stringify(second.findings));
    assert.equal(second.verdict, 'fail');
    // With a new id the change is fine.
    await world.addDomain({ domain: 'changing.test', policy: policyText({ mx: ['mx1.changing.test'], maxAge: 1209600 }) });
    const third = await checkDomain('changing.test', { ...common, previous: first.observation });
    assert.equal(third.verdict, 'pass', JSON.stringify(third.findings));
  });
});
