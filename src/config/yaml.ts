/**
 * Reading a YAML configuration file so that every error names the file, line and column of the key
 * or value it is about (`serve.yaml:12:5: domains.0.mx: …`). Shared by the `serve` and `monitor`
 * configurations; each validates its own keys on top of {@link readYamlConfig}.
 *
 * @example
 * ```ts
 * const y = readYamlConfig('interval: soon\n', 'monitor.yaml');
 * y.err(['interval'], 'expected a duration');
 * y.issues[0]; // { file: 'monitor.yaml', line: 1, column: 11, message: 'interval: expected a duration' }
 * ```
 */
import { LineCounter, isMap, parseDocument } from 'yaml';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  message: string;
}

export const formatIssue = (i: ConfigIssue): string => `${i.file}:${i.line}:${i.column}: ${i.message}`;

/** A configuration with errors; `issues` lists every one of them. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** Keys and indexes from the document root to a node. */
export type ConfigPath = (string | number)[];

export interface YamlConfig {
  /** The document as plain values (aliases bounded). */
  root: unknown;
  /** Errors so far; the caller throws a ConfigError when any remain. */
  issues: ConfigIssue[];
  warnings: ConfigIssue[];
  /** Where the node at `p` starts (else its nearest ancestor); with `key`, the last step's key. */
  posOf(p: ConfigPath, key?: boolean): { line: number; column: number };
  err(p: ConfigPath, message: string, key?: boolean): void;
  warn(p: ConfigPath, message: string): void;
  /** An error at every key of `obj` that is not in `allowed`. */
  unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], p: ConfigPath): void;
}

/** Parses the text; YAML syntax errors (and duplicate keys) throw a ConfigError at once. */
export function readYamlConfig(text: string, file: string): YamlConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  for (const e of doc.errors) {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    issues.push({ file, line: pos.line, column: pos.col, message: `YAML: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}` });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const posOf = (p: ConfigPath, key = false): { line: number; column: number } => {
    for (let n = p.length; n >= 0; n--) {
      const sub = p.slice(0, n);
      let node: unknown;
      if (key && n === p.length && n > 0) {
        const parent = sub.length > 1 ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
        if (isMap(parent)) node = parent.items.find((it) => (it.key as { value?: unknown } | null)?.value === sub[sub.length - 1])?.key;
      } else {
        node = n === 0 ? doc.contents : doc.getIn(sub, true);
      }
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) {
        const lp = lineCounter.linePos(range[0]);
        return { line: lp.line, column: lp.col };
      }
    }
    return { line: 1, column: 1 };
  };
  const err = (p: ConfigPath, message: string, key = false): void => {
    issues.push({ file, ...posOf(p, key), message: `${p.length > 0 ? `${p.join('.')}: ` : ''}${message}` });
  };
  return {
    root: doc.toJS({ maxAliasCount: 100 }) as unknown,
    issues,
    warnings,
    posOf,
    err,
    warn: (p, message) => void warnings.push({ file, ...posOf(p), message: `${p.join('.')}: ${message}` }),
    unknownKeys: (obj, allowed, p) => {
      for (const k of Object.keys(obj)) if (!allowed.includes(k)) err([...p, k], `unknown key "${k}" (expected one of: ${allowed.join(', ')})`, true);
    },
  };
}
