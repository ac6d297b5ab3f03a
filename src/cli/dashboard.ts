/**
 * `mtasts dashboard --db DB --listen HOST:PORT [--token T]`: the read-only web dashboard over a
 * monitor and reports store. Binds 127.0.0.1:8080 by default; elsewhere it needs --token (or
 * MTASTS_DASHBOARD_TOKEN). Stops on SIGINT/SIGTERM. `mtasts monitor` serves the same dashboard
 * (with "check now") when its configuration has `dashboard: { listen }`.
 */
import { parseArgs } from 'node:util';
import { startDashboard } from '../dashboard/server.js';
import { DashboardConfigError } from '../dashboard/security.js';
import { databaseSpec, openDatabase } from '../store/sql.js';
import { usage, type Io } from './io.js';

export async function runDashboard(args: string[], io: Io, opts: { signal?: AbortSignal } = {}): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: {
      db: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1:8080' },
      token: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  }));
  const token = values.token ?? (process.env.MTASTS_DASHBOARD_TOKEN || undefined);
  const spec = databaseSpec(values.db);
  const db = await openDatabase(spec);
  let dashboard;
  try {
    dashboard = await startDashboard({
      db,
      listen: values.listen,
      readOnly: true,
      ...(token !== undefined ? { auth: { token } } : {}),
      log: { error: (m) => io.err(m) },
    });
  } catch (err) {
    await db.close();
    if (err instanceof DashboardConfigError) {
      io.err(`mtasts dashboard: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (values.json) io.out(JSON.stringify({ url: dashboard.url, db: db.name, readOnly: true }));
  else io.out(`mtasts dashboard (read-only) on ${dashboard.url} — database ${db.name}. Press Ctrl-C to stop.`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
  });
  await dashboard.close();
  await db.close();
  return 0;
}
