/**
 * Child of bench/reports-import.ts: the honest bound. Reads the same files, takes the report out of
 * each, JSON.parse, and inserts the same rows into the same three tables with the same driver
 * (better-sqlite3, WAL, synchronous=FULL; the same columns and indexes), the raw gzip kept, in
 * transactions of 500 reports.
 * - a gzip file: gunzip;
 * - a mail message: the unavoidable part of mail intake, and only that: the base64 text of the
 *   `application/tlsrpt+gzip` part found with a regular expression (no MIME parser), base64-decoded,
 *   then gunzip as for a file.
 * No validation, no DKIM, no dedupe lookups: what any importer must at least do.
 *
 * Usage: node --import tsx bench/reports-bound-child.ts DIR DB
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';

const [dir, dbFile] = process.argv.slice(2) as [string, string];
const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`
  CREATE TABLE reports (id INTEGER PRIMARY KEY AUTOINCREMENT, organization TEXT NOT NULL, report_id TEXT NOT NULL,
    period_start TEXT NOT NULL, period_end TEXT NOT NULL, day TEXT NOT NULL, contact TEXT, policy_domain TEXT, report_domain TEXT,
    transport TEXT NOT NULL, source TEXT NOT NULL, dkim_result TEXT, dkim_domain TEXT, dkim_selector TEXT, dkim_detail TEXT,
    received_at TEXT NOT NULL, warnings TEXT NOT NULL, raw BLOB NOT NULL, UNIQUE (organization, report_id));
  CREATE TABLE policies (id INTEGER PRIMARY KEY AUTOINCREMENT, report INTEGER NOT NULL, position INTEGER NOT NULL, policy_type TEXT NOT NULL,
    policy_domain TEXT, domain TEXT, policy_string TEXT NOT NULL, mx_host TEXT NOT NULL, successful_sessions INTEGER NOT NULL,
    failed_sessions INTEGER NOT NULL, counted INTEGER NOT NULL);
  CREATE TABLE failures (id INTEGER PRIMARY KEY AUTOINCREMENT, report INTEGER NOT NULL, policy INTEGER NOT NULL, result_type TEXT NOT NULL,
    sending_mta_ip TEXT, receiving_ip TEXT, receiving_mx_hostname TEXT, receiving_mx_helo TEXT, failed_sessions INTEGER NOT NULL,
    additional_information TEXT, failure_reason_code TEXT);
  CREATE INDEX reports_day ON reports (day);
  CREATE INDEX reports_period_end ON reports (period_end);
  CREATE INDEX reports_period_start ON reports (period_start);
  CREATE INDEX policies_report ON policies (report);
  CREATE INDEX policies_domain ON policies (domain);
  CREATE INDEX failures_report ON failures (report);
  CREATE INDEX failures_policy ON failures (policy);`);
const insReport = db.prepare(`INSERT OR IGNORE INTO reports (organization, report_id, period_start, period_end, day, contact, policy_domain,
  transport, source, received_at, warnings, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)`);
const insPolicy = db.prepare(`INSERT INTO policies (report, position, policy_type, policy_domain, domain, policy_string, mx_host,
  successful_sessions, failed_sessions, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`);
const insFailure = db.prepare(`INSERT INTO failures (report, policy, result_type, sending_mta_ip, receiving_ip, receiving_mx_hostname,
  receiving_mx_helo, failed_sessions, additional_information, failure_reason_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);

const files = readdirSync(dir).sort().map((f) => path.join(dir, f));
const GZIP_PART = /Content-Type: application\/tlsrpt\+gzip[^]*?\r\n\r\n([A-Za-z0-9+/=\r\n]+)/;
let stored = 0;
const batch = db.transaction((items: { gz: Buffer; source: string; transport: string }[]) => {
  for (const { gz, source, transport } of items) {
    const r = JSON.parse(gunzipSync(gz).toString('utf8'));
    const start = r['date-range']['start-datetime'];
    const info = insReport.run(r['organization-name'], r['report-id'], start, r['date-range']['end-datetime'], start.slice(0, 10),
      r['contact-info'], r.policies[0].policy['policy-domain'], transport, source, new Date().toISOString(), gz);
    if (info.changes === 0) continue;
    stored++;
    r.policies.forEach((p: any, i: number) => {
      const pi = insPolicy.run(info.lastInsertRowid, i, p.policy['policy-type'], p.policy['policy-domain'], p.policy['policy-domain'],
        JSON.stringify(p.policy['policy-string'] ?? []), JSON.stringify(p.policy['mx-host'] ?? []),
        p.summary['total-successful-session-count'], p.summary['total-failure-session-count']);
      for (const f of p['failure-details'] ?? []) {
        insFailure.run(info.lastInsertRowid, pi.lastInsertRowid, f['result-type'], f['sending-mta-ip'] ?? null, f['receiving-ip'] ?? null,
          f['receiving-mx-hostname'] ?? null, f['receiving-mx-helo'] ?? null, f['failed-session-count'], f['additional-information'] ?? null,
          f['failure-reason-code'] ?? null);
      }
    });
  }
});
let pending: { gz: Buffer; source: string; transport: string }[] = [];
for (const file of files) {
  const bytes = readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) pending.push({ gz: bytes, source: file, transport: 'file' });
  else {
    const m = GZIP_PART.exec(bytes.toString('latin1'));
    if (m) pending.push({ gz: Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'), source: file, transport: 'mail' });
  }
  if (pending.length === 500) {
    batch(pending);
    pending = [];
  }
}
batch(pending);
db.close();
process.stdout.write(`${JSON.stringify({ stored })}\n`);
process.stderr.write(`BENCH ${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, code: 0 })}\n`);
