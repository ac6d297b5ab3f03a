/**
 * `mtasts <command>`: a thin layer over the library. Exit status: 0 success, 1 a finding of severity
 * error (or "does not match"), 2 a usage error.
 */
// Commands are imported when run: `check` must not pay for loading the daemons' modules at start.
import { UsageError, type Io } from './io.js';

const USAGE = `mtasts — MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) toolkit

Usage:
  mtasts check DOMAIN... [--file FILE] [--json] [--dns HOST[:PORT]] [--ca-file FILE]
                         [--timeout SECONDS] [--no-smtp] [--concurrency N] [--state FILE]
                         [--trust bundled|system|both] [--workers N|auto]
  mtasts lint FILE|-     [--json]          lint a policy file (- reads standard input)
  mtasts lint --record TEXT [--json]       lint an _mta-sts TXT record
  mtasts lint --tlsrpt TEXT [--json]       lint an _smtp._tls TXT record
  mtasts match FILE HOST                   does the policy's mx list accept HOST?
  mtasts demo [--json] [--keep] [--monitor] [--dashboard]  check a sandbox of example domains on loopback (--monitor: also monitor it into SQLite; --dashboard: browse it)
  mtasts init DOMAIN [--json] [--dns HOST[:PORT]] [--tlsrpt URI]   propose a policy from the MX records
  mtasts records --config FILE [DOMAIN...] [--json] [--ttl N]     DNS records for the served domains
  mtasts serve --config FILE [--check-config]                     serve the policies over HTTPS
  mtasts resolver [--config FILE] [--log-level LEVEL]            Postfix socketmap MTA-STS policy server
  mtasts resolve DOMAIN [--json] [--dns HOST[:PORT]] [--no-smtp]  the policy and per-MX decision for DOMAIN
  mtasts reports import [--db DB] [--json] [--dns HOST[:PORT]] PATH...   store TLS-RPT reports (files, mail, -)
  mtasts reports summary [--db DB] [--domain D]... [--since DATE] [--until DATE] [--include-unverified] [--json]
  mtasts reports list [--db DB] [--json]                         one line per stored report
  mtasts reports receive --listen HOST:PORT [--path /tlsrpt] [--cert FILE --key FILE] [--db DB]
  mtasts dashboard [--db DB] [--listen HOST:PORT] [--token T]      read-only web dashboard (reports, monitor)
  mtasts monitor --config FILE [--once] [--json]                  watch domains over time: history, events, alerts
  mtasts monitor events|status (--config FILE | --db DB) [--json] the monitor's events and portfolio status
  mtasts advise DOMAIN [--config FILE | --db DB] [--json]        rollout advice: testing -> enforce -> max_age
  mtasts help | --help | --version

Exit status: 0 no errors, 1 errors found (or no match), 2 usage error.
See docs/cli.md for every option.`;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await (await import('./check.js')).runCheck(rest, io);
      case 'lint':
        return await (await import('./lint.js')).runLint(rest, io);
      case 'match':
        return await (await import('./lint.js')).runMatch(rest, io);
      case 'demo':
        return await (await import('./demo.js')).runDemo(rest, io);
      case 'init':
        return await (await import('./init.js')).runInit(rest, io);
      case 'records':
        return await (await import('./records.js')).runRecords(rest, io);
      case 'serve':
        return await (await import('./serve.js')).runServe(rest, io);
      case 'resolver':
        return await (await import('./resolver.js')).runResolver(rest, io);
      case 'resolve':
        return await (await import('./resolve.js')).runResolve(rest, io);
      case 'dashboard':
        return await (await import('./dashboard.js')).runDashboard(rest, io);
      case 'monitor':
        return await (await import('./monitor.js')).runMonitor(rest, io);
      case 'reports':
        return await (await import('./reports.js')).runReports(rest, io);
      case 'advise':
        return await (await import('./advise.js')).runAdvise(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      case '--version':
      case 'version':
        io.out('mtasts 0.1.0');
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`mtasts: ${err.message}\nRun "mtasts help" for usage.`);
      return 2;
    }
    io.err(`mtasts: ${(err as Error).message}`);
    return 1;
  }
}

function processIo(): Io {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}
