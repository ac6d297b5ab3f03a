/**
 * `mtasts monitor`: watches a portfolio of domains over time. Each domain is checked every
 * `interval` (src/check), each check is stored (src/monitor/history.ts) and compared with the
 * domain's history (src/monitor/events.ts); the events of a round are stored and handed to the alert
 * outbox (src/monitor/alerts.ts) in one transaction, then delivered.
 *
 * Scheduling:
 * - SQLite (one process): a tick looks for due domains. A domain is due at its phase of each
 *   interval (a hash of its name), so checks spread over the interval instead of bunching; a domain
 *   never checked (or not within the last interval) is due at once. The due domains of a tick form
 *   one round.
 * - PostgreSQL: several processes share the work through pg-boss (src/monitor/queue.ts): one job
 *   per domain per interval slot, the job completed in the transaction that stores its results.
 *
 * Stopping (SIGTERM): no new round starts; the round in flight may finish within `stopTimeoutMs`,
 * otherwise it is abandoned before anything of it is stored (its domains are due again at the next
 * start; queue jobs are handed back). Alerts are durable in the outbox from the moment their round
 * commits, so none is lost either way.
 *
 * @example
 * ```ts
 * const monitor = new Monitor(loadMonitorConfig('monitor.yaml'));
 * await monitor.open();
 * const round = await monitor.runOnce();   // `mtasts monitor --once`
 * await monitor.close();
 * ```
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { checkDomains, type CheckManyOptions } from '../check/check.js';
import { DnsClient } from '../dns/resolver.js';
import { parseListen } from '../serve/config.js';
import { openDatabase, type SqlDatabase, type SqlExecutor } from '../store/sql.js';
import { trustStore } from '../tls/trust.js';
import { summarizeReports } from '../reports/summary.js';
import type { MonitorConfig } from './config.js';
import { evaluate, observe, type MonitorEvent, type Observation, type TlsRptDay } from './events.js';
import {
  applyRetention, initMonitorSchema, lastChecked, loadStates, recordRound, saveCheck, saveEvents, saveState, withSchemaLock,
} from './history.js';
import { CheckQueue, phaseOf, type CheckJob } from './queue.js';
import { reportStoreOn } from './status.js';

/** The outbox as the monitor uses it (src/monitor/alerts.ts AlertOutbox). */
export interface Outbox {
  init(): Promise<void>;
  enqueue(tx: SqlExecutor, events: MonitorEvent[], roundId: string): Promise<void>;
  deliverDue(): Promise<{ delivered: number; failed: number }>;
}

/** The last complete UTC day of TLS-RPT reports, per domain. */
export type TlsRptDayProvider = (db: SqlDatabase, domains: readonly string[], day: string) => Promise<Map<string, TlsRptDay>>;

export interface MonitorOptions {
  logger?: Logger;
  now?: () => Date;
  /** Overrides the check options built from the configuration (tests: a DNS client). */
  check?: Partial<CheckManyOptions>;
  /** Default: AlertOutbox over the monitor database. */
  outbox?: (db: SqlDatabase, config: MonitorConfig, log: Logger) => Outbox;
  /** Default: the TLS-RPT reports store in the same database (src/reports). */
  tlsrpt?: TlsRptDayProvider;
  /** Longest wait for a round in flight when stopping, ms (default: 3 check timeouts + 5 s). */
  stopTimeoutMs?: number;
  /** Tick of the scheduler, ms (default: interval / 50, from 200 ms to 10 s). */
  tickMs?: number;
  /** Name of this process in logs and round rows. */
  worker?: string;
}

export interface RoundResult {
  roundId: string;
  startedAt: string;
  finishedAt: string;
  /** Domains checked. */
  checked: number;
  /** Checks stored (a queue job already stored for its round is not stored again). */
  stored: number;
  events: MonitorEvent[];
  alerts: { delivered: number; failed: number };
}

const NO_ALERTS: Outbox = { init: async () => {}, enqueue: async () => {}, deliverDue: async () => ({ delivered: 0, failed: 0 }) };

class Abandoned extends Error {
  constructor() {
    super('round abandoned: the monitor is stopping');
  }
}

const DAY_MS = 86_400_000;

/** The last complete UTC day before `now`, as YYYY-MM-DD. */
export function lastCompleteDay(now: Date): string {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - DAY_MS).toISOString().slice(0, 10);
}

export class Monitor {
  config: MonitorConfig;
  readonly log: Logger;
  readonly registry = new Registry();
  db!: SqlDatabase;
  private outbox!: Outbox;
  private queue: CheckQueue | null = null;
  private readonly now: () => Date;
  private readonly worker: string;
  private checkOptions!: CheckManyOptions;
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;
  private ticking = false;
  private closed = false;
  private abandoned = false;
  private heldJobs = new Set<string>();
  private lastSlot = -1;
  private lastRetention = 0;
  private lastDelivery = 0;
  private metricsServer: http.Server | null = null;
  private dashboard: { url: string; close(): Promise<void> } | null = null;
  private intake: { close(): Promise<void> }[] = [];
  private readonly metrics;

  constructor(config: MonitorConfig, private readonly options: MonitorOptions = {}) {
    this.config = config;
    this.now = options.now ?? (() => new Date());
    this.worker = options.worker ?? `${process.pid}-${randomBytes(3).toString('hex')}`;
    this.log = options.logger ?? pino({ level: config.logLevel, base: { service: 'mtasts-monitor', pid: process.pid } });
    const registers = [this.registry];
    const self = this; // for the gauge's collect(), called with the gauge as this
    this.metrics = {
      rounds: new Counter({ name: 'mtasts_monitor_rounds_total', help: 'Rounds (or queue batches) completed, by result.', labelNames: ['result'], registers }),
      checks: new Counter({ name: 'mtasts_monitor_checks_total', help: 'Domain checks stored, by verdict.', labelNames: ['verdict'], registers }),
      events: new Counter({ name: 'mtasts_monitor_events_total', help: 'Events, by code and state.', labelNames: ['code', 'state'], registers }),
      deliveries: new Counter({ name: 'mtasts_monitor_alert_deliveries_total', help: 'Alert deliveries, by result.', labelNames: ['result'], registers }),
      duration: new Histogram({ name: 'mtasts_monitor_check_duration_seconds', help: 'Time to check one domain.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers }),
      roundDuration: new Histogram({ name: 'mtasts_monitor_round_duration_seconds', help: 'Time of one round, checks and storage.', buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900], registers }),
      domains: new Gauge({ name: 'mtasts_monitor_domains', help: 'Domains in the configuration.', registers, collect() { this.set(self.config.domains.length); } }),
      reloads: new Counter({ name: 'mtasts_monitor_reloads_total', help: 'Configuration reloads, by result.', labelNames: ['result'], registers }),
    };
  }

  /** Opens the database (creating the tables) and the outbox; with PostgreSQL outside `once`, the queue. */
  async open(opts: { queue?: boolean } = {}): Promise<void> {
    this.db = await openDatabase(this.config.db);
    this.checkOptions = this.buildCheckOptions(this.config);
    try {
      // Schema setup of every part (ours, the reports store, the outbox, pg-boss) by one process at a time.
      await withSchemaLock(this.db, async () => {
        await initMonitorSchema(this.db, { locked: true });
        if (this.db.kind === 'postgres') await reportStoreOn(this.db);
        this.outbox = await this.makeOutbox(this.config);
        await this.outbox.init();
        if (opts.queue && this.db.kind === 'postgres') {
          this.queue = await CheckQueue.open({
            url: this.config.db,
            schema: this.config.queue.schema,
            // A batch takes about one check's worst case (steps run in parallel, bounded by the timeout).
            expireSeconds: Math.ceil((this.config.queue.expireMs ?? Math.max(60_000, this.config.check.timeoutMs * 6)) / 1000),
            maintenanceSeconds: Math.ceil(this.config.queue.maintenanceMs / 1000),
            onError: (err) => this.log.warn({ err: err.message }, 'job queue error'),
          });
        }
      });
    } catch (err) {
      await this.queue?.stop().catch(() => {});
      await this.db.close();
      throw err;
    }
  }

  /** The alert outbox (loaded on demand: mail and HTTP clients are not needed by every command). */
  private async makeOutbox(config: MonitorConfig): Promise<Outbox> {
    if (this.options.outbox) return this.options.outbox(this.db, config, this.log);
    // No alert channel configured: events are stored (and listed by `monitor events`) only.
    if (config.alerts.webhooks.length === 0 && !config.alerts.email) return NO_ALERTS;
    const { AlertOutbox } = await import('./alerts.js');
    return new AlertOutbox(this.db, config.alerts, this.log);
  }

  private buildCheckOptions(config: MonitorConfig): CheckManyOptions {
    const c = config.check;
    const trust = trustStore({
      ...(c.trust ? { mode: c.trust } : {}),
      ...(c.ca ? { extraPem: c.ca, extraLabel: `check.ca_file (${c.caFile})` } : {}),
    });
    return {
      timeoutMs: c.timeoutMs,
      concurrency: c.concurrency,
      smtp: c.smtp,
      dns: new DnsClient({ ...(c.dnsServers ? { servers: c.dnsServers } : {}), timeoutMs: c.timeoutMs }),
      trust,
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.httpsPort ? { httpsPort: c.httpsPort } : {}),
      ...(c.smtpPort ? { smtpPort: c.smtpPort } : {}),
      ...(c.blockPrivate ? { blockPrivate: true } : {}),
      ...(c.ehlo ? { ehloName: c.ehlo } : {}),
      ...this.options.check,
    };
  }

  /** One round of every configured domain now (`--once`), alerts delivered. */
  async runOnce(): Promise<RoundResult> {
    const round = await this.track(this.runRound(this.config.domains, this.newRoundId()));
    await this.retention();
    return round;
  }

  /** Checks one domain now, as its own round (the dashboard's "check now"). */
  async checkNow(domain: string): Promise<RoundResult> {
    if (this.stopping) throw new Error('the monitor is stopping');
    return this.track(this.runRound([domain], this.newRoundId()));
  }

  /** Deletes history older than `retention` (each domain's latest check and policy are kept). */
  private async retention(): Promise<void> {
    this.lastRetention = Date.now();
    const r = await applyRetention(this.db, new Date(this.now().getTime() - this.config.retentionMs));
    if (r.checks + r.events + r.policies > 0) this.log.info(r, 'retention: old history deleted');
  }

  private newRoundId(): string {
    return `r-${this.now().toISOString()}-${randomBytes(4).toString('hex')}`;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const tracked = p.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
    return tracked;
  }

  /** Checks the domains, then stores results, events and alerts of the round in one transaction. */
  private async runRound(domains: readonly string[], roundId: string, jobs?: readonly CheckJob[]): Promise<RoundResult> {
    const startedAt = this.now();
    const t0 = performance.now();
    const observed: { domain: string; obs: Observation }[] = [];
    if (domains.length > 0) {
      await checkDomains(domains, {
        ...this.checkOptions,
        now: this.now,
        onReport: (report) => {
          observed.push({ domain: report.domain, obs: observe(report) });
          this.metrics.duration.observe(report.elapsedMs / 1000);
        },
      });
    }
    if (this.abandoned) throw new Abandoned();
    const checkedMs = performance.now() - t0;
    const tlsrpt = await this.tlsrptDays(observed.map((o) => o.domain)).catch((err: Error) => {
      this.log.warn({ err: err.message }, 'TLS-RPT summary unavailable; tlsrpt-failures left as they are');
      return undefined;
    });
    const events: MonitorEvent[] = [];
    let stored = 0;
    const verdicts: string[] = [];
    const config = this.config;
    await this.db.transaction(async (tx) => {
      if (this.abandoned) throw new Abandoned();
      const states = await loadStates(tx, observed.map((o) => o.domain), { lock: true });
      for (const { domain, obs } of observed) {
        if (!(await saveCheck(tx, domain, roundId, obs, this.worker))) continue;
        stored++;
        verdicts.push(obs.verdict);
        const prev = states.get(domain) ?? null;
        // A retried job from an earlier slot, finished after a later one: history only.
        if (prev?.last.at && obs.at < prev.last.at) continue;
        const result = evaluate(domain, prev, obs, {
          confirm: config.confirm,
          expiryDays: config.expiryDays,
          tlsrptFailureRate: config.tlsrptFailureRate,
          ...(tlsrpt ? { tlsrpt: tlsrpt.get(domain) ?? null } : {}),
        });
        await saveState(tx, domain, roundId, obs.at, result.state);
        events.push(...result.events);
      }
      await saveEvents(tx, events, roundId);
      // The outbox keeps one delivery per round id and channel: queue batches of one slot each get their own.
      if (events.length > 0) await this.outbox.enqueue(tx, events, jobs ? `${roundId}/${randomBytes(6).toString('hex')}` : roundId);
      // Last: the round row is shared by every batch of a queue slot (a short lock at commit time).
      await recordRound(tx, roundId, startedAt.toISOString(), this.now().toISOString(), this.worker, stored, events.length);
      if (jobs && this.queue) await this.queue.completeIn(tx, jobs.map((j) => j.jobId));
    });
    for (const v of verdicts) this.metrics.checks.inc({ verdict: v });
    for (const e of events) this.metrics.events.inc({ code: e.code, state: e.state });
    const finishedAt = this.now();
    this.metrics.rounds.inc({ result: 'ok' });
    this.metrics.roundDuration.observe((finishedAt.getTime() - startedAt.getTime()) / 1000);
    // checkMs: the checks; storeMs: the bookkeeping after them (reports summary, transaction).
    this.log.info({
      round: roundId, checked: observed.length, stored, events: events.length, ms: finishedAt.getTime() - startedAt.getTime(),
      checkMs: Math.round(checkedMs), storeMs: Math.round(performance.now() - t0 - checkedMs),
    }, 'round stored');
    for (const e of events) this.log.info({ event: e.id, domain: e.domain, code: e.code, state: e.state, severity: e.severity }, e.message);
    const alerts = await this.deliver();
    return { roundId, startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), checked: observed.length, stored, events, alerts };
  }

  /** Delivers due alerts (failures stay in the outbox and are retried later). */
  async deliver(): Promise<{ delivered: number; failed: number }> {
    this.lastDelivery = Date.now();
    try {
      const r = await this.outbox.deliverDue();
      if (r.delivered) this.metrics.deliveries.inc({ result: 'delivered' }, r.delivered);
      if (r.failed) this.metrics.deliveries.inc({ result: 'failed' }, r.failed);
      if (r.failed) this.log.warn({ failed: r.failed }, 'alert delivery failed; retried later');
      return r;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'alert delivery');
      this.metrics.deliveries.inc({ result: 'failed' });
      return { delivered: 0, failed: 1 };
    }
  }

  /** The last complete UTC day of stored TLS-RPT reports for these domains. */
  private async tlsrptDays(domains: readonly string[]): Promise<Map<string, TlsRptDay> | undefined> {
    if (domains.length === 0) return new Map();
    return (this.options.tlsrpt ?? defaultTlsRptDays)(this.db, domains, lastCompleteDay(this.now()));
  }

  // --- the long-running service -----------------------------------------------------------------

  /** Starts scheduling (and the metrics listener, dashboard and report intake when configured). */
  async start(): Promise<void> {
    await this.startMetrics();
    await this.startDashboard();
    await this.startIntake();
    const tick = this.options.tickMs ?? Math.min(10_000, Math.max(200, Math.floor(this.config.intervalMs / 50)));
    const loop = (): void => {
      if (this.stopping) return;
      this.timer = setTimeout(() => {
        void this.tick().finally(loop);
      }, tick);
    };
    this.log.info({
      domains: this.config.domains.length, interval: this.config.intervalMs / 1000, db: this.db.name,
      mode: this.queue ? `shared queue (pg-boss schema ${this.config.queue.schema})` : 'single process',
    }, 'mtasts monitor started');
    void this.tick().finally(loop);
  }

  private async tick(): Promise<void> {
    if (this.stopping || this.ticking) return;
    this.ticking = true;
    try {
      if (this.queue) await this.queueTick();
      else await this.localTick();
      if (Date.now() - this.lastDelivery > 5000) await this.deliver();
      if (Date.now() - this.lastRetention > 3_600_000) await this.retention();
    } catch (err) {
      if (err instanceof Abandoned) return;
      this.metrics.rounds.inc({ result: 'error' });
      this.log.error({ err: (err as Error).message }, 'round failed; its domains are retried');
    } finally {
      this.ticking = false;
    }
  }

  /** Domains due now: never checked, or not since their last phase point. */
  async dueDomains(): Promise<string[]> {
    const interval = this.config.intervalMs;
    const now = this.now().getTime();
    const last = await lastChecked(this.db);
    return this.config.domains.filter((d) => {
      const at = last.get(d);
      if (at === undefined) return true;
      const t = Date.parse(at);
      if (now - t >= interval) return true;
      const phase = phaseOf(d, interval);
      const point = now - ((((now - phase) % interval) + interval) % interval);
      return t < point;
    });
  }

  private async localTick(): Promise<void> {
    const due = await this.dueDomains();
    if (due.length === 0) return;
    await this.track(this.runRound(due, this.newRoundId()));
  }

  private async queueTick(): Promise<void> {
    const queue = this.queue!;
    const interval = this.config.intervalMs;
    const now = this.now().getTime();
    const slot = Math.floor(now / interval);
    if (slot !== this.lastSlot) {
      await queue.enqueueSlot(this.config.domains, slot * interval, interval);
      this.lastSlot = slot;
    }
    // Work while there are due jobs: several batches in flight (check.concurrency domains in all);
    // one batch is one round (one transaction, one alert).
    const lanes = Math.max(1, Math.ceil(this.config.check.concurrency / this.config.queue.batchSize));
    const lane = async (): Promise<void> => {
      while (!this.stopping) {
        const jobs = await queue.fetch(this.config.queue.batchSize);
        if (jobs.length === 0) return;
        for (const j of jobs) this.heldJobs.add(j.jobId);
        try {
          const byRound = new Map<string, CheckJob[]>();
          for (const j of jobs) byRound.set(j.roundId, [...(byRound.get(j.roundId) ?? []), j]);
          for (const [roundId, list] of byRound) {
            await this.track(this.runRound(list.map((j) => j.domain), roundId, list));
          }
        } finally {
          for (const j of jobs) this.heldJobs.delete(j.jobId);
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: lanes }, lane));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Applies a new configuration (SIGHUP). The database, listeners and queue schema need a restart. */
  reload(next: MonitorConfig): void {
    const old = this.config;
    if (old.db !== next.db || JSON.stringify(old.metrics) !== JSON.stringify(next.metrics) || JSON.stringify(old.dashboard) !== JSON.stringify(next.dashboard)
      || JSON.stringify(old.reports) !== JSON.stringify(next.reports) || JSON.stringify(old.queue) !== JSON.stringify(next.queue)) {
      this.log.warn('db, metrics, dashboard, reports and queue only change on restart; the rest of the new configuration is applied');
      next = { ...next, db: old.db, queue: old.queue, ...(old.metrics ? { metrics: old.metrics } : {}), ...(old.dashboard ? { dashboard: old.dashboard } : {}), ...(old.reports ? { reports: old.reports } : {}) };
    }
    this.config = next;
    this.checkOptions = this.buildCheckOptions(next);
    if (JSON.stringify(old.alerts) !== JSON.stringify(next.alerts)) {
      void this.makeOutbox(next).then(async (outbox) => {
        await outbox.init();
        this.outbox = outbox;
      }).catch((err: Error) => this.log.error({ err: err.message }, 'alert outbox: the previous alert settings stay in force'));
    }
    this.lastSlot = -1; // (queue) enqueue the current slot again: new domains join it (existing jobs are kept)
    // New domains are due at once: look now rather than at the next tick.
    if (!this.stopping) setImmediate(() => void this.tick());
    this.metrics.reloads.inc({ result: 'ok' });
    this.log.info({ domains: next.domains.length, interval: next.intervalMs / 1000 }, 'configuration reloaded');
  }

  /** Counts a rejected reload (the caller keeps the old configuration). */
  reloadFailed(message: string): void {
    this.metrics.reloads.inc({ result: 'error' });
    this.log.error({ err: message }, 'configuration reload rejected; the previous configuration stays in force');
  }

  private async startMetrics(): Promise<void> {
    if (!this.config.metrics) return;
    const addr = parseListen(this.config.metrics.listen)!;
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: this.stopping ? 'stopping' : 'ok', domains: this.config.domains.length })}\n`);
      } else if (url === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5000;
    server.maxConnections = 100;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => resolve());
    });
    this.metricsServer = server;
    this.log.info({ metrics: `${addr.host}:${(server.address() as AddressInfo).port}` }, 'metrics listening');
  }

  /** The address of the metrics listener (port 0 in the configuration picks one). */
  get metricsAddress(): string | null {
    const a = this.metricsServer?.address() as AddressInfo | null | undefined;
    return a ? `${a.address}:${a.port}` : null;
  }

  /** The URL of the TLS-RPT report receiver (`reports.listen`), once started. */
  receiverUrl: string | null = null;

  get dashboardUrl(): string | null {
    return this.dashboard?.url ?? null;
  }

  private async startDashboard(): Promise<void> {
    const d = this.config.dashboard;
    if (!d) return;
    const { startDashboard } = await import('../dashboard/server.js');
    const auth = d.token || d.users ? { ...(d.token ? { token: d.token } : {}), ...(d.users ? { users: d.users } : {}) } : undefined;
    this.dashboard = await startDashboard({
      db: this.db, listen: d.listen, readOnly: false,
      ...(auth ? { auth } : {}),
      advisor: { ...this.config.advisor },
      checkNow: async (domain) => {
        await this.checkNow(domain);
      },
      log: { info: (m) => this.log.info(m), warn: (m) => this.log.warn(m), error: (m) => this.log.error(m) },
    });
    this.log.info({ dashboard: this.dashboard.url }, 'dashboard listening');
  }

  /** TLS-RPT intake from `reports:`: the HTTPS receiver, and IMAP / Maildir polled every `poll_interval`. */
  private async startIntake(): Promise<void> {
    const r = this.config.reports;
    if (!r) return;
    const store = await reportStoreOn(this.db);
    if (r.listen) {
      const { startReportReceiver } = await import('../reports/receiver.js');
      const receiver = await startReportReceiver({
        store, listen: r.listen, ...(r.path ? { path: r.path } : {}),
        ...(r.cert && r.key ? { cert: readFileSync(r.cert), key: readFileSync(r.key) } : {}),
      });
      this.intake.push({ close: () => receiver.close() });
      this.receiverUrl = receiver.url;
      this.log.info({ url: receiver.url }, 'TLS-RPT report receiver listening');
    }
    if (r.imap || r.maildir) {
      const mail = await import('../reports/mail/index.js');
      // DKIM lookups go through the same DNS client as the checks, so check.dns applies to them too.
      const opts = { dns: this.checkOptions.dns! };
      let polling = false;
      const poll = async (): Promise<void> => {
        if (polling || this.stopping) return;
        polling = true;
        try {
          const items = [
            ...(r.imap ? await mail.pollImap(store, r.imap, opts).catch((err: Error) => { this.log.warn({ err: err.message }, 'reports: IMAP poll failed'); return []; }) : []),
            ...(r.maildir ? await mail.importMaildir(store, r.maildir, opts).catch((err: Error) => { this.log.warn({ err: err.message }, 'reports: Maildir import failed'); return []; }) : []),
          ];
          const imported = items.filter((i) => i.status === 'imported').length;
          if (items.length > 0) this.log.info({ imported, duplicate: items.filter((i) => i.status === 'duplicate').length, rejected: items.filter((i) => i.status === 'rejected').length }, 'reports: mail intake');
        } finally {
          polling = false;
        }
      };
      void poll();
      const timer = setInterval(() => void poll(), r.pollIntervalMs);
      this.intake.push({ close: async () => clearInterval(timer) });
    }
  }

  /**
   * Stops: no new round; waits for the round in flight up to the stop timeout, then abandons it
   * (nothing of it stored; queue jobs handed back). Closes listeners, the queue and the database.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const limit = this.options.stopTimeoutMs ?? this.config.check.timeoutMs * 3 + 5000;
    if (this.inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.allSettled([...this.inflight]).then(() => true),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), limit); }),
      ]);
      clearTimeout(timer);
      if (!finished) {
        this.abandoned = true;
        this.log.warn('stop timeout: the round in flight is abandoned; its domains are checked again later');
      }
    }
    this.closed = true;
    if (this.queue) {
      if (this.heldJobs.size > 0) await this.queue.release([...this.heldJobs]).catch(() => {});
      await this.queue.stop().catch((err: Error) => this.log.warn({ err: err.message }, 'queue stop'));
    }
    for (const i of this.intake) await i.close().catch(() => {});
    if (this.dashboard) await this.dashboard.close().catch(() => {});
    if (this.metricsServer) {
      this.metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    }
    // Without an abandoned round, wait for nothing else to touch the database; with one, its
    // transaction is refused (abandoned flag) before it starts.
    await this.db?.close();
    this.log.info('mtasts monitor stopped');
  }
}

/** TLS-RPT totals of one UTC day (by report period start) per domain, from the reports store in the same database. */
export const defaultTlsRptDays: TlsRptDayProvider = async (db, domains, day) => {
  const store = await reportStoreOn(db);
  const since = new Date(`${day}T00:00:00Z`);
  const until = new Date(since.getTime() + DAY_MS);
  const out = new Map<string, TlsRptDay>();
  for (let i = 0; i < domains.length; i += 500) {
    const summary = await summarizeReports(store, { domains: domains.slice(i, i + 500), since, until });
    for (const d of summary.domains) {
      if (d.domain === null) continue;
      const totals = d.days.reduce((t, x) => ({ success: t.success + x.success, failure: t.failure + x.failure }), { success: 0, failure: 0 });
      out.set(d.domain, { date: day, ...totals, resultTypes: d.resultTypes });
    }
  }
  return out;
};

/** Opens, runs one round of every domain, delivers alerts, closes: `mtasts monitor --once`. */
export async function runMonitorRound(config: MonitorConfig, opts: MonitorOptions = {}): Promise<RoundResult> {
  const monitor = new Monitor(config, opts);
  await monitor.open();
  try {
    return await monitor.runOnce();
  } finally {
    await monitor.close();
  }
}
