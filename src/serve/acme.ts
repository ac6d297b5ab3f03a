/**
 * Certificates from an ACME CA (RFC 8555) with HTTP-01 challenges answered on the server's plain
 * HTTP listener, through the `acme-client` package. Keys and certificates are kept in the ACME
 * directory (`account.key`, `<host>.key`, `<host>.crt`), so a restart reuses them; a certificate
 * is renewed once less than `renew_before` of its validity is left, checked every `check_interval`.
 *
 * One order at a time: a CA rate-limits, and a policy server rarely has many hosts without a
 * certificate at once.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import acme from 'acme-client';
import type { Logger } from 'pino';
import type { CertificateConfig } from './config.js';
import { makeHostCertificate, readHostCertificate, type HostCertificate } from './certs.js';
import { pemCertificates, trustStore } from '../tls/trust.js';

type AcmeConfig = Extract<CertificateConfig, { kind: 'acme' }>;

/** Deadline and size bound of every request to the ACME server. */
const ACME_TIMEOUT_MS = 30_000;
const ACME_MAX_BYTES = 1024 * 1024;

export interface AcmeEvents {
  /** A new or renewed certificate for a host. */
  onCertificate(cert: HostCertificate): void;
  onOrder?(host: string, result: 'ok' | 'error'): void;
}

export class AcmeManager {
  private readonly challenges = new Map<string, string>();
  private client: acme.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly pending = new Set<string>();
  private closed = false;
  /** The hosts to keep certificates for; replaced on reload. */
  hosts: string[] = [];
  readonly certs = new Map<string, HostCertificate>();

  constructor(
    private config: AcmeConfig,
    private readonly log: Logger,
    private readonly events: AcmeEvents,
  ) {}

  /** The key authorization for an HTTP-01 token, if one is pending (RFC 8555 §8.3). */
  challenge(token: string): string | undefined {
    return this.challenges.get(token);
  }

  /** Replaces the configuration (on reload); a new directory or account starts a new client. */
  updateConfig(config: AcmeConfig): void {
    if (config.directory !== this.config.directory || config.dir !== this.config.dir || config.caFile !== this.config.caFile || config.trust !== this.config.trust) {
      this.client = undefined;
    }
    this.config = config;
    if (this.timer) this.schedule();
  }

  /** Reads certificates kept from earlier runs for `hosts`; unusable files are logged and ignored. */
  async loadExisting(hosts: readonly string[]): Promise<Map<string, HostCertificate>> {
    const found = new Map<string, HostCertificate>();
    for (const host of hosts) {
      const cached = this.certs.get(host);
      if (cached) {
        found.set(host, cached);
        continue;
      }
      try {
        const c = await readHostCertificate(this.config.dir, host);
        if (c) {
          this.certs.set(host, c);
          found.set(host, c);
        }
      } catch (err) {
        this.log.warn({ host, err: (err as Error).message }, 'ignoring an unusable ACME certificate; a new one will be ordered');
      }
    }
    return found;
  }

  /** Starts the periodic renewal check, and runs one now. */
  start(): void {
    this.schedule();
    void this.checkAll();
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.checkAll(), this.config.checkIntervalMs);
    this.timer.unref();
  }

  /** Orders certificates for hosts that have none or whose renewal is due. Resolves when done. */
  checkAll(): Promise<void> {
    const now = Date.now();
    for (const host of this.hosts) {
      const c = this.certs.get(host);
      const due = c === undefined || c.notAfter.getTime() - now <= this.config.renewBeforeMs;
      if (due && !this.pending.has(host)) {
        this.pending.add(host);
        this.queue = this.queue.then(() => this.order(host, c === undefined ? 'new' : 'renewal')).finally(() => this.pending.delete(host));
      }
    }
    return this.queue;
  }

  private async accountClient(): Promise<acme.Client> {
    if (this.client) return this.client;
    await mkdir(this.config.dir, { recursive: true, mode: 0o700 });
    const keyFile = path.join(this.config.dir, 'account.key');
    let accountKey: Buffer;
    try {
      accountKey = await readFile(keyFile);
    } catch {
      accountKey = await acme.crypto.createPrivateEcdsaKey();
      await writeAtomic(keyFile, accountKey);
    }
    // Every request to the CA is bounded in time and size. The CA's HTTPS is checked against the
    // trust store (bundled roots by default, plus NODE_EXTRA_CA_CERTS and a private ca_file).
    const extra = this.config.caFile ? pemCertificates(await readFile(this.config.caFile, 'utf8')) : [];
    const trust = trustStore({ mode: this.config.trust ?? 'bundled', extraPem: extra, extraLabel: `ca_file (${this.config.caFile ?? ''})` });
    const ca = [...trust.certificates];
    acme.axios.defaults.timeout = ACME_TIMEOUT_MS;
    acme.axios.defaults.maxContentLength = ACME_MAX_BYTES;
    acme.axios.defaults.maxBodyLength = ACME_MAX_BYTES;
    acme.axios.defaults.maxRedirects = 0;
    acme.axios.defaults.httpsAgent = new https.Agent({ ca, keepAlive: false });
    this.log.debug({ trust: trust.description }, 'ACME client trust store');
    this.client = new acme.Client({ directoryUrl: this.config.directory, accountKey });
    return this.client;
  }

  private async order(host: string, why: 'new' | 'renewal'): Promise<void> {
    if (this.closed || !this.hosts.includes(host)) return;
    const started = Date.now();
    try {
      const client = await this.accountClient();
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, key);
      const certPem = await client.auto({
        csr,
        ...(this.config.email ? { email: this.config.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA validates through DNS we may not see from here; do not pre-check ourselves.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          this.challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          this.challenges.delete(challenge.token);
        },
      });
      const cert = makeHostCertificate(host, certPem, key.toString('utf8'), path.join(this.config.dir, `${host}.crt`));
      await writeAtomic(path.join(this.config.dir, `${host}.key`), key);
      await writeAtomic(path.join(this.config.dir, `${host}.crt`), Buffer.from(cert.certPem));
      this.certs.set(host, cert);
      this.events.onCertificate(cert);
      this.events.onOrder?.(host, 'ok');
      this.log.info({ host, why, notAfter: cert.notAfter.toISOString(), serial: cert.serial, ms: Date.now() - started }, 'ACME certificate issued');
    } catch (err) {
      this.events.onOrder?.(host, 'error');
      this.log.error({ code: 'acme-order-failed', host, why, err: (err as Error).message }, 'ACME order failed; will retry at the next check');
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

async function writeAtomic(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
}
