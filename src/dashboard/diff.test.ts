import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineDiff } from './diff.js';
import { escapeHtml, html, raw } from './html.js';

test('lineDiff: minimal edits, unchanged lines kept', () => {
  assert.deepEqual(lineDiff('version: STSv1\nmode: testing\nmx: a\n', 'version: STSv1\nmode: enforce\nmx: a\nmx: b\n'), [
    { op: 'same', text: 'version: STSv1' },
    { op: 'del', text: 'mode: testing' },
    { op: 'add', text: 'mode: enforce' },
    { op: 'same', text: 'mx: a' },
    { op: 'add', text: 'mx: b' },
  ]);
  assert.deepEqual(lineDiff('a\nb\nc\nd', 'a\nx\nc\ny\nd'), [
    { op: 'same', text: 'a' }, { op: 'del', text: 'b' }, { op: 'add', text: 'x' }, { op: 'same', text: 'c' }, { op: 'add', text: 'y' }, { op: 'same', text: 'd' },
  ]);
  assert.deepEqual(lineDiff('', 'a\n'), [{ op: 'add', text: 'a' }]);
  assert.deepEqual(lineDiff('a\r\nb\r\n', 'a\nb\n'), [{ op: 'same', text: 'a' }, { op: 'same', text: 'b' }]);
});

test('lineDiff: bounded on large, fully different inputs (falls back to remove-all/add-all)', () => {
  const a = Array.from({ length: 20_000 }, (_, i) => `a${i}`).join('\n');
  const b = Array.from({ length: 20_000 }, (_, i) => `b${i}`).join('\n');
  const started = performance.now();
  const d = lineDiff(a, b, { maxLines: 5000 });
  assert.ok(performance.now() - started < 2000, 'diff finishes quickly');
  assert.equal(d.filter((x) => x.op === 'del').length, 5000);
  assert.equal(d.filter((x) => x.op === 'add').length, 5000);
  assert.equal(d.length, 10_001);
  assert.match(d[10_000]!.text, /15000 more lines not compared/);
});

test('html escapes every interpolation and keeps nested templates', () => {
  const evil = '<img src=x onerror=alert(1)>"\'&';
  assert.equal(escapeHtml(evil), '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
  assert.equal(html`<td title="${evil}">${evil}</td>`.toString(), `<td title="${escapeHtml(evil)}">${escapeHtml(evil)}</td>`);
  assert.equal(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.toString(), '<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
  assert.equal(html`${raw('<br>')}${null}${undefined}${false}${0}`.toString(), '<br>0');
});
