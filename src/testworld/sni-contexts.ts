/**
 * Per-host TLS contexts for the test world's servers, picked by SNI. A host's certificate is made
 * on first use (so 1000 domains start in milliseconds) and its context cached until replaced.
 */
import tls from 'node:tls';

export interface CertPair {
  /** Leaf certificate, optionally followed by intermediates (what the server sends). */
  certPem: string;
  keyPem: string;
}

/** Supplies a certificate on first use (e.g. issued lazily at the first handshake). */
export type CertSource = CertPair | (() => CertPair | Promise<CertPair>);

export class SniContexts {
  private readonly sources = new Map<string, CertSource>();
  private readonly contexts = new Map<string, Promise<tls.SecureContext>>();

  set(host: string, cert: CertSource): void {
    this.sources.set(host, cert);
    this.contexts.delete(host);
  }

  delete(host: string): void {
    this.sources.delete(host);
    this.contexts.delete(host);
  }

  /** The context for `host`, or undefined when no certificate is configured for it. */
  get(host: string): Promise<tls.SecureContext> | undefined {
    let ctx = this.contexts.get(host);
    if (ctx) return ctx;
    const src = this.sources.get(host);
    if (!src) return undefined;
    ctx = Promise.resolve(typeof src === 'function' ? src() : src).then((c) =>
      tls.createSecureContext({ cert: c.certPem, key: c.keyPem }),
    );
    // A failing source must not poison the cache forever.
    ctx.catch(() => this.contexts.delete(host));
    this.contexts.set(host, ctx);
    return ctx;
  }
}
