/** What a command may touch of the process, so tests can run commands in-process. */

export interface Io {
  out(line: string): void;
  err(line: string): void;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  readStdin(): Promise<Buffer>;
}

/** A mistake in how a command was called: exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs an argument parser (`util.parseArgs`), turning its errors into usage errors. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function positiveNumber(name: string, value: string | undefined, fallback: number, { integer = false } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name} needs a positive ${integer ? 'whole ' : ''}number, got "${value}"`);
  }
  return n;
}
