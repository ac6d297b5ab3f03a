/**
 * DnsClient's limit on outstanding queries: bursts are queued rather than sent at once, the
 * deadline of a query covers its wait for a turn, and turns are handed back on every outcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDnsServer, Zone, type DnsServer } from '../testworld/dns-server.js';
import { createWorld, type World } from '../testworld/index.js';
import { DnsClient, dnsFailureCode, DnsLookupError, MAX_CNAME_DEPTH } from './resolver.js';

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

/**
 * CNAME chasing: a server that answers an alias with the CNAME alone (an authoritative server
 * whose target is in a zone it does not serve) still yields the records, for every lookup type;
 * loops and over-long chains fail with their own kinds.
 */
describe('DnsClient CNAME chasing', () => {
  let server: DnsServer;
  let chasing: DnsServer;
  before(async () => {
    const zone = new Zone();
    zone.set('_mta-sts.alias.test', [{ type: 'CNAME', target: '_mta-sts.provider.test' }]);
    zone.set('_mta-sts.provider.test', [{ type: 'TXT', data: ['v=STSv1; id=delegated1'] }]);
    zone.set('mail.alias.test', [{ type: 'CNAME', target: 'mail.provider.test' }]);
    zone.set('mail.provider.test', [{ type: 'MX', preference: 10, exchange: 'mx1.provider.test' }]);
    zone.set('host.alias.test', [{ type: 'CNAME', target: 'step.provider.test' }]);
    zone.set('step.provider.test', [{ type: 'CNAME', target: 'real.provider.test' }]);
    zone.set('real.provider.test', [{ type: 'A', address: '192.0.2.7' }, { type: 'AAAA', address: '2001:db8::7' }]);
    zone.set('v4only.alias.test', [{ type: 'CNAME', target: 'v4.provider.test' }]);
    zone.set('v4.provider.test', [{ type: 'A', address: '192.0.2.8' }]);
    zone.set('dangling.alias.test', [{ type: 'CNAME', target: 'nothing.provider.test' }]);
    zone.set('loop-a.test', [{ type: 'CNAME', target: 'loop-b.test' }]);
    zone.set('loop-b.test', [{ type: 'CNAME', target: 'loop-c.test' }]);
    zone.set('loop-c.test', [{ type: 'CNAME', target: 'loop-a.test' }]);
    zone.set('self.test', [{ type: 'CNAME', target: 'self.test' }]);
    // chain-0 → chain-1 → … → chain-N, each with TXT, MX and A at the end of its own chain.
    const chain = (prefix: string, aliases: number): void => {
      for (let i = 0; i < aliases; i++) zone.set(`${prefix}-${i}.test`, [{ type: 'CNAME', target: `${prefix}-${i + 1}.test` }]);
      zone.set(`${prefix}-${aliases}.test`, [
        { type: 'TXT', data: ['end of chain'] },
        { type: 'MX', preference: 5, exchange: 'mx.end.test' },
        { type: 'A', address: '192.0.2.9' },
      ]);
    };
    chain('ok8', MAX_CNAME_DEPTH);
    chain('deep9', MAX_CNAME_DEPTH + 1);
    server = await startDnsServer({ zone, chaseCnames: false });
    chasing = await startDnsServer({ zone });
  });
  after(async () => {
    await server.close();
    await chasing.close();
  });
  const client = (s: DnsServer = server): DnsClient => new DnsClient({ servers: [s.hostPort], timeoutMs: 2000 });

  test('the non-chasing server really answers with the CNAME alone (c-ares: no data)', async () => {
    const { Resolver } = await import('node:dns/promises');
    const r = new Resolver();
    r.setServers([server.hostPort]);
    const answer = await r.resolveTxt('_mta-sts.alias.test').catch((e: NodeJS.ErrnoException) => e.code);
    assert.ok(answer === 'ENODATA' || (Array.isArray(answer) && answer.length === 0), `got ${JSON.stringify(answer)}`);
  });

  for (const [label, s] of [['non-chasing', () => server], ['chasing', () => chasing]] as const) {
    test(`TXT, MX, A and AAAA behind CNAMEs are found (${label} server)`, async () => {
      const dns = client(s());
      assert.deepEqual(await dns.txt('_mta-sts.alias.test'), [['v=STSv1; id=delegated1']]);
      assert.deepEqual(await dns.mx('mail.alias.test'), [{ exchange: 'mx1.provider.test', preference: 10 }]);
      assert.deepEqual(await dns.addresses('host.alias.test'), ['2001:db8::7', '192.0.2.7']);
      assert.deepEqual(await dns.addresses('v4only.alias.test'), ['192.0.2.8']);
    });
  }

  test('the target is asked at the same server', async () => {
    const before = server.queryCount('_mta-sts.provider.test', 'TXT');
    await client().txt('_mta-sts.alias.test');
    assert.equal(server.queryCount('_mta-sts.provider.test', 'TXT'), before + 1);
    assert.ok(server.queryCount('_mta-sts.alias.test', 'CNAME') >= 1);
  });

  test('a CNAME to a name that does not exist is NXDOMAIN at the target', async () => {
    await assert.rejects(client().txt('dangling.alias.test'), (e: unknown) => e instanceof DnsLookupError && e.kind === 'nxdomain');
    await assert.rejects(client().addresses('dangling.alias.test'), (e: unknown) => e instanceof DnsLookupError && e.kind === 'nxdomain');
  });

  test('loops are detected for TXT, MX and A/AAAA', async () => {
    const dns = client();
    const isLoop = (e: unknown): boolean => e instanceof DnsLookupError && e.kind === 'cname-loop' && /loop-a\.test → loop-b\.test → loop-c\.test → loop-a\.test/.test(e.message);
    await assert.rejects(dns.txt('loop-a.test'), isLoop);
    await assert.rejects(dns.mx('loop-a.test'), isLoop);
    await assert.rejects(dns.addresses('loop-a.test'), isLoop);
    await assert.rejects(dns.txt('self.test'), (e: unknown) => e instanceof DnsLookupError && e.kind === 'cname-loop');
    assert.equal(dnsFailureCode(await dns.mx('loop-a.test').catch((e: unknown) => e)), 'dns-cname-loop');
  });

  test(`a chain of ${MAX_CNAME_DEPTH} aliases is followed, one more is too deep (TXT, MX, A)`, async () => {
    const dns = client();
    assert.deepEqual(await dns.txt('ok8-0.test'), [['end of chain']]);
    assert.deepEqual(await dns.mx('ok8-0.test'), [{ exchange: 'mx.end.test', preference: 5 }]);
    assert.deepEqual(await dns.addresses('ok8-0.test'), ['192.0.2.9']);
    const isDeep = (e: unknown): boolean => e instanceof DnsLookupError && e.kind === 'cname-too-deep';
    await assert.rejects(dns.txt('deep9-0.test'), isDeep);
    await assert.rejects(dns.mx('deep9-0.test'), isDeep);
    await assert.rejects(dns.addresses('deep9-0.test'), isDeep);
    assert.equal(dnsFailureCode(await dns.txt('deep9-0.test').catch((e: unknown) => e)), 'dns-cname-too-deep');
  });

  test('no data at a name that is not an alias stays "no data"', async () => {
    await assert.rejects(client().mx('_mta-sts.provider.test'), (e: unknown) => e instanceof DnsLookupError && e.kind === 'nodata');
  });
});
