/** The CLI's interface: commands, options, JSON keys and exit statuses that scripts depend on. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from './cli-harness.js';
import { createWorld, type World } from '../src/testworld/index.js';

const run = runCli;

const dir = mkdtempSync(join(tmpdir(), 'mtasts-cli-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const GOOD = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.mx.example.net\nmax_age: 1209600\n';

describe('mtasts lint', () => {
  test('a valid policy: exit 0, JSON with the parsed policy', async () => {
    const r = await run(['lint', '--json', file('good.txt', GOOD)]);
    assert.equal(r.code, 0, r.out + r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.valid, true);
    assert.deepEqual(j.policy, { version: 'STSv1', mode: 'enforce', maxAge: 1209600, mx: ['mail.example.com', '*.mx.example.net'], extensions: [] });
    assert.ok(Array.isArray(j.findings));
  });

  test('an invalid policy: exit 1, findings with code, severity, message, line and column', async () => {
    const r = await run(['lint', '--json', file('bad.txt', 'version: STSv1\nmode: Enforce\nmx: a..b\nmax_age: 99999999999\n')]);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out);
    assert.equal(j.valid, false);
    assert.equal(j.policy, undefined);
    const codes = j.findings.map((f: { code: string }) => f.code);
    for (const c of ['policy-mode-invalid', 'policy-mx-invalid', 'policy-max-age-invalid']) assert.ok(codes.includes(c), codes.join());
    const mode = j.findings.find((f: { code: string }) => f.code === 'policy-mode-invalid');
    assert.equal(mode.line, 2);
    assert.equal(mode.column, 7);
    assert.equal(mode.severity, 'error');
    assert.match(mode.message, /mode: enforce/);
  });

  test('- reads standard input; text output says valid', async () => {
    const r = await run(['lint', '-'], GOOD);
    assert.equal(r.code, 0);
    assert.match(r.out, /valid/);
  });

  test('a body over 64 KiB is invalid even if it parses', async () => {
    const r = await run(['lint', '--json', file('big.txt', GOOD + `x-pad: ${'a'.repeat(70_000)}\n`)]);
    assert.equal(r.code, 1);
    assert.ok(JSON.parse(r.out).findings.some((f: { code: string }) => f.code === 'policy-too-large'));
  });

  test('--record: valid record with version and id; invalid id is exit 1', async () => {
    const ok = await run(['lint', '--json', '--record', 'v=STSv1; id=20240101T000000;']);
    assert.equal(ok.code, 0);
    assert.deepEqual(JSON.parse(ok.out).record, { version: 'STSv1', id: '20240101T000000', extensions: [] });
    const bad = await run(['lint', '--json', '--record', 'v=STSv1; id=2024-01-01']);
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.out).valid, false);
    assert.ok(JSON.parse(bad.out).findings.some((f: { code: string }) => f.code === 'record-id-invalid'));
  });

  test('--tlsrpt lints a TLS-RPT record', async () => {
    assert.equal((await run(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=mailto:tls@example.com'])).code, 0);
    assert.equal((await run(['lint', '--tlsrpt', 'v=TLSRPTv1; rua=http://example.com/r'])).code, 1);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await run(['lint'])).code, 2);
    assert.equal((await run(['lint', '--bogus', 'x'])).code, 2);
    assert.equal((await run(['lint', join(dir, 'does-not-exist')])).code, 2);
    assert.equal((await run(['frobnicate'])).code, 2);
  });
});

describe('mtasts match', () => {
  test('exit 0 when a pattern accepts the host, 1 when not; wildcard is one label', async () => {
    const p = file('m.txt', GOOD);
    const yes = await run(['match', p, 'a.mx.example.net']);
    assert.equal(yes.code, 0);
    assert.match(yes.out, /\*\.mx\.example\.net/);
    assert.equal((await run(['match', p, 'MAIL.example.com.'])).code, 0);
    assert.equal((await run(['match', p, 'a.b.mx.example.net'])).code, 1);
    assert.equal((await run(['match', p, 'mx.example.net'])).code, 1);
    const j = JSON.parse((await run(['match', '--json', p, 'a.mx.example.net'])).out);
    assert.deepEqual(j, { host: 'a.mx.example.net', match: true, pattern: '*.mx.example.net' });
  });

  test('an invalid policy cannot be matched against: exit 2', async () => {
    assert.equal((await run(['match', file('inv.txt', 'mode: enforce\n'), 'x.example.com'])).code, 2);
  });
});

describe('mtasts check', () => {
  let world: World;
  let base: string[];
  before(async () => {
    world = await createWorld({
      domains: [
        { domain: 'fine.test' },
        { domain: 'broken.test', http: { kind: 'status', status: 404 } },
        { domain: 'warned.test', policy: 'version: STSv1\r\nmode: enforce\r\nmx: mx1.warned.test\r\nmax_age: 3600\r\n' },
      ],
    });
    base = ['--dns', world.dnsServer, '--ca-file', world.caFile, '--https-port', String(world.httpsPort), '--smtp-port', String(world.smtpPort), '--timeout', '3'];
  });
  after(async () => {
    await world?.close();
  });

  test('--json: one object per domain, in order, with domain, verdict and findings; exit 1 when any fails', async () => {
    const r = await run(['check', '--json', ...base, 'fine.test', 'broken.test', 'warned.test']);
    assert.equal(r.code, 1);
    const objs = r.lines.map((l) => JSON.parse(l));
    assert.deepEqual(objs.map((o) => [o.domain, o.verdict]), [['fine.test', 'pass'], ['broken.test', 'fail'], ['warned.test', 'warn']]);
    const f = objs[1].findings.find((x: { code: string }) => x.code === 'policy-http-status');
    assert.ok(f, JSON.stringify(objs[1].findings));
    assert.equal(f.severity, 'error');
    assert.match(f.message, /404/);
  });

  test('exit 0 when no domain has an error (warnings allowed); --file and --no-smtp', async () => {
    const list = file('domains.txt', '# portfolio\nfine.test\n\nwarned.test  # short max_age\n');
    const r = await run(['check', ...base, '--no-smtp', '--file', list]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /fine\.test\s+PASS/);
    assert.match(r.out, /policy-max-age-short/);
    assert.match(r.out, /2 domains: 1 pass, 1 warn, 0 fail/);
    assert.doesNotMatch(r.out, /MX STARTTLS/);
  });

  test('--state remembers observations durably between runs', async () => {
    const state = join(dir, 'state.json');
    assert.equal((await run(['check', ...base, '--no-smtp', '--state', state, 'fine.test'])).code, 0);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(saved.version, 1);
    assert.match(saved.domains['fine.test'].policySha256, /^[0-9a-f]{64}$/);
    writeFileSync(state, '{not json');
    const corrupt = await run(['check', ...base, '--state', state, 'fine.test']);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.err, /not valid JSON/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await run(['check'])).code, 2);
    assert.equal((await run(['check', '--dns', 'resolver.example', 'x.test'])).code, 2);
    assert.equal((await run(['check', '--timeout', 'soon', 'x.test'])).code, 2);
    assert.equal((await run(['check', '--concurrency', '0', 'x.test'])).code, 2);
    assert.equal((await run(['check', '--ca-file', join(dir, 'nope.pem'), 'x.test'])).code, 2);
  });

  test('an invalid domain argument is a finding, not a crash', async () => {
    const r = await run(['check', '--json', ...base, 'not a domain']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.out).findings[0].code, 'input-domain-invalid');
  });
});
