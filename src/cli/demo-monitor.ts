/**
 * `mtasts demo --monitor` (what `npm start` runs after the checks): the monitor's main job on its
 * embedded default, with nothing to set up — the sandbox world monitored over a few rounds into a
 * SQLite file, example TLS-RPT reports imported into the same file, then the portfolio status and
 * the events as `mtasts monitor status` and `mtasts monitor events` print them. The file lives in a
 * temporary folder, deleted on exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemo } from '../dashboard/demo.js';
import { listEvents, openMonitorDb } from '../monitor/history.js';
import { monitorStatus } from '../monitor/status.js';
import { Painter } from './format.js';
import type { Io } from './io.js';
import { formatStatus } from './monitor.js';

export async function runDemoMonitor(io: Io, opts: { timeoutMs: number }): Promise<number> {
  const p = Painter.for(io.stdout);
  const dir = mkdtempSync(path.join(tmpdir(), 'mtasts-demo-'));
  const dbFile = path.join(dir, 'mtasts.db');
  try {
    io.out(p.paint('bold', `\nMonitoring the sandbox into ${dbFile} (SQLite) and importing example TLS-RPT reports…`));
    const demo = await startDemo({ db: dbFile, timeoutMs: opts.timeoutMs, progress: (m) => io.out(`  ${m}`) });
    try {
      const db = await openMonitorDb(dbFile);
      try {
        const status = await monitorStatus(db, { domains: demo.config.domains });
        const events = await listEvents(db, { limit: 10_000 });
        io.out(p.paint('bold', `\nPortfolio (mtasts monitor status):`));
        io.out(formatStatus(status.domains, p));
        const by = (state: string): number => events.filter((e) => e.state === state).length;
        io.out(`\n${demo.rounds.length} monitor rounds, ${events.length} events (${by('open')} opened, ${by('resolved')} resolved, ${by('notice')} notices), `
          + `${demo.reports.imported} reports imported (${demo.reports.rejected} rejected).`);
        io.out('See it in a browser: mtasts demo --dashboard');
        // Every round must have checked every domain: anything else means the monitor lost work.
        const short = demo.rounds.filter((r) => r.checked < demo.config.domains.length).length;
        if (short > 0) {
          io.err(`mtasts demo: ${short} monitor round(s) did not check every domain`);
          return 1;
        }
        return 0;
      } finally {
        await db.close();
      }
    } finally {
      await demo.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
