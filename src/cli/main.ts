/**
 * `mtasts <command>`: a thin layer over the library. Exit status: 0 success, 1 a finding of severity
 * error (or "does not match"), 2 a usage error.
 */
import { runCheck } from './check.js';
import { runDemo } from './demo.js';
import { runInit } from './init.js';
import { runRecords } from './records.js';
import { runServe } from './serve.js';
import { runLint, runMatch } from './lint.js';
import { runResolver } from './resolver.js';
import { runResolve } from './resolve.js';
import { UsageError, type Io } from './io.js';

const USAGE = `mtasts — MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) toolkit

Usage:
  mtasts check DOMAIN... [--file FILE] [--json] [--dns HOST[:PORT]] [--ca-file FILE]
                         [--timeout SECONDS] [--no-smtp] [--concurrency N] [--state FILE]
  mtasts lint FILE|-     [--json]          lint a policy file (- reads standard input)
  mtasts lint --record TEXT [--json]       lint an _mta-sts TXT record
  mtasts lint --tlsrpt TEXT [--json]       lint an _smtp._tls TXT record
  mtasts match FILE HOST                   does the policy's mx list accept HOST?
  mtasts demo [--json] [--keep]            check a sandbox of example domains on loopback
  mtasts init DOMAIN [--json] [--dns HOST[:PORT]] [--tlsrpt URI]   propose a policy from the MX records
  mtasts records --config FILE [DOMAIN...] [--json] [--ttl N]     DNS records for the served domains
  mtasts serve --config FILE [--check-config]                     serve the policies over HTTPS
  mtasts resolver [--config FILE] [--log-level LEVEL]            Postfix socketmap MTA-STS policy server
  mtasts resolve DOMAIN [--json] [--dns HOST[:PORT]] [--no-smtp]  the policy and per-MX decision for DOMAIN
  mtasts help | --help | --version

Exit status: 0 no errors, 1 errors found (or no match), 2 usage error.
See docs/cli.md for every option.`;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await runCheck(rest, io);
      case 'lint':
        return await runLint(rest, io);
      case 'match':
        return await runMatch(rest, io);
      case 'demo':
        return await runDemo(rest, io);
      case 'init':
        return await runInit(rest, io);
      case 'records':
        return await runRecords(rest, io);
      case 'serve':
        return await runServe(rest, io);
      case 'resolver':
        return await runResolver(rest, io);
      case 'resolve':
        return await runResolve(rest, io);
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
