/** `mtasts lint` and `mtasts match`: see docs/cli.md. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { capFindings, hasErrors, type Finding } from '../findings.js';
import { matchingPattern } from '../mtasts/mx.js';
import { parsePolicy, type Policy } from '../mtasts/policy.js';
import { parseStsRecord } from '../mtasts/record.js';
import { parseTlsRptRecord } from '../tlsrpt/record.js';
import { formatFinding, Painter } from './format.js';
import { usage, UsageError, type Io } from './io.js';

async function readInput(path: string, io: Io): Promise<Uint8Array> {
  if (path === '-') return new Uint8Array(await io.readStdin());
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function printFindings(findings: Finding[], io: Io, what: string): void {
  const p = Painter.for(io.stdout);
  const valid = !hasErrors(findings);
  io.out(valid ? p.paint('green', `✓ ${what} is valid`) : p.paint('red', `✗ ${what} is invalid`));
  for (const f of findings) io.out(formatFinding(f, p, '  '));
}

export async function runLint(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: { json: { type: 'boolean' }, record: { type: 'string' }, tlsrpt: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  }));
  const modes = [values.record !== undefined, values.tlsrpt !== undefined, positionals.length > 0].filter(Boolean).length;
  if (modes !== 1 || positionals.length > 1) {
    throw new UsageError('lint takes exactly one of: FILE (or - for standard input), --record TEXT, --tlsrpt TEXT');
  }

  if (values.record !== undefined) {
    const { record, findings } = parseStsRecord(values.record);
    return report(io, Boolean(values.json), 'record', findings, record && { key: 'record', value: { version: record.version, id: record.id, extensions: record.extensions } });
  }
  if (values.tlsrpt !== undefined) {
    const { record, findings } = parseTlsRptRecord(values.tlsrpt);
    return report(io, Boolean(values.json), 'TLS-RPT record', findings, record && { key: 'record', value: { version: record.version, rua: record.rua, extensions: record.extensions } });
  }

  const path = positionals[0]!;
  // RFC 8461 §3.3: parsePolicy reads only the first 64 KiB, as senders do, and reports
  // policy-too-large for a longer file (which makes it invalid).
  const { policy, findings } = parsePolicy(await readInput(path, io));
  return report(io, Boolean(values.json), path === '-' ? 'policy' : `policy ${path}`, findings, policy && { key: 'policy', value: policyJson(policy) });
}

/** Prints a lint result (JSON or text) and returns the exit status: 0 valid, 1 invalid. */
function report(io: Io, json: boolean, what: string, all: Finding[], parsed: { key: string; value: object } | null): number {
  const findings = capFindings(all); // bounded output whatever the input
  const valid = parsed !== null && !hasErrors(findings);
  if (json) io.out(JSON.stringify({ valid, findings, ...(parsed ? { [parsed.key]: parsed.value } : {}) }));
  else printFindings(findings, io, what);
  return valid ? 0 : 1;
}

function policyJson(policy: Policy) {
  return { version: policy.version, mode: policy.mode, maxAge: policy.maxAge, mx: policy.mx, extensions: policy.extensions };
}

export async function runMatch(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true }));
  if (positionals.length !== 2) throw new UsageError('match takes a policy FILE (or -) and a HOST');
  const [path, host] = positionals as [string, string];
  const { policy, findings } = parsePolicy(await readInput(path, io));
  if (!policy) {
    // An invalid policy is no policy for a sender (RFC 8461 §3.2); there is nothing to match against.
    printFindings(findings, io, `policy ${path}`);
    throw new UsageError(`${path} is not a valid policy, so it cannot accept or refuse ${host}`);
  }
  const pattern = matchingPattern(policy.mx, host);
  if (values.json) {
    io.out(JSON.stringify({ host, match: pattern !== null, pattern }));
  } else {
    io.out(pattern !== null ? `${host} matches mx pattern "${pattern}"` : `${host} matches none of: ${policy.mx.join(', ') || '(no mx patterns)'}`);
  }
  return pattern !== null ? 0 : 1;
}
