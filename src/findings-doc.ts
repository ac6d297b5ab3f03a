/** Renders the findings registry as the Markdown table in docs/findings.md. */
import { FINDINGS } from './findings.js';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function renderFindingsTable(): string {
  const rows = Object.entries(FINDINGS).map(([code, s]) => {
    const rfc = 'rfc' in s ? s.rfc : '';
    return `| \`${code}\` | ${s.severity} | ${s.section} | ${cell(s.meaning)} | ${cell(s.fix)} | ${rfc} |`;
  });
  return [
    '# Findings',
    '',
    'Every problem mtasts reports is a finding with a stable `code`, a `severity` and a `message` that',
    'says what is wrong and how to fix it. Codes never change meaning; new ones are added at need.',
    'A domain\'s verdict is `fail` with any `error`, `warn` with warnings only, `pass` otherwise.',
    '',
    'This file is generated from `src/findings.ts` by `npm run docs:findings`; a test keeps it in sync.',
    '',
    '| code | severity | section | meaning | how to fix | RFC |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
