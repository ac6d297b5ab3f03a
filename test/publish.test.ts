/** `mtasts init` and `mtasts records`: policy proposals, content-hash ids, zone-file output. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parsePolicy, serializePolicy } from '../src/mtasts/policy.js';
import { parseStsRecord } from '../src/mtasts/record.js';
import { policyId, proposeMxPatterns, proposePolicy, publishRecords } from '../src/publish/records.js';
import { parseTlsRptRecord } from '../src/tlsrpt/record.js';
import { createWorld, type World } from '../src/testworld/index.js';
import { runCli, tempDir } from './serve-helpers.js';

describe('proposeMxPatterns', () => {
  test('one line per MX host when they do not share a parent', () => {
    assert.deepEqual(proposeMxPatterns(['mx1.example.com', 'mail.example.net']), ['mx1.example.com', 'mail.example.net']);
  });
  test('a wildcard where two or more MX share the exact same parent', () => {
    assert.deepEqual(proposeMxPatterns(['mx1.example.net.', 'MX2.example.net', 'mx.other.org']), ['*.example.net', 'mx.other.org']);
  });
  test('a wildcard matches exactly one label: deeper hosts are not folded in', () => {
    assert.deepEqual(proposeMxPatterns(['a.mx.example.net', 'b.example.net']), ['a.mx.example.net', 'b.example.net']);
    assert.deepEqual(proposeMxPatterns(['a.mx.example.net', 'b.mx.example.net', 'c.example.net']), ['*.mx.example.net', 'c.example.net']);
  });
  test('never a wildcard over a one-label (public-suffix-like) parent', () => {
    assert.deepEqual(proposeMxPatterns(['mx1.com', 'mx2.com']), ['mx1.com', 'mx2.com']);
  });
  test('duplicates collapse', () => {
    assert.deepEqual(proposeMxPatterns(['mx.example.com', 'mx.example.com.']), ['mx.example.com']);
  });
});

describe('policyId and publishRecords', () => {
  const policy = proposePolicy(['mx1.example.net', 'mx2.example.net']);

  test('the proposed policy is testing, one week, and valid for the project parser', () => {
    assert.equal(policy.mode, 'testing');
    assert.equal(policy.maxAge, 604800);
    const parsed = parsePolicy(serializePolicy(policy));
    assert.notEqual(parsed.policy, null);
    assert.deepEqual(parsed.policy?.mx, ['*.example.net']);
  });

  test('the id is 1-32 alphanumerics, stable for the same policy, different for another', () => {
    const id = policyId(policy);
    assert.match(id, /^[A-Za-z0-9]{1,32}$/);
    assert.equal(policyId({ ...policy, mx: [...policy.mx] }), id);
    assert.equal(policyId(serializePolicy(policy)), id);
    assert.notEqual(policyId({ ...policy, mode: 'enforce' }), id);
    assert.notEqual(policyId({ ...policy, maxAge: 604801 }), id);
  });

  test('records: _mta-sts TXT, TLS-RPT TXT, and the host target, each parseable', () => {
    const r = publishRecords({ domain: 'Example.COM', policy, tlsrpt: ['mailto:tls@example.com'], target: { a: ['192.0.2.1'], aaaa: ['2001:db8::1'] } });
    assert.equal(r.domain, 'example.com');
    const byType = (t: string) => r.records.filter((x) => x.type === t);
    const [sts, rpt] = byType('TXT');
    assert.equal(sts?.name, '_mta-sts.example.com.');
    assert.equal(parseStsRecord(sts?.text ?? '').record?.id, r.id);
    assert.equal(rpt?.name, '_smtp._tls.example.com.');
    assert.deepEqual(parseTlsRptRecord(rpt?.text ?? '').record?.rua, ['mailto:tls@example.com']);
    assert.deepEqual(byType('A').map((x) => `${x.name} ${x.data}`), ['mta-sts.example.com. 192.0.2.1']);
    assert.deepEqual(byType('AAAA').map((x) => x.data), ['2001:db8::1']);
    const c = publishRecords({ domain: 'example.com', policy, target: { cname: 'policy.host.example' } });
    assert.deepEqual(c.records.map((x) => x.type), ['TXT', 'CNAME']);
    assert.equal(c.records[1]?.data, 'policy.host.example.');
  });

  test('invalid TLS-RPT addresses are rejected by the TLS-RPT parser', () => {
    assert.throws(() => publishRecords({ domain: 'example.com', policy, tlsrpt: ['ftp://x'] }), /TLS-RPT/);
  });
});

describe('CLI init and records', () => {
  let world: World;
  before(async () => {
    world = await createWorld({
      domains: [
        { domain: 'shared.test', mx: [{ host: 'mx1.mail.shared.test' }, { host: 'mx2.mail.shared.test' }, { host: 'backup.other.test' }] },
        { domain: 'single.test' },
        { domain: 'nullmx.test', nullMx: true },
      ],
    });
  });
  after(() => world.close());

  test('init proposes a policy from MX records and prints the records (text)', async () => {
    const r = await runCli(['init', 'shared.test', '--dns', world.dnsServer]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /version: STSv1\nmode: testing\nmx: \*\.mail\.shared\.test\nmx: backup\.other\.test\nmax_age: 604800/);
    assert.match(r.out, /^_mta-sts\.shared\.test\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{32}"$/m);
    assert.match(r.out, /^_smtp\._tls\.shared\.test\. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@shared\.test"$/m);
    assert.match(r.out, /mta-sts\.shared\.test\./);
  });

  test('init --json', async () => {
    const r = await runCli(['init', 'single.test', '--dns', world.dnsServer, '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { policy: { mx: string[]; mode: string }; id: string; policyText: string; records: { type: string }[] };
    assert.deepEqual(j.policy.mx, ['mx1.single.test']);
    assert.equal(j.id, policyId(j.policyText));
  });

  test('init on a domain with a null MX or no MX fails with a finding code', async () => {
    const n = await runCli(['init', 'nullmx.test', '--dns', world.dnsServer, '--json']);
    assert.equal(n.code, 1);
    assert.equal((JSON.parse(n.out) as { findings: { code: string }[] }).findings[0]?.code, 'mx-null');
    const none = await runCli(['init', 'nothing.test', '--dns', world.dnsServer, '--json']);
    assert.equal(none.code, 1);
    assert.equal((JSON.parse(none.out) as { findings: { code: string }[] }).findings[0]?.code, 'mx-none');
    assert.equal((await runCli(['init'])).code, 2);
  });

  test('records prints zone lines per configured domain; the id follows the policy', async () => {
    const dir = tempDir('mtasts-records-');
    const cfg = join(dir, 'serve.yaml');
    const write = (mode: string): void => writeFileSync(cfg, [
      'listen: { https: "127.0.0.1:0" }',
      'certificates: { dir: ./certs }',
      'tlsrpt: [mailto:reports@example.org]',
      'target: { cname: policy.example.org }',
      'domains:',
      `  a.example: { mode: ${mode}, mx: [mx.a.example], max_age: 1209600 }`,
      '  b.example: { mode: testing, mx: ["*.mx.b.example"], tlsrpt: ["https://r.b.example/tlsrpt"] }',
      '',
    ].join('\n'));
    write('enforce');
    const r1 = await runCli(['records', '--config', cfg]);
    assert.equal(r1.code, 0, r1.err);
    assert.match(r1.out, /^_mta-sts\.a\.example\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{32}"$/m);
    assert.match(r1.out, /^_smtp\._tls\.a\.example\. 3600 IN TXT "v=TLSRPTv1; rua=mailto:reports@example\.org"$/m);
    assert.match(r1.out, /^_smtp\._tls\.b\.example\. 3600 IN TXT "v=TLSRPTv1; rua=https:\/\/r\.b\.example\/tlsrpt"$/m);
    assert.match(r1.out, /^mta-sts\.a\.example\. 3600 IN CNAME policy\.example\.org\.$/m);
    const id = (out: string, d: string) => new RegExp(`_mta-sts\\.${d.replace('.', '\\.')}\\. 3600 IN TXT "v=STSv1; id=(\\w+)"`).exec(out)?.[1];
    const again = await runCli(['records', '--config', cfg]);
    assert.equal(id(again.out, 'a.example'), id(r1.out, 'a.example'), 'unchanged policy, unchanged id');
    write('testing');
    const r2 = await runCli(['records', '--config', cfg, '--json']);
    const lines = r2.lines.map((l) => JSON.parse(l) as { domain: string; id: string; records: { type: string; text?: string }[] });
    const a = lines.find((l) => l.domain === 'a.example');
    assert.notEqual(a?.id, id(r1.out, 'a.example'), 'changed policy, changed id');
    assert.equal(lines.find((l) => l.domain === 'b.example')?.id, id(r1.out, 'b.example'));
    assert.equal(a?.records[0]?.text, `v=STSv1; id=${a?.id}`);
  });

  test('records reports configuration errors with file and line', async () => {
    const dir = tempDir('mtasts-records-');
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'listen: { https: "127.0.0.1:0" }\ncertificates: { dir: . }\ndomains:\n  a.example: { mode: enforced, mx: [mx.a.example] }\n');
    const r = await runCli(['records', '--config', cfg]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.yaml:4:\d+: domains\.a\.example\.mode: expected enforce, testing or none/);
  });
});
