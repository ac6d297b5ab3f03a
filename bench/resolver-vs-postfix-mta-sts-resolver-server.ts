/**
 * Child-process entry for bench/resolver-vs-postfix-mta-sts-resolver.ts: runs `mtasts resolver`
 * from the sources (the same code path as `mtasts resolver --config FILE`), so the benchmark
 * measures the current tree rather than a possibly stale dist/.
 */
import { main } from '../src/cli/main.js';

process.exitCode = await main(['resolver', ...process.argv.slice(2)]);
