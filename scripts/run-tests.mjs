#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's own test runner (Node 20's --test does not
// expand globs). Extra arguments are passed to `node --test`, e.g. `npm test -- --test-name-pattern=lint`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

function collect(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(collect(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = [...collect('src'), ...collect('test')].sort();

// Skipped tests are listed at the end, with their reasons: a second reporter writes them to a temp
// file while the usual one (spec on a terminal, TAP otherwise) goes to stdout. Node's closing
// summary lines (tests, pass, fail, skipped, ...) are held back while the list is printed, so that
// they still end the output unchanged. With your own --test-reporter, none of this happens.
const args = process.argv.slice(2);
const own = args.some((a) => a.startsWith('--test-reporter'));
const tty = Boolean(process.stdout.isTTY);
const skipFile = join(mkdtempSync(join(tmpdir(), 'mtasts-tests-')), 'skipped.jsonl');
const reporters = own ? [] : [
  `--test-reporter=${tty ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout',
  `--test-reporter=${fileURLToPath(new URL('./skip-reporter.mjs', import.meta.url))}`, `--test-reporter-destination=${skipFile}`,
];
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...reporters, ...args, ...files],
  { stdio: ['inherit', own ? 'inherit' : 'pipe', 'inherit'], env: tty && !own ? { FORCE_COLOR: '1', ...process.env } : process.env },
);

// eslint-disable-next-line no-control-regex
const SUMMARY = /^(?:\x1b\[[0-9;]*m)*(?:#|ℹ) (?:tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
let held = [];
if (!own) {
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    if (SUMMARY.test(line)) {
      held.push(line);
      return;
    }
    for (const h of held) process.stdout.write(`${h}\n`);
    held = [];
    process.stdout.write(`${line}\n`);
  });
}

function skippedList() {
  let entries = [];
  try {
    entries = readFileSync(skipFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return '';
  }
  rmSync(dirname(skipFile), { recursive: true, force: true });
  if (entries.length === 0) return '';
  // File and name only: under tsx, the line numbers node reports are those of the compiled code.
  const where = (e) => (e.file ? relative(process.cwd(), e.file.startsWith('file:') ? fileURLToPath(e.file) : e.file) : '?');
  const lines = entries.map((e) => `#   ${where(e)}: ${e.name}: ${e.reason || '(no reason given)'}`);
  const ci = process.env.CI === 'true' ? '' : ' (under CI=true, those that need a system package or service fail instead)';
  return `# skipped ${entries.length} test${entries.length === 1 ? '' : 's'} or suite${entries.length === 1 ? '' : 's'}${ci}:\n${lines.join('\n')}\n`;
}

child.on('close', (code, signal) => {
  if (!own) {
    process.stdout.write(skippedList());
    for (const h of held) process.stdout.write(`${h}\n`);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
