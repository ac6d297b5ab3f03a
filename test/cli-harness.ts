/** Runs `mtasts <argv>` in-process with captured output, for tests of the CLI interface. */
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/io.js';

export interface Run {
  code: number;
  out: string;
  err: string;
  lines: string[];
}

export async function runCli(argv: string[], stdin = ''): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    stdout: stream,
    stderr: stream,
    readStdin: async () => Buffer.from(stdin),
  };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), lines: out };
}
