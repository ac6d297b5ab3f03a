/**
 * Monitor events: what changed for a domain between two checks. Pure: the previous state of a domain
 * and the current observation go in, the events and the next state come out (no I/O, no clock).
 *
 * Three kinds of event:
 * - a **problem** (`state: 'open'`, later `'resolved'`): a check finding of severity error or warning
 *   (`docs/findings.md`), or a drift problem that only history shows (`policy-changed-same-id`,
 *   certificates inside the `expiry_days` horizon, `tlsrpt-failures`). A problem alerts once when it
 *   opens and once when it resolves, never while it stays open.
 * - a **notice** (`state: 'notice'`): a one-off change: `policy-id-changed`, `mode-changed`,
 *   `mx-changed`, `cache-expiry`.
 *
 * Network-class findings (timeouts, unreachable hosts, DNS failures: {@link NETWORK_CODES}) open only
 * after they persist for `confirm` consecutive rounds; every other problem opens at once. While a
 * round has a network-class finding it cannot see everything, so it resolves nothing but network
 * problems: an unreachable policy host does not "fix" the policy text it could not fetch.
 *
 * Identity: a problem is the pair (code, subject), the subject being the host a finding is about
 * (an MX host, `mta-sts.<domain>` for the policy host's certificate) or empty. Its `problem` id is a
 * hash of domain, code, subject and the time it opened; its open event has the id `<problem>.open`
 * and its resolve event `<problem>.resolved`: linked, distinct, and the same however often the
 * events are re-delivered, so receivers dedupe on `id`. A notice's id hashes domain, code, subject
 * and its time, plus `.notice`.
 *
 * @example
 * ```ts
 * const obs = observe(report);                          // from checkDomain()
 * const { events, state } = evaluate(report.domain, previousState, obs, { confirm: 2, expiryDays: 14 });
 * ```
 */
import { createHash } from 'node:crypto';
import type { DomainReport } from '../check/check.js';
import { finding, FINDINGS, type Finding, type FindingCode, type Severity } from '../findings.js';

/** One event, as stored, listed, alerted and shown. */
export interface MonitorEvent {
  /** Stable: `<problem>.open`, `<problem>.resolved` or `<hash>.notice`. Receivers dedupe on it. */
  id: string;
  domain: string;
  /** A finding code (`docs/findings.md`), drift codes included. */
  code: string;
  state: 'open' | 'resolved' | 'notice';
  severity: Severity;
  /** What happened, then how to fix it. */
  message: string;
  /** ISO 8601. */
  at: string;
  /** The host the event is about (an MX, the policy host), or absent. */
  subject?: string;
  /** Links an open event to its resolve event (absent on notices). */
  problem?: string;
  /** When the problem opened (on resolve events). */
  openedAt?: string;
}

export type EventState = MonitorEvent['state'];

/** A certificate seen by a check. */
export interface CertRecord {
  host: string;
  role: 'policy' | 'mx';
  validTo: string;
  daysLeft: number;
  valid: boolean;
}

/** What one check saw, reduced to what history and events need. */
export interface Observation {
  at: string;
  verdict: DomainReport['verdict'];
  findings: Finding[];
  /** The `_mta-sts` TXT id, or null (missing, invalid, or not looked up). */
  recordId: string | null;
  /** True when the TXT record is definitely absent (NXDOMAIN/NODATA), not merely unknown. */
  recordMissing: boolean;
  policySha256: string | null;
  policyText: string | null;
  /** From the parsed policy; null when no policy was parsed this time. */
  mode: 'enforce' | 'testing' | 'none' | null;
  maxAge: number | null;
  mxPatterns: string[] | null;
  /** The MX host names in DNS, sorted; null when the lookup failed. */
  mxHosts: string[] | null;
  certs: CertRecord[];
  elapsedMs: number;
}

/** The last complete UTC day of stored TLS-RPT reports for a domain. */
export interface TlsRptDay {
  /** YYYY-MM-DD (UTC). */
  date: string;
  success: number;
  failure: number;
  /** Failed sessions by RFC 8460 result type. */
  resultTypes: Record<string, number>;
}

export interface OpenProblem {
  problem: string;
  code: string;
  subject: string;
  severity: Severity;
  openedAt: string;
  message: string;
}

export interface PendingProblem {
  code: string;
  subject: string;
  /** Consecutive rounds seen so far. */
  rounds: number;
  firstSeen: string;
}

/** What the monitor keeps per domain between rounds (stored as JSON). */
export interface DomainState {
  version: 1;
  open: Record<string, OpenProblem>;
  pending: Record<string, PendingProblem>;
  /** Last values seen (each kept when a round could not see it). */
  last: {
    at: string | null;
    recordId: string | null;
    mode: Observation['mode'];
    maxAge: number | null;
    mxPatterns: string[] | null;
    mxHosts: string[] | null;
    /** When a parsed policy was last served (for cache-expiry). */
    servedAt: string | null;
  };
  /** The policy hash first seen with the current TXT id (RFC 8461 §3.1: a new policy needs a new id). */
  idPolicy: { id: string; sha256: string; since: string } | null;
}

export interface EvaluateOptions {
  /** Rounds a network-class problem must persist before it opens (default 2; 1 = at once). */
  confirm?: number;
  /** Certificate expiry horizon in days (default 14). */
  expiryDays?: number;
  /** Failed-session rate above which `tlsrpt-failures` opens (default 0.01). */
  tlsrptFailureRate?: number;
  /**
   * Reports of the last complete UTC day: undefined when not evaluated this round (the problem is
   * carried as it is), null or zero sessions when there were none (likewise carried).
   */
  tlsrpt?: TlsRptDay | null;
}

export const emptyState = (): DomainState => ({
  version: 1,
  open: {},
  pending: {},
  last: { at: null, recordId: null, mode: null, maxAge: null, mxPatterns: null, mxHosts: null, servedAt: null },
  idPolicy: null,
});

/**
 * Finding codes of network-class failures: transient by nature, so they open only after `confirm`
 * consecutive rounds. Everything else is a configuration problem and opens at once.
 */
export const NETWORK_CODES: ReadonlySet<string> = new Set<FindingCode>([
  'dns-timeout', 'dns-error', 'mx-lookup-failed', 'tlsrpt-lookup-failed',
  'policy-host-unreachable', 'policy-fetch-timeout', 'policy-http-error', 'policy-tls-handshake',
  'smtp-unreachable', 'smtp-timeout', 'smtp-tls-handshake', 'smtp-protocol',
  'internal-error',
]);

/** The check's own expiry warnings use a fixed horizon; the monitor derives them from `expiry_days`. */
const CHECK_EXPIRY_CODES: ReadonlySet<string> = new Set(['policy-cert-expiring', 'smtp-cert-expiring']);

/** RFC 8460 §4.3 result types that are policy-fetch or certificate failures. */
const STS_FAILURE_TYPES: ReadonlySet<string> = new Set([
  'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid',
  'certificate-host-mismatch', 'certificate-expired', 'certificate-not-trusted', 'validation-failure',
]);

const DAY_MS = 86_400_000;

/** Reduces a check report to what the monitor keeps. */
export function observe(report: DomainReport): Observation {
  const parsed = report.policy?.parsed ?? null;
  const certs: CertRecord[] = [];
  const pc = report.policy?.certificate;
  if (pc) certs.push({ host: `mta-sts.${report.domain}`, role: 'policy', validTo: pc.validTo, daysLeft: pc.daysLeft, valid: pc.valid });
  for (const p of report.smtp) {
    if (p.certificate) certs.push({ host: p.host, role: 'mx', validTo: p.certificate.validTo, daysLeft: p.certificate.daysLeft, valid: p.certificate.valid });
  }
  const mxFailed = report.findings.some((f) => f.section === 'mx' && (f.code === 'mx-lookup-failed' || NETWORK_CODES.has(f.code) || f.code.startsWith('dns-')));
  const mxNone = report.findings.some((f) => f.code === 'mx-none' || f.code === 'mx-null');
  const mxHosts = mxFailed ? null : mxNone ? [] : [...new Set(report.mx.map((m) => m.host.toLowerCase()))].sort();
  return {
    at: report.observation.checkedAt,
    verdict: report.verdict,
    findings: report.findings,
    recordId: report.observation.id,
    recordMissing: report.findings.some((f) => f.code === 'record-missing'),
    policySha256: report.observation.policySha256,
    policyText: report.policy?.text ?? null,
    mode: parsed?.mode ?? null,
    maxAge: parsed?.maxAge ?? null,
    mxPatterns: parsed ? [...parsed.mx].sort() : null,
    mxHosts: report.findings.some((f) => f.code === 'input-domain-invalid') ? null : mxHosts,
    certs,
    elapsedMs: report.elapsedMs,
  };
}

const hash = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 24);
const keyOf = (code: string, subject: string): string => `${code}|${subject}`;
const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const MODE_RANK = { none: 0, testing: 1, enforce: 2 } as const;

interface Candidate {
  code: string;
  subject: string;
  severity: Severity;
  message: string;
  network: boolean;
}

/**
 * Compares one observation with the domain's state: returns the events of this round and the state
 * to keep. `prev` null means the domain was never checked before (no notices on a first check).
 */
export function evaluate(domain: string, prev: DomainState | null, obs: Observation, opts: EvaluateOptions = {}): { events: MonitorEvent[]; state: DomainState } {
  const confirm = Math.max(1, opts.confirm ?? 2);
  const expiryDays = opts.expiryDays ?? 14;
  const failureRate = opts.tlsrptFailureRate ?? 0.01;
  const first = prev === null;
  const before = prev ?? emptyState();
  const at = obs.at;
  const events: MonitorEvent[] = [];
  const notice = (code: FindingCode, subject: string, detail: string, severity?: Severity): void => {
    const f = finding(code, detail, severity ? { severity } : {});
    events.push({
      id: `${hash(domain, code, subject, at)}.notice`, domain, code, state: 'notice', severity: f.severity, message: f.message, at,
      ...(subject ? { subject } : {}),
    });
  };

  // --- problems this round --------------------------------------------------------------------
  const current = new Map<string, Candidate>();
  const add = (c: Candidate): void => {
    const k = keyOf(c.code, c.subject);
    if (!current.has(k)) current.set(k, c);
  };
  for (const f of obs.findings) {
    if (f.severity === 'info' || CHECK_EXPIRY_CODES.has(f.code) || f.code === 'policy-changed-same-id') continue;
    add({ code: f.code, subject: f.host ?? '', severity: f.severity, message: f.message, network: NETWORK_CODES.has(f.code) });
  }
  const networkTrouble = [...current.values()].some((c) => c.network);
  /** Problems whose presence this round cannot tell: kept as they are. */
  const unknown = new Set<string>();

  // Certificates inside the horizon (expired ones are the check's *-cert-expired findings).
  for (const c of obs.certs) {
    const daysLeft = Math.floor((Date.parse(c.validTo) - Date.parse(at)) / DAY_MS);
    if (!Number.isFinite(daysLeft) || daysLeft < 0 || daysLeft >= expiryDays) continue;
    const code: FindingCode = c.role === 'policy' ? 'policy-cert-expiring' : 'smtp-cert-expiring';
    const f = finding(code, `the certificate of ${c.host} expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${c.validTo}), inside the ${expiryDays}-day horizon`);
    add({ code, subject: c.host, severity: f.severity, message: f.message, network: false });
  }

  // RFC 8461 §3.1: the id must change whenever the policy does.
  let idPolicy = before.idPolicy;
  if (obs.recordId !== null && obs.policySha256 !== null) {
    if (idPolicy === null || idPolicy.id !== obs.recordId) {
      idPolicy = { id: obs.recordId, sha256: obs.policySha256, since: at };
    } else if (idPolicy.sha256 !== obs.policySha256) {
      const f = finding('policy-changed-same-id', `the policy served for ${domain} differs from the one first served with id "${obs.recordId}" (seen since ${idPolicy.since}), but the id is unchanged`);
      add({ code: 'policy-changed-same-id', subject: '', severity: f.severity, message: f.message, network: false });
    }
  } else {
    unknown.add(keyOf('policy-changed-same-id', ''));
  }

  // TLS-RPT: the last complete day of stored reports.
  const rpt = opts.tlsrpt;
  if (rpt && rpt.success + rpt.failure > 0) {
    const sessions = rpt.success + rpt.failure;
    const rate = rpt.failure / sessions;
    const stsFailures = Object.entries(rpt.resultTypes).filter(([t]) => STS_FAILURE_TYPES.has(t)).reduce((n, [, v]) => n + v, 0);
    const enforce = (obs.mode ?? before.last.mode) === 'enforce';
    if (rate > failureRate || (enforce && stsFailures > 0)) {
      const types = Object.entries(rpt.resultTypes).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ×${n}`).join(', ');
      const why = rate > failureRate
        ? `${rpt.failure} of ${sessions} sessions (${(rate * 100).toFixed(2)}%, above ${(failureRate * 100).toFixed(2)}%) failed`
        : `${stsFailures} sessions failed on the policy fetch or a certificate while the policy is in enforce`;
      const f = finding('tlsrpt-failures', `TLS-RPT reports for ${domain} on ${rpt.date}: ${why}${types ? ` (${types})` : ''}`, enforce ? { severity: 'error' } : {});
      add({ code: 'tlsrpt-failures', subject: '', severity: f.severity, message: f.message, network: false });
    }
  } else {
    unknown.add(keyOf('tlsrpt-failures', ''));
  }

  // --- open / confirm / resolve ---------------------------------------------------------------
  const open: Record<string, OpenProblem> = { ...before.open };
  const pending: Record<string, PendingProblem> = {};
  for (const [k, c] of current) {
    if (open[k]) continue; // still open: no new alert
    if (c.network && confirm > 1) {
      const p = before.pending[k];
      const rounds = (p?.rounds ?? 0) + 1;
      if (rounds < confirm) {
        pending[k] = { code: c.code, subject: c.subject, rounds, firstSeen: p?.firstSeen ?? at };
        continue;
      }
    }
    const problem = hash(domain, c.code, c.subject, at);
    open[k] = { problem, code: c.code, subject: c.subject, severity: c.severity, openedAt: at, message: c.message };
    events.push({
      id: `${problem}.open`, domain, code: c.code, state: 'open', severity: c.severity, message: c.message, at, problem,
      ...(c.subject ? { subject: c.subject } : {}),
    });
  }
  for (const [k, o] of Object.entries(before.open)) {
    if (current.has(k) || unknown.has(k)) continue;
    // A round with network trouble cannot vouch for what it could not reach.
    if (networkTrouble && !NETWORK_CODES.has(o.code)) continue;
    delete open[k];
    events.push({
      id: `${o.problem}.resolved`, domain, code: o.code, state: 'resolved', severity: o.severity,
      message: `resolved: ${o.code}${o.subject ? ` (${o.subject})` : ''}, open since ${o.openedAt}, is no longer seen`,
      at, problem: o.problem, openedAt: o.openedAt, ...(o.subject ? { subject: o.subject } : {}),
    });
  }

  // --- notices: changes only history shows ----------------------------------------------------
  const last = before.last;
  if (!first) {
    if (obs.recordId !== null && last.recordId !== null && obs.recordId !== last.recordId) {
      notice('policy-id-changed', '', `the _mta-sts id of ${domain} changed from "${last.recordId}" to "${obs.recordId}"; senders fetch the new policy on their next delivery`);
    }
    if (obs.mode !== null && last.mode !== null && obs.mode !== last.mode) {
      notice('mode-changed', '', `the policy mode of ${domain} changed from ${last.mode} to ${obs.mode}`);
    }
    if (obs.mxHosts !== null && last.mxHosts !== null && !sameSet(obs.mxHosts, last.mxHosts)) {
      const added = obs.mxHosts.filter((h) => !last.mxHosts!.includes(h));
      const removed = last.mxHosts.filter((h) => !obs.mxHosts!.includes(h));
      notice('mx-changed', '', `the MX hosts of ${domain} changed${added.length ? `; added ${added.join(', ')}` : ''}${removed.length ? `; removed ${removed.join(', ')}` : ''}`);
    }
    // RFC 8461 §5.1 and §8.3: senders keep a cached policy until its max_age runs out, counted from
    // when they fetched it; the last time we saw it served bounds that.
    if (last.mode === 'enforce' && last.servedAt !== null && last.maxAge !== null) {
      const until = new Date(Date.parse(last.servedAt) + last.maxAge * 1000).toISOString();
      const old = `mode enforce, mx ${(last.mxPatterns ?? []).join(', ') || 'none'}, max_age ${last.maxAge}`;
      let change: string | null = null;
      if (obs.recordMissing) change = 'the _mta-sts record was removed';
      else if (obs.mode !== null && MODE_RANK[obs.mode] < MODE_RANK.enforce) change = `the mode was lowered to ${obs.mode}`;
      else if (obs.mxPatterns !== null && last.mxPatterns !== null && !sameSet(obs.mxPatterns, last.mxPatterns)) {
        const removed = last.mxPatterns.filter((p) => !obs.mxPatterns!.includes(p));
        const added = obs.mxPatterns.filter((p) => !last.mxPatterns!.includes(p));
        change = `the policy's mx patterns changed${removed.length ? `; removed ${removed.join(', ')}` : ''}${added.length ? `; added ${added.join(', ')} (MX hosts matching only these may be refused by senders holding the old policy)` : ''}`;
      }
      if (change !== null) {
        notice('cache-expiry', '', `${change} for ${domain}: senders that fetched the previous policy (${old}), last served at ${last.servedAt}, may keep applying it until ${until}`);
      }
    }
  }

  const servedNow = obs.mode !== null;
  const state: DomainState = {
    version: 1,
    open,
    pending,
    last: {
      at,
      recordId: obs.recordId ?? (obs.recordMissing ? null : last.recordId),
      mode: obs.mode ?? (obs.recordMissing ? null : last.mode),
      maxAge: obs.maxAge ?? (obs.recordMissing ? null : last.maxAge),
      mxPatterns: obs.mxPatterns ?? (obs.recordMissing ? null : last.mxPatterns),
      mxHosts: obs.mxHosts ?? last.mxHosts,
      servedAt: servedNow ? at : obs.recordMissing ? null : last.servedAt,
    },
    idPolicy: obs.recordMissing ? null : idPolicy,
  };
  return { events, state };
}

/** Severity and section of an event code, from the findings registry (for codes it knows). */
export function codeSpec(code: string): (typeof FINDINGS)[FindingCode] | undefined {
  return (FINDINGS as Record<string, (typeof FINDINGS)[FindingCode]>)[code];
}
