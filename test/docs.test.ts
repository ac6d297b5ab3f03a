import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { renderFindingsTable } from '../src/findings-doc.js';
import { FINDINGS } from '../src/findings.js';

test('docs/findings.md is generated from the registry (run `npm run docs:findings`)', () => {
  const onDisk = readFileSync(new URL('../docs/findings.md', import.meta.url), 'utf8');
  assert.equal(onDisk, renderFindingsTable());
});

test('every finding code is kebab-case and every fix is a sentence', () => {
  for (const [code, spec] of Object.entries(FINDINGS)) {
    assert.match(code, /^[a-z0-9]+(-[a-z0-9]+)*$/, code);
    assert.match(spec.fix, /[.!]$|`$/, `${code}: fix should end a sentence`);
  }
});
