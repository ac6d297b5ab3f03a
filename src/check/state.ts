/**
 * The check state file: what each domain's last check saw (TXT id and a hash of the policy text), so
 * that a later check can tell when a policy changed while its id did not (RFC 8461 §3.1). Written
 * atomically and durably: a temporary file is fsynced and renamed over the old one.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import type { DomainReport, Observation } from './check.js';

interface StateFile {
  version: 1;
  domains: Record<string, Observation>;
}

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

/** Reads a state file; a missing file is an empty state, a corrupt one is an error. */
export function loadState(path: string): Map<string, Observation> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new StateFileError(`cannot read state file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`state file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  const file = data as Partial<StateFile>;
  if (file === null || typeof file !== 'object' || file.version !== 1 || typeof file.domains !== 'object' || file.domains === null) {
    throw new StateFileError(`state file ${path} is not an mtasts state file (version 1)`);
  }
  return new Map(Object.entries(file.domains));
}

/** Merges the observations of `reports` into the state and writes it durably. */
export function saveState(path: string, state: Map<string, Observation>, reports: readonly DomainReport[]): void {
  for (const r of reports) {
    if (r.observation.id !== null || r.observation.policySha256 !== null) state.set(r.domain, r.observation);
  }
  const file: StateFile = { version: 1, domains: Object.fromEntries([...state].sort(([a], [b]) => a.localeCompare(b))) };
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // Make the rename itself durable.
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
