/** Helpers shared by the mail, IMAP and HTTPS intake tests: reports, messages, archives, stores. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { ReportStore } from '../src/reports/store.js';

export const SAMPLES = new URL('./fixtures/tlsrpt/', import.meta.url).pathname;
export const MAIL_SAMPLES = path.join(SAMPLES, 'mail');

let counter = 0;
/** A unique token per call and run, for report ids and organisations. */
export function unique(prefix = 'r'): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A valid RFC 8460 report (JSON text) for `domain`, with the given organisation and id. */
export function reportJson(opts: { org?: string; id?: string; domain?: string; success?: number; failure?: number } = {}): string {
  const domain = opts.domain ?? 'example.test';
  return JSON.stringify({
    'organization-name': opts.org ?? 'Reporter Inc.',
    'date-range': { 'start-datetime': '2024-05-01T00:00:00Z', 'end-datetime': '2024-05-01T23:59:59Z' },
    'contact-info': 'tlsrpt@reporter.test',
    'report-id': opts.id ?? unique('id'),
    policies: [{
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing', `mx: mx.${domain}`, 'max_age: 86400'], 'policy-domain': domain, 'mx-host': [`mx.${domain}`] },
      summary: { 'total-successful-session-count': opts.success ?? 10, 'total-failure-session-count': opts.failure ?? 1 },
      'failure-details': opts.failure === 0 ? [] : [{ 'result-type': 'certificate-expired', 'sending-mta-ip': '192.0.2.1', 'receiving-mx-hostname': `mx.${domain}`, 'failed-session-count': opts.failure ?? 1 }],
    }],
  }, null, 1);
}

export const gz = (s: string | Buffer): Buffer => gzipSync(typeof s === 'string' ? Buffer.from(s) : s);

/** A zip archive with one stored (uncompressed) file. */
export function zipStored(name: string, data: Buffer): Buffer {
  const n = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(n.length, 28);
  const cdOffset = local.length + n.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + n.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

export interface MimePart {
  type: string;
  content: Buffer | string;
  filename?: string;
  /** Default base64 for Buffers, 7bit for strings. */
  encoding?: 'base64' | '7bit';
}

const base64Lines = (b: Buffer): string => b.toString('base64').replace(/.{76}/g, '$&\r\n');

/**
 * A message (CRLF line ends). With `parts`, a multipart (`multipart/report; report-type=tlsrpt`
 * by default, or `multipart/mixed`) with a text part first; with `body`, a single-part message.
 */
export function mimeMessage(opts: {
  headers?: Record<string, string>;
  parts?: MimePart[];
  multipart?: 'report' | 'mixed';
  body?: MimePart;
  reportDomain?: string;
  subject?: string;
}): Buffer {
  const head: string[] = [
    'From: TLS Reporter <noreply-tlsrpt@reporter.test>',
    'To: tlsrpt@example.test',
    `Subject: ${opts.subject ?? 'Report Domain: example.test Submitter: reporter.test Report-ID: <subject-id@reporter.test>'}`,
    'Date: Wed, 01 May 2024 12:00:00 +0000',
    `Message-ID: <${unique('m')}@reporter.test>`,
    'MIME-Version: 1.0',
  ];
  if (opts.reportDomain !== undefined) head.push(`TLS-Report-Domain: ${opts.reportDomain}`, 'TLS-Report-Submitter: reporter.test');
  for (const [k, v] of Object.entries(opts.headers ?? {})) head.push(`${k}: ${v}`);
  const encodePart = (p: MimePart): { headers: string[]; body: string } => {
    const enc = p.encoding ?? (typeof p.content === 'string' ? '7bit' : 'base64');
    const headers = [`Content-Type: ${p.type}${p.filename ? `; name="${p.filename}"` : ''}`, `Content-Transfer-Encoding: ${enc}`];
    if (p.filename) headers.push(`Content-Disposition: attachment; filename="${p.filename}"`);
    const body = enc === 'base64' ? base64Lines(typeof p.content === 'string' ? Buffer.from(p.content) : p.content) : String(p.content).replace(/\r?\n/g, '\r\n');
    return { headers, body };
  };
  if (opts.body) {
    const { headers, body } = encodePart(opts.body);
    return Buffer.from([...head, ...headers, '', body, ''].join('\r\n'));
  }
  const boundary = `b-${unique('x')}`;
  const top = (opts.multipart ?? 'report') === 'report'
    ? `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`
    : `Content-Type: multipart/mixed; boundary="${boundary}"`;
  const lines = [...head, top, '', 'This is a multi-part message in MIME format.', ''];
  lines.push(`--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', 'This is an aggregate TLS report.', '');
  for (const p of opts.parts ?? []) {
    const { headers, body } = encodePart(p);
    lines.push(`--${boundary}`, ...headers, '', body, '');
  }
  lines.push(`--${boundary}--`, '');
  return Buffer.from(lines.join('\r\n'));
}

/** A temp dir removed at exit (and by the returned cleanup). */
export function tempDir(prefix = 'mtasts-intake-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', cleanup);
  return { dir, cleanup };
}

/** A fresh SQLite report store in `dir`. */
export function openStore(dir: string, name = 'reports.db'): Promise<ReportStore> {
  return ReportStore.open(path.join(dir, name));
}
