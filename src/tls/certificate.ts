/**
 * What a TLS peer's certificate says, judged the way RFC 8461 asks: it must chain to a trusted root,
 * be within its validity period, and carry a subjectAltName dNSName that matches the host we meant to
 * reach (RFC 6125 DNS-ID; `*` only as the whole leftmost label). Handshakes are made with
 * `rejectUnauthorized: false` so that every problem can be reported, not just the first; callers must
 * then refuse anything whose report is not `valid`.
 */
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { finding, type Finding } from '../findings.js';
import { certificateMatchesHost, dnsNamesOf } from './identity.js';
import { pemCertificates, trustStore, type TrustStore } from './trust.js';

export interface CertificateReport {
  subject: string;
  issuer: string;
  /** subjectAltName dNSName entries, lower-cased. */
  dnsNames: string[];
  validFrom: string;
  validTo: string;
  /** Whole days until `validTo` (negative once expired). */
  daysLeft: number;
  fingerprint256: string;
  /** The DNS-ID that matched the host name, or null. */
  matchedName: string | null;
  /** Chains to a trusted root (ignoring the validity period, which is judged separately). */
  trusted: boolean;
  /** OpenSSL's verification error code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT, when not trusted. */
  trustError?: string;
  /** The trust store the chain was checked against (its description), when not trusted. */
  trustStore?: string;
  expired: boolean;
  notYetValid: boolean;
  /** True when the certificate passes every check: trusted, in date, and matching the host. */
  valid: boolean;
}

/** Verification errors that are about dates, not about the chain. */
const DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** Name mismatches are judged by our own DNS-ID matching, never counted against the chain. */
const NAME_ERRORS = new Set(['ERR_TLS_CERT_ALTNAME_INVALID']);

/** Trust anchors of the default store (bundled roots + NODE_EXTRA_CA_CERTS) plus `extraPem`. */
export function trustAnchors(extraPem: readonly string[] = []): string[] {
  return [...trustStore({ extraPem }).certificates];
}

export type ClientProfile = 'https' | 'smtp';

const contexts = new Map<string, SecureContext>();

/**
 * A client TLS context trusting `trust` (a store from src/tls/trust.ts, or extra PEM certificates
 * added to the default store), built once per store and reused: parsing the ~150 roots costs tens
 * of milliseconds, far more than a handshake on loopback.
 * The `smtp` profile also accepts TLS 1.0 and weak ciphers, so that old MX hosts can be reported
 * rather than merely failing the handshake; the certificate is still judged in full.
 */
export function clientContext(trust: TrustStore | readonly string[] = [], profile: ClientProfile = 'https'): SecureContext {
  const store = isTrustStore(trust) ? trust : trustStore({ extraPem: trust });
  const key = `${profile}:${store.key}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    const ca = [...store.certificates];
    ctx = profile === 'smtp'
      ? createSecureContext({ ca, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' })
      : createSecureContext({ ca });
    if (contexts.size >= 32) contexts.clear(); // a handful of CA sets at most in practice
    contexts.set(key, ctx);
  }
  return ctx;
}

function isTrustStore(t: TrustStore | readonly string[]): t is TrustStore {
  return !Array.isArray(t);
}

/** Splits a PEM file that may hold several certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pemCertificates(pem);
}

/**
 * Reads the peer certificate of an established TLS socket and judges it for `host`. `trustName`
 * (the description of the store the context trusts) is kept in the report when the chain is not
 * trusted, so that findings can say which store said no.
 */
export function inspectPeerCertificate(socket: TLSSocket, host: string, now: Date = new Date(), trustName?: string): CertificateReport | null {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return null;
  const dnsNames = dnsNamesOf(cert.subjectAltName);
  const validFrom = new Date(cert.validFrom);
  const validTo = new Date(cert.validTo);
  const expired = now.getTime() > validTo.getTime();
  const notYetValid = now.getTime() < validFrom.getTime();
  const authError = socket.authorizationError ? String(socket.authorizationError) : undefined;
  const trusted = socket.authorized || (authError !== undefined && (DATE_ERRORS.has(authError) || NAME_ERRORS.has(authError)));
  const matchedName = certificateMatchesHost(dnsNames, host);
  const report: CertificateReport = {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    dnsNames,
    validFrom: validFrom.toISOString(),
    validTo: validTo.toISOString(),
    daysLeft: Math.floor((validTo.getTime() - now.getTime()) / 86_400_000),
    fingerprint256: cert.fingerprint256,
    matchedName,
    trusted,
    expired,
    notYetValid,
    valid: trusted && !expired && !notYetValid && matchedName !== null,
  };
  if (!trusted && authError !== undefined) report.trustError = authError;
  if (!trusted && trustName !== undefined) report.trustStore = trustName;
  return report;
}

const TRUST_EXPLANATIONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a self-signed root that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is not a trusted CA (unknown CA or missing intermediate)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is not a trusted CA (unknown CA or missing intermediate)',
  UNABLE_TO_GET_ISSUER_CERT: 'an intermediate certificate is missing',
  CERT_SIGNATURE_FAILURE: 'its signature does not verify',
  CERT_REVOKED: 'it is revoked',
};

export type CertificateRole = 'policy' | 'smtp';

/** Turns a certificate report into findings for the policy host or an MX host. */
export function certificateFindings(
  report: CertificateReport,
  role: CertificateRole,
  host: string,
  expiringDays = 14,
): Finding[] {
  const out: Finding[] = [];
  const extra = role === 'smtp' ? { host } : {};
  const who = role === 'policy' ? 'policy host' : 'MX';
  const codes = role === 'policy'
    ? { name: 'policy-cert-name', untrusted: 'policy-cert-untrusted', expired: 'policy-cert-expired', expiring: 'policy-cert-expiring' } as const
    : { name: 'smtp-cert-name', untrusted: 'smtp-cert-untrusted', expired: 'smtp-cert-expired', expiring: 'smtp-cert-expiring' } as const;
  if (report.matchedName === null) {
    const names = report.dnsNames.length > 0 ? report.dnsNames.join(', ') : 'no DNS names at all';
    out.push(finding(codes.name, `the ${who} certificate for ${host} is valid for ${names}, not for ${host}`, extra));
  }
  if (!report.trusted) {
    const why = TRUST_EXPLANATIONS[report.trustError ?? ''] ?? `verification failed (${report.trustError ?? 'unknown error'})`;
    const by = report.trustStore !== undefined ? ` by ${report.trustStore}` : '';
    out.push(finding(codes.untrusted, `the ${who} certificate for ${host} is not trusted${by}: ${why}; issuer: ${report.issuer}`, extra));
  }
  if (report.expired) {
    out.push(finding(codes.expired, `the ${who} certificate for ${host} expired on ${report.validTo}`, extra));
  } else if (report.notYetValid) {
    out.push(finding(codes.expired, `the ${who} certificate for ${host} is not valid before ${report.validFrom}`, extra));
  } else if (report.daysLeft < expiringDays) {
    out.push(finding(codes.expiring, `the ${who} certificate for ${host} expires in ${report.daysLeft} days (${report.validTo})`, extra));
  }
  return out;
}
