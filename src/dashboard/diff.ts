/**
 * A small line diff for policy texts (Myers' O(ND) greedy algorithm). The common head and tail are
 * trimmed first, and the search stops after `maxEdits` edits: past that the middle is shown as
 * removed then added, so time and memory stay bounded whatever the input (policies are at most
 * 64 KiB, but the store could hold anything).
 *
 * @example
 * ```ts
 * lineDiff('mode: testing\nmx: a\n', 'mode: enforce\nmx: a\n');
 * // [{ op: 'del', text: 'mode: testing' }, { op: 'add', text: 'mode: enforce' }, { op: 'same', text: 'mx: a' }]
 * ```
 */

export type DiffOp = 'same' | 'add' | 'del';
export interface DiffLine {
  op: DiffOp;
  text: string;
}

export interface DiffOptions {
  /** Edits explored before giving up on a minimal diff (default 400). */
  maxEdits?: number;
  /** Lines compared at most per side (default 5000); longer texts are cut, with a marker line. */
  maxLines?: number;
}

function splitLines(text: string, maxLines: number): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length > maxLines) {
    const cut = lines.slice(0, maxLines);
    cut.push(`… ${lines.length - maxLines} more lines not compared`);
    return cut;
  }
  return lines;
}

export function lineDiff(before: string, after: string, options: DiffOptions = {}): DiffLine[] {
  const maxEdits = options.maxEdits ?? 400;
  const maxLines = options.maxLines ?? 5000;
  const a = splitLines(before, maxLines);
  const b = splitLines(after, maxLines);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: 'same', text: a[i]! });
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  out.push(...myers(midA, midB, maxEdits));
  for (let i = a.length - tail; i < a.length; i++) out.push({ op: 'same', text: a[i]! });
  return out;
}

/** Myers' greedy shortest edit script; falls back to "all removed, all added" beyond maxEdits. */
function myers(a: string[], b: string[], maxEdits: number): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n === 0) return b.map((text) => ({ op: 'add', text }));
  if (m === 0) return a.map((text) => ({ op: 'del', text }));
  const limit = Math.min(n + m, maxEdits);
  const offset = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= limit && found < 0; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) {
    return [...a.map((text): DiffLine => ({ op: 'del', text })), ...b.map((text): DiffLine => ({ op: 'add', text }))];
  }
  // Walk the trace back from (n, m) to (0, 0).
  const rev: DiffLine[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const pv = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && pv[offset + k - 1]! < pv[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = pv[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) rev.push({ op: 'same', text: a[--x]! }), y--;
    if (x === prevX) rev.push({ op: 'add', text: b[--y]! });
    else rev.push({ op: 'del', text: a[--x]! });
  }
  while (x > 0 && y > 0) rev.push({ op: 'same', text: a[--x]! }), y--;
  return rev.reverse();
}
