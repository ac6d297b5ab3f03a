/**
 * `mtasts serve --config FILE`: a thin wrapper over PolicyServer. Reloads on SIGHUP and when the
 * file changes; stops on SIGTERM/SIGINT. With `workers: N` (or `auto`), a primary process forks N
 * workers that share the listening sockets (node:cluster); the primary serves the admin listener
 * with metrics aggregated from all workers and passes SIGHUP on to them.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError, loadConfig, type ServeConfig } from '../serve/config.js';
import { PolicyServer } from '../serve/server.js';
import { usage, UsageError, type Io } from './io.js';

export async function runServe(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, 'check-config': { type: 'boolean' }, 'no-watch': { type: 'boolean' } },
    allowPositionals: false,
    strict: true,
  }));
  const file = values.config;
  if (file === undefined) throw new UsageError('serve needs --config FILE');
  let config: ServeConfig;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) io.err(`${i.file}:${i.line}:${i.column}: ${i.message}`);
      io.err('mtasts: the configuration has errors (config-invalid)');
      return 1;
    }
    throw err;
  }
  if (values['check-config']) {
    for (const w of config.warnings) io.err(`${w.file}:${w.line}:${w.column}: warning: ${w.message}`);
    io.out(`${file}: OK, ${config.domains.size} domain${config.domains.size === 1 ? '' : 's'}`);
    return 0;
  }
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });

  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config, log);
  const watchFile = !values['no-watch'];

  const worker = cluster.isWorker;
  const server = new PolicyServer({
    config, logger: log, watch: watchFile,
    ...(worker ? { listenOverride: { admin: null }, defaultMetrics: true } : {}),
  });
  try {
    await server.start();
  } catch (err) {
    log.error({ code: (err as Error).name === 'CertificateProblem' ? 'serve-certificate-missing' : undefined, err: (err as Error).message }, 'cannot start');
    return 1;
  }
  if (worker) {
    // Answer the primary's metric requests from this server's registry (the constructor installs the listener).
    AggregatorRegistry.setRegistries([server.registry]);
    new AggregatorRegistry();
  }
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the configuration');
    void server.reload();
  });
  if (worker) {
    process.on('message', (m) => {
      if (m === 'mtasts:reload') void server.reload();
    });
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      void server.close(5000).then(() => {
        // A worker's IPC channel would keep it alive: let go of it so the process can exit.
        if (worker) process.disconnect?.();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** The cluster primary: forks workers, restarts crashed ones, serves aggregated /metrics. */
async function runPrimary(config: ServeConfig, log: pino.Logger): Promise<number> {
  let stopping = false;
  log.info({ workers: config.workers }, 'starting workers');
  const fork = (): void => {
    cluster.fork();
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.process.pid, code, signal }, 'worker exited; starting a new one');
    setTimeout(fork, 1000).unref();
  });
  const aggregator = new AggregatorRegistry();
  let admin: http.Server | undefined;
  if (config.listen.admin) {
    admin = http.createServer({ headersTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (url === '/healthz') {
        const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead()).length;
        res.writeHead(alive > 0 ? 200 : 503, { 'content-type': 'application/json' })
          .end(`${JSON.stringify({ status: alive > 0 ? 'ok' : 'down', workers: alive, domains: config.domains.size })}\n`);
      } else if (url === '/metrics') {
        aggregator.clusterMetrics().then(
          (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(`${err.message}\n`),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      }
    });
    admin.maxConnections = 100;
    const a = config.listen.admin;
    await new Promise<void>((resolve, reject) => {
      admin!.once('error', reject);
      admin!.listen(a.port, a.host, () => resolve());
    });
    const addr = admin.address() as import('node:net').AddressInfo;
    log.info({ admin: `${addr.address}:${addr.port}` }, 'cluster primary: admin listener');
  }
  process.on('SIGHUP', () => {
    log.info('SIGHUP: telling the workers to reload');
    for (const w of Object.values(cluster.workers ?? {})) w?.send('mtasts:reload');
  });
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      stopping = true;
      admin?.close();
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      // Workers get 10 s to finish in-flight requests, then are killed.
      setTimeout(() => { for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL'); }, 10_000).unref();
      const done = (): void => {
        if (Object.values(cluster.workers ?? {}).every((w) => !w || w.isDead())) resolve(0);
      };
      cluster.on('exit', done);
      done();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
