/**
 * Synthetic RFC 8460 reports for the sandbox world, so `mtasts demo --dashboard` (and the dashboard
 * tests and bench) show every chart full of data. Deterministic for a given seed: a few sending
 * organisations report daily on each domain; a domain's failures follow what is wrong with it (an
 * expired MX certificate gives `certificate-expired`, a missing STARTTLS `starttls-not-supported`, no
 * MTA-STS record a `no-policy-found` policy, …), and healthy domains see the odd validation failure.
 */
import { randomUUID } from 'node:crypto';
import type { DomainSpec, MxSpec } from '../testworld/world.js';

export interface SampleDomain {
  domain: string;
  /** Policy mode published (null: no MTA-STS policy, reported as no-policy-found). */
  mode: 'enforce' | 'testing' | 'none' | null;
  /** Policy text lines for policy-string (RFC 8460 §4.4). */
  policyLines: string[];
  mxHosts: string[];
  /** Result type of the systematic failures, with the share of sessions they affect. */
  failure?: { resultType: string; rate: number; mx?: string };
  /** Sessions per day from one organisation (order of magnitude). */
  volume: number;
}

export interface SampleReport {
  bytes: Buffer;
  source: string;
  organization: string;
  domain: string;
  date: string;
}

const ORGS = [
  { name: 'Google Inc.', contact: 'smtp-tls-reporting@google.example', share: 0.45, ip: '192.0.2.' },
  { name: 'Microsoft Corporation', contact: 'tlsrpt-noreply@microsoft.example', share: 0.3, ip: '198.51.100.' },
  { name: 'Mail.Ru', contact: 'tlsrpt@mail.ru.example', share: 0.15, ip: '203.0.113.' },
  { name: 'Yahoo Inc.', contact: 'tlsrpt@yahoo.example', share: 0.1, ip: '2001:db8:5::' },
];

/** A small deterministic PRNG (mulberry32), so the demo looks the same every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashSeed(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

const MX_FAILURE: Partial<Record<NonNullable<MxSpec['cert']> | NonNullable<MxSpec['smtp']>, string>> = {
  expired: 'certificate-expired',
  'not-yet-valid': 'certificate-expired',
  'wrong-name': 'certificate-host-mismatch',
  'self-signed': 'certificate-not-trusted',
  'untrusted-ca': 'certificate-not-trusted',
  'missing-intermediate': 'certificate-not-trusted',
  'no-starttls': 'starttls-not-supported',
  'reject-starttls': 'starttls-not-supported',
  hang: 'validation-failure',
  garbage: 'validation-failure',
  refuse: 'validation-failure',
};

/** What reports a sender would send about a world domain, or null when it publishes no TLS-RPT. */
export function sampleDomainOf(spec: DomainSpec, policyText: string | null): SampleDomain | null {
  if (spec.tlsrpt === null || spec.nullMx || spec.dns === 'silent' || spec.dns === 'servfail') return null;
  const domain = spec.domain;
  const mxHosts = (spec.mx ?? [{ host: `mx1.${domain}` }]).map((m) => m.host);
  const modeMatch = policyText ? /^mode:\s*(\w+)/m.exec(policyText) : null;
  const hasRecord = spec.stsTxt !== null;
  const mode = hasRecord && modeMatch ? (modeMatch[1] as SampleDomain['mode']) : null;
  const out: SampleDomain = {
    domain,
    mode,
    policyLines: policyText ? policyText.split(/\r?\n/).filter((l) => l !== '') : [],
    mxHosts,
    volume: 200 + (hashSeed(domain) % 1800),
  };
  for (const m of spec.mx ?? []) {
    const t = MX_FAILURE[m.smtp ?? 'ok'] ?? MX_FAILURE[m.cert ?? 'valid'];
    if (t) {
      out.failure = { resultType: t, rate: 0.6, mx: m.host };
      break;
    }
  }
  if (!out.failure && hasRecord && spec.policyCert && spec.policyCert !== 'valid' && spec.policyCert !== 'wildcard' && spec.policyCert !== 'intermediate') {
    out.failure = { resultType: 'sts-webpki-invalid', rate: 0.5 };
  }
  if (!out.failure && hasRecord && (spec.policyHost === 'missing' || spec.policyHost === 'unreachable' || (spec.http && spec.http.kind !== 'policy'))) {
    out.failure = { resultType: 'sts-policy-fetch-error', rate: 0.5 };
  }
  return out;
}

/**
 * Daily reports from each organisation for each domain, over `days` days ending yesterday (UTC).
 * About one in five (organisation, domain) pairs is skipped, as real senders do not all report.
 */
export function sampleReports(domains: SampleDomain[], opts: { days?: number; now?: Date; seed?: number } = {}): SampleReport[] {
  const days = opts.days ?? 20;
  const now = opts.now ?? new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const out: SampleReport[] = [];
  for (const d of domains) {
    const rnd = prng(hashSeed(d.domain) ^ (opts.seed ?? 8460));
    for (const org of ORGS) {
      if (rnd() < 0.2 && org.share < 0.2) continue;
      for (let i = days; i >= 1; i--) {
        const start = new Date(today - i * 86_400_000);
        const date = start.toISOString().slice(0, 10);
        const sessions = Math.max(1, Math.round(d.volume * org.share * (0.7 + rnd() * 0.6)));
        let failed = 0;
        let resultType = 'validation-failure';
        let mx = d.mxHosts[0] ?? `mx1.${d.domain}`;
        if (d.failure) {
          failed = Math.round(sessions * d.failure.rate * (0.8 + rnd() * 0.4));
          resultType = d.failure.resultType;
          mx = d.failure.mx ?? mx;
        } else if (rnd() < 0.15) {
          failed = 1 + Math.floor(rnd() * 3); // the odd stale sender or middlebox
          resultType = rnd() < 0.5 ? 'validation-failure' : 'starttls-not-supported';
        }
        failed = Math.min(failed, sessions);
        const policy = d.mode === null
          ? { 'policy-type': 'no-policy-found', 'policy-domain': d.domain }
          : { 'policy-type': 'sts', 'policy-string': d.policyLines, 'policy-domain': d.domain, 'mx-host': d.mxHosts };
        const report = {
          'organization-name': org.name,
          'date-range': { 'start-datetime': `${date}T00:00:00Z`, 'end-datetime': `${date}T23:59:59Z` },
          'contact-info': org.contact,
          'report-id': `${date}T00:00:00Z_${d.domain}_${randomUUIDFrom(rnd)}`,
          policies: [{
            policy,
            summary: { 'total-successful-session-count': sessions - failed, 'total-failure-session-count': failed },
            ...(failed > 0 ? {
              'failure-details': [{
                'result-type': resultType,
                'sending-mta-ip': `${org.ip}${1 + Math.floor(rnd() * 200)}`,
                'receiving-mx-hostname': mx,
                'failed-session-count': failed,
              }],
            } : {}),
          }],
        };
        out.push({ bytes: Buffer.from(JSON.stringify(report)), source: `demo:${org.name}/${d.domain}/${date}`, organization: org.name, domain: d.domain, date });
      }
    }
  }
  return out;
}

function randomUUIDFrom(rnd: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** A report whose organization name is markup: the dashboard must show it as text. */
export function hostileReport(domain: string, date: string): Buffer {
  return Buffer.from(JSON.stringify({
    'organization-name': '<img src=x onerror=alert(1)>',
    'date-range': { 'start-datetime': `${date}T00:00:00Z`, 'end-datetime': `${date}T23:59:59Z` },
    'contact-info': '<script>alert(2)</script>',
    'report-id': `<b>bold-${randomUUID()}</b>`,
    policies: [{
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing', 'mx: <svg onload=alert(3)>'], 'policy-domain': domain, 'mx-host': ['"><img src=x onerror=alert(4)>'] },
      summary: { 'total-successful-session-count': 7, 'total-failure-session-count': 3 },
      'failure-details': [{ 'result-type': 'certificate-host-mismatch', 'sending-mta-ip': '192.0.2.66', 'receiving-mx-hostname': '<iframe src=javascript:alert(5)>', 'failed-session-count': 3, 'failure-reason-code': '<script>alert(6)</script>' }],
    }],
  }));
}
