/** Entry point for test/serve-cli.test.ts: runs the CLI from source (cluster workers re-run this file). */
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
