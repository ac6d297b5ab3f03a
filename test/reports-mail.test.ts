/**
 * Mail intake: the real mailed samples, each message shape seen in the wild, DKIM through our DNS
 * client against a real DNS server on loopback (pass, fail, none), mbox streaming, and Maildir
 * (processed only after commit, nothing deleted). Real SQLite stores in temp dirs.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { DnsClient } from '../src/dns/resolver.js';
import {
  extractReportParts, importMaildir, importMbox, importMessage, isMaildir, looksLikeMbox, looksLikeMessage, readMbox,
  verifyDkim, withSeenFlag,
} from '../src/reports/mail/index.js';
import { extractSimpleReport } from '../src/reports/mail/message.js';
import { ReportStore } from '../src/reports/store.js';
import { startDnsServer, Zone, type DnsServer } from '../src/testworld/index.js';
import { gz, MAIL_SAMPLES, mimeMessage, openStore, reportJson, tempDir, unique, zipStored } from './reports-intake-helpers.js';

const SAMPLE_FILES = readdirSync(MAIL_SAMPLES).filter((f) => f.endsWith('.eml')).sort();

let zone: Zone;
let dnsServer: DnsServer;
let dns: DnsClient;
const tmp = tempDir('mtasts-mail-');

before(async () => {
  zone = new Zone();
  dnsServer = await startDnsServer({ zone });
  dns = new DnsClient({ servers: [dnsServer.hostPort], timeoutMs: 2000 });
});
after(async () => {
  await dnsServer.close();
  tmp.cleanup();
});

async function freshStore(): Promise<ReportStore> {
  return openStore(tmp.dir, `${unique('db')}.db`);
}

describe('the real mailed samples', () => {
  test('all three import, with TLS-Report-Domain and unverifiable DKIM; a second import is a duplicate', async () => {
    const store = await freshStore();
    try {
      for (const f of SAMPLE_FILES) {
        const raw = readFileSync(path.join(MAIL_SAMPLES, f));
        const items = await importMessage(store, raw, f, { dns });
        assert.equal(items.length, 1, f);
        assert.equal(items[0]!.status, 'imported', `${f}: ${JSON.stringify(items[0])}`);
        assert.equal(items[0]!.source, f);
        assert.ok(items[0]!.organization && items[0]!.reportId, f);
        const again = await importMessage(store, raw, `${f}-again`, { dns });
        assert.equal(again[0]!.status, 'duplicate', f);
      }
      const found = await extractReportParts(readFileSync(path.join(MAIL_SAMPLES, SAMPLE_FILES[0]!)), { maxMessageBytes: 1 << 20, timeoutMs: 5000 });
      assert.equal(found.reportDomain, 'test.xmox.nl');
      assert.equal(found.submitter, 'google.com');
      assert.equal(found.isTlsrptReport, true);
      assert.equal(found.parts[0]!.contentType, 'application/tlsrpt+gzip');
    } finally {
      await store.close();
    }
  });

  test('the Subject\'s Report-ID is not used: the JSON report-id is (RFC 8460 §5.6)', async () => {
    const store = await freshStore();
    try {
      const raw = readFileSync(path.join(MAIL_SAMPLES, '01_google_2022_mox-example.eml'));
      const [item] = await importMessage(store, raw, 'x.eml', { dns });
      const found = await extractReportParts(raw, { maxMessageBytes: 1 << 20, timeoutMs: 5000 });
      const json = JSON.parse(gunzipSync(found.parts[0]!.bytes).toString()) as Record<string, unknown>;
      assert.equal(item!.reportId, json['report-id']);
      const subjectId = /Report-ID: <([^>]+)>/.exec(raw.toString('latin1'))?.[1];
      assert.ok(subjectId);
      assert.notEqual(item!.reportId, subjectId);
    } finally {
      await store.close();
    }
  });

  test('the fast path for the common shape gives what mailparser gives, and leaves other shapes to it', async () => {
    const full = (raw: Buffer) => extractReportParts(raw, { maxMessageBytes: 1 << 20, timeoutMs: 5000, fullParse: true });
    const norm = (x: Awaited<ReturnType<typeof full>>): string =>
      JSON.stringify({ ...x, date: x.date?.getTime() ?? null, parts: x.parts.map((p) => ({ ...p, bytes: p.bytes.toString('base64') })) });
    const common = [
      ...SAMPLE_FILES.map((f) => readFileSync(path.join(MAIL_SAMPLES, f))),
      mimeMessage({ reportDomain: 'Example.TEST.', parts: [{ type: 'application/tlsrpt+gzip', content: gz(reportJson()), filename: 'a.json.gz' }] }),
      mimeMessage({ reportDomain: 'example.test', parts: [{ type: 'application/tlsrpt+json', content: Buffer.from(reportJson()) }, { type: 'application/tlsrpt', content: gz(reportJson()) }] }),
      mimeMessage({ headers: { 'Content-Type': 'x' }, parts: [{ type: 'application/tlsrpt+gzip', content: gz(reportJson()) }] }),
    ];
    for (const [i, raw] of common.entries()) {
      const fast = extractSimpleReport(raw);
      if (i < SAMPLE_FILES.length + 2) assert.ok(fast !== null, `message ${i} takes the fast path`);
      if (fast !== null) assert.equal(norm(fast), norm(await full(raw)), `message ${i}`);
    }
    // Left to mailparser: other top-level types, a report sent as 7bit JSON text, 8-bit bytes.
    const others = [
      mimeMessage({ multipart: 'mixed', parts: [{ type: 'application/tlsrpt+gzip', content: gz(reportJson()) }] }),
      mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson(), encoding: '7bit' }] }),
      mimeMessage({ subject: 'Rapport é', parts: [{ type: 'application/tlsrpt+gzip', content: gz(reportJson()) }] }),
      mimeMessage({ body: { type: 'application/json', content: reportJson() } }),
    ];
    for (const raw of others) assert.equal(extractSimpleReport(raw), null);
  });

  test('DKIM of the samples is not "pass" offline: the key is not in our DNS', async () => {
    const raw = readFileSync(path.join(MAIL_SAMPLES, '01_google_2022_mox-example.eml'));
    const dkim = await verifyDkim(raw, { dns, submitter: 'google.com' });
    assert.notEqual(dkim.result, 'pass');
    assert.equal(dkim.domain, 'google.com');
    assert.equal(dkim.selector, '20210112');
  });
});

describe('message shapes', () => {
  let store: ReportStore;
  before(async () => { store = await freshStore(); });
  after(async () => { await store.close(); });

  const shapes: { name: string; build(json: string): Buffer }[] = [
    { name: 'multipart/report with application/tlsrpt+json', build: (j) => mimeMessage({ reportDomain: 'example.test', parts: [{ type: 'application/tlsrpt+json', content: j, filename: 'r.json' }] }) },
    { name: 'multipart/report with application/tlsrpt+gzip', build: (j) => mimeMessage({ reportDomain: 'example.test', parts: [{ type: 'application/tlsrpt+gzip', content: gz(j), filename: 'r.json.gz' }] }) },
    { name: 'a plain application/tlsrpt part', build: (j) => mimeMessage({ parts: [{ type: 'application/tlsrpt', content: gz(j) }] }) },
    { name: 'application/gzip attachment in multipart/mixed', build: (j) => mimeMessage({ multipart: 'mixed', parts: [{ type: 'application/gzip', content: gz(j), filename: 'report.json.gz' }] }) },
    { name: 'application/json attachment', build: (j) => mimeMessage({ multipart: 'mixed', parts: [{ type: 'application/json', content: Buffer.from(j), filename: 'report.json' }] }) },
    { name: 'application/octet-stream attachment (gzip inside)', build: (j) => mimeMessage({ multipart: 'mixed', parts: [{ type: 'application/octet-stream', content: gz(j), filename: 'weird-name.bin' }] }) },
    { name: 'application/zip attachment', build: (j) => mimeMessage({ multipart: 'mixed', parts: [{ type: 'application/zip', content: zipStored('report.json', Buffer.from(j)), filename: 'report.zip' }] }) },
    { name: 'the report as the whole message (application/tlsrpt+json body)', build: (j) => mimeMessage({ body: { type: 'application/tlsrpt+json', content: j } }) },
    { name: 'the report as a text/plain message body', build: (j) => mimeMessage({ body: { type: 'text/plain; charset=utf-8', content: j } }) },
  ];
  for (const shape of shapes) {
    test(shape.name, async () => {
      const id = unique('shape');
      const items = await importMessage(store, shape.build(reportJson({ id })), `${shape.name}.eml`, { dns });
      assert.deepEqual(items.map((i) => [i.status, i.reportId]), [['imported', id]], JSON.stringify(items));
    });
  }

  test('two report parts in one message: two items', async () => {
    const [a, b] = [unique('two'), unique('two')];
    const raw = mimeMessage({ parts: [
      { type: 'application/tlsrpt+gzip', content: gz(reportJson({ id: a })) },
      { type: 'application/tlsrpt+json', content: reportJson({ id: b }) },
    ] });
    const items = await importMessage(store, raw, 'two.eml', { dns });
    assert.deepEqual(items.map((i) => [i.status, i.reportId, i.source]), [['imported', a, 'two.eml#part=1'], ['imported', b, 'two.eml#part=2']]);
  });

  test('the same report in two shapes, with different subjects and file names, counts once', async () => {
    const json = reportJson({ id: unique('dup') });
    const first = mimeMessage({ subject: 'Report-ID: <one@x>', parts: [{ type: 'application/tlsrpt+gzip', content: gz(json), filename: 'one.json.gz' }] });
    const second = mimeMessage({ subject: 'Report-ID: <two@x>', multipart: 'mixed', parts: [{ type: 'application/json', content: Buffer.from(json), filename: 'two.json' }] });
    assert.equal((await importMessage(store, first, 'first.eml', { dns }))[0]!.status, 'imported');
    assert.equal((await importMessage(store, second, 'second.eml', { dns }))[0]!.status, 'duplicate');
  });

  test('a message without a report: one rejected item, mail-no-report', async () => {
    const raw = mimeMessage({ multipart: 'mixed', parts: [{ type: 'image/png', content: Buffer.from([0x89, 0x50, 0x4e, 0x47]), filename: 'x.png' }] });
    const items = await importMessage(store, raw, 'nothing.eml', { dns });
    assert.equal(items.length, 1);
    assert.equal(items[0]!.status, 'rejected');
    assert.equal(items[0]!.code, 'mail-no-report');
    assert.match(items[0]!.message!, /no TLS-RPT report/);
    const plain = await importMessage(store, mimeMessage({ body: { type: 'text/plain', content: 'hello, no report here' } }), 'hello.eml', { dns });
    assert.equal(plain[0]!.code, 'mail-no-report');
  });

  test('a malformed report part is rejected by the report parser, nothing stored', async () => {
    const raw = mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: '{"organization-name": "x", "policies": [' }] });
    const items = await importMessage(store, raw, 'bad.eml', { dns });
    assert.equal(items.length, 1);
    assert.equal(items[0]!.status, 'rejected');
    assert.ok(items[0]!.code);
  });

  test('a message over the size limit is refused before parsing', async () => {
    const raw = mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] });
    const items = await importMessage(store, raw, 'big.eml', { dns, maxMessageBytes: 200 });
    assert.deepEqual(items.map((i) => [i.status, i.code]), [['rejected', 'mail-too-large']]);
  });

  test('looksLikeMessage / looksLikeMbox tell mail from JSON and gzip', () => {
    assert.equal(looksLikeMessage(readFileSync(path.join(MAIL_SAMPLES, SAMPLE_FILES[0]!))), true);
    assert.equal(looksLikeMessage(Buffer.from('From: a@b\r\nSubject: x\r\n\r\nbody')), true);
    assert.equal(looksLikeMessage(Buffer.from(reportJson())), false);
    assert.equal(looksLikeMessage(Buffer.from('{"organization-name":"x",\n"report-id":"y"}')), false);
    assert.equal(looksLikeMessage(gz('x')), false);
    assert.equal(looksLikeMbox(Buffer.from('From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n')), true);
    assert.equal(looksLikeMbox(Buffer.from('From: a@b\n')), false);
  });
});

describe('DKIM (RFC 8460 §3) through our DNS client', () => {
  const SIGNER = `dkim-${process.pid}.reporter.test`;
  const SELECTOR = 'sel1';
  let privateKey: string;

  before(() => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const p = pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    zone.set(`${SELECTOR}._domainkey.${SIGNER}`, [{ type: 'TXT', data: [`v=DKIM1; k=rsa; p=${p}`] }]);
  });

  async function signed(raw: Buffer, selector = SELECTOR): Promise<Buffer> {
    const opts = { signingDomain: SIGNER, selector, privateKey, canonicalization: 'relaxed/relaxed' };
    const { signatures, errors } = await dkimSign(raw, { ...opts, signatureData: [opts] });
    assert.deepEqual(errors, []);
    return Buffer.concat([Buffer.from(signatures), raw]);
  }

  test('a signed report verifies (pass), and the result is recorded with the signing domain', async () => {
    const raw = await signed(mimeMessage({ reportDomain: 'example.test', parts: [{ type: 'application/tlsrpt+gzip', content: gz(reportJson()) }] }));
    const dkim = await verifyDkim(raw, { dns, submitter: 'reporter.test' });
    assert.deepEqual({ result: dkim.result, domain: dkim.domain, selector: dkim.selector }, { result: 'pass', domain: SIGNER, selector: SELECTOR });
    const store = await freshStore();
    try {
      const items = await importMessage(store, raw, 'signed.eml', { dns });
      assert.equal(items[0]!.status, 'imported');
      const rows = await store.db.query<Record<string, unknown>>('SELECT * FROM tlsrpt_reports');
      assert.equal(rows.length, 1);
      const text = JSON.stringify(rows[0]);
      assert.match(text, /pass/);
      assert.ok(text.includes(SIGNER), `the signing domain is stored: ${text.slice(0, 400)}`);
    } finally {
      await store.close();
    }
  });

  test('a bulk import asks DNS for a key once, not once per message; a missing key is asked again', async () => {
    const selector = `cache${process.pid}`;
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p = pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const name = `${selector}._domainkey.${SIGNER}`;
    zone.set(name, [{ type: 'TXT', data: [`v=DKIM1; k=rsa; p=${p}`] }]);
    const key = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const opts = { signingDomain: SIGNER, selector, privateKey: key, canonicalization: 'relaxed/relaxed' };
    const client = new DnsClient({ servers: [dnsServer.hostPort], timeoutMs: 2000 });
    let afterFirst = 0;
    for (let i = 0; i < 5; i++) {
      const raw = mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] });
      const { signatures } = await dkimSign(raw, { ...opts, signatureData: [opts] });
      assert.equal((await verifyDkim(Buffer.concat([Buffer.from(signatures), raw]), { dns: client })).result, 'pass');
      if (i === 0) afterFirst = dnsServer.queryCount(name, 'TXT'); // UDP, then TCP for the long answer
    }
    assert.ok(afterFirst >= 1);
    assert.equal(dnsServer.queryCount(name, 'TXT'), afterFirst, 'messages 2-5 reuse the key record');
    const missing = `${selector}x._domainkey.${SIGNER}`;
    const raw = await signed(mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] }), `${selector}x`);
    assert.notEqual((await verifyDkim(raw, { dns: client })).result, 'pass');
    const once = dnsServer.queryCount(missing, 'TXT');
    assert.notEqual((await verifyDkim(raw, { dns: client })).result, 'pass');
    assert.ok(once >= 1 && dnsServer.queryCount(missing, 'TXT') > once, 'a failed lookup is not kept');
  });

  test('a tampered body fails', async () => {
    const raw = await signed(mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson({ success: 10 }) }] }));
    const tampered = Buffer.from(raw.toString('latin1').replace('"total-successful-session-count": 10', '"total-successful-session-count": 99'), 'latin1');
    assert.notDeepEqual(tampered, raw);
    const dkim = await verifyDkim(tampered, { dns });
    assert.equal(dkim.result, 'fail');
    assert.equal(dkim.domain, SIGNER);
  });

  test('a tampered signed header fails', async () => {
    const raw = await signed(mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] }));
    const tampered = Buffer.from(raw.toString('latin1').replace('To: tlsrpt@example.test', 'To: tlsrpt@evil.test'), 'latin1');
    assert.equal((await verifyDkim(tampered, { dns })).result, 'fail');
  });

  test('an unsigned message is none; a key missing from DNS is not a pass', async () => {
    const raw = mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] });
    assert.deepEqual(await verifyDkim(raw, { dns }), { result: 'none' });
    const noKey = await verifyDkim(await signed(raw, 'nokey'), { dns });
    assert.notEqual(noKey.result, 'pass');
    assert.notEqual(noKey.result, 'none');
  });

  test('a DNS server that does not answer gives temperror within the client deadline', async () => {
    const silent = `silent-${process.pid}.reporter.test`;
    zone.setBehaviour(silent, 'silent', { subtree: true });
    const opts = { signingDomain: silent, selector: 's', privateKey };
    const raw = mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] });
    const { signatures } = await dkimSign(raw, { ...opts, signatureData: [opts] });
    const started = Date.now();
    const dkim = await verifyDkim(Buffer.concat([Buffer.from(signatures), raw]), { dns: new DnsClient({ servers: [dnsServer.hostPort], timeoutMs: 500 }) });
    assert.equal(dkim.result, 'temperror');
    assert.ok(Date.now() - started < 3000);
  });
});

describe('mbox', () => {
  function mbox(messages: Buffer[]): Buffer {
    const out: string[] = [];
    for (const m of messages) {
      const text = m.toString('latin1').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
      out.push(`From MAILER-DAEMON Wed May  1 12:00:00 2024\n${text}${text.endsWith('\n') ? '' : '\n'}\n`);
    }
    return Buffer.from(out.join(''), 'latin1');
  }

  test('splits on From lines, unescapes >From, keeps unescaped body From lines, streams in any chunk size', async () => {
    const a = Buffer.from('From: a@x\nSubject: one\n\nFrom the start\n>From quoted\nend\n');
    const b = Buffer.from('From: b@x\nSubject: two\n\nbody two\nFrom here on, an unescaped line that is not a postmark\n');
    const file = path.join(tmp.dir, `${unique('mb')}.mbox`);
    // Message a is escaped the mboxrd way; b's From line in the body follows a text line, so it is no separator.
    writeFileSync(file, `From a@x Wed May  1 12:00:00 2024\nFrom: a@x\nSubject: one\n\n>From the start\n>>From quoted\nend\n\nFrom b@x Wed May  1 12:00:01 2024\n${b.toString().replace(/\n$/, '')}\n`);
    for (const hwm of [3, 7, 64 * 1024]) {
      const got: Buffer[] = [];
      for await (const m of readMbox(file, { maxMessageBytes: 1 << 20, highWaterMark: hwm })) got.push(m.raw!);
      assert.equal(got.length, 2, `chunk ${hwm}`);
      assert.equal(got[0]!.toString(), a.toString(), `chunk ${hwm}`);
      assert.equal(got[1]!.toString(), b.toString(), `chunk ${hwm}`);
    }
  });

  test('a message over the limit is skipped without being held; the others still come', async () => {
    const file = path.join(tmp.dir, `${unique('mb')}.mbox`);
    const big = 'x'.repeat(5000);
    writeFileSync(file, `From a Wed May  1 12:00:00 2024\nSubject: small\n\nok\n\nFrom b Wed May  1 12:00:00 2024\nSubject: big\n\n${big}\n${big}${big}\n\nFrom c Wed May  1 12:00:00 2024\nSubject: last\n\nok\n`);
    const got = [];
    for await (const m of readMbox(file, { maxMessageBytes: 4000, highWaterMark: 1024 })) got.push(m);
    assert.deepEqual(got.map((m) => [m.index, m.raw !== undefined]), [[1, true], [2, false], [3, true]]);
    assert.ok(got[1]!.size > 15000);
  });

  test('importMbox: the three samples and a message without a report', async () => {
    const store = await freshStore();
    try {
      const file = path.join(tmp.dir, `${unique('mb')}.mbox`);
      const msgs: Buffer[] = SAMPLE_FILES.map((f) => readFileSync(path.join(MAIL_SAMPLES, f)));
      msgs.splice(1, 0, mimeMessage({ body: { type: 'text/plain', content: 'From the desk of nobody: no report' } }));
      writeFileSync(file, mbox(msgs));
      const items = await importMbox(store, file, { dns });
      assert.deepEqual(items.map((i) => [i.source, i.status, i.code]), [
        [`mbox:${file}#1`, 'imported', undefined],
        [`mbox:${file}#2`, 'rejected', 'mail-no-report'],
        [`mbox:${file}#3`, 'imported', undefined],
        [`mbox:${file}#4`, 'imported', undefined],
      ]);
      const again = await importMbox(store, file, { dns });
      assert.deepEqual(again.map((i) => i.status), ['duplicate', 'rejected', 'duplicate', 'duplicate']);
    } finally {
      await store.close();
    }
  });
});

describe('Maildir', () => {
  function makeMaildir(): string {
    const dir = path.join(tmp.dir, unique('Maildir'));
    for (const s of ['cur', 'new', 'tmp']) mkdirSync(path.join(dir, s), { recursive: true });
    return dir;
  }
  const list = (dir: string): string[] => ['new', 'cur', 'tmp'].flatMap((s) => readdirSync(path.join(dir, s)).map((n) => `${s}/${n}`)).sort();

  test('imports new/ and unseen cur/ messages; marks them seen only after commit; skips seen; deletes nothing', async () => {
    const dir = makeMaildir();
    assert.equal(await isMaildir(dir), true);
    assert.equal(await isMaildir(tmp.dir), false);
    writeFileSync(path.join(dir, 'new', '1700000001.M1P1.host'), readFileSync(path.join(MAIL_SAMPLES, SAMPLE_FILES[0]!)));
    writeFileSync(path.join(dir, 'new', '1700000002.M2P1.host'), mimeMessage({ body: { type: 'text/plain', content: 'no report' } }));
    writeFileSync(path.join(dir, 'cur', '1700000003.M3P1.host:2,F'), readFileSync(path.join(MAIL_SAMPLES, SAMPLE_FILES[1]!)));
    const seenId = unique('seen');
    writeFileSync(path.join(dir, 'cur', '1700000004.M4P1.host:2,S'), mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson({ id: seenId }) }] }));
    writeFileSync(path.join(dir, 'tmp', '1700000005.M5P1.host'), mimeMessage({ parts: [{ type: 'application/tlsrpt+json', content: reportJson() }] }));

    const store = await freshStore();
    try {
      const items = await importMaildir(store, dir, { dns });
      assert.deepEqual(items.map((i) => [i.source, i.status, i.code]), [
        [`maildir:${path.join(dir, 'cur', '1700000001.M1P1.host:2,S')}`, 'imported', undefined],
        [`maildir:${path.join(dir, 'cur', '1700000002.M2P1.host:2,S')}`, 'rejected', 'mail-no-report'],
        [`maildir:${path.join(dir, 'cur', '1700000003.M3P1.host:2,FS')}`, 'imported', undefined],
      ]);
      assert.deepEqual(list(dir), [
        'cur/1700000001.M1P1.host:2,S',
        'cur/1700000003.M3P1.host:2,FS',
        'cur/1700000004.M4P1.host:2,S',
        'new/1700000002.M2P1.host',
        'tmp/1700000005.M5P1.host',
      ]);
      // A second run finds only the message without a report (left unseen so it stays visible).
      const again = await importMaildir(store, dir, { dns });
      assert.deepEqual(again.map((i) => [i.status, i.code]), [['rejected', 'mail-no-report']]);
      // includeSeen: the seen message is imported too (and duplicates are harmless).
      const all = await importMaildir(store, dir, { dns, includeSeen: true });
      assert.deepEqual(all.map((i) => i.status).sort(), ['duplicate', 'duplicate', 'imported', 'rejected']);
      assert.ok(all.some((i) => i.reportId === seenId && i.status === 'imported'));
      assert.equal(list(dir).length, 5, 'nothing deleted');
    } finally {
      await store.close();
    }
  });

  test('when the store fails, nothing is marked processed', async () => {
    const dir = makeMaildir();
    writeFileSync(path.join(dir, 'new', '1700000010.M1P1.host'), readFileSync(path.join(MAIL_SAMPLES, SAMPLE_FILES[2]!)));
    const store = await freshStore();
    await store.close();
    // A closed store throws (or, at most, yields a rejected item); either way the message stays in new/.
    const outcome = await importMaildir(store, dir, { dns }).then((items) => items.map((i) => i.status), (err: Error) => err.message);
    assert.ok(typeof outcome === 'string' || !outcome.includes('imported'), String(outcome));
    assert.deepEqual(list(dir), ['new/1700000010.M1P1.host']);
    assert.ok(existsSync(path.join(dir, 'new', '1700000010.M1P1.host')));
  });

  test('withSeenFlag keeps other flags in order', () => {
    assert.equal(withSeenFlag('123.M1.host'), '123.M1.host:2,S');
    assert.equal(withSeenFlag('123.M1.host:2,FR'), '123.M1.host:2,FRS');
    assert.equal(withSeenFlag('123.M1.host:2,T'), '123.M1.host:2,ST');
    assert.equal(withSeenFlag('123.M1.host:2,S'), '123.M1.host:2,S');
  });
});
