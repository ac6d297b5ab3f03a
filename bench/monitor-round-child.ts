/**
 * Child of bench/monitor-round.ts: runs `mtasts <argv>` from source with standard output discarded,
 * then prints one JSON line to standard error: exit code, wall time and peak RSS of this process.
 */
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/io.js';

const started = performance.now();
const sink = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
let lines = 0;
const io: Io = {
  out: () => void lines++,
  err: (l) => process.stderr.write(`${l}\n`),
  stdout: sink,
  stderr: sink,
  readStdin: async () => Buffer.alloc(0),
};
const code = await main(process.argv.slice(2), io);
const wallMs = performance.now() - started;
process.stderr.write(`\n${JSON.stringify({ result: { code, wallMs, lines, maxRssKiB: process.resourceUsage().maxRSS } })}\n`);
process.exitCode = code;
