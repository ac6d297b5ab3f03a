// Writes docs/findings.md from the registry in src/findings.ts (`npm run docs:findings`).
import { writeFileSync } from 'node:fs';
import { renderFindingsTable } from '../src/findings-doc.js';

writeFileSync(new URL('../docs/findings.md', import.meta.url), renderFindingsTable());
console.log('docs/findings.md written');
