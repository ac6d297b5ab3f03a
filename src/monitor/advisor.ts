/**
 * The rollout advisor: from a domain's latest check, how long its checks have passed, and its stored
 * TLS-RPT reports, what to do next with its MTA-STS policy. Pure: no I/O, no clock (the caller
 * passes `now`); src/monitor/advise-data.ts gathers the input from the database.
 *
 * Rules, first match wins:
 * 1. `publish-testing`: no `_mta-sts` record, or a policy in mode `none`.
 * 2. `fix-first`: the latest check has errors (an MX not covered, a broken policy host, …), the
 *    monitor has an error problem open (`policy-changed-same-id`), or a certificate (policy host or
 *    MX) is invalid or expires within the horizon; in `enforce`, also reports failing at or above
 *    `max_failure_rate`.
 * 3. mode `testing`: `move-to-enforce` when every condition holds, else `stay-testing` naming the
 *    ones that do not (with the failing MX hosts and senders):
 *    at least `report_days` days with reports, at least `min_sessions` sessions from at least
 *    `min_senders` sending organizations, a failure rate below `max_failure_rate`, checks passing
 *    for `passing_days`, every MX covered, certificates valid beyond the horizon.
 * 4. mode `enforce`, stable (checks passing for `passing_days`, failures below the threshold), and
 *    max_age under one week: `raise-max-age` to the next step (1 day, then 1 week).
 * 5. otherwise `keep`.
 *
 * Next steps carry the exact policy text and `_mta-sts` TXT record to publish, with a new id
 * (src/publish/records.ts), and when the change is safe to make.
 *
 * @example
 * ```ts
 * const advice = advise({ domain: 'example.com', now: new Date(), check, passingSince, reports, policyText, expiryDays: 14 });
 * advice.recommendation; // 'move-to-enforce'
 * ```
 */
import type { Severity, Verdict } from '../findings.js';
import { MAX_AGE_LIMIT, parsePolicy, type Policy } from '../mtasts/policy.js';
import { proposeMxPatterns, proposePolicy, publishRecords, type DomainRecords } from '../publish/records.js';
import { DEFAULT_ADVISOR, type AdvisorConfig } from './config.js';
import type { CertRecord } from './events.js';

export type { AdvisorConfig } from './config.js';

/** report_days 14, passing_days 7, max_failure_rate 0.01, min_sessions 100, min_senders 2 (more than one). */
export const DEFAULT_ADVISOR_CONFIG: AdvisorConfig = DEFAULT_ADVISOR;

export type Recommendation = 'publish-testing' | 'fix-first' | 'stay-testing' | 'move-to-enforce' | 'raise-max-age' | 'keep';

/** The latest check, as stored by the monitor (a subset of history.ts CheckRecord). */
export interface AdvisorCheck {
  at: string;
  verdict: Verdict;
  mode: 'enforce' | 'testing' | 'none' | null;
  maxAge: number | null;
  recordId: string | null;
  findings: { code: string; severity: Severity; message: string; host?: string }[];
  /** MX host names in DNS; null when the lookup failed. */
  mx: string[] | null;
  certs: CertRecord[];
}

/** Stored TLS-RPT reports over the window (a subset of src/reports/summary.ts DomainSummary). */
export interface AdvisorReports {
  days: { date: string; success: number; failure: number }[];
  /** Failed sessions by result type. */
  resultTypes: Record<string, number>;
  /** Sessions per sending organization. */
  organizations: Record<string, { success: number; failure: number }>;
  /** Failed sessions per receiving MX host. */
  mxHosts: Record<string, number>;
}

export interface AdvisorInput {
  domain: string;
  now: Date;
  check: AdvisorCheck;
  /** Since when checks have passed without an error (null: failing now). */
  passingSince: Date | null;
  /** Null or empty: no reports in the window. */
  reports: AdvisorReports | null;
  /** The reports window (evidence only). */
  reportWindow?: { since: string; until: string };
  /** The policy text last served (needed for exact next steps). */
  policyText: string | null;
  /** When that policy was last served (the start of senders' cache lifetime). */
  policyLastSeen?: string | null;
  /** Certificate expiry horizon, days (the monitor's `expiry_days`). */
  expiryDays: number;
  /** Problems the monitor has open for the domain (e.g. `policy-changed-same-id`, which only history shows). */
  openProblems?: { code: string; severity: Severity; message: string; subject?: string }[];
}

export interface AdviceEvidence {
  checkedAt: string;
  verdict: Verdict;
  maxAge: number | null;
  /** Whole days with at least one report in the window. */
  reportDays: number;
  reportWindow: { since: string; until: string } | null;
  sessions: number;
  failures: number;
  /** failures / sessions; null without sessions. */
  failureRate: number | null;
  /** Failed sessions by result type, and as a share of all sessions. */
  failuresByResultType: Record<string, { sessions: number; rate: number }>;
  /** Distinct sending organizations. */
  senders: number;
  failingSenders: { organization: string; failures: number; sessions: number }[];
  failingMxHosts: { host: string; failures: number }[];
  passingSince: string | null;
  /** Days the checks have passed without interruption, one decimal. */
  passingDays: number;
  mxHosts: string[] | null;
  mxNotCovered: string[];
  certificates: { host: string; role: 'policy' | 'mx'; validTo: string; daysLeft: number; valid: boolean }[];
  /** Fewest days left on any certificate (null: none seen). */
  minCertDaysLeft: number | null;
}

/** A change to publish: the policy text, its id, and the records. */
export interface AdviceProposal {
  policyText: string;
  id: string;
  /** Zone-file lines (the `_mta-sts` TXT record, and `_smtp._tls` when proposed). */
  records: string[];
  /** ISO 8601 from when the change is safe to make, or null: now. */
  safeFrom: string | null;
}

export interface Advice {
  domain: string;
  mode: 'enforce' | 'testing' | 'none' | null;
  recommendation: Recommendation;
  reasons: string[];
  evidence: AdviceEvidence;
  nextSteps: string[];
  proposal?: AdviceProposal;
}

const DAY_MS = 86_400_000;
const ONE_DAY_S = 86_400;
const ONE_WEEK_S = 604_800;
/** The max_age steps `raise-max-age` walks up (RFC 8461 §3.2: "in the range of weeks or greater"). */
export const MAX_AGE_STEPS = [ONE_DAY_S, ONE_WEEK_S] as const;
const MAX_NAMED = 10;

const pct = (r: number): string => `${(r * 100).toFixed(r > 0 && r < 0.001 ? 3 : 2)}%`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const seconds = (s: number): string =>
  s % ONE_WEEK_S === 0 ? plural(s / ONE_WEEK_S, 'week') : s % ONE_DAY_S === 0 ? plural(s / ONE_DAY_S, 'day') : s % 3600 === 0 ? plural(s / 3600, 'hour') : `${s} s`;

/** The evidence the rules look at. */
export function gatherEvidence(input: AdvisorInput): AdviceEvidence {
  const { check, reports, now } = input;
  const days = (reports?.days ?? []).filter((d) => d.success + d.failure > 0);
  const sessions = days.reduce((n, d) => n + d.success + d.failure, 0);
  const failures = days.reduce((n, d) => n + d.failure, 0);
  const orgs = Object.entries(reports?.organizations ?? {}).filter(([, c]) => c.success + c.failure > 0);
  const failuresByResultType: AdviceEvidence['failuresByResultType'] = {};
  for (const [type, n] of Object.entries(reports?.resultTypes ?? {}).sort((a, b) => b[1] - a[1])) {
    if (n > 0) failuresByResultType[type] = { sessions: n, rate: sessions > 0 ? n / sessions : 0 };
  }
  const certificates = check.certs.map((c) => ({
    host: c.host, role: c.role, validTo: c.validTo, valid: c.valid,
    daysLeft: Math.floor((Date.parse(c.validTo) - now.getTime()) / DAY_MS),
  }));
  const passingDays = input.passingSince ? Math.max(0, Math.floor((now.getTime() - input.passingSince.getTime()) / (DAY_MS / 10)) / 10) : 0;
  return {
    checkedAt: check.at,
    verdict: check.verdict,
    maxAge: check.maxAge,
    reportDays: new Set(days.map((d) => d.date)).size,
    reportWindow: input.reportWindow ?? null,
    sessions,
    failures,
    failureRate: sessions > 0 ? failures / sessions : null,
    failuresByResultType,
    senders: orgs.length,
    failingSenders: orgs.filter(([, c]) => c.failure > 0)
      .map(([organization, c]) => ({ organization, failures: c.failure, sessions: c.success + c.failure }))
      .sort((a, b) => b.failures - a.failures || a.organization.localeCompare(b.organization)),
    failingMxHosts: Object.entries(reports?.mxHosts ?? {}).filter(([, n]) => n > 0)
      .map(([host, n]) => ({ host, failures: n }))
      .sort((a, b) => b.failures - a.failures || a.host.localeCompare(b.host)),
    passingSince: input.passingSince ? input.passingSince.toISOString() : null,
    passingDays,
    mxHosts: check.mx,
    mxNotCovered: [...new Set(check.findings.filter((f) => f.code === 'mx-not-covered' && f.host).map((f) => f.host!))],
    certificates,
    minCertDaysLeft: certificates.length ? Math.min(...certificates.map((c) => c.daysLeft)) : null,
  };
}

/** Whether the failure rate is within the threshold (no failures always is). */
function failuresOk(ev: AdviceEvidence, cfg: AdvisorConfig): boolean {
  return ev.failures === 0 || (ev.failureRate !== null && ev.failureRate < cfg.max_failure_rate);
}

/** "failing MX hosts: a (12), b (3); failing senders: x (10 of 500), …" or ''. */
function failureNames(ev: AdviceEvidence): string[] {
  const out: string[] = [];
  if (ev.failingMxHosts.length) {
    out.push(`failing MX hosts: ${ev.failingMxHosts.slice(0, MAX_NAMED).map((m) => `${m.host} (${m.failures} failed)`).join(', ')}`
      + (ev.failingMxHosts.length > MAX_NAMED ? `, +${ev.failingMxHosts.length - MAX_NAMED} more` : ''));
  }
  if (ev.failingSenders.length) {
    out.push(`failing senders: ${ev.failingSenders.slice(0, MAX_NAMED).map((s) => `${s.organization} (${s.failures} of ${s.sessions} failed)`).join(', ')}`
      + (ev.failingSenders.length > MAX_NAMED ? `, +${ev.failingSenders.length - MAX_NAMED} more` : ''));
  }
  const types = Object.entries(ev.failuresByResultType);
  if (types.length) out.push(`by result type: ${types.slice(0, MAX_NAMED).map(([t, x]) => `${t} ${x.sessions} (${pct(x.rate)})`).join(', ')}`);
  return out;
}

function failureReason(ev: AdviceEvidence, cfg: AdvisorConfig): string {
  return `TLS-RPT reports show ${ev.failures} failed of ${ev.sessions} sessions (${pct(ev.failureRate ?? 0)}), `
    + `not below max_failure_rate ${pct(cfg.max_failure_rate)}`
    + (failureNames(ev).length ? `; ${failureNames(ev).join('; ')}` : '');
}

/** The current policy, parsed from the text last served (null when unknown or unparsable). */
function currentPolicy(input: AdvisorInput): Policy | null {
  if (input.policyText === null) return null;
  return parsePolicy(input.policyText).policy;
}

const zoneLine = (r: DomainRecords['records'][number]): string => `${r.name} ${r.ttl} IN ${r.type} ${r.data}`;

/** The proposal and the next steps that publish a policy: policy file first, then the TXT id. */
function publishSteps(domain: string, policy: Policy, opts: { tlsrpt?: string[]; safeFrom: string | null; when: string }): { proposal: AdviceProposal; steps: string[] } {
  const recs = publishRecords({ domain, policy, ...(opts.tlsrpt ? { tlsrpt: opts.tlsrpt } : {}) });
  const sts = recs.records.find((r) => r.name.startsWith('_mta-sts.'))!;
  const rpt = recs.records.find((r) => r.name.startsWith('_smtp._tls.'));
  const steps = [
    `Serve this policy at https://mta-sts.${recs.domain}/.well-known/mta-sts.txt:\n${recs.policyText.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => `    ${l}`).join('\n')}`,
    // RFC 8461 §3.1: senders refetch only when the id changes, so the id changes with the text.
    `Then publish the new id (senders fetch the policy again only when the id changes, RFC 8461 §3.1):\n    ${zoneLine(sts)}`,
  ];
  if (rpt) steps.push(`Publish a TLS-RPT record so senders report failures (RFC 8460 §3); use your own reports address:\n    ${zoneLine(rpt)}`);
  steps.push(opts.when);
  return {
    proposal: { policyText: recs.policyText, id: recs.id, records: [zoneLine(sts), ...(rpt ? [zoneLine(rpt)] : [])], safeFrom: opts.safeFrom },
    steps,
  };
}

/** When senders that cached the current policy stop applying it: last served + max_age. */
function cacheExpiry(input: AdvisorInput): string | null {
  const maxAge = input.check.maxAge;
  const last = input.policyLastSeen ?? input.check.at;
  if (maxAge === null || !last) return null;
  const t = Date.parse(last) + maxAge * 1000;
  return Number.isFinite(t) ? new Date(t).toISOString() : null;
}

/** The next max_age step up from the current one (null: already at least one week). */
export function nextMaxAge(current: number): number | null {
  const step = MAX_AGE_STEPS.find((s) => s > current);
  return step === undefined ? null : Math.min(step, MAX_AGE_LIMIT);
}

/** The advice for one domain (see the module comment for the rules). */
export function advise(input: AdvisorInput, cfg: AdvisorConfig = DEFAULT_ADVISOR_CONFIG): Advice {
  const a = applyRules(input, cfg);
  // The keys in the documented order (JSON output).
  return {
    domain: a.domain, mode: a.mode, recommendation: a.recommendation, reasons: a.reasons, evidence: a.evidence, nextSteps: a.nextSteps,
    ...(a.proposal ? { proposal: a.proposal } : {}),
  };
}

function applyRules(input: AdvisorInput, cfg: AdvisorConfig): Advice {
  const { domain, check } = input;
  const ev = gatherEvidence(input);
  const base = { domain, mode: check.mode, evidence: ev };
  const has = (code: string): boolean => check.findings.some((f) => f.code === code);
  const tlsrptMissing = has('tlsrpt-missing') || has('testing-without-tlsrpt');
  const tlsrptUri = [`mailto:tlsrpt@${domain}`];

  // 1. Nothing published (or withdrawn): start in testing.
  if (has('record-missing') || check.mode === 'none') {
    if (has('mx-null')) {
      return { ...base, recommendation: 'keep', reasons: ['the domain publishes a null MX (it accepts no mail): MTA-STS protects nothing here'], nextSteps: [] };
    }
    const reasons = [has('record-missing')
      ? `no _mta-sts TXT record: senders see no MTA-STS policy for ${domain}`
      : 'the policy mode is none: senders do not apply MTA-STS to this domain'];
    const hosts = check.mx ?? [];
    if (hosts.length === 0) {
      return { ...base, recommendation: 'publish-testing', reasons: [...reasons, 'no MX hosts were found, so no policy can be proposed yet'], nextSteps: ['Publish the MX records of the domain, then run `mtasts init` (or `mtasts advise` again) for a policy.'] };
    }
    const policy = proposePolicy(hosts, { mode: 'testing', maxAge: ONE_DAY_S });
    const { proposal, steps } = publishSteps(domain, policy, {
      // Only when there is none: a second TLS-RPT record would make senders ignore both (RFC 8460 §3).
      ...(tlsrptMissing ? { tlsrpt: tlsrptUri } : {}),
      safeFrom: null,
      when: 'Safe now: in testing mode senders deliver as before and only report failures (RFC 8461 §5). After report_days of clean reports, run `mtasts advise` again.',
    });
    return { ...base, recommendation: 'publish-testing', reasons, nextSteps: steps, proposal };
  }

  // 2. Errors first: nothing else is worth changing while the deployment is broken.
  const errors: { code: string; message: string; host?: string }[] = check.findings.filter((f) => f.severity === 'error');
  for (const p of input.openProblems ?? []) {
    if (p.severity === 'error' && !errors.some((f) => f.code === p.code && (f.host ?? '') === (p.subject ?? ''))) {
      errors.push({ code: p.code, message: p.message, ...(p.subject ? { host: p.subject } : {}) });
    }
  }
  const horizon = input.expiryDays;
  const badCerts = ev.certificates.filter((c) => !c.valid || c.daysLeft <= horizon);
  const enforceFailing = check.mode === 'enforce' && ev.sessions > 0 && !failuresOk(ev, cfg);
  if (errors.length > 0 || badCerts.length > 0 || enforceFailing) {
    const reasons: string[] = [];
    for (const f of errors.slice(0, 20)) reasons.push(`${f.code}: ${f.message}`);
    if (errors.length > 20) reasons.push(`+${errors.length - 20} more errors (see \`mtasts check ${domain}\`)`);
    for (const c of badCerts) {
      if (!errors.some((f) => f.host === c.host && /cert/.test(f.code))) {
        reasons.push(c.valid ? `the certificate of ${c.host} expires in ${plural(c.daysLeft, 'day')} (${c.validTo}), inside the ${horizon}-day horizon`
          : `the certificate of ${c.host} is not valid`);
      }
    }
    if (enforceFailing) reasons.push(`in enforce mode, ${failureReason(ev, cfg)}`);
    const nextSteps: string[] = [];
    let proposal: AdviceProposal | undefined;
    const policy = currentPolicy(input);
    if (ev.mxNotCovered.length > 0 && policy && check.mx) {
      // Covering a new MX only widens what senders accept: safe at once.
      const widened: Policy = { ...policy, mx: [...new Set([...policy.mx, ...proposeMxPatterns(ev.mxNotCovered)])] };
      const r = publishSteps(domain, widened, { safeFrom: null, when: 'Safe now: adding mx patterns only widens the hosts senders accept.' });
      nextSteps.push(`Cover ${ev.mxNotCovered.join(', ')} in the policy:`, ...r.steps);
      proposal = r.proposal;
    } else if (ev.mxNotCovered.length > 0) {
      nextSteps.push(`Add mx patterns covering ${ev.mxNotCovered.join(', ')} to the policy, then change the TXT id.`);
    }
    for (const c of badCerts) nextSteps.push(`Renew the certificate of ${c.host} (valid to ${c.validTo}), keeping the name ${c.host} in it; automate renewal well before the ${horizon}-day horizon.`);
    if (errors.some((f) => f.code !== 'mx-not-covered')) nextSteps.push(`Fix the errors listed (docs/findings.md explains each code), then run \`mtasts check ${domain}\`.`);
    if (enforceFailing) {
      nextSteps.push('Find out why the failing senders cannot deliver with TLS to the MX hosts named above (certificate names, STARTTLS, expiry).');
      if (policy && !proposal) {
        const until = cacheExpiry(input);
        const r = publishSteps(domain, { ...policy, mode: 'testing' }, {
          safeFrom: null,
          when: `Going back to testing takes full effect only when senders' cached enforce policy expires${until ? `: at ${until} (max_age ${seconds(check.maxAge!)} after it was last served)` : ''}.`,
        });
        nextSteps.push('If the failures cannot be fixed soon, go back to testing:', ...r.steps);
        proposal = r.proposal;
      }
    }
    return { ...base, recommendation: 'fix-first', reasons, nextSteps, ...(proposal ? { proposal } : {}) };
  }

  // 3. testing → enforce once the evidence is in.
  if (check.mode === 'testing') {
    const unmet: string[] = [];
    if (ev.reportDays < cfg.report_days) unmet.push(`only ${plural(ev.reportDays, 'day')} of TLS-RPT reports; ${cfg.report_days} needed (report_days)`);
    if (ev.sessions < cfg.min_sessions) unmet.push(`only ${plural(ev.sessions, 'session')} reported; ${cfg.min_sessions} needed (min_sessions)`);
    if (ev.senders < cfg.min_senders) unmet.push(`reports from ${plural(ev.senders, 'sender')}; ${cfg.min_senders} needed (min_senders)`);
    if (ev.sessions > 0 && !failuresOk(ev, cfg)) unmet.push(failureReason(ev, cfg));
    if (ev.passingDays < cfg.passing_days) unmet.push(`checks have passed for ${ev.passingDays} days; ${cfg.passing_days} needed (passing_days)`);
    if (check.mx === null) unmet.push('the MX lookup failed, so MX coverage is unknown');
    if (unmet.length > 0) {
      const nextSteps = ['Keep mode testing; run `mtasts advise` again as reports come in.'];
      if (tlsrptMissing) nextSteps.push(`Publish a TLS-RPT record so testing produces reports (RFC 8460 §3): _smtp._tls.${domain}. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@${domain}" (your own reports address).`);
      if (ev.failures > 0) nextSteps.push('Look into the failing MX hosts and senders named above: certificate names and chains, STARTTLS, expiry.');
      return { ...base, recommendation: 'stay-testing', reasons: unmet, nextSteps };
    }
    const reasons = [
      `${plural(ev.reportDays, 'day')} of TLS-RPT reports with ${plural(ev.sessions, 'session')} from ${plural(ev.senders, 'sender')}, ${pct(ev.failureRate ?? 0)} failed (below ${pct(cfg.max_failure_rate)})`,
      `checks have passed for ${ev.passingDays} days (since ${ev.passingSince})`,
      `every MX is covered (${(check.mx ?? []).join(', ') || 'none'})`,
      ev.minCertDaysLeft === null ? 'no certificate inside the expiry horizon' : `every certificate is valid for ${ev.minCertDaysLeft}+ days, beyond the ${horizon}-day horizon`,
    ];
    // Below the threshold is not none: say who still fails, since enforce turns those into deferrals.
    if (ev.failures > 0) reasons.push(`the remaining failures will become deferred mail under enforce: ${failureNames(ev).join('; ')}`);
    const policy = currentPolicy(input);
    if (!policy) {
      return { ...base, recommendation: 'move-to-enforce', reasons, nextSteps: ['Change the policy\'s mode to enforce, serve it, then change the id of the _mta-sts TXT record (RFC 8461 §3.1).'] };
    }
    const { proposal, steps } = publishSteps(domain, { ...policy, mode: 'enforce' }, {
      safeFrom: null,
      when: `Safe now: senders switch to enforce as they refetch (within max_age ${policy.maxAge ? seconds(policy.maxAge) : ''} of their last fetch). Keep every certificate valid and every MX covered from now on.`,
    });
    return { ...base, recommendation: 'move-to-enforce', reasons, nextSteps: steps, proposal };
  }

  // 4. enforce: walk max_age up once stable.
  if (check.mode === 'enforce' && check.maxAge !== null) {
    const stable = ev.passingDays >= cfg.passing_days && failuresOk(ev, cfg);
    const next = nextMaxAge(check.maxAge);
    if (next !== null && stable) {
      const reasons = [
        `enforce is stable: checks have passed for ${ev.passingDays} days${ev.sessions > 0 ? `, ${pct(ev.failureRate ?? 0)} of ${plural(ev.sessions, 'session')} failed` : ''}`,
        // RFC 8461 §3.2: max_age is "expected … typically be in the range of weeks or greater".
        `max_age is ${seconds(check.maxAge)}: senders refetch often, and an attacker who blocks a refetch leaves them unprotected; RFC 8461 §3.2 expects weeks or more`,
      ];
      const policy = currentPolicy(input);
      if (!policy) return { ...base, recommendation: 'raise-max-age', reasons, nextSteps: [`Raise max_age to ${next} (${seconds(next)}), then change the TXT id.`] };
      const { proposal, steps } = publishSteps(domain, { ...policy, maxAge: next }, {
        safeFrom: null,
        when: `Safe now. A longer max_age also means a later weakening (fewer MX, mode testing) takes up to ${seconds(next)} to reach every sender. `
          + (next < ONE_WEEK_S ? `After another ${cfg.passing_days} stable days, raise it again.` : 'One week is the target; more is fine.'),
      });
      return { ...base, recommendation: 'raise-max-age', reasons, nextSteps: steps, proposal };
    }
    if (next !== null) {
      return {
        ...base, recommendation: 'keep',
        reasons: [`max_age is ${seconds(check.maxAge)}, under a week, but enforce is not yet stable: checks have passed for ${ev.passingDays} of ${cfg.passing_days} days`
          + (failuresOk(ev, cfg) ? '' : `; ${failureReason(ev, cfg)}`)],
        nextSteps: [`Wait until checks have passed for ${cfg.passing_days} days, then raise max_age (run \`mtasts advise\` again).`],
      };
    }
    return {
      ...base, recommendation: 'keep',
      reasons: [`enforce with max_age ${seconds(check.maxAge)}, at least the week RFC 8461 §3.2 expects; checks pass${ev.sessions > 0 ? ` and ${pct(ev.failureRate ?? 0)} of reported sessions failed` : ''}`],
      nextSteps: ['Nothing to change. Keep certificates renewed and every new MX added to the policy before it goes into DNS.'],
    };
  }

  return { ...base, recommendation: 'keep', reasons: ['nothing to change'], nextSteps: [] };
}
