/**
 * Certificates for the policy hosts: read from PEM files, checked (the key matches, the
 * certificate names the host, dates), and turned into one TLS secure context per host name for
 * SNI. RFC 8461 §3.3: senders require a valid certificate for `mta-sts.<domain>`.
 *
 * File layout in a directory: `<host>.crt` and `<host>.key`, or `<host>.pem` holding both
 * (certificate chain first or last, any order).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

export interface HostCertificate {
  host: string;
  /** The leaf followed by its chain. */
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  context: SecureContext;
  /** Where it was read from. */
  source: string;
}

const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_RE = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;
/** A certificate or key file larger than this is refused (a real one is a few KiB). */
const MAX_PEM_BYTES = 1024 * 1024;

/** TLS settings shared by every context: TLS 1.2 and 1.3 only (RFC 8996 retired older versions). */
export const TLS_OPTIONS = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' } as const;

/**
 * Builds and checks a host's certificate from PEM text. Throws with a clear message when the key
 * does not match, the certificate does not cover the host, or the PEM is unusable.
 */
export function makeHostCertificate(host: string, certPem: string, keyPem: string, source: string): HostCertificate {
  const certs = certPem.match(CERT_RE) ?? [];
  if (certs.length === 0) throw new Error(`${source}: no PEM certificate found`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0] ?? '');
  } catch (err) {
    throw new Error(`${source}: the certificate cannot be parsed: ${(err as Error).message}`);
  }
  // RFC 8461 §3.3 with RFC 6125: the certificate must be valid for mta-sts.<domain>.
  if (leaf.checkHost(host, { subject: 'never' }) === undefined) {
    throw new Error(`${source}: the certificate (subjectAltName ${leaf.subjectAltName ?? 'none'}) does not cover ${host}`);
  }
  if (!leaf.checkPrivateKey(createKey(keyPem, source))) {
    throw new Error(`${source}: the private key does not belong to the certificate`);
  }
  let context: SecureContext;
  try {
    context = tls.createSecureContext({ cert: certs.join('\n'), key: keyPem, ...TLS_OPTIONS });
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
  return {
    host, certPem: `${certs.join('\n')}\n`, keyPem, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber, context, source,
  };
}

function createKey(keyPem: string, source: string): KeyObject {
  try {
    return createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`${source}: the private key cannot be read: ${(err as Error).message}`);
  }
}

async function readBounded(file: string): Promise<string | null> {
  try {
    const b = await readFile(file);
    if (b.length > MAX_PEM_BYTES) throw new Error(`${file}: larger than ${MAX_PEM_BYTES} bytes`);
    return b.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Reads `<host>.crt`+`<host>.key` or `<host>.pem` from `dir`; null when neither exists. */
export async function readHostCertificate(dir: string, host: string): Promise<HostCertificate | null> {
  const crt = path.join(dir, `${host}.crt`);
  const pem = path.join(dir, `${host}.pem`);
  const crtText = await readBounded(crt);
  if (crtText !== null) {
    const keyFile = path.join(dir, `${host}.key`);
    const keyText = await readBounded(keyFile);
    if (keyText === null) throw new Error(`${crt} exists but ${keyFile} does not`);
    return makeHostCertificate(host, crtText, keyText, crt);
  }
  const pemText = await readBounded(pem);
  if (pemText === null) return null;
  const key = KEY_RE.exec(pemText)?.[0];
  if (key === undefined) throw new Error(`${pem}: no private key in the file (expected the certificate and its key)`);
  return makeHostCertificate(host, pemText, key, pem);
}

/**
 * Loads the certificate of every host from `dir`. Returns the certificates found and one problem
 * per host whose files are missing or unusable.
 */
export async function loadCertificateDir(dir: string, hosts: Iterable<string>): Promise<{ certs: Map<string, HostCertificate>; problems: string[] }> {
  const certs = new Map<string, HostCertificate>();
  const problems: string[] = [];
  await Promise.all([...hosts].map(async (host) => {
    try {
      const c = await readHostCertificate(dir, host);
      if (c === null) problems.push(`no certificate for ${host}: expected ${path.join(dir, `${host}.crt`)} and .key, or ${host}.pem`);
      else certs.set(host, c);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }));
  return { certs, problems: problems.sort() };
}
