/**
 * TLS-RPT report intake and analysis: the ten shared samples through the CLI, every file path
 * (JSON, gzip, zip, folders, standard input), dedupe, rejects, the gzip bomb, DKIM filtering,
 * retention, and the store on SQLite and PostgreSQL. (Mail, IMAP and the HTTPS receiver are in
 * test/reports-mail.test.ts, test/reports-imap.test.ts and test/reports-receiver.test.ts.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGzip, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { runCli } from './cli-harness.js';
import { PG_URL, requireService } from './prereq.js';
import { ReportStore } from '../src/reports/store.js';
import { ingestPayload, DEFAULT_LIMITS } from '../src/reports/ingest.js';
import { importReports } from '../src/reports/import.js';
import { summarizeReports } from '../src/reports/summary.js';
import { getReport, listReports } from '../src/reports/list.js';
import { sniffContent } from '../src/reports/decode.js';
import { startDnsServer, Zone } from '../src/testworld/dns-server.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures/tlsrpt');
const RUN = `${process.pid}_${Date.now().toString(36)}`;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-reports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function samples(): Promise<{ name: string; text: string; json: any }[]> {
  const names = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(names.map(async (name) => {
    const text = await readFile(path.join(FIXTURES, name), 'utf8');
    return { name, text, json: JSON.parse(text) };
  }));
}

/** Totals per (domain, policy type) straight from the JSON, to compare with `summary`. */
function expectedTotals(reports: any[]): Map<string, { success: number; failure: number }> {
  const m = new Map<string, { success: number; failure: number }>();
  for (const r of reports) {
    for (const p of r.policies) {
      const key = `${p.policy['policy-domain']}|${p.policy['policy-type']}`;
      const t = m.get(key) ?? { success: 0, failure: 0 };
      t.success += p.summary['total-successful-session-count'];
      t.failure += p.summary['total-failure-session-count'];
      m.set(key, t);
    }
  }
  return m;
}

/** A minimal zip writer (deflate entries) for the tests; yauzl reads it. */
function makeZip(entries: { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test('the ten shared samples import through the CLI, and summary shows their totals exactly as sent', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  const all = await samples();
  assert.equal(all.length, 10);
  // mail/ is imported too; its DKIM keys are looked up on an empty loopback zone, never the Internet.
  const dns = await startDnsServer({ zone: new Zone() });
  t.after(() => dns.close());
  const imp = await runCli(['reports', 'import', '--db', db, '--json', '--dns', dns.hostPort, FIXTURES]);
  assert.equal(imp.code, 1, imp.err); // SOURCES.txt in the folder is not a report: rejected, so exit 1
  const out = JSON.parse(imp.out);
  assert.equal(out.imported, 10);
  assert.equal(out.duplicates, 3, 'the three mail/ messages carry reports already imported from the JSON samples');
  assert.equal(out.rejected, 1);
  assert.deepEqual(out.items.filter((i: any) => i.status === 'rejected').map((i: any) => [path.basename(i.source), i.code]), [['SOURCES.txt', 'report-format-unknown']]);
  for (const i of out.items) assert.ok(['imported', 'duplicate', 'rejected'].includes(i.status));

  const sum = await runCli(['reports', 'summary', '--db', db, '--json', '--include-unverified']);
  assert.equal(sum.code, 0, sum.err);
  const s = JSON.parse(sum.out);
  assert.equal(s.reports, 10);
  for (const [key, totals] of expectedTotals(all.map((a) => a.json))) {
    const [domain, type] = key.split('|');
    const d = s.domains.find((x: any) => x.domain === domain);
    assert.ok(d, `domain ${domain} in the summary`);
    assert.deepEqual(d.policies[type!], totals, `${key}`);
  }
  // Sample 07 reports the same 2 sessions under sts and tlsa: the day counts them once.
  const krvtz = s.domains.find((x: any) => x.domain === 'krvtz.net');
  assert.deepEqual(krvtz.days.find((x: any) => x.date === '2024-09-13'), {
    date: '2024-09-13', success: 2, failure: 0, policies: { sts: { success: 2, failure: 0 }, tlsa: { success: 2, failure: 0 } },
  });
  // Sample 02's mismatch: totals as sent (1), result types from the details (2).
  const ex = s.domains.find((x: any) => x.domain === 'example.com');
  assert.equal(ex.organizations['Mail.ru'].failure, 1);
  assert.equal(ex.resultTypes['sts-policy-fetch-error'], 2);
  const cy = s.domains.find((x: any) => x.domain === 'company-y.example');
  assert.deepEqual(cy.mxHosts, { 'mx1.mail.company-y.example': 100, 'mx2.mail.company-y.example': 200, 'mx-backup.mail.company-y.example': 3 });

  // The readable table has a success-rate column.
  const table = await runCli(['reports', 'summary', '--db', db, '--domain', 'company-y.example']);
  assert.equal(table.code, 0);
  assert.match(table.out, /SUCCESS RATE/);
  assert.match(table.out, /company-y\.example\s+sts\s+5326\s+303\s+94\.62%/);
  assert.match(table.out, /^1 report$/m);

  // --since/--until select on the period's start day (until inclusive).
  const ranged = JSON.parse((await runCli(['reports', 'summary', '--db', db, '--json', '--since', '2024-01-01', '--until', '2024-09-03'])).out);
  assert.equal(ranged.reports, 3); // 02, 03, 04 (07 starts on 2024-09-13)

  const list = await runCli(['reports', 'list', '--db', db, '--json']);
  const l = JSON.parse(list.out);
  assert.equal(l.total, 10);
  const mailru = l.reports.find((r: any) => r.reportId === 'b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru');
  assert.ok(mailru.warnings.some((w: any) => w.code === 'report-total-mismatch'));
  const text = await runCli(['reports', 'list', '--db', db]);
  assert.equal(text.lines.length, 11);
  assert.match(text.out, /Mail\.ru {2}b28254de.*report-total-mismatch/);
});

test('mailed reports whose DKIM did not verify are left out unless --include-unverified', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  // An empty zone on loopback (--dns): the signers' keys are not found, so DKIM cannot pass.
  const dns = await startDnsServer({ zone: new Zone() });
  t.after(() => dns.close());
  const imp = JSON.parse((await runCli(['reports', 'import', '--db', db, '--json', '--dns', dns.hostPort, path.join(FIXTURES, 'mail')])).out);
  assert.equal(imp.imported, 3, JSON.stringify(imp.items));
  assert.ok(dns.queries.size > 0, 'DKIM keys were looked up through --dns');
  const listed = JSON.parse((await runCli(['reports', 'list', '--db', db, '--json'])).out);
  assert.ok(listed.reports.every((r: any) => r.transport === 'mail' && r.dkim !== 'pass' && r.dkim !== null), JSON.stringify(listed.reports.map((r: any) => r.dkim)));
  const strict = JSON.parse((await runCli(['reports', 'summary', '--db', db, '--json'])).out);
  assert.equal(strict.reports, 0);
  const all = JSON.parse((await runCli(['reports', 'summary', '--db', db, '--json', '--include-unverified'])).out);
  assert.equal(all.reports, 3);
});

test('dedupe across paths: the same report as JSON, gzip and zip under other names counts once', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  const text = await readFile(path.join(FIXTURES, '01_rfc8460-example.json'));
  await mkdir(path.join(dir, 'a/b'), { recursive: true });
  await writeFile(path.join(dir, 'a/report.txt'), text);
  await writeFile(path.join(dir, 'a/b/other-name.bin'), gzipSync(text));
  await writeFile(path.join(dir, 'x.zip'), makeZip([{ name: 'readme.txt', data: Buffer.from('hello') }, { name: 'r.json', data: text }]));
  const r = await runCli(['reports', 'import', '--db', db, '--json', path.join(dir, 'a'), path.join(dir, 'x.zip')]);
  assert.equal(r.code, 0, r.out);
  const out = JSON.parse(r.out);
  assert.deepEqual([out.imported, out.duplicates, out.rejected], [1, 2, 0]);
  assert.ok(out.items.every((i: any) => i.organization === 'Company-X' && i.reportId === '5065427c-23d3-47ca-b6e0-946ea0e8c4be'));
  const s = JSON.parse((await runCli(['reports', 'summary', '--db', db, '--json'])).out);
  assert.equal(s.reports, 1);
  assert.deepEqual(s.domains[0].policies.sts, { success: 5326, failure: 303 });
});

test('standard input: JSON through the CLI, gzip through the library', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  const text = await readFile(path.join(FIXTURES, '05_google_sts_mx-host-array.json'), 'utf8');
  const r = await runCli(['reports', 'import', '--db', db, '--json', '-'], text);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(JSON.parse(r.out).items.map((i: any) => [i.source, i.status]), [['-', 'imported']]);
  const store = await ReportStore.open(db);
  try {
    const gz = gzipSync(await readFile(path.join(FIXTURES, '06_microsoft_2023_no-timezone.json')));
    const items = await importReports(store, ['-'], { readStdin: async () => gz });
    assert.deepEqual(items.map((i) => [i.status, i.organization]), [['imported', 'Microsoft Corporation']]);
    // An mbox on standard input (two of the shared mail samples), DKIM looked up on an empty zone.
    const dns = await startDnsServer({ zone: new Zone() });
    t.after(() => dns.close());
    const { DnsClient } = await import('../src/dns/resolver.js');
    const mails = await Promise.all(['01_google_2022_mox-example.eml', '02_microsoft_2023_no-timezone.eml'].map((f) => readFile(path.join(FIXTURES, 'mail', f), 'latin1')));
    const mbox = mails.map((m) => `From tlsrpt@example.com Thu Jan  1 00:00:00 2024\n${m.replace(/\r\n/g, '\n').replace(/^From /gm, '>From ')}\n`).join('');
    const fromMbox = await importReports(store, ['-'], { readStdin: async () => Buffer.from(mbox, 'latin1'), dns: new DnsClient({ servers: [dns.hostPort], timeoutMs: 2000 }) });
    // Both carry reports imported above (samples 05 and 06), under other Subjects: duplicates.
    assert.deepEqual(fromMbox.map((i) => [i.source, i.status, i.reportId]), [
      ['mbox:-#1', 'duplicate', '2022-09-15T00:00:00Z_test.xmox.nl'],
      ['mbox:-#2', 'duplicate', '133198585438131172+test.xmox.nl'],
    ]);
    const empty = await importReports(store, ['-'], { readStdin: async () => Buffer.alloc(0) });
    assert.equal(empty[0]!.code, 'report-source-empty');
  } finally {
    await store.close();
  }
});

test('rejects store nothing and say why; exit status 1 when anything is rejected, 2 for usage errors', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  await mkdir(path.join(dir, 'empty'));
  await writeFile(path.join(dir, 'neg.json'), JSON.stringify({ ...JSON.parse(await readFile(path.join(FIXTURES, '04_google_no-policy-found.json'), 'utf8')), policies: [] }));
  await writeFile(path.join(dir, 'bad.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
  await writeFile(path.join(dir, 'bad.zip'), Buffer.from('PK\x03\x04garbage'));
  await writeFile(path.join(dir, 'photo.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]));
  const r = await runCli(['reports', 'import', '--db', db, '--json', path.join(dir, 'neg.json'), path.join(dir, 'bad.gz'),
    path.join(dir, 'bad.zip'), path.join(dir, 'photo.jpg'), path.join(dir, 'empty'), path.join(dir, 'missing.json')]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.out);
  assert.deepEqual(out.items.map((i: any) => [path.basename(i.source), i.status, i.code]), [
    ['neg.json', 'rejected', 'report-policies-missing'],
    ['bad.gz', 'rejected', 'report-gzip-invalid'],
    ['bad.zip', 'rejected', 'report-zip-invalid'],
    ['photo.jpg', 'rejected', 'report-format-unknown'],
    ['empty', 'rejected', 'report-source-empty'],
    ['missing.json', 'rejected', 'report-source-unreadable'],
  ]);
  for (const i of out.items) assert.ok(i.message.length > 10);
  const s = JSON.parse((await runCli(['reports', 'summary', '--db', db, '--json'])).out);
  assert.deepEqual(s, { reports: 0, domains: [] });

  assert.equal((await runCli(['reports', 'import', '--db', db])).code, 2);
  assert.equal((await runCli(['reports', 'summary', '--db', db, '--since', 'last week'])).code, 2);
  assert.equal((await runCli(['reports', 'summary', '--db', db, '--since', '2024-02-30'])).code, 2);
  assert.equal((await runCli(['reports', 'frobnicate'])).code, 2);
  assert.equal((await runCli(['reports', 'list', '--db', db, '--bogus'])).code, 2);
});

test('a 200 MB gzip bomb is refused quickly, in bounded memory, and stores nothing', async (t) => {
  const dir = await tempDir(t);
  const store = await ReportStore.open(path.join(dir, 'r.db'));
  t.after(() => store.close());
  // 200 MB of '{' + spaces, gzip-compressed as a stream (never 200 MB in memory here).
  const bomb = await new Promise<Buffer>((resolve, reject) => {
    const gz = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    gz.on('end', () => resolve(Buffer.concat(chunks)));
    gz.on('error', reject);
    const block = Buffer.alloc(1 << 20, 0x20);
    gz.write('{');
    let i = 0;
    const pump = (): void => {
      while (i < 200) {
        i++;
        if (!gz.write(block)) return void gz.once('drain', pump);
      }
      gz.end();
    };
    pump();
  });
  assert.ok(bomb.length < 1 << 20, `the bomb is small (${bomb.length} bytes)`);
  assert.equal(sniffContent(bomb), 'gzip');
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 2);
  const cpu0 = process.cpuUsage();
  const items = await ingestPayload(store, { bytes: bomb, source: 'bomb.gz', transport: 'file' });
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.deepEqual(items.map((i) => [i.status, i.code]), [['rejected', 'report-too-large']]);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  assert.ok(cpuMs < 500, `CPU ${cpuMs.toFixed(0)} ms`);
  const grewMb = (peak - rss0) / 2 ** 20;
  t.diagnostic(`gzip bomb: ${bomb.length} bytes, refused after ${cpuMs.toFixed(0)} ms CPU, RSS +${grewMb.toFixed(1)} MB`);
  // The inflater stops at DEFAULT_LIMITS.maxJsonBytes (8 MiB) of output.
  assert.ok(grewMb < 40, `memory grew by ${grewMb.toFixed(1)} MB`);
  assert.equal((await summarizeReports(store, {})).reports, 0);
  assert.equal(DEFAULT_LIMITS.maxJsonBytes, 8 << 20);

  // A zip entry that declares a size over the limit is refused before it is inflated.
  const zip = makeZip([{ name: 'big.json', data: Buffer.alloc(64 * 1024, 0x20) }]);
  const z = await ingestPayload(store, { bytes: zip, source: 'big.zip', transport: 'file' }, { ...DEFAULT_LIMITS, maxJsonBytes: 1024 });
  assert.equal(z[0]!.code, 'report-too-large');
  const huge = await ingestPayload(store, { bytes: Buffer.alloc(2048, 0x20), source: 'x', transport: 'https' }, { ...DEFAULT_LIMITS, maxCompressedBytes: 1024 });
  assert.equal(huge[0]!.code, 'report-too-large');
});

/** The store's behaviour, the same on SQLite and PostgreSQL. */
async function storeScenario(store: ReportStore): Promise<void> {
  const all = await samples();
  const first = await Promise.all(all.map((s) => ingestPayload(store, { bytes: Buffer.from(s.text), source: s.name, transport: 'file' })));
  assert.deepEqual(first.flat().map((i) => i.status), Array(10).fill('imported'));
  const again = await Promise.all(all.slice(0, 3).map((s) => ingestPayload(store, { bytes: gzipSync(s.text), source: `again/${s.name}.gz`, transport: 'https' })));
  assert.deepEqual(again.flat().map((i) => i.status), ['duplicate', 'duplicate', 'duplicate']);

  const s = await summarizeReports(store, {});
  assert.equal(s.reports, 10);
  for (const [key, totals] of expectedTotals(all.map((a) => a.json))) {
    const [domain, type] = key.split('|');
    assert.deepEqual(s.domains.find((d) => d.domain === domain)?.policies[type!], totals, key);
  }

  // A mailed report without policy-domain: shown under the TLS-Report-Domain; only with a DKIM pass.
  const noDomain = JSON.parse(all[4]!.text);
  noDomain['report-id'] = `nodomain-${RUN}`;
  delete noDomain.policies[0].policy['policy-domain'];
  const failed = { ...noDomain, 'report-id': `dkimfail-${RUN}` };
  const [pass] = await ingestPayload(store, { bytes: Buffer.from(JSON.stringify(noDomain)), source: 'mail-pass.eml', transport: 'mail', dkim: { result: 'pass', domain: 'google.com' }, reportDomain: 'Intake.Example' });
  const [fail] = await ingestPayload(store, { bytes: Buffer.from(JSON.stringify(failed)), source: 'mail-fail.eml', transport: 'mail', dkim: { result: 'fail', detail: 'body hash' }, reportDomain: null });
  assert.equal(pass!.status, 'imported');
  assert.ok(pass!.warnings!.some((w) => w.code === 'report-policy-domain-missing'));
  assert.equal(fail!.status, 'imported');
  const verified = await summarizeReports(store, {});
  assert.equal(verified.reports, 11);
  assert.deepEqual(verified.domains.find((d) => d.domain === 'intake.example')?.policies.sts, { success: 3, failure: 0 });
  assert.equal(verified.domains.find((d) => d.domain === null), undefined);
  const everything = await summarizeReports(store, { includeUnverified: true });
  assert.equal(everything.reports, 12);
  assert.deepEqual(everything.domains.at(-1)!.domain, null);
  assert.deepEqual((await summarizeReports(store, { domains: ['KRVTZ.net'] })).domains.map((d) => d.domain), ['krvtz.net']);

  const list = await listReports(store, { domain: 'krvtz.net' });
  assert.equal(list.total, 2);
  const one = await getReport(store, list.items.find((i) => i.organization === 'Microsoft Corporation')!.id);
  assert.equal(one!.raw, all.find((a) => a.name.startsWith('07'))!.text);
  assert.equal(one!.success, 2, 'sts and tlsa sessions are not added together');
  const dk = await getReport(store, (await listReports(store, { organization: 'Google Inc.', limit: 10 })).items.find((i) => i.reportId === `dkimfail-${RUN}`)!.id);
  assert.deepEqual(dk!.dkimInfo, { result: 'fail', detail: 'body hash' });
  assert.equal(await getReport(store, '999999999'), null);

  // Retention: everything whose period ended more than 2000 days before 2026-02-01 goes, rows and all.
  const deleted = await store.prune(2000, new Date('2026-02-01T00:00:00Z'));
  assert.equal(deleted, 1); // the RFC example of 2016
  const left = await store.db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${store.tables.failures} f WHERE NOT EXISTS (SELECT 1 FROM ${store.tables.reports} r WHERE r.id = f.report)`);
  assert.equal(Number(left[0]!.n), 0);
  assert.equal((await summarizeReports(store, { includeUnverified: true })).reports, 11);
}

test('store on SQLite: samples, dedupe, DKIM filter, intake domain, raw copy, retention', async (t) => {
  const dir = await tempDir(t);
  const store = await ReportStore.open(path.join(dir, 'r.db'));
  try {
    await storeScenario(store);
  } finally {
    await store.close();
  }
});

test('store on PostgreSQL: the same behaviour', async (t) => {
  const store = await requireService(t, `PostgreSQL at ${PG_URL}`, () => ReportStore.open(PG_URL, { tablePrefix: `tlsrpt_t${RUN}_` }));
  if (store === undefined) return;
  try {
    await storeScenario(store);
  } finally {
    await store.dropTables();
    await store.close();
  }
});

test('a bulk import shares commits, and every item it calls imported is visible to another connection', async (t) => {
  const dir = await tempDir(t);
  const db = path.join(dir, 'r.db');
  await mkdir(path.join(dir, 'in'));
  const base = JSON.parse(await readFile(path.join(FIXTURES, '03_google-like_validation-failure_anonymised.json'), 'utf8'));
  const n = 700; // more than one batch of 500
  for (let i = 0; i < n; i++) {
    await writeFile(path.join(dir, 'in', `r${i}.gz`), gzipSync(JSON.stringify({ ...base, 'report-id': `bulk-${i}` })));
  }
  const store = await ReportStore.open(db);
  let transactions = 0;
  const original = store.insertMany.bind(store);
  store.insertMany = (inputs) => {
    transactions++;
    return original(inputs);
  };
  const items = await importReports(store, [path.join(dir, 'in')]);
  assert.equal(items.filter((i) => i.status === 'imported').length, n);
  assert.equal(store.lingerMs, 0, 'the bulk linger is undone afterwards');
  // Another connection sees every report the import called imported.
  const other = await ReportStore.open(db);
  try {
    const s = await summarizeReports(other, { domains: ['example.com'] });
    assert.equal(s.reports, n);
    assert.deepEqual(s.domains[0]!.policies.sts, { success: 0, failure: 3 * n });
  } finally {
    await other.close();
    await store.close();
  }
  assert.ok(transactions >= 2 && transactions < n / 10, `${transactions} transactions for ${n} reports`);
});
