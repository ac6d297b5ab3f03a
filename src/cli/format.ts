/** Terminal rendering of check reports and findings: sections, colours only on a terminal. */
import { styleText } from 'node:util';
import type { DomainReport } from '../check/check.js';
import { CHECK_SECTIONS, type Finding, type Section, type Severity, type Verdict } from '../findings.js';

type Style = Parameters<typeof styleText>[0];

export class Painter {
  constructor(readonly enabled: boolean) {}

  static for(stream: NodeJS.WriteStream): Painter {
    const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
    return new Painter(Boolean(stream.isTTY) && !noColor && process.env.TERM !== 'dumb');
  }

  paint(style: Style, text: string): string {
    return this.enabled ? styleText(style, text) : text;
  }
}

const SEVERITY_STYLE: Record<Severity, Style> = { error: 'red', warning: 'yellow', info: 'cyan' };
const VERDICT_STYLE: Record<Verdict, Style> = { pass: 'green', warn: 'yellow', fail: 'red' };
const SEVERITY_MARK: Record<Severity, string> = { error: '✗', warning: '!', info: 'i' };

export function formatFinding(f: Finding, p: Painter, indent = '    '): string {
  const where = f.line !== undefined ? ` (line ${f.line}${f.column !== undefined ? `, column ${f.column}` : ''})` : '';
  const head = p.paint(SEVERITY_STYLE[f.severity], `${SEVERITY_MARK[f.severity]} ${f.severity} ${f.code}`);
  const rfc = f.rfc ? p.paint('dim', ` [${f.rfc}]`) : '';
  return `${indent}${head}${where}: ${f.message}${rfc}`;
}


function sectionMark(findings: Finding[], p: Painter): string {
  if (findings.some((f) => f.severity === 'error')) return p.paint('red', '✗');
  if (findings.some((f) => f.severity === 'warning')) return p.paint('yellow', '!');
  return p.paint('green', '✓');
}

/** One line of facts per section, so a healthy domain still shows what was seen. */
function sectionSummary(r: DomainReport, section: Section): string {
  switch (section) {
    case 'record':
      return r.record?.record ? `${r.record.name} "${r.record.record.raw}"` : (r.record ? `${r.record.name}: no valid record` : '');
    case 'policy-host': {
      const pol = r.policy;
      if (!pol) return '';
      const parts = [pol.url];
      if (pol.status !== undefined) parts.push(`HTTP ${pol.status}`);
      if (pol.contentType) parts.push(pol.contentType);
      if (pol.tlsVersion) parts.push(pol.tlsVersion);
      if (pol.certificate) parts.push(`certificate for ${pol.certificate.dnsNames.join(', ') || '(no DNS names)'}, ${pol.certificate.daysLeft} days left`);
      return parts.join(' · ');
    }
    case 'policy': {
      const p = r.policy?.parsed;
      return p ? `mode ${p.mode}, max_age ${p.maxAge} (${humanDuration(p.maxAge)}), mx ${p.mx.join(', ') || '(none)'}` : '';
    }
    case 'mx': {
      const hosts = r.mx.map((m) => `${m.host}${m.pattern ? ` ← ${m.pattern}` : ''}`).join(', ');
      return r.policy?.parsed || hosts === '' ? hosts : `${hosts} (no valid policy to compare with)`;
    }
    case 'smtp':
      return r.smtp.map((s) => `${s.host}: ${s.ok ? `STARTTLS ${s.tlsVersion ?? ''}, certificate valid ${s.certificate?.daysLeft ?? '?'} days` : (s.starttls ? 'STARTTLS, certificate not valid' : 'no TLS')}`).join('; ');
    case 'tlsrpt':
      return r.tlsrpt?.record ? `rua ${r.tlsrpt.record.rua.join(', ')}` : '';
    default:
      return '';
  }
}

function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`;
  return `${seconds} s`;
}

export function formatReport(r: DomainReport, p: Painter): string {
  const lines: string[] = [];
  const verdict = p.paint('bold', p.paint(VERDICT_STYLE[r.verdict], r.verdict.toUpperCase()));
  lines.push(`${p.paint('bold', r.domain)}${r.input !== r.domain ? ` (${r.input})` : ''}  ${verdict}  ${p.paint('dim', `${r.elapsedMs} ms`)}`);
  for (const s of CHECK_SECTIONS) {
    const findings = r.findings.filter((f) => f.section === s.id);
    const summary = sectionSummary(r, s.id);
    if (findings.length === 0 && summary === '') continue;
    lines.push(`  ${sectionMark(findings, p)} ${s.title.padEnd(12)} ${p.paint('dim', summary)}`);
    for (const f of findings) lines.push(formatFinding(f, p));
  }
  return lines.join('\n');
}

/** A one-line progress bar on a terminal, rewritten in place. */
export class ProgressBar {
  private done = 0;
  constructor(private stream: NodeJS.WriteStream, private total: number, private enabled: boolean) {}

  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    this.stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total}`);
  }

  clear(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}
