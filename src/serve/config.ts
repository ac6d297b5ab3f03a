/**
 * The configuration of `mtasts serve` and `mtasts records`: a YAML file, validated on load.
 * Every problem is reported with the file, line and column it comes from (yaml's `LineCounter`),
 * and all problems are reported at once. docs/configuration.md documents every key.
 *
 * Each domain's policy is built as a `Policy`, serialized, and read back with `parsePolicy`, so
 * the policy rules live in one place (src/mtasts/policy.ts).
 *
 * @example
 * ```ts
 * const config = loadConfig('/etc/mtasts/serve.yaml'); // throws ConfigError listing every problem
 * config.domains.get('example.com')?.text;             // the canonical policy text
 * ```
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { ConfigError, readYamlConfig, type ConfigIssue, type ConfigPath } from '../config/yaml.js';
import { parseDomainArgument, toALabel } from '../dns/name.js';
import { parsePolicy, serializePolicy, type Policy, type PolicyMode } from '../mtasts/policy.js';
import { policyId, type HostTarget } from '../publish/records.js';
import { ruaUriProblem } from '../tlsrpt/record.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface DomainConfig {
  /** The policy domain (A-label). */
  domain: string;
  /** `mta-sts.<domain>`: the host the policy is served on. */
  host: string;
  policy: Policy;
  /** Canonical policy text (CRLF line ends), exactly what is served. */
  text: string;
  body: Buffer;
  /** Content hash of `text`: the `_mta-sts` record id, also used as the ETag. */
  id: string;
  /** TLS-RPT report URIs for `records` (the domain's own, else the top-level default). */
  tlsrpt: string[];
}

export type CertificateConfig =
  | { kind: 'dir'; dir: string }
  | {
      kind: 'acme';
      directory: string;
      email?: string;
      dir: string;
      /** Renew when a certificate has less than this left (ms). */
      renewBeforeMs: number;
      /** How often certificates are checked for renewal (ms). */
      checkIntervalMs: number;
      /** Extra CA certificates (PEM) trusted for the ACME server's own HTTPS (a test or private CA). */
      caFile?: string;
      /** Which CAs the ACME client trusts (src/tls/trust.ts; default bundled); NODE_EXTRA_CA_CERTS and ca_file are added. */
      trust?: 'bundled' | 'system' | 'both';
    };

export interface Limits {
  maxConnections: number;
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  maxConcurrentStreams: number;
}

export interface ServeConfig {
  /** The file the configuration was read from, when any. */
  file?: string;
  listen: { https: ListenAddress; http: ListenAddress | null; admin: ListenAddress | null };
  certificates: CertificateConfig;
  target?: HostTarget;
  /** Default TLS-RPT URIs. */
  tlsrpt: string[];
  workers: number;
  logLevel: string;
  limits: Limits;
  /** Keyed by policy domain (A-label). */
  domains: Map<string, DomainConfig>;
  /** Keyed by `mta-sts.<domain>`. */
  hosts: Map<string, DomainConfig>;
  /** Problems that do not stop the configuration from loading. */
  warnings: ConfigIssue[];
  /** The RFC 8460 §5.4 report endpoint (`reports:`): POST `path` on any served host stores into `db`. */
  reports?: ReportsEndpointConfig;
}

export interface ReportsEndpointConfig {
  /** URL path of the endpoint (default `/tlsrpt`). */
  path: string;
  /** Report database (SQLite path resolved against the config's folder, or postgres:// URL); default: MTASTS_DB or mtasts.db. */
  db?: string;
}

export { ConfigError, formatIssue, type ConfigIssue } from '../config/yaml.js';

export const DEFAULT_LIMITS: Limits = {
  maxConnections: 10_000,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxHeaderBytes: 8 * 1024,
  maxConcurrentStreams: 32,
};

const TOP_KEYS = ['listen', 'certificates', 'domains', 'target', 'tlsrpt', 'workers', 'log_level', 'limits', 'reports'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MODES: readonly PolicyMode[] = ['enforce', 'testing', 'none'];

/** Parses `HOST:PORT` (`[v6]:PORT`); port 0 asks for an ephemeral port. */
export function parseListen(value: string): ListenAddress | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  if (!m) return null;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined && isIP(host) !== 6) return null;
  if (m[2] !== undefined && isIP(host) === 0 && host !== 'localhost') return null;
  return { host, port };
}

/** Seconds as a number, or a string such as `90s`, `15m`, `12h`, `30d`. Returns ms, or null. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  if (typeof value !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

/** Reads and validates a configuration file. Throws ConfigError (with line numbers) on any problem. */
export function loadConfig(file: string): ServeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: 1, column: 1, message: `cannot read the configuration: ${(err as Error).message}` }]);
  }
  return parseConfig(text, { file, baseDir: path.dirname(path.resolve(file)) });
}

type Path = ConfigPath;

/** Validates configuration text. Relative paths are resolved against `baseDir` (default: cwd). */
export function parseConfig(text: string, opts: { file?: string; baseDir?: string } = {}): ServeConfig {
  const file = opts.file ?? '<config>';
  const baseDir = opts.baseDir ?? process.cwd();
  const { root, issues, warnings, err, warn, unknownKeys } = readYamlConfig(text, file);
  if (root === null || root === undefined || typeof root !== 'object' || Array.isArray(root)) {
    err([], 'the configuration must be a mapping with at least "listen", "certificates" and "domains"');
    throw new ConfigError(issues);
  }
  const top = root as Record<string, unknown>;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  unknownKeys(top, TOP_KEYS, []);

  // listen
  const listen: ServeConfig['listen'] = { https: { host: '0.0.0.0', port: 443 }, http: null, admin: { host: '127.0.0.1', port: 9464 } };
  const addr = (v: unknown, p: Path): ListenAddress | null => {
    const a = typeof v === 'string' ? parseListen(v) : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536 ? { host: '0.0.0.0', port: v } : null;
    if (a === null) err(p, `expected "HOST:PORT" (an IP address, [IPv6] or localhost, and a port), got ${JSON.stringify(v)}`);
    return a;
  };
  if (!isObj(top.listen)) {
    err(['listen'], 'required: a mapping with "https" (and "http" for ACME), e.g. { https: "0.0.0.0:443", http: "0.0.0.0:80" }');
  } else {
    unknownKeys(top.listen, ['https', 'http', 'admin'], ['listen']);
    if (top.listen.https === undefined) err(['listen'], 'listen.https is required');
    else listen.https = addr(top.listen.https, ['listen', 'https']) ?? listen.https;
    if (top.listen.http !== undefined && top.listen.http !== null && top.listen.http !== false) listen.http = addr(top.listen.http, ['listen', 'http']);
    if (top.listen.admin === false || top.listen.admin === null) listen.admin = null;
    else if (top.listen.admin !== undefined) listen.admin = addr(top.listen.admin, ['listen', 'admin']);
  }

  // certificates
  let certificates: CertificateConfig = { kind: 'dir', dir: baseDir };
  const c = top.certificates;
  if (!isObj(c)) {
    err(['certificates'], 'required: { dir: ./certs } or { acme: { directory: URL, email: ..., accept_terms: true, dir: ./acme } }');
  } else {
    unknownKeys(c, ['dir', 'acme'], ['certificates']);
    if (c.dir !== undefined && c.acme !== undefined) err(['certificates'], 'give either "dir" or "acme", not both');
    if (c.acme !== undefined) {
      const a = c.acme;
      if (!isObj(a)) err(['certificates', 'acme'], 'expected a mapping with directory, email, accept_terms and dir');
      else {
        unknownKeys(a, ['directory', 'email', 'accept_terms', 'dir', 'renew_before', 'check_interval', 'ca_file', 'trust'], ['certificates', 'acme']);
        let directory = '';
        if (typeof a.directory !== 'string') err(['certificates', 'acme'], 'acme.directory (the ACME directory URL) is required');
        else {
          try {
            const u = new URL(a.directory);
            if (u.protocol !== 'https:') err(['certificates', 'acme', 'directory'], 'the ACME directory must be an https: URL');
            directory = a.directory;
          } catch {
            err(['certificates', 'acme', 'directory'], `not a URL: ${JSON.stringify(a.directory)}`);
          }
        }
        if (a.accept_terms !== true) err(['certificates', 'acme'], 'acme.accept_terms must be true: you must agree to the CA\'s terms of service');
        if (a.email !== undefined && (typeof a.email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(a.email))) err(['certificates', 'acme', 'email'], 'expected an e-mail address');
        if (typeof a.dir !== 'string' || a.dir === '') err(['certificates', 'acme'], 'acme.dir (where keys and certificates are kept) is required');
        const renewBeforeMs = a.renew_before === undefined ? 30 * 86_400_000 : parseDuration(a.renew_before);
        if (renewBeforeMs === null) err(['certificates', 'acme', 'renew_before'], 'expected seconds or a duration such as "30d"');
        const checkIntervalMs = a.check_interval === undefined ? 12 * 3_600_000 : parseDuration(a.check_interval);
        if (checkIntervalMs === null || checkIntervalMs < 1000) err(['certificates', 'acme', 'check_interval'], 'expected a duration of at least one second, such as "12h"');
        if (a.ca_file !== undefined && typeof a.ca_file !== 'string') err(['certificates', 'acme', 'ca_file'], 'expected a path to a PEM file');
        if (a.trust !== undefined && a.trust !== 'bundled' && a.trust !== 'system' && a.trust !== 'both') err(['certificates', 'acme', 'trust'], 'expected bundled, system or both');
        certificates = {
          kind: 'acme', directory,
          dir: path.resolve(baseDir, typeof a.dir === 'string' ? a.dir : '.'),
          renewBeforeMs: renewBeforeMs ?? 0,
          checkIntervalMs: checkIntervalMs ?? 3_600_000,
          ...(typeof a.email === 'string' ? { email: a.email } : {}),
          ...(typeof a.ca_file === 'string' ? { caFile: path.resolve(baseDir, a.ca_file) } : {}),
          ...(a.trust === 'bundled' || a.trust === 'system' || a.trust === 'both' ? { trust: a.trust } : {}),
        };
      }
    } else if (typeof c.dir !== 'string' || c.dir === '') {
      err(['certificates'], 'certificates.dir (a directory of <host>.crt + <host>.key or <host>.pem files) is required');
    } else {
      certificates = { kind: 'dir', dir: path.resolve(baseDir, c.dir) };
    }
  }
  if (certificates.kind === 'acme' && listen.http === null && issues.length === 0) {
    err(['listen'], 'ACME needs listen.http: the CA validates HTTP-01 challenges on port 80 of mta-sts.<domain>');
  }

  // tlsrpt
  const ruaList = (v: unknown, p: Path): string[] => {
    const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : null;
    if (list === null || list.length === 0) {
      err(p, 'expected a list of report URIs such as [mailto:tlsrpt@example.com]');
      return [];
    }
    const out: string[] = [];
    list.forEach((u, i) => {
      const problem = typeof u === 'string' ? ruaUriProblem(u) : 'not a string';
      // RFC 8460 §3: rua is a list of mailto: or https: URIs.
      if (problem !== null) err(typeof v === 'string' ? p : [...p, i], `invalid TLS-RPT URI: ${problem}`);
      else out.push(u as string);
    });
    return out;
  };
  const tlsrpt = top.tlsrpt === undefined ? [] : ruaList(top.tlsrpt, ['tlsrpt']);

  // target
  let target: HostTarget | undefined;
  if (top.target !== undefined) {
    const t = top.target;
    if (!isObj(t)) err(['target'], 'expected { cname: host } or { a: [IPv4...], aaaa: [IPv6...] }');
    else {
      unknownKeys(t, ['cname', 'a', 'aaaa'], ['target']);
      if (t.cname !== undefined) {
        if (t.a !== undefined || t.aaaa !== undefined) err(['target'], 'give either cname or a/aaaa, not both (a CNAME cannot coexist with other records)');
        if (typeof t.cname !== 'string' || toALabel(t.cname) === null) err(['target', 'cname'], 'expected a host name');
        else target = { cname: t.cname };
      } else {
        const ips = (k: 'a' | 'aaaa', fam: 4 | 6): string[] => {
          const v = t[k];
          if (v === undefined) return [];
          const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : null;
          if (list === null) {
            err(['target', k], `expected a list of IPv${fam} addresses`);
            return [];
          }
          return list.filter((x, i) => {
            const ok = typeof x === 'string' && isIP(x) === fam;
            if (!ok) err(['target', k, i], `${JSON.stringify(x)} is not an IPv${fam} address`);
            return ok;
          }) as string[];
        };
        const a = ips('a', 4);
        const aaaa = ips('aaaa', 6);
        if (a.length + aaaa.length === 0) err(['target'], 'expected { cname: host } or at least one address in a/aaaa');
        target = { a, aaaa };
      }
    }
  }

  // workers
  let workers = 1;
  if (top.workers !== undefined) {
    if (top.workers === 'auto') workers = availableParallelism();
    else if (typeof top.workers === 'number' && Number.isInteger(top.workers) && top.workers >= 1 && top.workers <= 256) workers = top.workers;
    else err(['workers'], 'expected a whole number from 1 to 256, or "auto" (one per core)');
  }
  if (workers > 1 && certificates.kind === 'acme') {
    err(['workers'], 'ACME certificates are only supported with workers: 1 (run one ACME process, or use certificates.dir)');
  }

  let logLevel = 'info';
  if (top.log_level !== undefined) {
    if (typeof top.log_level === 'string' && LOG_LEVELS.includes(top.log_level)) logLevel = top.log_level;
    else err(['log_level'], `expected one of ${LOG_LEVELS.join(', ')}`);
  }

  // reports: the HTTPS report endpoint (RFC 8460 §5.4) hosted beside the policies
  let reports: ReportsEndpointConfig | undefined;
  if (top.reports !== undefined && top.reports !== null && top.reports !== false) {
    const r = top.reports;
    if (!isObj(r)) err(['reports'], 'expected a mapping such as { path: /tlsrpt, db: reports.db }');
    else {
      unknownKeys(r, ['path', 'db'], ['reports']);
      const p = r.path ?? '/tlsrpt';
      if (typeof p !== 'string' || !p.startsWith('/') || /[\s?#]/.test(p)) err(['reports', 'path'], 'expected a URL path starting with "/", such as /tlsrpt');
      else if (p === '/.well-known/mta-sts.txt' || p.startsWith('/.well-known/acme-challenge/')) err(['reports', 'path'], `${p} is already served; choose another path, such as /tlsrpt`);
      if (r.db !== undefined && (typeof r.db !== 'string' || r.db === '')) err(['reports', 'db'], 'expected an SQLite file path or a postgres:// URL');
      if (typeof p === 'string') {
        const db = typeof r.db === 'string' && r.db !== '' ? (/^postgres(ql)?:\/\//i.test(r.db) ? r.db : path.resolve(baseDir, r.db)) : undefined;
        reports = { path: p, ...(db !== undefined ? { db } : {}) };
      }
    }
  }

  // limits
  const limits: Limits = { ...DEFAULT_LIMITS };
  if (top.limits !== undefined) {
    const l = top.limits;
    if (!isObj(l)) err(['limits'], 'expected a mapping');
    else {
      const keys = {
        max_connections: 'maxConnections', handshake_timeout: 'handshakeTimeoutMs', header_timeout: 'headersTimeoutMs',
        idle_timeout: 'idleTimeoutMs', max_header_bytes: 'maxHeaderBytes', max_concurrent_streams: 'maxConcurrentStreams',
      } as const;
      unknownKeys(l, Object.keys(keys), ['limits']);
      for (const [k, field] of Object.entries(keys)) {
        const v = l[k];
        if (v === undefined) continue;
        if (field.endsWith('Ms')) {
          const ms = parseDuration(v);
          if (ms === null || ms < 100) err(['limits', k], 'expected a duration of at least 100 ms, e.g. 10 or "10s"');
          else limits[field] = ms;
        } else if (typeof v === 'number' && Number.isInteger(v) && v >= 1) {
          limits[field] = v;
        } else {
          err(['limits', k], 'expected a positive whole number');
        }
      }
    }
  }

  // domains
  const domains = new Map<string, DomainConfig>();
  const hosts = new Map<string, DomainConfig>();
  if (!isObj(top.domains) || Object.keys(top.domains).length === 0) {
    err(['domains'], 'required: a mapping of policy domains, e.g. example.com: { mode: enforce, mx: [mail.example.com], max_age: 1209600 }');
  } else {
    for (const [name, spec] of Object.entries(top.domains)) {
      const p: Path = ['domains', name];
      const parsed = parseDomainArgument(name);
      if (!parsed.ok) {
        err(p, `not a valid domain name: ${parsed.error}`, true);
        continue;
      }
      const domain = parsed.domain;
      if (domains.has(domain)) {
        err(p, `the domain ${domain} is configured twice`, true);
        continue;
      }
      if (!isObj(spec)) {
        err(p, 'expected { mode: enforce|testing|none, mx: [...], max_age: seconds }');
        continue;
      }
      unknownKeys(spec, ['mode', 'mx', 'max_age', 'tlsrpt'], p);
      const before = issues.length;
      const mode = spec.mode ?? 'testing';
      if (typeof mode !== 'string' || !MODES.includes(mode as PolicyMode)) err([...p, 'mode'], `expected enforce, testing or none, got ${JSON.stringify(mode)}`);
      const mxRaw = spec.mx === undefined ? [] : typeof spec.mx === 'string' ? [spec.mx] : spec.mx;
      if (!Array.isArray(mxRaw) || mxRaw.some((m) => typeof m !== 'string')) err([...p, 'mx'], 'expected a list of host names or *.wildcards');
      const maxAge = spec.max_age ?? 604800;
      if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0) err([...p, 'max_age'], `expected a whole number of seconds, got ${JSON.stringify(maxAge)}`);
      const rua = spec.tlsrpt === undefined ? tlsrpt : ruaList(spec.tlsrpt, [...p, 'tlsrpt']);
      if (issues.length > before) continue;

      const policy: Policy = { version: 'STSv1', mode: mode as PolicyMode, mx: (mxRaw as string[]).map((m) => m.trim()), maxAge: maxAge as number, extensions: [] };
      const text = serializePolicy(policy);
      // The policy rules live in parsePolicy: validate the text exactly as senders will read it.
      const result = parsePolicy(text);
      for (const f of result.findings) {
        const mxIndex = policy.mx.findIndex((m) => f.message.includes(`"${m}"`));
        const where: Path = f.code.startsWith('policy-mx') ? (mxIndex >= 0 && Array.isArray(spec.mx) ? [...p, 'mx', mxIndex] : [...p, 'mx'])
          : f.code.startsWith('policy-max-age') ? [...p, 'max_age'] : f.code.startsWith('policy-mode') ? [...p, 'mode'] : p;
        if (f.severity === 'error') err(where, `${f.message} [${f.code}]`);
        else if (f.severity === 'warning') warn(where, `${f.message} [${f.code}]`);
      }
      if (result.policy === null) continue;
      const entry: DomainConfig = {
        domain, host: `mta-sts.${domain}`, policy: result.policy, text, body: Buffer.from(text, 'utf8'), id: policyId(text), tlsrpt: rua,
      };
      domains.set(domain, entry);
      hosts.set(entry.host, entry);
    }
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...(opts.file !== undefined ? { file: opts.file } : {}),
    listen, certificates, ...(target ? { target } : {}), tlsrpt, workers, logLevel, limits, domains, hosts, warnings,
    ...(reports ? { reports } : {}),
  };
}
