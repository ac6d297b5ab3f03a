/**
 * Time and output linear in the input (issue 7, item 3).
 *
 * Each parser and linter runs on an input of size n and one of size 10n; the test fails when the
 * larger took more than 30 times as long (linear is about 10, quadratic about 100), in CPU time.
 * No absolute timeout: a slow machine slows both sizes alike. Each size is timed after a warm-up run,
 * as the best of a few batches taken in turns (see assertLinear). The shapes go beyond the ones first reported: duplicates of every kind, blank lines,
 * one very long line, CR/LF mixes, long runs of dots, astral characters before many fields, many
 * TXT records, many mx patterns against many MX hosts.
 *
 * Output: findings are capped per code (`capFindings`), so the JSON of a 10 MB policy, or of a
 * record with thousands of repeated fields, stays a few KB.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { capFindings, finding, FINDINGS_PER_CODE, hasErrors, verdictOf, type Finding } from '../src/findings.js';
import { mxMatcher } from '../src/mtasts/mx.js';
import { parsePolicy, POLICY_MAX_BYTES } from '../src/mtasts/policy.js';
import { parseStsRecord, selectStsRecord } from '../src/mtasts/record.js';
import { parseTlsRptRecord, selectTlsRptRecord } from '../src/tlsrpt/record.js';
import { runCli } from './cli-harness.js';

const FACTOR = 10;
const MAX_RATIO = 30;

// A full collection before each timed batch, so that one size does not pay for the other's garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** CPU milliseconds used by this process so far (all threads: the GC's helpers count too). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * CPU milliseconds per call of `fn`: it is repeated until at least 10 ms have been used. CPU time,
 * not wall time: on a loaded machine a long run is sliced among other processes far more often
 * than a short one, which would inflate the ratio.
 */
async function timeBatch(fn: () => unknown): Promise<number> {
  gc();
  let reps = 0;
  const start = cpuMs();
  let used = 0;
  do {
    await fn();
    reps++;
    used = cpuMs() - start;
  } while (used < 10);
  return used / reps;
}

/**
 * Asserts that `run` on an input 10 times larger takes well under 100 times as long. Both sizes
 * are timed in turns, each as its best batch, after a warm-up; while the ratio is over the limit,
 * more turns are taken (up to 8, or 3 when it is far over), since load from elsewhere on the
 * machine slows single batches, but a quadratic shape stays near 100 in every turn.
 */
async function assertLinear<T>(make: (n: number) => T, run: (input: T) => unknown, n: number): Promise<void> {
  const small = make(n);
  const large = make(n * FACTOR);
  await run(small); // warm-up: compile the hot paths before timing
  await run(large);
  let ts = Infinity;
  let tl = Infinity;
  for (let turn = 1; turn <= 8; turn++) {
    ts = Math.min(ts, await timeBatch(() => run(small)));
    tl = Math.min(tl, await timeBatch(() => run(large)));
    if (turn >= 2 && tl / ts < MAX_RATIO) break;
    if (turn >= 3 && tl / ts > 2 * MAX_RATIO) break; // far over: no need to wait for more turns
  }
  const ratio = tl / ts;
  if (process.env.LINEAR_DEBUG) console.error(`LINEAR ${n}: ${ts.toFixed(2)} ${tl.toFixed(2)} ${ratio.toFixed(1)}`);
  assert.ok(ratio < MAX_RATIO,
    `n=${n}: ${ts.toFixed(2)} ms, n=${n * FACTOR}: ${tl.toFixed(2)} ms; ratio ${ratio.toFixed(1)} ≥ ${MAX_RATIO} (linear ≈ ${FACTOR}, quadratic ≈ ${FACTOR * FACTOR})`);
}

const jsonSize = (v: unknown): number => JSON.stringify(v).length;
/** A policy with its required fields and `body` in the middle. */
const policyWith = (body: string): string => `version: STSv1\nmode: enforce\n${body}max_age: 604800\n`;
const unbounded = { maxBytes: Infinity };
const repeat = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('');

describe('policy parser: time linear in the input (no size bound), findings bounded', () => {
  const shapes: [string, (n: number) => string | Uint8Array, number][] = [
    ['distinct mx lines', (n) => policyWith(repeat(n, (i) => `mx: mx${i}.example.com\n`)), 2000],
    ['the same mx line repeated', (n) => policyWith('mx: mx.example.com\n'.repeat(n)), 2000],
    ['distinct mx lines, as bytes', (n) => new TextEncoder().encode(policyWith(repeat(n, (i) => `mx: mx${i}.example.com\n`))), 2000],
    ['invalid mx lines', (n) => policyWith(repeat(n, (i) => `mx: mx_${i}..example.com\n`)), 1000],
    ['blank lines between fields', (n) => policyWith(`mx: a.example.com\n${'\n'.repeat(n)}`), 2000],
    ['whitespace-only trailing lines', (n) => `${policyWith('mx: a.example.com\n')}${' \t\n'.repeat(n)}`, 8000],
    ['a non-mx field repeated', (n) => policyWith(`mx: a.example.com\n${'mode: testing\n'.repeat(n)}`), 2000],
    ['distinct extension fields', (n) => policyWith(`mx: a.example.com\n${repeat(n, (i) => `ext${i}: value ${i}\n`)}`), 2000],
    ['CRLF and LF mixed, with stray CRs', (n) => policyWith(`mx: a.example.com\r\n${repeat(n, (i) => (i % 3 === 0 ? `x${i}: a\rb\n` : i % 3 === 1 ? `x${i}: v\r\n` : `x${i}: v\n`))}`), 2000],
    ['lines with leading whitespace', (n) => policyWith(' \tmx: a.example.com\n'.repeat(n)), 2000],
    ['lines without a colon', (n) => policyWith(`mx: a.example.com\n${'no colon here\n'.repeat(n)}`), 2000],
    ['one very long mx value', (n) => policyWith(`mx: ${'a'.repeat(n * 20)}.example.com\n`), 80000],
    ['one very long extension value', (n) => policyWith(`mx: a.example.com\nx-note: ${'word '.repeat(n * 4)}end\u0001\n`), 10000],
    ['one very long field name', (n) => policyWith(`mx: a.example.com\n${'n'.repeat(n * 20)}: v\n`), 50000],
    ['one very long line without a colon', (n) => policyWith(`mx: a.example.com\n${'x'.repeat(n * 20)}\n`), 40000],
    ['a long max_age', (n) => policyWith(`mx: a.example.com\n`).replace('604800', '9'.repeat(n * 20)), 30000],
    ['a long run of dots in an mx value', (n) => policyWith(`mx: a${'.'.repeat(n * 20)}b.\n`), 60000],
    ['astral characters in a long line', (n) => policyWith(`mx: a.example.com\nx-emoji: ${'\u{1F600}'.repeat(n * 5)}\t\n`), 20000],
  ];
  for (const [name, make, n] of shapes) {
    test(name, async () => {
      await assertLinear(make, (input) => parsePolicy(input, unbounded), n);
      const r = parsePolicy(make(n * FACTOR), unbounded);
      assert.ok(jsonSize(r.findings) < 16_000, `${name}: ${jsonSize(r.findings)} bytes of findings`);
    });
  }
});

describe('MTA-STS TXT record parser: time linear, findings bounded', () => {
  const shapes: [string, (n: number) => string, number][] = [
    ['the same extension field repeated', (n) => `v=STSv1; id=1${'; x=y'.repeat(n)}`, 2000],
    ['distinct extension fields', (n) => `v=STSv1; id=1${repeat(n, (i) => `; x${i}=y`)}`, 2000],
    ['id repeated', (n) => `v=STSv1; id=1${'; id=2'.repeat(n)}`, 2000],
    ['invalid extension values', (n) => `v=STSv1; id=1${repeat(n, (i) => `; x${i}=`)}`, 2000],
    ['astral characters, then many fields', (n) => `v=STSv1; id=1; e=${'\u{1F600}'.repeat(n)}${'; x=y'.repeat(n)}`, 2000],
    ['a long id', (n) => `v=STSv1; id=${'a'.repeat(n * 10)}`, 30000],
    ['a long extension value with a bad character at the end', (n) => `v=STSv1; id=1; x=${'a'.repeat(n * 10)}\u00e9`, 20000],
    ['a long run of whitespace', (n) => `v=STSv1;${' '.repeat(n * 10)}id=1`, 40000],
    ['a long field name', (n) => `v=STSv1; ${'n'.repeat(n * 10)}=1`, 100000],
  ];
  for (const [name, make, n] of shapes) {
    test(name, async () => {
      await assertLinear(make, parseStsRecord, n);
      assert.ok(jsonSize(parseStsRecord(make(n * FACTOR)).findings) < 16_000);
    });
  }

  test('many TXT records at _mta-sts, candidates and others', async () => {
    const make = (n: number): string[][] => Array.from({ length: n }, (_, i) => [i % 2 ? `v=STSv1; id=${i}` : `other ${i}`]);
    await assertLinear(make, selectStsRecord, 8000);
    const r = selectStsRecord(make(10_000));
    assert.ok(jsonSize(r.findings) < 16_000, `${jsonSize(r.findings)} bytes`);
    assert.ok(r.findings.some((f) => f.code === 'record-multiple' && /and 4995 more/.test(f.message)));
  });
});

describe('TLS-RPT record parser: time linear, findings bounded', () => {
  const shapes: [string, (n: number) => string, number][] = [
    ['rua repeated', (n) => `v=TLSRPTv1; rua=mailto:a@example.com${'; rua=mailto:a@example.com'.repeat(n)}`, 1000],
    ['a long list of valid URIs', (n) => `v=TLSRPTv1; rua=${repeat(n, (i) => `mailto:r${i}@example.com,`)}https://r.example.com/x`, 1000],
    ['a long list of invalid URIs', (n) => `v=TLSRPTv1; rua=${repeat(n, (i) => `http://r${i}.example.com/,`)}x`, 2000],
    ['distinct extension fields', (n) => `v=TLSRPTv1; rua=mailto:a@example.com${repeat(n, (i) => `; x${i}=y`)}`, 4000],
    ['one very long URI', (n) => `v=TLSRPTv1; rua=https://r.example.com/${'%41'.repeat(n * 10)}`, 10000],
    ['astral characters, then many fields', (n) => `v=TLSRPTv1; rua=mailto:a@example.com; e=${'\u{1F600}'.repeat(n)}${'; x=y'.repeat(n)}`, 1000],
  ];
  for (const [name, make, n] of shapes) {
    test(name, async () => {
      await assertLinear(make, parseTlsRptRecord, n);
      assert.ok(jsonSize(parseTlsRptRecord(make(n * FACTOR)).findings) < 16_000);
    });
  }

  test('many TXT records at _smtp._tls', async () => {
    const make = (n: number): string[][] => Array.from({ length: n }, (_, i) => [`v=TLSRPTv1; rua=mailto:r${i}@example.com`]);
    await assertLinear(make, selectTlsRptRecord, 10_000);
    assert.ok(jsonSize(selectTlsRptRecord(make(10_000)).findings) < 4000);
  });
});

describe('mx patterns against MX hosts, findings cap', () => {
  test('mxMatcher: n patterns against n hosts is linear, and agrees with the first matching pattern', async () => {
    const make = (n: number) => ({
      patterns: Array.from({ length: n }, (_, i) => (i % 2 ? `*.w${i}.example.com` : `mx${i}.example.com`)),
      hosts: Array.from({ length: n }, (_, i) => (i % 2 ? `a.w${i}.example.com.` : `MX${i}.example.com`)),
    });
    const run = ({ patterns, hosts }: ReturnType<typeof make>) => {
      const match = mxMatcher(patterns);
      return hosts.filter((h) => match(h) !== null).length;
    };
    await assertLinear(make, run, 2000);
    assert.equal(run(make(100)), 100);
    const match = mxMatcher(['*.example.com', 'mail.example.com', 'MAIL.example.com', '*.*.bad', 'x..y']);
    assert.equal(match('mail.example.com'), '*.example.com');
    assert.equal(match('a.b.example.com'), null);
    assert.equal(match('example.com'), null);
    assert.equal(match('q.*.bad'), null);
  });

  test('capFindings: linear in the number of findings', async () => {
    const make = (n: number): Finding[] => Array.from({ length: n }, (_, i) => finding(i % 3 ? 'policy-syntax' : 'policy-mx-duplicate', `x ${i}`, { line: i + 1 }));
    await assertLinear(make, (fs) => capFindings(fs), 20_000);
  });
});

describe('capFindings', () => {
  const f = (code: 'policy-syntax' | 'policy-extension-field' | 'policy-mx-duplicate', i: number, severity?: 'error' | 'warning' | 'info'): Finding =>
    finding(code, `finding ${i}`, { line: i, ...(severity ? { severity } : {}) });

  test('keeps the first 20 of a code, then one summary in place of the rest, with their count, highest severity and lines', () => {
    const input: Finding[] = [];
    for (let i = 1; i <= 50; i++) input.push(f('policy-extension-field', i, i === 40 ? 'warning' : undefined));
    input.push(f('policy-mx-duplicate', 51));
    const out = capFindings(input);
    assert.equal(out.length, FINDINGS_PER_CODE + 2);
    assert.deepEqual(out.slice(0, 20), input.slice(0, 20));
    const s = out[20]!;
    assert.equal(s.code, 'findings-truncated');
    assert.deepEqual(s.truncated, { code: 'policy-extension-field', count: 30 });
    assert.equal(s.severity, 'warning', 'the highest severity among the dropped (info and one warning)');
    assert.equal(s.section, 'policy');
    assert.match(s.message, /30 more "policy-extension-field" findings are not listed \(on lines 21 to 50\)/);
    assert.equal(out[21], input[50], 'later findings of other codes keep their order');
    assert.equal(verdictOf(out), verdictOf(input));
  });

  test('an error among the dropped keeps the verdict fail', () => {
    const input = [...Array.from({ length: 25 }, (_, i) => f('policy-extension-field', i)), f('policy-extension-field', 99, 'error')];
    assert.equal(hasErrors(capFindings(input)), true);
    assert.equal(verdictOf(capFindings(input)), 'fail');
  });

  test('nothing over the cap: the same array back', () => {
    const input = Array.from({ length: 20 }, (_, i) => f('policy-syntax', i));
    assert.equal(capFindings(input), input);
  });

  test('capping capped lists again merges the counts instead of capping the summaries', () => {
    const a = capFindings(Array.from({ length: 30 }, (_, i) => f('policy-syntax', i)));
    const b = capFindings(Array.from({ length: 45 }, (_, i) => f('policy-syntax', 100 + i)));
    const out = capFindings([...a, ...b]);
    assert.equal(out.filter((x) => x.code === 'policy-syntax').length, 20);
    const summaries = out.filter((x) => x.code === 'findings-truncated');
    assert.equal(summaries.length, 1);
    assert.deepEqual(summaries[0]!.truncated, { code: 'policy-syntax', count: 10 + 20 + 25 });
    assert.equal(capFindings(out).length, out.length);
  });
});

describe('policy-too-large: parse within the bound, say so', () => {
  test('a policy over 64 KiB: the error, the lines within the bound still checked, none beyond', () => {
    const head = 'version: STSv1\nmode: Enforce\nmx: a.example.com\nmax_age: 604800\n';
    const text = head + 'x-pad: 0123456789012345678901234567890123456789\n'.repeat(2000) + 'mode: bogus\nversion: nope\n';
    const r = parsePolicy(text);
    assert.equal(r.policy, null);
    const big = r.findings.find((x) => x.code === 'policy-too-large');
    assert.ok(big, JSON.stringify(r.findings.map((x) => x.code)));
    assert.match(big.message, new RegExp(`the policy is ${Buffer.byteLength(text)} bytes, more than the ${POLICY_MAX_BYTES} that senders read; only the first \\d+ bytes \\(\\d+ complete lines\\) were checked`));
    assert.equal(r.findings[0]?.code, 'policy-too-large');
    assert.ok(r.findings.some((x) => x.code === 'policy-mode-invalid' && x.line === 2), 'errors within the bound are reported');
    assert.ok(!r.findings.some((x) => x.code === 'policy-duplicate-field' && /bogus|nope/.test(x.message)), 'lines beyond the bound are not read');
    const kept = Number(/only the first (\d+) bytes/.exec(big.message)?.[1]);
    assert.ok(kept <= POLICY_MAX_BYTES && kept > POLICY_MAX_BYTES - 100, String(kept));
  });

  test('the same cut for text and bytes, with multi-byte characters around the bound', () => {
    const text = policyWith('mx: a.example.com\n') + 'x-u: ééééééééééééééééééééééééé€€€€€€€€€€\u{1F600}\n'.repeat(1500);
    const fromText = parsePolicy(text);
    const fromBytes = parsePolicy(new TextEncoder().encode(text));
    assert.deepEqual(fromText.findings, fromBytes.findings);
    assert.equal(fromText.findings[0]?.code, 'policy-too-large');
    assert.ok(!fromText.findings.some((x) => x.code === 'policy-encoding'));
  });

  test('one line longer than the bound: cut on a character boundary, still reported', () => {
    const bytes = new TextEncoder().encode(`x-long: ${'é'.repeat(40_000)}\n`);
    const r = parsePolicy(bytes);
    assert.equal(r.findings[0]?.code, 'policy-too-large');
    assert.ok(!r.findings.some((x) => x.code === 'policy-encoding'), JSON.stringify(r.findings.map((x) => x.code)));
    assert.match(r.findings[0]!.message, /\(0 complete lines\)/);
  });

  test('exactly 64 KiB is not too large', () => {
    const body = policyWith('mx: a.example.com\n');
    const pad = `x-pad: ${'a'.repeat(POLICY_MAX_BYTES - body.length - 'x-pad: \n'.length)}\n`;
    const r = parsePolicy(body + pad);
    assert.equal(Buffer.byteLength(body + pad), POLICY_MAX_BYTES);
    assert.ok(!r.findings.some((x) => x.code === 'policy-too-large'));
    assert.ok(parsePolicy(body + pad + 'x: y\n').findings.some((x) => x.code === 'policy-too-large'));
  });
});

describe('mtasts lint: output bounded, time linear', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtasts-linear-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('a 10 MB policy of repeated mx lines: policy-too-large and a few KB of JSON', async () => {
    const path = file('huge.txt', policyWith('mx: mx.example.com\n'.repeat(10_000_000 / 19)));
    const r = await runCli(['lint', '--json', path]);
    assert.equal(r.code, 1);
    assert.ok(r.out.length < 16_000, `${r.out.length} bytes of JSON`);
    const j = JSON.parse(r.out) as { valid: boolean; findings: Finding[] };
    assert.equal(j.valid, false);
    assert.equal(j.findings[0]?.code, 'policy-too-large');
    const t = j.findings.find((x) => x.code === 'findings-truncated');
    assert.equal(t?.truncated?.code, 'policy-mx-duplicate');
    const text = await runCli(['lint', path]);
    assert.ok(text.out.length < 16_000, `${text.out.length} bytes of text`);
    assert.match(text.out, /more "policy-mx-duplicate" findings are not listed/);
  });

  test('output size: 10× the repeated fields, about the same output', async () => {
    const cases: [string, (n: number) => string[]][] = [
      ['policy', (n) => [file(`p${n}.txt`, policyWith('mx: a.example.com\n'.repeat(n)))]],
      ['--record', (n) => ['--record', `v=STSv1; id=1${'; id=2; x=y; x=z'.repeat(n)}`]],
      ['--tlsrpt', (n) => ['--tlsrpt', `v=TLSRPTv1; rua=mailto:a@example.com${'; rua=mailto:b@example.com; x=1'.repeat(n)}`]],
    ];
    for (const [name, args] of cases) {
      const small = await runCli(['lint', '--json', ...args(300)]);
      const large = await runCli(['lint', '--json', ...args(3000)]);
      assert.ok(large.out.length < small.out.length + 200, `${name}: ${small.out.length} then ${large.out.length} bytes`);
      assert.ok(large.out.length < 16_000, `${name}: ${large.out.length} bytes`);
    }
  });

  test('time: a 120 KB TXT record of repeated fields, and 10× fewer', async () => {
    const make = (n: number): string[] => ['lint', '--json', '--record', `v=STSv1; id=1${'; x=y'.repeat(n)}`];
    await assertLinear(make, runCli, 2400); // 12 KB, then 120 KB
  });
});
