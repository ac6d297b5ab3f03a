/**
 * Prerequisites of tests that need something beyond Node: a Debian package (pebble, Postfix,
 * Dovecot, Chromium), root, or a service. Locally, a missing one skips the test with a one-line
 * reason, which `npm test` lists at the end; under CI=true it fails the test instead, so that CI
 * cannot pass with parts of the suite silently skipped.
 *
 * Inside a test (the test returns when the helper says so):
 * ```ts
 * test('ACME against pebble', async (t) => {
 *   const pebble = requireCommand(t, 'pebble', 'sudo apt-get install pebble');
 *   if (pebble === undefined) return;
 *   // ... spawn(pebble, ...)
 * });
 * ```
 * For a whole suite or file, when `before` hooks need the prerequisite too:
 * ```ts
 * const skip = skipUnless(commandMissing('dovecot', 'sudo apt-get install dovecot-imapd'), rootMissing('Dovecot binds as root'));
 * describe('IMAP intake against Dovecot', { skip }, () => { ... });
 * ```
 */
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test, type TestContext } from 'node:test';

/** True when the tests run under CI (`CI=true`), where every prerequisite must be present. */
export const inCI = process.env.CI === 'true';

/** Where commands are looked for besides PATH: sbin directories, often missing from a user's PATH. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

/** The absolute path of an executable `command` (searched on PATH, then in the sbin directories), or undefined. */
export function findCommand(command: string): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? command : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const p = join(dir, command);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A one-line reason when `command` is not installed, e.g. `pebble is not installed (sudo apt-get install pebble)`; undefined when it is. */
export function commandMissing(command: string, install: string): string | undefined {
  return findCommand(command) === undefined ? `${command} is not installed (${install})` : undefined;
}

/** A one-line reason when not running as root, e.g. `needs root: Postfix's master runs as root`; undefined as root. */
export function rootMissing(why: string): string | undefined {
  return process.getuid?.() === 0 ? undefined : `needs root: ${why}`;
}

/** A one-line reason when not on Linux; undefined on Linux. */
export function linuxMissing(): string | undefined {
  return process.platform === 'linux' ? undefined : `needs Linux (this is ${process.platform})`;
}

/**
 * The `skip` option for a suite or test (`describe(name, { skip }, ...)`): false when nothing is
 * missing; otherwise the reasons, joined on one line. Under CI=true it also registers a test that
 * fails with those reasons (call it at module level, not inside a test).
 */
export function skipUnless(...missing: (string | undefined)[]): string | false {
  const reasons = missing.filter((m): m is string => m !== undefined);
  if (reasons.length === 0) return false;
  const reason = reasons.join('; ');
  if (inCI) {
    test(`prerequisites: ${reason}`, () => {
      assert.fail(`CI=true but ${reason}: the CI machine must provide it (see .ci/run)`);
    });
  }
  return reason;
}

/**
 * Inside a test: settles a prerequisite given its reason (from `commandMissing`, `rootMissing`, a
 * failed connection ...). Returns true when it is met. Otherwise skips the test with the reason and
 * returns false (the test should then return), or, under CI=true, fails the test.
 */
export function requirePrereq(t: TestContext, missing: string | undefined): boolean {
  if (missing === undefined) return true;
  if (inCI) assert.fail(`CI=true but ${missing}: the CI machine must provide it (see .ci/run)`);
  t.skip(missing);
  return false;
}

/** Inside a test: the path of `command`, or undefined after skipping the test (locally) or failing it (CI=true). */
export function requireCommand(t: TestContext, command: string, install: string): string | undefined {
  const path = findCommand(command);
  return requirePrereq(t, path === undefined ? `${command} is not installed (${install})` : undefined) ? path : undefined;
}

/** Inside a test: true as root; otherwise skips the test (locally) or fails it (CI=true). */
export function requireRoot(t: TestContext, why: string): boolean {
  return requirePrereq(t, rootMissing(why));
}

/** The PostgreSQL the tests use (this machine's, trust auth); `MTASTS_TEST_POSTGRES` overrides it. */
export const PG_URL = process.env.MTASTS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Inside a test: `connect()` to a service the test needs (PostgreSQL, Redis …). Returns what it
 * returned; when it throws, skips the test with a one-line reason (locally) or fails it (CI=true)
 * and returns undefined.
 */
export async function requireService<T>(t: TestContext, name: string, connect: () => Promise<T>): Promise<T | undefined> {
  try {
    return await connect();
  } catch (err) {
    requirePrereq(t, `${name} is not reachable (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}
