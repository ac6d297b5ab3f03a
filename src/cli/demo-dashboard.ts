/**
 * `mtasts demo --dashboard`: the sandbox world monitored over a few rounds, synthetic and sample
 * TLS-RPT reports imported, and the dashboard served on localhost (with "check now") until Ctrl-C.
 * Everything lives in a temporary folder, deleted on exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startDemo } from '../dashboard/demo.js';
import { startDashboard } from '../dashboard/server.js';
import { Monitor } from '../monitor/monitor.js';
import { Painter } from './format.js';
import type { Io } from './io.js';

export async function runDemoDashboard(io: Io, opts: { timeoutMs: number; listen: string; signal?: AbortSignal }): Promise<number> {
  const p = Painter.for(io.stdout);
  const started = Date.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'mtasts-demo-'));
  const dbFile = path.join(dir, 'demo.db');
  io.out(p.paint('bold', 'Starting the sandbox world on loopback, monitoring it and importing example TLS-RPT reports…'));
  const demo = await startDemo({
    db: dbFile,
    timeoutMs: opts.timeoutMs,
    progress: (m) => io.out(`  ${m}`),
  }).catch((err) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const monitor = new Monitor(demo.config, { logger: pino({ level: 'silent' }) });
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | null = null;
  try {
    await monitor.open();
    dashboard = await startDashboard({
      db: monitor.db,
      listen: opts.listen,
      readOnly: false,
      checkNow: async (domain) => {
        await monitor.checkNow(domain);
      },
      advisor: { ...demo.config.advisor },
    });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    io.out(`\n${demo.config.domains.length} domains monitored over ${demo.rounds.length} rounds, ${demo.reports.imported} reports imported, in ${secs} s.`);
    io.out(`\n  Dashboard: ${p.paint('bold', dashboard.url)}\n`);
    io.out('Open it in a browser: the portfolio, each domain\'s checks, history and TLS-RPT charts, the reports and the events.');
    io.out('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      opts.signal?.addEventListener('abort', stop, { once: true });
    });
    return 0;
  } finally {
    await dashboard?.close();
    await monitor.close().catch(() => {});
    await demo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
