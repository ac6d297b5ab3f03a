/**
 * The decision for one MX host under a resolved policy (RFC 8461 §4 and §5).
 *
 * - no policy, or mode `none`: deliver (MTA-STS does not apply);
 * - mode `enforce`: the MX must match an `mx` pattern (§4.1) and offer STARTTLS with a certificate
 *   that is trusted, in date and valid for the MX host name (§4.2); otherwise do not deliver to
 *   this MX — try the next one, and defer, never bounce, the message (§5.1 step 3);
 * - mode `testing`: the same validation is made, and a failure is delivered anyway and reported
 *   through TLS-RPT (§5: "testing" senders MUST NOT treat a failure as a delivery failure).
 * The TLS-RPT result type follows RFC 8460 §4.3.
 */
import { matchingPattern } from '../mtasts/mx.js';
import type { PolicyMode } from '../mtasts/policy.js';
import type { MxProbeResult } from '../smtp/probe.js';
import type { CachedPolicy } from '../store/types.js';

/** What the TLS session with an MX host gave. */
export interface TlsResult {
  /** STARTTLS was offered and the handshake completed. */
  tls: boolean;
  /** The certificate chains to a trusted root. */
  trusted?: boolean;
  /** The certificate is within its validity period. */
  inDate?: boolean;
  /** A subjectAltName DNS-ID matches the MX host name (RFC 6125). */
  nameMatches?: boolean;
  /** STARTTLS was not offered at all (as opposed to a failed handshake). */
  starttlsMissing?: boolean;
  detail?: string;
}

/** RFC 8460 §4.3 result types used here. */
export type TlsRptResultType =
  | 'starttls-not-supported' | 'certificate-host-mismatch' | 'certificate-expired'
  | 'certificate-not-trusted' | 'validation-failure';

export type Action = 'deliver' | 'defer' | 'deliver-and-report';

export interface Decision {
  action: Action;
  /** Mode of the policy applied, or null when none applies. */
  mode: PolicyMode | null;
  /** The mx pattern that matched the host, if any. */
  matchedPattern: string | null;
  /** Set when MTA-STS validation failed (reported through TLS-RPT with this result type). */
  failure?: TlsRptResultType;
  /** True when the session counts in a TLS-RPT report for the policy (success or failure). */
  report: boolean;
  reasons: string[];
}

/** Turns a `probeMx` result into a TlsResult. */
export function tlsResultFromProbe(p: MxProbeResult): TlsResult {
  const c = p.certificate;
  const r: TlsResult = { tls: p.starttls && c !== undefined, starttlsMissing: !p.starttls };
  if (c) {
    r.trusted = c.trusted;
    r.inDate = !c.expired && !c.notYetValid;
    r.nameMatches = c.matchedName !== null;
  }
  // The untrusted-certificate finding names the trust store; prefer it when that is the failure.
  const err = (c && !c.trusted ? p.findings.find((f) => f.code === 'smtp-cert-untrusted') : undefined)
    ?? p.findings.find((f) => f.severity === 'error');
  if (err) r.detail = err.message;
  return r;
}

export function evaluate(policy: CachedPolicy | null, mxHost: string, tls: TlsResult): Decision {
  if (policy === null) {
    return { action: 'deliver', mode: null, matchedPattern: null, report: false, reasons: ['no MTA-STS policy applies'] };
  }
  const mode = policy.policy.mode;
  if (mode === 'none') {
    // RFC 8461 §5: mode none — the sender does not apply MTA-STS.
    return { action: 'deliver', mode, matchedPattern: null, report: false, reasons: [`policy id ${policy.id} has mode none`] };
  }
  const reasons: string[] = [];
  const matched = matchingPattern(policy.policy.mx, mxHost);
  let failure: TlsRptResultType | undefined;
  if (matched === null) {
    // RFC 8461 §4.1: the MX host must match one of the policy's mx patterns.
    failure = 'validation-failure';
    reasons.push(`MX ${mxHost} matches none of the policy's mx patterns (${policy.policy.mx.join(', ') || 'none'})`);
  } else {
    reasons.push(`MX ${mxHost} matches mx pattern ${matched}`);
  }
  if (failure === undefined) {
    // RFC 8461 §4.2: STARTTLS with a PKIX-valid certificate for the MX host name.
    if (!tls.tls) failure = tls.starttlsMissing ? 'starttls-not-supported' : 'validation-failure';
    else if (tls.trusted === false) failure = 'certificate-not-trusted';
    else if (tls.inDate === false) failure = 'certificate-expired';
    else if (tls.nameMatches === false) failure = 'certificate-host-mismatch';
    else if (tls.trusted === undefined || tls.inDate === undefined || tls.nameMatches === undefined) failure = 'validation-failure';
    if (failure !== undefined) reasons.push(`TLS validation failed: ${failure}${tls.detail ? ` (${tls.detail})` : ''}`);
    else reasons.push('STARTTLS with a trusted, in-date certificate valid for the MX host');
  }
  if (failure === undefined) {
    return { action: 'deliver', mode, matchedPattern: matched, report: true, reasons };
  }
  if (mode === 'testing') {
    // RFC 8461 §5: in testing mode a failure is reported (TLS-RPT) and the message delivered.
    reasons.push('mode testing: deliver and report the failure');
    return { action: 'deliver-and-report', mode, matchedPattern: matched, failure, report: true, reasons };
  }
  // RFC 8461 §5.1: enforce — do not deliver to this MX; try the next MX, else defer (temporary failure).
  reasons.push('mode enforce: do not deliver to this MX; try the next MX or defer the message');
  return { action: 'defer', mode, matchedPattern: matched, failure, report: true, reasons };
}
