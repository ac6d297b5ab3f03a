/**
 * The configuration of `mtasts resolver`: postfix-mta-sts-resolver's `mta-sts-daemon.yml` keys,
 * read with YAML 1.1 rules as that daemon does (so `mode: 0666` is octal), plus a few keys of ours.
 * See docs/resolver.md for every key and each difference.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseTrustMode, type TrustMode } from '../tls/trust.js';
import { DEFAULT_ZONE, type ZoneConfig } from './postfix.js';

export type CacheConfig =
  | { type: 'internal'; cacheSize: number }
  | { type: 'sqlite'; filename: string; timeout: number }
  | { type: 'redis'; url: string; prefix: string }
  | { type: 'postgres'; dsn: string; table: string };

export interface ResolverConfig {
  host: string;
  port: number;
  path?: string;
  mode?: number;
  reusePort: boolean;
  shutdownTimeout: number;
  cacheGrace: number;
  cache: CacheConfig;
  proactive: { enabled: boolean; interval: number; concurrencyLimit: number; graceRatio: number };
  defaultZone: ZoneConfig;
  zones: Map<string, ZoneConfig>;
  // --- mtasts extensions ---
  dnsServers?: string[];
  caFile?: string;
  /** Which CAs the policy fetch trusts (src/tls/trust.ts); NODE_EXTRA_CA_CERTS and ca_file are always added. */
  trust: TrustMode;
  httpsPort?: number;
  metrics?: { host: string; port: number };
  logLevel: string;
  fetchBackoff: number;
  unusedTtl: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(o: Obj, key: string, def: number, where: string, opts: { min?: number; int?: boolean } = {}): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || n < (opts.min ?? 0)) {
    throw new ConfigError(`${where}${key} must be a ${opts.int ? 'whole ' : ''}number >= ${opts.min ?? 0}, got ${JSON.stringify(v)}`);
  }
  return n;
}
function bool(o: Obj, key: string, def: boolean, where: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new ConfigError(`${where}${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}
function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}${key} must be a non-empty string`);
  return v;
}

function zone(o: unknown, where: string, base: ZoneConfig): ZoneConfig {
  if (o === undefined || o === null) return { ...base };
  if (!isObj(o)) throw new ConfigError(`${where} must be a mapping`);
  return {
    strictTesting: bool(o, 'strict_testing', base.strictTesting, `${where}.`),
    timeout: num(o, 'timeout', base.timeout, `${where}.`, { min: 0.1 }),
    requireSni: bool(o, 'require_sni', base.requireSni, `${where}.`),
    tlsrpt: bool(o, 'tlsrpt', base.tlsrpt, `${where}.`),
  };
}

export function parseResolverConfig(text: string): ResolverConfig {
  let doc: unknown;
  try {
    doc = parse(text, { version: '1.1' });
  } catch (err) {
    throw new ConfigError(`invalid YAML: ${(err as Error).message}`);
  }
  const c: Obj = doc === null || doc === undefined ? {} : isObj(doc) ? doc : (() => { throw new ConfigError('the configuration must be a YAML mapping'); })();

  const cacheObj = c.cache === undefined || c.cache === null ? { type: 'sqlite' } : c.cache;
  if (!isObj(cacheObj)) throw new ConfigError('cache must be a mapping');
  const opts = cacheObj.options === undefined || cacheObj.options === null ? {} : cacheObj.options;
  if (!isObj(opts)) throw new ConfigError('cache.options must be a mapping');
  const type = cacheObj.type ?? 'sqlite';
  let cache: CacheConfig;
  switch (type) {
    case 'internal':
      cache = { type: 'internal', cacheSize: num(opts, 'cache_size', 10_000, 'cache.options.', { min: 1, int: true }) };
      break;
    case 'sqlite':
      cache = { type: 'sqlite', filename: str(opts, 'filename', 'cache.options.') ?? '/var/cache/mtasts/policies.sqlite', timeout: num(opts, 'timeout', 5, 'cache.options.') };
      break;
    case 'redis':
      cache = { type: 'redis', url: str(opts, 'url', 'cache.options.') ?? str(opts, 'address', 'cache.options.') ?? 'redis://127.0.0.1:6379', prefix: str(opts, 'prefix', 'cache.options.') ?? 'mtasts:policy:' };
      break;
    case 'postgres': {
      const dsn = str(opts, 'dsn', 'cache.options.');
      if (!dsn) throw new ConfigError('cache.options.dsn is required for cache type postgres');
      const table = str(opts, 'table', 'cache.options.') ?? 'mtasts_policies';
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) throw new ConfigError('cache.options.table must be letters, digits and _');
      cache = { type: 'postgres', dsn, table };
      break;
    }
    default:
      throw new ConfigError(`cache.type ${JSON.stringify(type)} is not supported (internal, sqlite, redis, postgres)`);
  }

  const pro = c.proactive_policy_fetching ?? {};
  if (!isObj(pro)) throw new ConfigError('proactive_policy_fetching must be a mapping');
  const defaultZone = zone(c.default_zone, 'default_zone', DEFAULT_ZONE);
  const zones = new Map<string, ZoneConfig>();
  if (c.zones !== undefined && c.zones !== null) {
    if (!isObj(c.zones)) throw new ConfigError('zones must be a mapping of zone names');
    // Like postfix-mta-sts-resolver, a zone's unset keys take the built-in defaults.
    for (const [name, z] of Object.entries(c.zones)) zones.set(name, zone(z, `zones.${name}`, DEFAULT_ZONE));
  }

  let dnsServers: string[] | undefined;
  if (c.dns_servers !== undefined && c.dns_servers !== null) {
    if (!Array.isArray(c.dns_servers) || !c.dns_servers.every((s) => typeof s === 'string')) throw new ConfigError('dns_servers must be a list of HOST[:PORT] strings');
    dnsServers = c.dns_servers as string[];
  }
  let metrics: ResolverConfig['metrics'];
  if (c.metrics !== undefined && c.metrics !== null) {
    if (!isObj(c.metrics)) throw new ConfigError('metrics must be a mapping with host and port');
    metrics = { host: str(c.metrics, 'host', 'metrics.') ?? '127.0.0.1', port: num(c.metrics, 'port', 9461, 'metrics.', { int: true }) };
  }
  const path = str(c, 'path', '');
  const mode = c.mode === undefined || c.mode === null ? undefined : num(c, 'mode', 0, '', { int: true });
  const caFile = str(c, 'ca_file', '');
  const trustValue = str(c, 'trust', '');
  const trust = trustValue === undefined ? 'bundled' : parseTrustMode(trustValue);
  if (trust === null) throw new ConfigError(`trust must be bundled, system or both, got ${JSON.stringify(trustValue)}`);
  const httpsPort = c.https_port === undefined ? undefined : num(c, 'https_port', 443, '', { min: 1, int: true });
  return {
    host: str(c, 'host', '') ?? '127.0.0.1',
    port: num(c, 'port', 8461, '', { int: true }),
    ...(path !== undefined ? { path } : {}),
    ...(mode !== undefined ? { mode } : {}),
    reusePort: bool(c, 'reuse_port', true, ''),
    shutdownTimeout: num(c, 'shutdown_timeout', 20, ''),
    cacheGrace: num(c, 'cache_grace', 60, ''),
    cache,
    proactive: {
      // RFC 8461 §3.3: MTAs SHOULD proactively refresh; on unless explicitly disabled.
      enabled: bool(pro, 'enabled', true, 'proactive_policy_fetching.'),
      interval: num(pro, 'interval', 86400, 'proactive_policy_fetching.', { min: 1 }),
      concurrencyLimit: num(pro, 'concurrency_limit', 100, 'proactive_policy_fetching.', { min: 1, int: true }),
      graceRatio: num(pro, 'grace_ratio', 2, 'proactive_policy_fetching.', { min: 1 }),
    },
    defaultZone,
    zones,
    ...(dnsServers ? { dnsServers } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    trust,
    ...(httpsPort !== undefined ? { httpsPort } : {}),
    ...(metrics ? { metrics } : {}),
    logLevel: str(c, 'log_level', '') ?? 'info',
    fetchBackoff: num(c, 'fetch_backoff', 300, ''),
    unusedTtl: num(c, 'unused_ttl', 30 * 86400, ''),
  };
}

export function loadResolverConfig(file: string): ResolverConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseResolverConfig(text);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${file}: ${err.message}`);
    throw err;
  }
}
