/**
 * Bench: `mtasts reports import DIR/` of 10,000 TLS-RPT reports into SQLite — a mix of gzip JSON
 * files and DKIM-signed mail messages (.eml, multipart/report with a gzip part, keys served by a
 * DNS server on loopback given with --dns) — against the honest bound measured in the same run:
 * the same files read, decompressed, JSON.parse'd and inserted into the same tables with the same
 * driver, without validation, MIME parsing, DKIM or dedupe (bench/reports-bound-child.ts).
 *
 * Both are compiled to JavaScript with esbuild (as `npm run build` does; no tsx at run time) and run
 * as child processes (startup included), alternating, each into a fresh database file.
 * Prints reports/s, peak RSS and the ratio. Target: mtasts ≥ 0.8× the bound.
 *
 * Usage: npm run bench:reports -- [--reports N] [--mail-share 0.2] [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { startDnsServer, Zone } from '../src/testworld/dns-server.js';

const { values } = parseArgs({
  options: {
    reports: { type: 'string', default: '10000' },
    'mail-share': { type: 'string', default: '0.2' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.reports);
const MAIL_SHARE = Number(values['mail-share']);
const ROUNDS = Number(values.rounds);
const ROOT = path.resolve(import.meta.dirname, '..');

const RESULT_TYPES = ['certificate-expired', 'starttls-not-supported', 'validation-failure', 'certificate-host-mismatch', 'sts-policy-fetch-error'];
const ORGS = ['Google Inc.', 'Microsoft Corporation', 'Mail.ru', 'Yahoo', 'Comcast', 'Fastmail'];

/** A realistic daily report: 1–2 policies (sts, sometimes also tlsa), 0–4 failure details. */
function report(i: number): string {
  const domain = `d${i % 200}.example`;
  const day = new Date(Date.UTC(2025, 0, 1) + (i % 365) * 86_400_000).toISOString().slice(0, 10);
  const nFail = i % 5;
  const details = Array.from({ length: nFail }, (_, k) => ({
    'result-type': RESULT_TYPES[(i + k) % RESULT_TYPES.length],
    'sending-mta-ip': `192.0.2.${(i + k) % 250}`,
    'receiving-ip': `198.51.100.${k + 1}`,
    'receiving-mx-hostname': `mx${k}.${domain}`,
    'failed-session-count': k + 1,
  }));
  const failures = details.reduce((a, d) => a + d['failed-session-count'], 0);
  const sts = {
    policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', `mx: *.${domain}`, 'max_age: 604800'], 'policy-domain': domain, 'mx-host': [`*.${domain}`] },
    summary: { 'total-successful-session-count': 100 + (i % 1000), 'total-failure-session-count': failures },
    'failure-details': details,
  };
  const policies: unknown[] = [sts];
  if (i % 7 === 0) {
    policies.push({
      policy: { 'policy-type': 'tlsa', 'policy-string': ['3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF'], 'policy-domain': domain },
      summary: { 'total-successful-session-count': 100 + (i % 1000), 'total-failure-session-count': 0 },
    });
  }
  return JSON.stringify({
    'organization-name': ORGS[i % ORGS.length],
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': 'smtp-tls-reporting@reporter.example',
    'report-id': `${day}T00:00:00Z_${domain}_${i}`,
    policies,
  });
}

function message(i: number, gz: Buffer): string {
  const domain = `d${i % 200}.example`;
  const b64 = gz.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    'From: TLS Reporting <noreply-smtp-tls-reporting@reporter.bench.test>',
    `To: tlsrpt@${domain}`,
    `Subject: Report Domain: ${domain} Submitter: reporter.bench.test Report-ID: <mail-${i}>`,
    'Date: Thu, 02 Jan 2025 10:00:00 +0000',
    `Message-ID: <bench-${i}@reporter.bench.test>`,
    `TLS-Report-Domain: ${domain}`,
    'TLS-Report-Submitter: reporter.bench.test',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type="tlsrpt"; boundary="b-bench"',
    '',
    '--b-bench',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is an aggregate TLS report from reporter.bench.test for ${domain}.`,
    '--b-bench',
    `Content-Type: application/tlsrpt+gzip; name="reporter.bench.test!${domain}!${i}.json.gz"`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="reporter.bench.test!${domain}!${i}.json.gz"`,
    '',
    b64,
    '--b-bench--',
    '',
  ].join('\r\n');
}

interface RunResult {
  ms: number;
  maxRssMb: number;
  stored: number;
}

/** Where the children are compiled to (inside node_modules/.cache, so packages resolve as in dist/). */
const BUILD = path.join(ROOT, 'node_modules/.cache/mtasts-bench-reports');

/**
 * Compiles both children to plain JavaScript with esbuild (what `npm run build` gives users: no tsx
 * at run time), one chunk per dynamic import as in dist/.
 */
async function buildChildren(): Promise<{ cli: string; bound: string }> {
  const esbuild = await import('esbuild');
  rmSync(BUILD, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { cli: path.join(ROOT, 'bench/reports-cli-child.ts'), bound: path.join(ROOT, 'bench/reports-bound-child.ts') },
    outdir: BUILD, bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
    outExtension: { '.js': '.mjs' }, logLevel: 'error',
  });
  return { cli: path.join(BUILD, 'cli.mjs'), bound: path.join(BUILD, 'bound.mjs') };
}

function run(args: string[], parse: (stdout: string) => number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const ms = performance.now() - t0;
      const m = /BENCH (\{.*\})/.exec(err);
      if (!m) return reject(new Error(`child failed: ${err.slice(-2000)}`));
      const info = JSON.parse(m[1]!) as { maxRssKb: number };
      try {
        resolve({ ms, maxRssMb: info.maxRssKb / 1024, stored: parse(Buffer.concat(out).toString()) });
      } catch (e) {
        reject(e);
      }
    });
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function mainBench(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'mtasts-bench-reports-'));
  const dir = path.join(work, 'in');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const zone = new Zone();
  zone.set('bench._domainkey.reporter.bench.test', [{ type: 'TXT', data: [`v=DKIM1; k=rsa; p=${pub}`] }]);
  const dns = await startDnsServer({ zone });
  try {
    const t0 = performance.now();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    let mails = 0;
    for (let i = 0; i < N; i++) {
      const gz = gzipSync(report(i));
      // Every 1/MAIL_SHARE-th report is a signed message; names don't say which is which.
      if (MAIL_SHARE > 0 && i % Math.round(1 / MAIL_SHARE) === 0) {
        const msg = message(i, gz);
        const signed = await dkimSign(msg, {
          // mailauth reads signatureData (its typings name the flat form); the cast bridges the two.
          signatureData: [{ signingDomain: 'reporter.bench.test', selector: 'bench', privateKey: pem }],
        } as unknown as Parameters<typeof dkimSign>[1]);
        if (signed.signatures.trim() === '') throw new Error('DKIM signing produced no signature');
        writeFileSync(path.join(dir, `r${String(i).padStart(6, '0')}.eml`), signed.signatures + msg);
        mails++;
      } else {
        writeFileSync(path.join(dir, `r${String(i).padStart(6, '0')}.json.gz`), gz);
      }
    }
    console.log(`${N} reports (${N - mails} gzip JSON, ${mails} DKIM-signed mail) generated in ${((performance.now() - t0) / 1000).toFixed(1)} s in ${dir}`);

    const built = await buildChildren();
    const results: Record<'mtasts' | 'bound', RunResult[]> = { mtasts: [], bound: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order: ('mtasts' | 'bound')[] = round % 2 === 1 ? ['mtasts', 'bound'] : ['bound', 'mtasts'];
      for (const who of order) {
        const db = path.join(work, `${who}-${round}.db`);
        const r = who === 'mtasts'
          ? await run([built.cli, 'reports', 'import', '--db', db, '--json', '--dns', dns.hostPort, dir], (out) => {
            const o = JSON.parse(out) as { imported: number; rejected: number; items: { status: string; code?: string }[] };
            if (o.rejected > 0) throw new Error(`rejected: ${JSON.stringify(o.items.find((i) => i.status === 'rejected'))}`);
            return o.imported;
          })
          : await run([built.bound, dir, db], (out) => (JSON.parse(out) as { stored: number }).stored);
        if (r.stored !== N) throw new Error(`${who} stored ${r.stored} of ${N}`);
        results[who].push(r);
        console.log(`round ${round} ${who.padEnd(6)} ${(N / (r.ms / 1000)).toFixed(0).padStart(6)} reports/s  ${(r.ms / 1000).toFixed(2)} s  peak RSS ${r.maxRssMb.toFixed(0)} MB`);
        rmSync(db, { force: true });
        rmSync(`${db}-wal`, { force: true });
        rmSync(`${db}-shm`, { force: true });
      }
    }
    const rate = (who: 'mtasts' | 'bound'): number => median(results[who].map((r) => N / (r.ms / 1000)));
    const ratios = results.mtasts.map((m, i) => results.bound[i]!.ms / m.ms);
    console.log('');
    console.log('| contender | median reports/s | peak RSS (MB, max) |');
    console.log('| --- | ---: | ---: |');
    console.log(`| mtasts reports import (CLI) | ${rate('mtasts').toFixed(0)} | ${Math.max(...results.mtasts.map((r) => r.maxRssMb)).toFixed(0)} |`);
    console.log(`| bound: read + (mail: regex-extract + base64-decode the report part) + gunzip + JSON.parse + insert; no validation, MIME parse or DKIM | ${rate('bound').toFixed(0)} | ${Math.max(...results.bound.map((r) => r.maxRssMb)).toFixed(0)} |`);
    console.log('');
    console.log(`ratio mtasts / bound: median ${median(ratios).toFixed(2)}× (per round ${ratios.map((r) => r.toFixed(2)).join(' / ')}); target ≥ 0.8×`);
  } finally {
    await dns.close();
    rmSync(work, { recursive: true, force: true });
    rmSync(BUILD, { recursive: true, force: true });
  }
}

await mainBench();
