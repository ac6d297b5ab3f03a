/**
 * One DNS client for every lookup mtasts makes (TXT discovery, MX, addresses of the policy host and
 * of each MX), so that pointing it at a server (`--dns HOST[:PORT]`) really redirects all of them:
 * nothing falls back to the system's getaddrinfo behind the caller's back.
 *
 * Built on `node:dns` `Resolver` (c-ares), which retries over TCP when a UDP answer is truncated and
 * follows CNAME chains in the answers it receives. Every query is bounded by a deadline of ours as
 * well as c-ares' own timeout, because c-ares multiplies its timeout by its retries.
 *
 * @example
 * ```ts
 * const dns = new DnsClient({ servers: ['127.0.0.1:5353'], timeoutMs: 2000 });
 * const txt = await dns.txt('_mta-sts.example.com'); // string[][]: one array of strings per record
 * ```
 */
import { Resolver } from 'node:dns/promises';

/** Why a lookup did not produce records. `nodata` and `nxdomain` are answers, the rest are failures. */
export type DnsFailureKind = 'nxdomain' | 'nodata' | 'timeout' | 'servfail' | 'refused' | 'error';

export class DnsLookupError extends Error {
  override readonly name = 'DnsLookupError';
  constructor(
    readonly kind: DnsFailureKind,
    readonly qname: string,
    readonly rrtype: string,
    detail: string,
  ) {
    super(`${rrtype} ${qname}: ${detail}`);
  }

  /** True when the server answered that there is nothing there (as opposed to not answering). */
  get isNegativeAnswer(): boolean {
    return this.kind === 'nxdomain' || this.kind === 'nodata';
  }
}

export interface DnsClientOptions {
  /** Servers as `HOST`, `HOST:PORT`, `[V6]:PORT`; default: the system's configured servers. */
  servers?: readonly string[];
  /** Deadline for one lookup, in milliseconds (default 5000), time spent waiting for a turn included. */
  timeoutMs?: number;
  /**
   * Most queries outstanding at once (default 64); further queries wait their turn. c-ares sends
   * every query to a server over one UDP socket, so a burst of hundreds (a sender discovering many
   * domains at once) overflows that socket's receive buffer, or the server's, and the lost answers
   * come back only as timeouts. Queries are answered in well under a millisecond by a nearby
   * resolver, so the queue costs nothing in practice.
   */
  maxInFlight?: number;
}

export interface MxRecord {
  exchange: string;
  preference: number;
}

const KIND_BY_CODE: Record<string, DnsFailureKind> = {
  ENODATA: 'nodata',
  ENOTFOUND: 'nxdomain',
  ETIMEOUT: 'timeout',
  ESERVFAIL: 'servfail',
  EREFUSED: 'refused',
};

/** A query waiting for its turn; `done` once it has been given one or has given up. */
interface Waiter {
  done: boolean;
  grant(): void;
}

export class DnsClient {
  readonly timeoutMs: number;
  readonly servers: readonly string[];
  readonly maxInFlight: number;
  private readonly resolver: Resolver;
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];

  constructor(options: DnsClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 64);
    // c-ares doubles its per-try timeout on each retry; two tries fit inside our deadline.
    this.resolver = new Resolver({ timeout: Math.max(100, Math.floor(this.timeoutMs / 3)), tries: 2 });
    if (options.servers && options.servers.length > 0) this.resolver.setServers([...options.servers]);
    this.servers = this.resolver.getServers();
  }

  /** TXT records at `name`, each as the list of its character-strings (not yet concatenated). */
  txt(name: string): Promise<string[][]> {
    return this.query('TXT', name, () => this.resolver.resolveTxt(name));
  }

  /** The CNAME target of `name`, or null when `name` is not an alias. */
  async cname(name: string): Promise<string | null> {
    try {
      const [target] = await this.query('CNAME', name, () => this.resolver.resolveCname(name));
      return target?.replace(/\.$/, '') ?? null;
    } catch (err) {
      if (err instanceof DnsLookupError && err.isNegativeAnswer) return null;
      throw err;
    }
  }

  /** MX records sorted by preference, exchange names without a trailing dot. */
  async mx(name: string): Promise<MxRecord[]> {
    const records = await this.query('MX', name, () => this.resolver.resolveMx(name));
    return records
      .map((r) => ({ exchange: r.exchange.replace(/\.$/, ''), preference: r.priority }))
      .sort((a, b) => a.preference - b.preference || a.exchange.localeCompare(b.exchange));
  }

  /**
   * IPv4 and IPv6 addresses of `name` (IPv6 first when both exist, as RFC 6724 prefers). Throws
   * only when neither family produced an answer; an empty family is not an error.
   */
  async addresses(name: string): Promise<string[]> {
    const [v6, v4] = await Promise.allSettled([
      this.query('AAAA', name, () => this.resolver.resolve6(name)),
      this.query('A', name, () => this.resolver.resolve4(name)),
    ]);
    const out: string[] = [];
    if (v6.status === 'fulfilled') out.push(...v6.value);
    if (v4.status === 'fulfilled') out.push(...v4.value);
    if (out.length > 0) return out;
    // Report the more informative failure: a timeout or SERVFAIL beats "no data".
    const errors = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const lookupErrors = errors.filter((e): e is DnsLookupError => e instanceof DnsLookupError);
    const hard = lookupErrors.find((e) => !e.isNegativeAnswer);
    if (hard) throw hard;
    const nx = lookupErrors.find((e) => e.kind === 'nxdomain');
    throw nx ?? lookupErrors[0] ?? new DnsLookupError('nodata', name, 'A/AAAA', 'no addresses');
  }

  /** Hands the caller's turn to the next query still waiting, or frees it. */
  private release(): void {
    for (let w = this.waiting.shift(); w; w = this.waiting.shift()) {
      if (w.done) continue; // gave up waiting
      w.done = true;
      w.grant();
      return;
    }
    this.inFlight--;
  }

  private async query<T>(rrtype: string, name: string, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let waiter: Waiter | undefined;
    let holding = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (waiter) waiter.done = true;
        reject(new DnsLookupError('timeout', name, rrtype, `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      if (this.inFlight < this.maxInFlight) {
        this.inFlight++;
        holding = true;
      } else {
        const turn = new Promise<void>((resolve) => {
          waiter = { done: false, grant: () => { holding = true; resolve(); } };
          this.waiting.push(waiter);
        });
        await Promise.race([turn, deadline]);
      }
      return await Promise.race([run(), deadline]);
    } catch (err) {
      if (err instanceof DnsLookupError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
      const kind = KIND_BY_CODE[code] ?? 'error';
      const detail =
        kind === 'nxdomain' ? 'no such domain (NXDOMAIN)'
        : kind === 'nodata' ? `no ${rrtype} records`
        : kind === 'timeout' ? 'the DNS server did not answer'
        : `${code}`;
      throw new DnsLookupError(kind, name, rrtype, detail);
    } finally {
      clearTimeout(timer);
      if (holding) this.release();
    }
  }
}
