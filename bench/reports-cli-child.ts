/**
 * Child of bench/reports-import.ts: runs the mtasts CLI from source (the same `main` as bin/mtasts.js)
 * and, after it, writes its own peak RSS to stderr as `BENCH {...}` for the parent.
 */
import { main } from '../src/cli/main.js';

const code = await main(process.argv.slice(2));
process.stderr.write(`BENCH ${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, code })}\n`);
process.exitCode = code;
