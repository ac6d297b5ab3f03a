/**
 * Entry point for test/trust.test.ts: `check`, `resolve` and `resolver` as `mtasts` dispatches them
 * (usage errors exit 2), importing only those commands so that the test does not depend on every
 * other command's module loading.
 */
import { runCheck } from '../src/cli/check.js';
import { UsageError, type Io } from '../src/cli/io.js';
import { runResolve } from '../src/cli/resolve.js';
import { runResolver } from '../src/cli/resolver.js';

const io: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdout: process.stdout,
  stderr: process.stderr,
  readStdin: async () => Buffer.alloc(0),
};
const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (args: string[], io: Io) => Promise<number>> = { check: runCheck, resolve: runResolve, resolver: runResolver };
try {
  const run = commands[command ?? ''];
  if (!run) throw new UsageError(`unknown command "${command}"`);
  process.exitCode = await run(rest, io);
} catch (err) {
  io.err(`mtasts: ${(err as Error).message}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
