/**
 * DnsClient's limit on outstanding queries: bursts are queued rather than sent at once, the
 * deadline of a query covers its wait for a turn, and turns are handed back on every outcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createWorld, type World } from '../testworld/index.js';
import { DnsClient, DnsLookupError } from './resolver.js';

describe('DnsClient maxInFlight', () => {
  let world: World;
  before(async () => {
    world = await createWorld({
      domains: [
        ...Array.from({ length: 20 }, (_, i) => ({ domain: `q${i}.test` })),
        { domain: 'dead.test', dns: 'silent' as const },
      ],
    });
  });
  after(() => world.close());

  test('a burst larger than the limit is answered in full', async () => {
    const dns = new DnsClient({ servers: [world.dnsServer], timeoutMs: 3000, maxInFlight: 3 });
    const names = Array.from({ length: 20 }, (_, i) => `_mta-sts.q${i}.test`);
    const answers = await Promise.all([...names, ...names].map((n) => dns.txt(n)));
    assert.equal(answers.length, 40);
    for (const a of answers) assert.match(a[0]?.join('') ?? '', /^v=STSv1; id=/);
  });

  test('waiting counts toward the deadline, and turns are freed after timeouts', async () => {
    const dns = new DnsClient({ servers: [world.dnsServer], timeoutMs: 400, maxInFlight: 1 });
    const started = Date.now();
    const dead = dns.txt('_mta-sts.dead.test'); // holds the only turn until its deadline
    const queued = dns.txt('_mta-sts.q0.test'); // waits, and its own deadline runs out first
    const [d, q] = await Promise.allSettled([dead, queued]);
    assert.equal(d.status, 'rejected');
    assert.equal(q.status, 'rejected');
    assert.ok(q.status === 'rejected' && q.reason instanceof DnsLookupError && q.reason.kind === 'timeout');
    assert.ok(Date.now() - started < 1500, 'no query outlives its deadline');
    // Both turns came back: the next query is answered.
    const txt = await dns.txt('_mta-sts.q1.test');
    assert.match(txt[0]?.join('') ?? '', /^v=STSv1/);
  });
});
