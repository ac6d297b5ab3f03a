/**
 * PolicyResolver scenarios over the test world (real DNS and HTTPS on loopback) with an injected
 * clock: RFC 8461 §3.3, §5 and §8.3 behaviours of a caching sender.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsClient } from '../src/dns/resolver.js';
import { PolicyResolver, type PolicyResolverOptions } from '../src/resolver/resolver.js';
import { evaluate, type TlsResult } from '../src/resolver/evaluate.js';
import { createWorld, policyText, type World } from '../src/testworld/index.js';
import type { CachedPolicy } from '../src/store/types.js';
import { MemoryStore } from '../src/store/memory.js';

const MIN = 60_000;
const DAY = 86_400_000;

let world: World;
let dns: DnsClient;

before(async () => {
  world = await createWorld();
  dns = new DnsClient({ servers: [world.dnsServer], timeoutMs: 1500 });
});
after(async () => {
  await world.close();
});

class Clock {
  t = Date.UTC(2030, 0, 1);
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

function makeResolver(clock: Clock, extra: Partial<PolicyResolverOptions> = {}): PolicyResolver {
  return new PolicyResolver({
    dns, now: clock.now, timeoutMs: 2000,
    fetch: { port: world.httpsPort, ca: [world.caPem] },
    ...extra,
  });
}

let counter = 0;
const uniq = (label: string): string => `${label}-${process.pid}-${++counter}.resolver.test`;

async function publish(domain: string, opts: { mode?: 'enforce' | 'testing' | 'none'; mx?: string[]; maxAge?: number; id?: string; status?: number; txt?: null } = {}): Promise<string> {
  const mx = opts.mx ?? [`mx1.${domain}`];
  const text = policyText({ mode: opts.mode ?? 'enforce', mx, maxAge: opts.maxAge ?? 604800 });
  await world.addDomain({
    domain,
    mx: mx.filter((m) => !m.startsWith('*')).map((host) => ({ host })),
    policy: text,
    ...(opts.status !== undefined ? { http: { kind: 'status' as const, status: opts.status } } : {}),
    ...(opts.txt === null ? { stsTxt: null } : opts.id !== undefined ? { stsTxt: [[`v=STSv1; id=${opts.id}`]] } : {}),
  });
  return text;
}

describe('PolicyResolver (RFC 8461 §3.3, §5)', () => {
  test('first lookup fetches; within the grace period no DNS query is made; the raw text is kept', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('first');
    const text = await publish(d, { id: 'one' });
    const a = await r.resolve(d);
    assert.equal(a.reason, 'fetched');
    assert.equal(a.policy?.id, 'one');
    assert.equal(a.policy?.policy.mode, 'enforce');
    assert.equal(a.policy?.text, text);
    assert.equal(a.policy?.expiresAt, clock.t + 604800 * 1000);
    const queries = world.dns.queries.get(`_mta-sts.${d}/TXT`) ?? 0;
    clock.advance(30_000);
    const b = await r.resolve(d);
    assert.equal(b.reason, 'cached');
    assert.equal(world.dns.queries.get(`_mta-sts.${d}/TXT`) ?? 0, queries, 'no TXT query within the grace period');
    assert.equal(r.stats.fetches, 1);
  });

  test('same id: no new fetch even though the policy text changed; new id: fetched and replaces', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('idchange');
    await publish(d, { id: 'v1', mx: [`mx1.${d}`] });
    assert.equal((await r.resolve(d)).reason, 'fetched');
    await publish(d, { id: 'v1', mx: [`mx2.${d}`] });
    clock.advance(2 * MIN);
    const same = await r.resolve(d);
    assert.equal(same.reason, 'cached');
    assert.deepEqual(same.policy?.policy.mx, [`mx1.${d}`], 'RFC 8461 §3.3: same id, no fetch');
    assert.equal(r.stats.fetches, 1);
    await publish(d, { id: 'v2', mx: [`mx2.${d}`] });
    clock.advance(2 * MIN);
    const changed = await r.resolve(d);
    assert.equal(changed.reason, 'fetched');
    assert.equal(changed.policy?.id, 'v2');
    assert.deepEqual(changed.policy?.policy.mx, [`mx2.${d}`]);
  });

  test('DNS outage with a fresh cache: the cached policy keeps applying; once expired it does not', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('outage');
    await publish(d, { id: 'a1', maxAge: 86400 });
    assert.equal((await r.resolve(d)).reason, 'fetched');
    world.dns.zone.setBehaviour(d, 'servfail', { subtree: true });
    clock.advance(2 * MIN);
    const during = await r.resolve(d);
    assert.equal(during.reason, 'cached-dns-failed');
    assert.equal(during.policy?.id, 'a1');
    clock.advance(DAY);
    const expired = await r.resolve(d);
    assert.equal(expired.reason, 'dns-failed');
    assert.equal(expired.policy, null, 'an expired policy never applies');
    world.dns.zone.setBehaviour(d, 'ok', { subtree: true });
  });

  test('TXT record removed or invalid: a fresh cached policy keeps applying', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('removed');
    await publish(d, { id: 'r1', maxAge: 86400 });
    await r.resolve(d);
    await publish(d, { txt: null });
    clock.advance(2 * MIN);
    const gone = await r.resolve(d);
    assert.equal(gone.reason, 'cached-no-record');
    assert.equal(gone.policy?.id, 'r1');
    await world.addDomain({ domain: d, stsTxt: [['v=STSv1; id=bad id!']] });
    clock.advance(2 * MIN);
    const invalid = await r.resolve(d);
    assert.equal(invalid.reason, 'cached-no-record');
    assert.equal(invalid.policy?.id, 'r1');
    clock.advance(DAY);
    const after = await r.resolve(d);
    assert.equal(after.reason, 'no-record');
    assert.equal(after.policy, null);
  });

  test('fetch failure after an id change: the fresh cached policy applies, with back-off per id', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('fetchfail');
    await publish(d, { id: 'f1' });
    await r.resolve(d);
    await publish(d, { id: 'f2', status: 500 });
    clock.advance(2 * MIN);
    const failed = await r.resolve(d);
    assert.equal(failed.reason, 'cached-fetch-failed');
    assert.equal(failed.policy?.id, 'f1');
    assert.equal(r.stats.fetches, 2);
    clock.advance(2 * MIN);
    const backoff = await r.resolve(d);
    assert.equal(backoff.reason, 'cached-fetch-backoff');
    assert.equal(backoff.policy?.id, 'f1');
    assert.equal(r.stats.fetches, 2, 'RFC 8461 §3.3: no new attempt for the same id within five minutes');
    await publish(d, { id: 'f2' });
    clock.advance(4 * MIN);
    const retried = await r.resolve(d);
    assert.equal(retried.reason, 'fetched');
    assert.equal(retried.policy?.id, 'f2');
  });

  test('back-off without a cached policy: no policy, and no new fetch for five minutes (configurable)', async () => {
    const clock = new Clock();
    const r = makeResolver(clock, { fetchBackoffMs: 10 * MIN });
    const d = uniq('backoff');
    await publish(d, { id: 'b1', status: 404 });
    const first = await r.resolve(d);
    assert.equal(first.reason, 'fetch-failed');
    assert.equal(first.policy, null);
    await publish(d, { id: 'b1' });
    clock.advance(6 * MIN);
    assert.equal((await r.resolve(d)).reason, 'fetch-backoff');
    assert.equal(r.stats.fetches, 1);
    clock.advance(5 * MIN);
    assert.equal((await r.resolve(d)).reason, 'fetched');
  });

  test('mode none replaces an enforce policy and is cached too (RFC 8461 §8.3)', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('none');
    await publish(d, { id: 'e1', mode: 'enforce' });
    await r.resolve(d);
    await publish(d, { id: 'n1', mode: 'none' });
    clock.advance(2 * MIN);
    const none = await r.resolve(d);
    assert.equal(none.reason, 'fetched');
    assert.equal(none.policy?.policy.mode, 'none');
    await publish(d, { txt: null });
    clock.advance(2 * MIN);
    const later = await r.resolve(d);
    assert.equal(later.reason, 'cached-no-record');
    assert.equal(later.policy?.policy.mode, 'none', 'the enforce policy does not come back');
  });

  test('expired policy with the same id is fetched again', async () => {
    const clock = new Clock();
    const r = makeResolver(clock, { refresh: false });
    const d = uniq('expired');
    await publish(d, { id: 'x1', maxAge: 3600 });
    await r.resolve(d);
    clock.advance(3600_000 + 1000);
    const again = await r.resolve(d);
    assert.equal(again.reason, 'fetched');
    assert.equal(r.stats.fetches, 2);
    assert.equal(again.policy?.expiresAt, clock.t + 3600_000);
  });

  test('proactive refresh: picks up a new id before expiry, renews before max_age, evicts unused entries', async () => {
    const clock = new Clock();
    const r = makeResolver(clock, { refreshIntervalMs: DAY, unusedTtlMs: 20 * DAY });
    const d = uniq('refresh');
    await publish(d, { id: 'p1', maxAge: 4 * 86400 });
    await r.resolve(d);
    await publish(d, { id: 'p2', maxAge: 4 * 86400 });
    clock.advance(12 * 3600_000);
    await r.maintain();
    assert.equal(r.memory.peek(d)?.id, 'p1', 'not due yet');
    clock.advance(DAY);
    await r.maintain();
    const refreshed = r.memory.peek(d);
    assert.equal(refreshed?.id, 'p2', 'refreshed without a lookup');
    const fetchedAt = refreshed!.fetchedAt;
    // Same id: renewed (re-fetched) between 50 % and 75 % of max_age, before it expires.
    for (let i = 0; i < 8; i++) {
      clock.advance(12 * 3600_000);
      await r.maintain();
    }
    const renewed = r.memory.peek(d)!;
    assert.ok(renewed.fetchedAt > fetchedAt, 'renewed');
    assert.ok(clock.t < renewed.expiresAt, 'never expired');
    // Unused for longer than unusedTtlMs: removed.
    clock.advance(21 * DAY);
    await r.maintain();
    assert.equal(r.memory.peek(d), null);
    assert.ok(r.stats.evictions >= 1);
  });

  test('refresh due times are spread over time', async () => {
    const clock = new Clock();
    const r = makeResolver(clock, { refreshConcurrency: 3 });
    const base = clock.t;
    const dueTimes = Array.from({ length: 50 }, (_, i) => {
      const e: CachedPolicy = {
        domain: `spread${i}.example`, id: 'x', text: '', fetchedAt: base, checkedAt: base, lastUsedAt: base, expiresAt: base + 7 * DAY,
        policy: { version: 'STSv1', mode: 'enforce', mx: ['mx.example'], maxAge: 7 * 86400, extensions: [] },
      };
      return r.refreshDueAt(e) - base;
    });
    const distinct = new Set(dueTimes.map((t) => Math.floor(t / 3600_000)));
    assert.ok(distinct.size > 3, `due times spread over several hours (${distinct.size})`);
    assert.ok(dueTimes.every((t) => t >= 0.75 * DAY * 0.99 && t <= DAY));
  });

  test('store writes: a fetch is stored before its answer; warm lookups write nothing; times are batched', async () => {
    const clock = new Clock();
    const writes: CachedPolicy[] = [];
    const store = new MemoryStore();
    const set = store.set.bind(store);
    store.set = async (e) => {
      writes.push(e);
      await set(e);
    };
    const r = makeResolver(clock, { store, refresh: false, graceMs: 60_000 });
    const d = uniq('writes');
    await publish(d, { id: 'w1' });
    const a = await r.resolve(d);
    assert.equal(a.reason, 'fetched');
    assert.equal(writes.length, 1, 'the fetched policy is in the store when resolve() returns');
    assert.equal((await store.get(d))?.id, 'w1');
    for (let i = 0; i < 5; i++) assert.equal((await r.resolve(d)).reason, 'cached');
    clock.advance(2 * MIN); // past the grace period: the TXT record is checked again, same id
    await r.resolve(d);
    assert.equal(writes.length, 1, 'no store write per lookup or per same-id check');
    await r.close(); // flushes the batched check and use times
    assert.ok(writes.length >= 2, 'times written in one batch at close');
    assert.ok(writes.at(-1)!.checkedAt > writes[0]!.checkedAt);
  });

  test('concurrent lookups of one domain share one fetch; invalid input is refused', async () => {
    const clock = new Clock();
    const r = makeResolver(clock);
    const d = uniq('coalesce');
    await publish(d, { id: 'c1' });
    const all = await Promise.all(Array.from({ length: 20 }, () => r.resolve(d)));
    assert.ok(all.every((x) => x.policy?.id === 'c1'));
    assert.equal(r.stats.fetches, 1);
    assert.equal((await r.resolve('not a domain')).reason, 'invalid-domain');
  });
});

describe('evaluate (RFC 8461 §4, §5)', () => {
  const entry = (mode: 'enforce' | 'testing' | 'none'): CachedPolicy => ({
    domain: 'example.com', id: 'i', text: 't', fetchedAt: 0, checkedAt: 0, lastUsedAt: 0, expiresAt: 1e15,
    policy: { version: 'STSv1', mode, mx: ['mx1.example.com', '*.example.net'], maxAge: 86400, extensions: [] },
  });
  const good: TlsResult = { tls: true, trusted: true, inDate: true, nameMatches: true };

  test('no policy and mode none: deliver', () => {
    assert.equal(evaluate(null, 'mx.x', { tls: false }).action, 'deliver');
    assert.equal(evaluate(entry('none'), 'mx.x', { tls: false }).action, 'deliver');
  });
  test('enforce: valid deliver, failures defer with the RFC 8460 result type', () => {
    assert.equal(evaluate(entry('enforce'), 'mx1.example.com', good).action, 'deliver');
    assert.equal(evaluate(entry('enforce'), 'a.example.net', good).matchedPattern, '*.example.net');
    const deep = evaluate(entry('enforce'), 'a.b.example.net', good);
    assert.equal(deep.action, 'defer', 'a wildcard matches exactly one label');
    assert.equal(deep.failure, 'validation-failure');
    assert.equal(evaluate(entry('enforce'), 'mx1.example.com', { tls: false, starttlsMissing: true }).failure, 'starttls-not-supported');
    assert.equal(evaluate(entry('enforce'), 'mx1.example.com', { ...good, trusted: false }).failure, 'certificate-not-trusted');
    assert.equal(evaluate(entry('enforce'), 'mx1.example.com', { ...good, inDate: false }).failure, 'certificate-expired');
    assert.equal(evaluate(entry('enforce'), 'mx1.example.com', { ...good, nameMatches: false }).failure, 'certificate-host-mismatch');
  });
  test('testing: validated, failures delivered and reported, not ignored', () => {
    const ok = evaluate(entry('testing'), 'mx1.example.com', good);
    assert.equal(ok.action, 'deliver');
    assert.equal(ok.report, true);
    const bad = evaluate(entry('testing'), 'mx1.example.com', { ...good, nameMatches: false });
    assert.equal(bad.action, 'deliver-and-report');
    assert.equal(bad.failure, 'certificate-host-mismatch');
  });
});
