/** `mtasts check DOMAIN...`: see docs/cli.md. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkDomains, type CheckManyOptions, type DomainReport } from '../check/check.js';
import { checkDomainsParallel, resolveWorkers } from '../check/parallel.js';
import { loadState, saveState } from '../check/state.js';
import { DnsClient } from '../dns/resolver.js';
import { hasErrors } from '../findings.js';
import { splitPemCertificates } from '../tls/certificate.js';
import { parseTrustMode, trustStore, type TrustStore } from '../tls/trust.js';
import { formatReport, Painter, ProgressBar } from './format.js';
import { usage, positiveNumber, UsageError, type Io } from './io.js';

export const CHECK_OPTIONS = {
  json: { type: 'boolean' },
  dns: { type: 'string', multiple: true },
  'ca-file': { type: 'string', multiple: true },
  trust: { type: 'string' },
  timeout: { type: 'string' },
  'no-smtp': { type: 'boolean' },
  concurrency: { type: 'string' },
  file: { type: 'string', short: 'f' },
  state: { type: 'string' },
  'https-port': { type: 'string' },
  'smtp-port': { type: 'string' },
  'block-private': { type: 'boolean' },
  ehlo: { type: 'string' },
  workers: { type: 'string' },
} as const;

/** `--dns` values: an IP address with an optional port (`1.2.3.4`, `1.2.3.4:53`, `[::1]:53`, `::1`). */
export function parseDnsServer(value: string): string {
  if (isIP(value)) return value;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(value);
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(value);
  const m = v4 ?? v6;
  if (m && isIP(m[1]!) && Number(m[2]) > 0 && Number(m[2]) < 65536) return value;
  throw new UsageError(`--dns needs an IP address with an optional port (HOST[:PORT], [IPv6]:PORT), got "${value}"`);
}

export function parsePort(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${name} needs a port number from 1 to 65535, got "${value}"`);
  return n;
}

function readDomainFile(path: string, io: Io): Promise<string[]> | string[] {
  const parse = (text: string): string[] =>
    text.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
  if (path === '-') return io.readStdin().then((b) => parse(b.toString('utf8')));
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read --file ${path}: ${(err as Error).message}`);
  }
}

export function readCaFiles(paths: readonly string[] | undefined): string[] | undefined {
  if (!paths || paths.length === 0) return undefined;
  return paths.flatMap((path) => {
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --ca-file ${path}: ${(err as Error).message}`);
    }
    const certs = splitPemCertificates(pem);
    if (certs.length === 0) throw new UsageError(`--ca-file ${path} holds no PEM certificate`);
    return certs;
  });
}

/** The trust store of `--trust bundled|system|both` and `--ca-file` (NODE_EXTRA_CA_CERTS always added). */
export function readTrust(mode: string | undefined, caFiles: readonly string[] | undefined): TrustStore {
  const m = mode === undefined ? 'bundled' : parseTrustMode(mode);
  if (!m) throw new UsageError(`--trust needs bundled, system or both, got "${mode}"`);
  const ca = readCaFiles(caFiles);
  return trustStore({ mode: m, ...(ca ? { extraPem: ca, extraLabel: `--ca-file (${caFiles!.join(', ')})` } : {}) });
}

export async function runCheck(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({ args, options: CHECK_OPTIONS, allowPositionals: true, strict: true }));
  const domains = [...positionals];
  if (values.file !== undefined) domains.push(...(await readDomainFile(values.file, io)));
  if (domains.length === 0) throw new UsageError('check needs at least one DOMAIN (or --file FILE)');

  const timeoutMs = positiveNumber('--timeout', values.timeout, 10) * 1000;
  const options: CheckManyOptions & { workers?: number } = {
    timeoutMs,
    concurrency: positiveNumber('--concurrency', values.concurrency, 10, { integer: true }),
    smtp: !values['no-smtp'],
    dns: new DnsClient({ ...(values.dns ? { servers: values.dns.map(parseDnsServer) } : {}), timeoutMs }),
  };
  const ca = readCaFiles(values['ca-file']);
  if (ca) options.ca = ca;
  options.trust = readTrust(values.trust, values['ca-file']);
  const httpsPort = parsePort('--https-port', values['https-port']);
  const smtpPort = parsePort('--smtp-port', values['smtp-port']);
  if (httpsPort) options.httpsPort = httpsPort;
  if (smtpPort) options.smtpPort = smtpPort;
  if (values['block-private']) options.blockPrivate = true;
  if (values.ehlo) options.ehloName = values.ehlo;
  const state = values.state !== undefined ? loadState(values.state) : undefined;
  if (state) options.previousByDomain = state;
  // Large batches are spread over worker threads (src/check/parallel.ts); output is the same.
  options.workers = resolveWorkers(parseWorkers(values.workers), domains.length, options.concurrency ?? 10);

  const reports = await runReports(domains, options, io, Boolean(values.json));
  if (values.state !== undefined && state) saveState(values.state, state, reports);
  return reports.some((r) => hasErrors(r.findings)) ? 1 : 0;
}

/** `--workers N|auto` (default auto). */
export function parseWorkers(value: string | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  if (/^[1-9]\d{0,2}$/.test(value)) return Number(value);
  throw new UsageError(`--workers needs auto or a whole number from 1 to 999, got "${value}"`);
}

/**
 * Checks the domains and prints each report: JSON lines, or sections on a terminal. With
 * `workers` above 1 the domains are spread over that many worker threads; the output, its order
 * and the reports are the same.
 */
export async function runReports(
  domains: readonly string[],
  options: CheckManyOptions & { workers?: number },
  io: Io,
  json: boolean,
): Promise<DomainReport[]> {
  const painter = Painter.for(io.stdout);
  const progress = new ProgressBar(io.stderr, domains.length, Boolean(io.stderr.isTTY) && domains.length > 1);
  // Print in input order, as soon as the next report in line is ready.
  const ready = new Map<number, DomainReport>();
  let printed = 0;
  const print = (r: DomainReport): void => {
    progress.clear();
    io.out(json ? JSON.stringify(r) : `${formatReport(r, painter)}\n`);
  };
  const workers = options.workers ?? 1;
  const check = workers > 1
    ? (o: CheckManyOptions) => checkDomainsParallel(domains, { ...o, workers })
    : (o: CheckManyOptions) => checkDomains(domains, o);
  const reports = await check({
    ...options,
    onReport: (report, index) => {
      ready.set(index, report);
      while (ready.has(printed)) {
        print(ready.get(printed)!);
        ready.delete(printed);
        printed++;
      }
      progress.tick();
    },
  });
  progress.clear();
  if (!json && domains.length > 1) {
    const count = (v: string): number => reports.filter((r) => r.verdict === v).length;
    io.out(`${domains.length} domains: ${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail`);
  }
  return reports;
}
