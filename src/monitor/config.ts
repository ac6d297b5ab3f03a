/**
 * The configuration of `mtasts monitor` (and of `monitor status|events`, `advise` and the dashboard
 * when given `--config`): one YAML file, validated on load. Every problem is reported with the file,
 * line and column it comes from, all at once (the same `ConfigError` as `mtasts serve`).
 * docs/monitor.md documents every key.
 *
 * @example
 * ```ts
 * const config = loadMonitorConfig('/etc/mtasts/monitor.yaml'); // throws ConfigError listing every problem
 * config.domains;     // A-labels, from `domains` and `domains_file`
 * config.intervalMs;  // how often each domain is checked
 * ```
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, readYamlConfig } from '../config/yaml.js';
import type { ImapSourceConfig } from '../reports/mail/imap.js';
import { parseDomainArgument } from '../dns/name.js';
import { parseDuration, parseListen } from '../serve/config.js';
import { databaseSpec } from '../store/sql.js';
import { splitPemCertificates } from '../tls/certificate.js';
import { parseTrustMode, type TrustMode } from '../tls/trust.js';

export { ConfigError, formatIssue, type ConfigIssue } from '../serve/config.js';

/** Alert delivery (src/monitor/alerts.ts). */
export interface AlertsConfig {
  webhooks: { url: string; secret?: string; timeoutMs?: number }[];
  email?: {
    /** smtp:// or smtps:// URL, may carry user:pass. */
    smtp: string;
    from: string;
    to: string[];
    starttls?: 'required' | 'opportunistic' | 'never';
    /** Extra trusted CA certificates (PEM) for the SMTP server. */
    ca?: string[];
    timeoutMs?: number;
  };
}

/** The rollout advisor's thresholds (src/monitor/advisor.ts). */
export interface AdvisorConfig {
  report_days: number;
  passing_days: number;
  max_failure_rate: number;
  min_sessions: number;
  min_senders: number;
}

export const DEFAULT_ADVISOR: AdvisorConfig = { report_days: 14, passing_days: 7, max_failure_rate: 0.01, min_sessions: 100, min_senders: 2 };

/** IMAP intake of TLS-RPT mail: the intake's own options (src/reports/mail). */
export type ImapConfig = ImapSourceConfig;

export interface MonitorConfig {
  /** The file it was read from, when any. */
  file?: string;
  /** SQLite file or postgres:// URL. */
  db: string;
  /** A-labels, without duplicates, in configuration order. */
  domains: string[];
  domainsFile?: string;
  intervalMs: number;
  check: {
    dnsServers?: string[];
    caFile?: string;
    /** The PEM certificates of `ca_file`. */
    ca?: string[];
    trust?: TrustMode;
    timeoutMs: number;
    smtp: boolean;
    concurrency: number;
    httpsPort?: number;
    smtpPort?: number;
    blockPrivate: boolean;
    ehlo?: string;
  };
  confirm: number;
  expiryDays: number;
  /** Failed-session rate above which `tlsrpt-failures` opens. */
  tlsrptFailureRate: number;
  /** How long checks and events are kept, ms. */
  retentionMs: number;
  alerts: AlertsConfig;
  reports?: {
    imap?: ImapConfig;
    maildir?: string;
    /** HOST:PORT of the HTTPS (or plain HTTP) report receiver. */
    listen?: string;
    path?: string;
    cert?: string;
    key?: string;
    /** How often IMAP and the Maildir are polled, ms. */
    pollIntervalMs: number;
  };
  metrics?: { listen: string };
  advisor: AdvisorConfig;
  dashboard?: { listen: string; token?: string; users?: { user: string; pass: string }[] };
  logLevel: string;
  /**
   * pg-boss (PostgreSQL only): its schema; how many domains a process takes at a time; after how
   * long a job held by a silent (dead) process is retried elsewhere; how often that is looked for.
   */
  queue: { schema: string; batchSize: number; expireMs?: number; maintenanceMs: number };
}

const TOP_KEYS = [
  'db', 'domains', 'domains_file', 'interval', 'check', 'confirm', 'expiry_days', 'tlsrpt_failure_rate', 'retention',
  'alerts', 'reports', 'metrics', 'advisor', 'dashboard', 'log_level', 'queue',
];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MAX_DOMAINS_FILE = 64 * 1024 * 1024;

type Path = (string | number)[];
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads and validates a monitor configuration. Throws ConfigError (file:line:column) on any problem. */
export function loadMonitorConfig(file: string): MonitorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: 1, column: 1, message: `cannot read the configuration: ${(err as Error).message}` }]);
  }
  return parseMonitorConfig(text, { file, baseDir: path.dirname(path.resolve(file)) });
}

/** Validates configuration text; relative paths are resolved against `baseDir` (default: cwd). */
export function parseMonitorConfig(text: string, opts: { file?: string; baseDir?: string; env?: NodeJS.ProcessEnv } = {}): MonitorConfig {
  const file = opts.file ?? '<config>';
  const baseDir = opts.baseDir ?? process.cwd();
  const { root: rootValue, issues, err, unknownKeys } = readYamlConfig(text, file);
  const resolvePath = (v: string): string => path.resolve(baseDir, v);
  const str = (o: Obj, k: string, p: Path): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') {
      err([...p, k], 'expected a non-empty string');
      return undefined;
    }
    return v;
  };
  const num = (o: Obj, k: string, p: Path, def: number, { min = 0, max = Infinity, int = false } = {}): number => {
    const v = o[k];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
      err([...p, k], `expected a ${int ? 'whole ' : ''}number${max < Infinity ? ` from ${min} to ${max}` : ` >= ${min}`}, got ${JSON.stringify(v)}`);
      return def;
    }
    return v;
  };
  const bool = (o: Obj, k: string, p: Path, def: boolean): boolean => {
    const v = o[k];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') {
      err([...p, k], `expected true or false, got ${JSON.stringify(v)}`);
      return def;
    }
    return v;
  };
  const duration = (o: Obj, k: string, p: Path, defMs: number, minMs: number): number => {
    const v = o[k];
    if (v === undefined || v === null) return defMs;
    const ms = parseDuration(v);
    if (ms === null || ms < minMs) {
      err([...p, k], `expected seconds or a duration such as "90s", "15m", "1h", "30d" (at least ${minMs / 1000} s), got ${JSON.stringify(v)}`);
      return defMs;
    }
    return ms;
  };
  const listen = (o: Obj, k: string, p: Path): string | undefined => {
    const v = str(o, k, p);
    if (v !== undefined && parseListen(v) === null) {
      err([...p, k], `expected "HOST:PORT" (an IP address, [IPv6] or localhost, and a port), got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };
  const caFile = (o: Obj, k: string, p: Path): { file: string; pem: string[] } | undefined => {
    const v = str(o, k, p);
    if (v === undefined) return undefined;
    const f = resolvePath(v);
    try {
      const pem = splitPemCertificates(readFileSync(f, 'utf8'));
      if (pem.length === 0) err([...p, k], `${f} holds no PEM certificate`);
      return { file: f, pem };
    } catch (e) {
      err([...p, k], `cannot read ${f}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const section = (o: Obj, k: string, allowed: readonly string[]): Obj | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      err([k], 'expected a mapping');
      return undefined;
    }
    unknownKeys(v, allowed, [k]);
    return v;
  };

  if (rootValue !== null && rootValue !== undefined && !isObj(rootValue)) {
    err([], 'the configuration must be a mapping with at least "domains" or "domains_file"');
    throw new ConfigError(issues);
  }
  const top: Obj = (rootValue as Obj | null) ?? {};
  unknownKeys(top, TOP_KEYS, []);

  // db
  const dbValue = str(top, 'db', []);
  const db = dbValue === undefined ? databaseSpec(undefined, opts.env) : /^postgres(ql)?:\/\//i.test(dbValue) ? dbValue : resolvePath(dbValue);

  // domains
  const domains: string[] = [];
  const seen = new Set<string>();
  const addDomain = (name: unknown, p: Path, where?: string): void => {
    const parsed = typeof name === 'string' ? parseDomainArgument(name) : { ok: false as const, error: 'not a string' };
    if (!parsed.ok) {
      err(p, `${where ?? ''}not a valid domain name ${JSON.stringify(name)}: ${parsed.error}`);
      return;
    }
    if (seen.has(parsed.domain)) return;
    seen.add(parsed.domain);
    domains.push(parsed.domain);
  };
  if (top.domains !== undefined && top.domains !== null) {
    if (!Array.isArray(top.domains)) err(['domains'], 'expected a list of domain names, e.g. [example.com, example.org]');
    else top.domains.forEach((d, i) => addDomain(d, ['domains', i]));
  }
  let domainsFile: string | undefined;
  const df = str(top, 'domains_file', []);
  if (df !== undefined) {
    domainsFile = resolvePath(df);
    let content: string | undefined;
    try {
      const buf = readFileSync(domainsFile);
      if (buf.length > MAX_DOMAINS_FILE) err(['domains_file'], `${domainsFile} is larger than 64 MiB`);
      else content = buf.toString('utf8');
    } catch (e) {
      err(['domains_file'], `cannot read ${domainsFile}: ${(e as Error).message}`);
    }
    if (content !== undefined) {
      content.split(/\r?\n/).forEach((line, i) => {
        const l = line.replace(/#.*/, '').trim();
        if (l !== '') addDomain(l, ['domains_file'], `${domainsFile}:${i + 1}: `);
      });
    }
  }
  if (top.domains === undefined && df === undefined) err([], 'give the domains to watch: "domains: [example.com]" and/or "domains_file: domains.txt"');

  const intervalMs = duration(top, 'interval', [], 3_600_000, 1000);

  // check
  const c = section(top, 'check', ['dns', 'ca_file', 'trust', 'timeout', 'smtp', 'concurrency', 'https_port', 'smtp_port', 'block_private', 'ehlo']) ?? {};
  let dnsServers: string[] | undefined;
  if (c.dns !== undefined && c.dns !== null) {
    const list = typeof c.dns === 'string' ? [c.dns] : Array.isArray(c.dns) ? c.dns : null;
    if (list === null || !list.every((s) => typeof s === 'string' && (parseListen(s) !== null || /^[0-9a-fA-F:.]+$/.test(s)))) {
      err(['check', 'dns'], 'expected a DNS server HOST[:PORT] or a list of them');
    } else {
      dnsServers = list as string[];
    }
  }
  const ca = caFile(c, 'ca_file', ['check']);
  let trust: TrustMode | undefined;
  const trustValue = str(c, 'trust', ['check']);
  if (trustValue !== undefined) {
    trust = parseTrustMode(trustValue) ?? undefined;
    if (trust === undefined) err(['check', 'trust'], 'expected bundled, system or both');
  }
  const timeoutMs = duration(c, 'timeout', ['check'], 10_000, 100);
  const port = (k: string): number | undefined => (c[k] === undefined ? undefined : num(c, k, ['check'], 0, { min: 1, max: 65535, int: true }));
  const httpsPort = port('https_port');
  const smtpPort = port('smtp_port');
  const ehlo = str(c, 'ehlo', ['check']);
  const check: MonitorConfig['check'] = {
    ...(dnsServers ? { dnsServers } : {}),
    ...(ca ? { caFile: ca.file, ca: ca.pem } : {}),
    ...(trust ? { trust } : {}),
    timeoutMs,
    smtp: bool(c, 'smtp', ['check'], true),
    concurrency: num(c, 'concurrency', ['check'], 50, { min: 1, max: 10_000, int: true }),
    ...(httpsPort ? { httpsPort } : {}),
    ...(smtpPort ? { smtpPort } : {}),
    blockPrivate: bool(c, 'block_private', ['check'], false),
    ...(ehlo ? { ehlo } : {}),
  };

  const confirm = num(top, 'confirm', [], 2, { min: 1, max: 1000, int: true });
  const expiryDays = num(top, 'expiry_days', [], 14, { min: 0, max: 3650, int: true });
  const tlsrptFailureRate = num(top, 'tlsrpt_failure_rate', [], 0.01, { min: 0, max: 1 });
  const retentionMs = duration(top, 'retention', [], 400 * 86_400_000, 86_400_000);

  // alerts
  const alerts: AlertsConfig = { webhooks: [] };
  const a = section(top, 'alerts', ['webhooks', 'email']);
  if (a) {
    if (a.webhooks !== undefined && a.webhooks !== null) {
      if (!Array.isArray(a.webhooks)) err(['alerts', 'webhooks'], 'expected a list of { url, secret }');
      else a.webhooks.forEach((w, i) => {
        const p: Path = ['alerts', 'webhooks', i];
        const hook = typeof w === 'string' ? { url: w } : w;
        if (!isObj(hook)) return err(p, 'expected { url: https://..., secret: ... }');
        unknownKeys(hook, ['url', 'secret', 'timeout'], p);
        const url = str(hook, 'url', p);
        if (url === undefined) return err(p, 'url is required');
        try {
          if (!/^https?:$/.test(new URL(url).protocol)) return err([...p, 'url'], 'expected an http: or https: URL');
        } catch {
          return err([...p, 'url'], `not a URL: ${JSON.stringify(url)}`);
        }
        const secret = str(hook, 'secret', p);
        const timeout = hook.timeout === undefined ? undefined : duration(hook, 'timeout', p, 10_000, 100);
        alerts.webhooks.push({ url, ...(secret ? { secret } : {}), ...(timeout ? { timeoutMs: timeout } : {}) });
      });
    }
    if (a.email !== undefined && a.email !== null) {
      const e = a.email;
      const p: Path = ['alerts', 'email'];
      if (!isObj(e)) err(p, 'expected { smtp: smtp://host:25, from: ..., to: [...] }');
      else {
        unknownKeys(e, ['smtp', 'from', 'to', 'starttls', 'ca_file', 'timeout'], p);
        const smtp = str(e, 'smtp', p);
        if (smtp === undefined) err(p, 'smtp (an smtp:// or smtps:// URL) is required');
        else {
          try {
            if (!/^smtps?:$/.test(new URL(smtp).protocol)) err([...p, 'smtp'], 'expected an smtp:// or smtps:// URL');
          } catch {
            err([...p, 'smtp'], 'not a URL');
          }
        }
        const from = str(e, 'from', p);
        if (from === undefined || !/^[^@\s]+@[^@\s]+$/.test(from)) err([...p, 'from'], 'expected the sender address');
        const toRaw = typeof e.to === 'string' ? [e.to] : e.to;
        const to = Array.isArray(toRaw) ? toRaw.filter((x): x is string => typeof x === 'string' && /^[^@\s]+@[^@\s]+$/.test(x)) : [];
        if (!Array.isArray(toRaw) || to.length === 0 || to.length !== toRaw.length) err([...p, 'to'], 'expected a list of recipient addresses');
        const starttls = e.starttls === undefined ? undefined : e.starttls;
        if (starttls !== undefined && !['required', 'opportunistic', 'never'].includes(starttls as string)) err([...p, 'starttls'], 'expected required, opportunistic or never');
        const eca = caFile(e, 'ca_file', p);
        const timeout = e.timeout === undefined ? undefined : duration(e, 'timeout', p, 30_000, 100);
        if (smtp && from) {
          alerts.email = {
            smtp, from, to,
            ...(starttls ? { starttls: starttls as 'required' | 'opportunistic' | 'never' } : {}),
            ...(eca ? { ca: eca.pem } : {}),
            ...(timeout ? { timeoutMs: timeout } : {}),
          };
        }
      }
    }
  }

  // reports
  let reports: MonitorConfig['reports'];
  const r = section(top, 'reports', ['imap', 'maildir', 'listen', 'path', 'cert', 'key', 'poll_interval']);
  if (r) {
    let imap: ImapConfig | undefined;
    if (r.imap !== undefined && r.imap !== null) {
      const p: Path = ['reports', 'imap'];
      const m = r.imap;
      if (!isObj(m)) err(p, 'expected { host, user, pass, ... }');
      else {
        unknownKeys(m, ['host', 'port', 'secure', 'starttls', 'user', 'pass', 'mailbox', 'ca_file', 'processed_mailbox', 'flag'], p);
        const host = str(m, 'host', p);
        const user = str(m, 'user', p);
        const pass = str(m, 'pass', p);
        if (!host || !user || !pass) err(p, 'host, user and pass are required');
        const ica = caFile(m, 'ca_file', p);
        const mailbox = str(m, 'mailbox', p);
        const processed = str(m, 'processed_mailbox', p);
        const flag = str(m, 'flag', p);
        if (host && user && pass) {
          imap = {
            host, user, pass,
            ...(m.port !== undefined ? { port: num(m, 'port', p, 993, { min: 1, max: 65535, int: true }) } : {}),
            ...(m.secure !== undefined ? { secure: bool(m, 'secure', p, true) } : {}),
            ...(m.starttls !== undefined ? { starttls: bool(m, 'starttls', p, false) } : {}),
            ...(mailbox ? { mailbox } : {}),
            ...(ica ? { ca: ica.pem } : {}),
            ...(processed ? { processedMailbox: processed } : {}),
            ...(flag ? { flag } : {}),
          };
        }
      }
    }
    const maildir = str(r, 'maildir', ['reports']);
    const rl = listen(r, 'listen', ['reports']);
    const rpath = str(r, 'path', ['reports']);
    const cert = str(r, 'cert', ['reports']);
    const key = str(r, 'key', ['reports']);
    if ((cert === undefined) !== (key === undefined)) err(['reports'], 'give both cert and key (PEM files) for HTTPS, or neither for plain HTTP');
    reports = {
      ...(imap ? { imap } : {}),
      ...(maildir ? { maildir: resolvePath(maildir) } : {}),
      ...(rl ? { listen: rl } : {}),
      ...(rpath ? { path: rpath } : {}),
      ...(cert ? { cert: resolvePath(cert) } : {}),
      ...(key ? { key: resolvePath(key) } : {}),
      pollIntervalMs: duration(r, 'poll_interval', ['reports'], 300_000, 1000),
    };
  }

  let metrics: MonitorConfig['metrics'];
  const m = section(top, 'metrics', ['listen']);
  if (m) {
    const l = listen(m, 'listen', ['metrics']);
    if (l) metrics = { listen: l };
    else if (m.listen === undefined) err(['metrics'], 'metrics.listen (HOST:PORT) is required');
  }

  const adv = section(top, 'advisor', ['report_days', 'passing_days', 'max_failure_rate', 'min_sessions', 'min_senders']) ?? {};
  const advisor: AdvisorConfig = {
    report_days: num(adv, 'report_days', ['advisor'], DEFAULT_ADVISOR.report_days, { min: 0, int: true }),
    passing_days: num(adv, 'passing_days', ['advisor'], DEFAULT_ADVISOR.passing_days, { min: 0, int: true }),
    max_failure_rate: num(adv, 'max_failure_rate', ['advisor'], DEFAULT_ADVISOR.max_failure_rate, { min: 0, max: 1 }),
    min_sessions: num(adv, 'min_sessions', ['advisor'], DEFAULT_ADVISOR.min_sessions, { min: 0, int: true }),
    min_senders: num(adv, 'min_senders', ['advisor'], DEFAULT_ADVISOR.min_senders, { min: 0, int: true }),
  };

  let dashboard: MonitorConfig['dashboard'];
  const d = section(top, 'dashboard', ['listen', 'token', 'users']);
  if (d) {
    const l = listen(d, 'listen', ['dashboard']);
    if (d.listen === undefined) err(['dashboard'], 'dashboard.listen (HOST:PORT) is required');
    const token = str(d, 'token', ['dashboard']);
    let users: { user: string; pass: string }[] | undefined;
    if (d.users !== undefined && d.users !== null) {
      if (!Array.isArray(d.users)) err(['dashboard', 'users'], 'expected a list of { user, pass }');
      else {
        users = [];
        d.users.forEach((u, i) => {
          const p: Path = ['dashboard', 'users', i];
          if (!isObj(u) || typeof u.user !== 'string' || typeof u.pass !== 'string' || u.user === '' || u.pass === '') return err(p, 'expected { user: NAME, pass: PASSWORD }');
          unknownKeys(u, ['user', 'pass'], p);
          users!.push({ user: u.user, pass: u.pass });
        });
      }
    }
    if (l) dashboard = { listen: l, ...(token ? { token } : {}), ...(users ? { users } : {}) };
  }

  let logLevel = 'info';
  if (top.log_level !== undefined) {
    if (typeof top.log_level === 'string' && LOG_LEVELS.includes(top.log_level)) logLevel = top.log_level;
    else err(['log_level'], `expected one of ${LOG_LEVELS.join(', ')}`);
  }

  const q = section(top, 'queue', ['schema', 'batch_size', 'expire', 'maintenance_interval']) ?? {};
  const schema = str(q, 'schema', ['queue']) ?? 'mtasts_queue';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) err(['queue', 'schema'], 'expected a lower-case PostgreSQL identifier (letters, digits, _)');
  const expireMs = q.expire === undefined ? undefined : duration(q, 'expire', ['queue'], 60_000, 1000);
  const queue = {
    schema,
    batchSize: num(q, 'batch_size', ['queue'], 10, { min: 1, max: 10_000, int: true }),
    ...(expireMs !== undefined ? { expireMs } : {}),
    maintenanceMs: duration(q, 'maintenance_interval', ['queue'], 30_000, 1000),
  };

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...(opts.file !== undefined ? { file: opts.file } : {}),
    db, domains, ...(domainsFile ? { domainsFile } : {}), intervalMs, check, confirm, expiryDays, tlsrptFailureRate, retentionMs,
    alerts, ...(reports ? { reports } : {}), ...(metrics ? { metrics } : {}), advisor, ...(dashboard ? { dashboard } : {}), logLevel, queue,
  };
}
