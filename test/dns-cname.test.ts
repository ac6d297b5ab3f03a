/**
 * `check` and `resolve` against an authoritative-style DNS server that answers an alias with the
 * CNAME alone (the target is in a zone it does not serve): a correctly delegated `_mta-sts` CNAME
 * is followed, not reported as record-missing; a loop or an over-long chain gets its own finding.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from './cli-harness.js';
import { createWorld, type World } from '../src/testworld/index.js';
import { startDnsServer, type DnsServer } from '../src/testworld/dns-server.js';

describe('CNAMEs that the DNS server does not chase', () => {
  let world: World;
  let auth: DnsServer;
  before(async () => {
    world = await createWorld({
      domains: [
        { domain: 'delegated.test', stsCname: '_mta-sts.provider.test' },
        { domain: 'hosted.test', stsCname: '_mta-sts.provider.test' },
        { domain: 'looping.test' },
        { domain: 'deep.test' },
      ],
    });
    const zone = world.dns.zone;
    // The hosted policy host and MX are aliases too (a provider hosting both).
    zone.set('mta-sts.hosted.test', [{ type: 'CNAME', target: 'policy.provider.test' }]);
    zone.set('policy.provider.test', [{ type: 'A', address: '127.0.0.1' }]);
    zone.set('_mta-sts.looping.test', [{ type: 'CNAME', target: '_mta-sts.loop2.test' }]);
    zone.set('_mta-sts.loop2.test', [{ type: 'CNAME', target: '_mta-sts.looping.test' }]);
    zone.set('looping.test', [{ type: 'CNAME', target: 'mail.loop2.test' }]);
    zone.set('mail.loop2.test', [{ type: 'CNAME', target: 'looping.test' }]);
    for (let i = 0; i < 10; i++) zone.set(`_mta-sts${i === 0 ? '' : `-${i}`}.deep.test`, [{ type: 'CNAME', target: `_mta-sts-${i + 1}.deep.test` }]);
    zone.set('_mta-sts-10.deep.test', [{ type: 'TXT', data: ['v=STSv1; id=deep1'] }]);
    auth = await startDnsServer({ zone, chaseCnames: false });
  });
  after(async () => {
    await auth?.close();
    await world?.close();
  });
  const check = (domain: string): Promise<{ code: number; j: { verdict: string; findings: { code: string; message: string; section: string }[]; record: { cname: string | null; record: { id: string } | null } } }> =>
    runCli(['check', '--json', '--dns', auth.hostPort, '--ca-file', world.caFile, '--https-port', String(world.httpsPort), '--smtp-port', String(world.smtpPort), '--timeout', '5', domain])
      .then((r) => ({ code: r.code, j: JSON.parse(r.out) }));

  test('a delegated _mta-sts record passes: found through the CNAME, no record-missing', async () => {
    const { code, j } = await check('delegated.test');
    const codes = j.findings.map((f) => f.code);
    assert.equal(j.verdict, 'pass', codes.join());
    assert.equal(code, 0);
    assert.ok(!codes.includes('record-missing'));
    assert.ok(codes.includes('record-cname'));
    assert.equal(j.record.cname, '_mta-sts.provider.test');
    assert.ok(j.record.record?.id);
    assert.ok(auth.queryCount('_mta-sts.provider.test', 'TXT') >= 1, 'the target was asked at the same server');
  });

  test('a policy host behind a CNAME is reached', async () => {
    const { j } = await check('hosted.test');
    assert.equal(j.verdict, 'pass', j.findings.map((f) => f.code).join());
    assert.ok(auth.queryCount('policy.provider.test', 'A') >= 1);
  });

  test('a CNAME loop: dns-cname-loop for the record and the MX lookup', async () => {
    const { code, j } = await check('looping.test');
    assert.equal(code, 1);
    const loops = j.findings.filter((f) => f.code === 'dns-cname-loop');
    assert.deepEqual(loops.map((f) => f.section).sort(), ['mx', 'record'], JSON.stringify(j.findings));
    assert.ok(!j.findings.some((f) => f.code === 'record-missing'));
  });

  test('a chain of 10 aliases: dns-cname-too-deep', async () => {
    const { j } = await check('deep.test');
    assert.ok(j.findings.some((f) => f.code === 'dns-cname-too-deep' && /more than 8 CNAMEs/.test(f.message)), JSON.stringify(j.findings));
  });

  test('resolve follows the delegation as well', async () => {
    const r = await runCli(['resolve', '--json', '--no-smtp', '--dns', auth.hostPort, '--ca-file', world.caFile, '--https-port', String(world.httpsPort), 'delegated.test']);
    const j = JSON.parse(r.out);
    assert.equal(j.reason, 'fetched', r.out);
    assert.equal(j.policy.mode, 'enforce');
  });
});
