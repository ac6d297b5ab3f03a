import { parseArgs } from 'node:util';
/**
 * `mtasts demo`: starts the test world on loopback (DNS, HTTPS and SMTP servers, a CA minted for
 * this run) with example domains healthy and broken in typical ways, and runs `check` against it.
 * Works offline. Exit status 0 when every example got the verdict it is meant to show.
 */
import { DnsClient } from '../dns/resolver.js';
import { createWorld, SCENARIOS } from '../testworld/index.js';
import { runReports } from './check.js';
import { Painter } from './format.js';
import { usage, positiveNumber, type Io } from './io.js';

export async function runDemo(args: string[], io: Io): Promise<number> {
  const { values } = usage(() => parseArgs({
    args,
    options: { json: { type: 'boolean' }, keep: { type: 'boolean' }, timeout: { type: 'string' }, dashboard: { type: 'boolean' }, listen: { type: 'string' }, monitor: { type: 'boolean' } },
    strict: true,
  }));
  const timeoutMs = positiveNumber('--timeout', values.timeout, 3) * 1000;
  if (values.dashboard) return (await import('./demo-dashboard.js')).runDemoDashboard(io, { timeoutMs, listen: values.listen ?? '127.0.0.1:0' });
  const p = Painter.for(io.stdout);
  if (!values.json) io.out(p.paint('bold', `Starting a sandbox of ${SCENARIOS.length} example domains on loopback…\n`));
  const world = await createWorld({ domains: SCENARIOS.map((s) => s.spec) });
  try {
    const domains = SCENARIOS.map((s) => s.spec.domain);
    const reports = await runReports(domains, {
      dns: new DnsClient({ servers: [world.dnsServer], timeoutMs }),
      ca: [world.caPem],
      httpsPort: world.httpsPort,
      smtpPort: world.smtpPort,
      timeoutMs,
      concurrency: 16,
    }, io, Boolean(values.json));

    let mismatches = 0;
    if (!values.json) io.out(p.paint('bold', '\nWhat each example shows:'));
    SCENARIOS.forEach((s, i) => {
      const r = reports[i]!;
      const codes = new Set(r.findings.map((f) => f.code));
      const ok = r.verdict === s.expect.verdict && s.expect.codes.every((c) => codes.has(c as never));
      if (!ok) mismatches++;
      if (!values.json) {
        const mark = ok ? p.paint('green', '✓') : p.paint('red', '✗ unexpected');
        io.out(`  ${mark} ${r.domain.padEnd(28)} ${r.verdict.padEnd(4)}  ${s.description}`);
      }
    });
    if (values.keep) {
      io.out(`\nThe sandbox keeps running; try:\n  mtasts check --dns ${world.dnsServer} --ca-file ${world.caFile} --https-port ${world.httpsPort} --smtp-port ${world.smtpPort} good.test\nPress Ctrl-C to stop.`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    if (mismatches > 0) io.err(`mtasts demo: ${mismatches} example(s) did not give the expected verdict`);
    const monitored = values.monitor && !values.json ? await (await import('./demo-monitor.js')).runDemoMonitor(io, { timeoutMs }) : 0;
    return mismatches > 0 || monitored !== 0 ? 1 : 0;
  } finally {
    await world.close();
  }
}
