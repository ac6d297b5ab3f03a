/** `mtasts records --config FILE`: the DNS records for every configured domain. See docs/cli.md. */
import { parseArgs } from 'node:util';
import { formatZone, publishRecords } from '../publish/records.js';
import { ConfigError, loadConfig } from '../serve/config.js';
import { usage, UsageError, type Io } from './io.js';

export async function runRecords(args: string[], io: Io): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args,
    options: { json: { type: 'boolean' }, config: { type: 'string', short: 'c' }, ttl: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  }));
  if (values.config === undefined) throw new UsageError('records needs --config FILE');
  const only = positionals.map((d) => d.toLowerCase().replace(/\.$/, ''));
  let config;
  try {
    config = loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) io.err(`${i.file}:${i.line}:${i.column}: ${i.message}`);
      return 1;
    }
    throw err;
  }
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) throw new UsageError(`--ttl needs a whole number of seconds, got "${values.ttl}"`);
  const unknown = only.filter((d) => !config.domains.has(d));
  if (unknown.length > 0) throw new UsageError(`not in the configuration: ${unknown.join(', ')}`);
  const all = [...config.domains.values()]
    .filter((d) => only.length === 0 || only.includes(d.domain))
    .map((d) => publishRecords({ domain: d.domain, policy: d.policy, tlsrpt: d.tlsrpt, ttl, ...(config.target ? { target: config.target } : {}) }));
  if (values.json) {
    for (const d of all) {
      io.out(JSON.stringify({
        domain: d.domain, id: d.id, policyText: d.policyText,
        records: d.records.map(({ name, type, ttl: t, data, text }) => ({ name, type, ttl: t, data, ...(text !== undefined ? { text } : {}) })),
        ...(d.targetHint !== undefined ? { hint: d.targetHint } : {}),
      }));
    }
  } else {
    io.out(formatZone(all).trimEnd());
  }
  return 0;
}
