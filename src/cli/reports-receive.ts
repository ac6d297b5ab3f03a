/**
 * `mtasts reports receive --listen HOST:PORT [--path /tlsrpt] [--cert FILE --key FILE] [--db DB]`:
 * the RFC 8460 §5.4 HTTPS report endpoint as a daemon. HTTPS with the given certificate, or plain
 * HTTP (for a TLS-terminating reverse proxy) without one. Logs JSON lines (pino) like `serve`;
 * SIGHUP re-reads the certificate files; SIGTERM/SIGINT stop accepting, let requests in flight
 * finish, close the database and exit 0.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseHostPort, startReportReceiver } from '../reports/receiver.js';
import { ReportStore } from '../reports/store.js';
import { databaseSpec } from '../store/sql.js';
import { positiveNumber, usage, UsageError, type Io } from './io.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export async function runReportsReceive(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: {
      listen: { type: 'string' },
      path: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      db: { type: 'string' },
      'body-timeout': { type: 'string' },
      'log-level': { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  }));
  if (values.listen === undefined) throw new UsageError('reports receive needs --listen HOST:PORT');
  if (parseHostPort(values.listen) === null) throw new UsageError(`--listen needs HOST:PORT (an address or [IPv6], and a port), got "${values.listen}"`);
  const path = values.path ?? '/tlsrpt';
  if (!path.startsWith('/') || /[\s?#]/.test(path)) throw new UsageError(`--path must be a URL path starting with "/", got "${path}"`);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('give --cert and --key together (or neither, for plain HTTP behind a proxy)');
  const level = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const bodyTimeoutMs = positiveNumber('--body-timeout', values['body-timeout'], 30) * 1000;

  const readPem = (): { cert: Buffer; key: Buffer } | undefined => (values.cert !== undefined && values.key !== undefined
    ? { cert: readFileSync(values.cert), key: readFileSync(values.key) } : undefined);
  let pem: { cert: Buffer; key: Buffer } | undefined;
  try {
    pem = readPem();
  } catch (err) {
    io.err(`mtasts: cannot read the certificate or key: ${(err as Error).message}`);
    return 1;
  }

  const log = pino({ level, base: { pid: process.pid } });
  const spec = databaseSpec(values.db);
  let store: ReportStore;
  try {
    store = await ReportStore.open(spec);
  } catch (err) {
    io.err(`mtasts: cannot open the report database ${spec}: ${(err as Error).message}`);
    return 1;
  }
  let receiver;
  try {
    receiver = await startReportReceiver({ store, listen: values.listen, path, bodyTimeoutMs, log, ...(pem ?? {}) });
  } catch (err) {
    await store.close();
    log.error({ err: (err as Error).message }, 'cannot start');
    return 1;
  }
  log.info({ url: receiver.url, db: store.db.name, tls: pem !== undefined }, 'mtasts reports receive listening');

  const onHup = (): void => {
    if (!pem) return;
    try {
      const next = readPem()!;
      receiver.setCertificate(next.cert, next.key);
      log.info('SIGHUP: certificate reloaded');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'SIGHUP: reading the certificate failed; keeping the old one');
    }
  };
  process.on('SIGHUP', onHup);
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      process.off('SIGHUP', onHup);
      void receiver.close(10_000)
        .then(() => store.close())
        .then(() => resolve(0), (err: Error) => {
          log.error({ err: err.message }, 'closing failed');
          resolve(1);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
