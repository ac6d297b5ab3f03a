/**
 * Trust stores: which certificate authorities the policy fetch, the STARTTLS probe, the resolver
 * daemon and ACME trust. One module, so that every client follows the same conventions:
 *
 * - `bundled` (the default): the Mozilla roots bundled with Node (`tls.rootCertificates`);
 * - `system`: the platform's store, as OpenSSL finds it: the bundle file `SSL_CERT_FILE` (default
 *   `/etc/ssl/certs/ca-certificates.crt`, Debian's, kept by `update-ca-certificates`) and the hashed
 *   directory `SSL_CERT_DIR` (default `/etc/ssl/certs`; `:`-separated list allowed), where only
 *   `<8 hex digits>.<n>` names are read, as OpenSSL's lookup does; each variable replaces its own
 *   default only, as in OpenSSL;
 * - `both`: bundled and system.
 *
 * In every mode `NODE_EXTRA_CA_CERTS` (the convention every Node program honours) and the caller's
 * extra certificates (`--ca-file`, `ca_file`) are added. Node itself adds `NODE_EXTRA_CA_CERTS` only
 * to its default CA list, which is lost as soon as a client passes its own `ca` — as every client
 * here does — so the file is read here.
 *
 * Files are read once per process and cached; sizes are bounded (a bundle file, each certificate
 * file, the number of directory entries and of certificates) so that a wrong path cannot exhaust
 * memory. A source that cannot be read is named in the description rather than failing the caller.
 *
 * @example
 * ```ts
 * const store = trustStore({ mode: 'both', extraPem, extraLabel: '--ca-file ca.pem' });
 * store.description; // "bundled roots + system store (/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs)"
 * ```
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';
import { rootCertificates } from 'node:tls';

export type TrustMode = 'bundled' | 'system' | 'both';
export const TRUST_MODES: readonly TrustMode[] = ['bundled', 'system', 'both'];

export function parseTrustMode(value: string): TrustMode | null {
  return (TRUST_MODES as readonly string[]).includes(value) ? (value as TrustMode) : null;
}

/** Debian's defaults (OpenSSL's OPENSSLDIR is /usr/lib/ssl, whose cert.pem and certs/ point here). */
export const DEFAULT_SYSTEM_FILE = '/etc/ssl/certs/ca-certificates.crt';
export const DEFAULT_SYSTEM_DIR = '/etc/ssl/certs';

/** Bounds on what is read. A full public bundle is about 200 KB and 150 certificates. */
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
const MAX_CERT_FILE_BYTES = 1024 * 1024;
const MAX_DIR_ENTRIES = 20_000;
const MAX_CERTIFICATES = 10_000;

export interface TrustSource {
  kind: 'bundled' | 'system-file' | 'system-dir' | 'node-extra-ca-certs' | 'extra';
  path?: string;
  certificates: number;
  /** Why nothing (or not everything) was read. */
  error?: string;
}

export interface TrustStore {
  mode: TrustMode;
  /** PEM certificates, without duplicates. */
  certificates: readonly string[];
  /** Names the store for people: "bundled roots + NODE_EXTRA_CA_CERTS (/etc/ca.pem)". */
  description: string;
  sources: readonly TrustSource[];
  /** A digest of `certificates`, for caching TLS contexts built from the store. */
  key: string;
}

export interface TrustStoreOptions {
  /** Default `bundled`. */
  mode?: TrustMode;
  /** Extra CA certificates (PEM), e.g. from `--ca-file`. */
  extraPem?: readonly string[];
  /** Where `extraPem` came from, for the description (default "extra CA certificates"). */
  extraLabel?: string;
  /** Environment to read NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and SSL_CERT_DIR from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Splits PEM text into its certificates (anything else, such as comments or CRLs, is skipped). */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

interface FileRead { certs: string[]; error?: string }

const fileCache = new Map<string, FileRead>();
const dirCache = new Map<string, FileRead>();

/** Reads at most `max` bytes of a file; an error when it is larger. */
function readBounded(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > max) throw new Error(`larger than ${max} bytes`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

function readPemFile(file: string, max = MAX_BUNDLE_BYTES): FileRead {
  const cached = fileCache.get(file);
  if (cached) return cached;
  let out: FileRead;
  try {
    const certs = pemCertificates(readBounded(file, max));
    out = certs.length > 0 ? { certs: certs.slice(0, MAX_CERTIFICATES) } : { certs: [], error: 'no PEM certificate in it' };
  } catch (err) {
    out = { certs: [], error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  fileCache.set(file, out);
  return out;
}

/** OpenSSL's hashed directory: `<subject hash>.<n>` files (CRLs, `.r<n>`, are not certificates). */
const HASHED_NAME = /^[0-9a-f]{8}\.\d+$/;

function readHashedDir(dir: string): FileRead {
  const cached = dirCache.get(dir);
  if (cached) return cached;
  let out: FileRead;
  try {
    const names = readdirSync(dir).slice(0, MAX_DIR_ENTRIES).filter((n) => HASHED_NAME.test(n)).sort();
    const certs: string[] = [];
    let unreadable = 0;
    for (const name of names) {
      if (certs.length >= MAX_CERTIFICATES) break;
      const r = readPemFile(path.join(dir, name), MAX_CERT_FILE_BYTES);
      if (r.error) unreadable++;
      certs.push(...r.certs);
    }
    out = names.length === 0 ? { certs, error: 'no hashed certificate files (<hash>.0) in it' }
      : unreadable > 0 ? { certs, error: `${unreadable} of ${names.length} files unreadable` }
      : { certs };
  } catch (err) {
    out = { certs: [], error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  dirCache.set(dir, out);
  return out;
}

/** Drops the cached file reads (tests; a long-running process picking up `update-ca-certificates`). */
export function clearTrustCache(): void {
  fileCache.clear();
  dirCache.clear();
  stores.clear();
}

const stores = new Map<string, TrustStore>();

/** The trust store for `options`, built once per distinct mode, environment and extra set. */
export function trustStore(options: TrustStoreOptions = {}): TrustStore {
  const mode = options.mode ?? 'bundled';
  const env = options.env ?? process.env;
  const extra = options.extraPem ?? [];
  const extraLabel = options.extraLabel ?? 'extra CA certificates';
  const cacheKey = JSON.stringify([
    mode, env.NODE_EXTRA_CA_CERTS ?? '', mode === 'bundled' ? '' : env.SSL_CERT_FILE ?? '', mode === 'bundled' ? '' : env.SSL_CERT_DIR ?? '',
    extraLabel, extra.length === 0 ? '' : createHash('sha256').update(extra.join('\n')).digest('hex'),
  ]);
  const hit = stores.get(cacheKey);
  if (hit) return hit;

  const sources: TrustSource[] = [];
  const parts: string[] = [];
  const all: string[] = [];
  const add = (certs: readonly string[]): void => {
    for (const c of certs) if (all.length < MAX_CERTIFICATES) all.push(c);
  };
  if (mode === 'bundled' || mode === 'both') {
    add(rootCertificates);
    sources.push({ kind: 'bundled', certificates: rootCertificates.length });
    parts.push('bundled roots');
  }
  if (mode === 'system' || mode === 'both') {
    const file = env.SSL_CERT_FILE || DEFAULT_SYSTEM_FILE;
    const dirs = (env.SSL_CERT_DIR || DEFAULT_SYSTEM_DIR).split(':').filter((d) => d !== '');
    const named: string[] = [];
    const f = readPemFile(file);
    add(f.certs);
    sources.push({ kind: 'system-file', path: file, certificates: f.certs.length, ...(f.error ? { error: f.error } : {}) });
    named.push(`${env.SSL_CERT_FILE ? 'SSL_CERT_FILE ' : ''}${file}${f.error ? `: ${f.error}` : ''}`);
    for (const dir of dirs) {
      const d = readHashedDir(dir);
      add(d.certs);
      sources.push({ kind: 'system-dir', path: dir, certificates: d.certs.length, ...(d.error ? { error: d.error } : {}) });
      // The default directory holds what the default bundle holds: name it only when it adds something.
      if (env.SSL_CERT_DIR || d.certs.length > 0 || f.certs.length === 0) {
        named.push(`${env.SSL_CERT_DIR ? 'SSL_CERT_DIR ' : ''}${dir}${d.error && d.certs.length === 0 ? `: ${d.error}` : ''}`);
      }
    }
    parts.push(`system store (${named.join(', ')})`);
  }
  const nodeExtra = env.NODE_EXTRA_CA_CERTS;
  if (nodeExtra) {
    const r = readPemFile(nodeExtra);
    add(r.certs);
    sources.push({ kind: 'node-extra-ca-certs', path: nodeExtra, certificates: r.certs.length, ...(r.error ? { error: r.error } : {}) });
    parts.push(`NODE_EXTRA_CA_CERTS (${nodeExtra}${r.error ? `: ${r.error}` : ''})`);
  }
  if (extra.length > 0) {
    add(extra);
    sources.push({ kind: 'extra', certificates: extra.length });
    parts.push(extraLabel);
  }
  const certificates = [...new Set(all.map((c) => c.trim()))];
  const store: TrustStore = {
    mode,
    certificates,
    description: parts.join(' + '),
    sources,
    key: createHash('sha256').update(mode).update('\0').update(certificates.join('\n')).digest('hex'),
  };
  if (stores.size >= 64) stores.clear();
  stores.set(cacheKey, store);
  return store;
}
