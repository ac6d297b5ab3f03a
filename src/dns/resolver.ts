/**
 * One DNS client for every lookup mtasts makes (TXT discovery, MX, addresses of the policy host and
 * of each MX), so that pointing it at a server (`--dns HOST[:PORT]`) really redirects all of them:
 * nothing falls back to the system's getaddrinfo behind the caller's back.
 *
 * Built on `node:dns` `Resolver` (c-ares), which retries over TCP when a UDP answer is truncated and
 * follows CNAME chains within the answers it receives. Every query is bounded by a deadline of ours
 * as well as c-ares' own timeout, because c-ares multiplies its timeout by its retries.
 *
 * CNAME chains are also chased across answers: an authoritative or split-horizon server answers a
 * query for an alias whose target lies in a zone it does not serve with the CNAME alone (RFC 1034
 * §4.3.2 step 3a), which c-ares reports as "no data". Every lookup (TXT, MX, A, AAAA) then asks the
 * same server for the CNAME and restarts the query at its target (RFC 1034 §3.6.2), up to
 * {@link MAX_CNAME_DEPTH} aliases, failing with `cname-loop` or `cname-too-deep`. The whole chain
 * shares one deadline.
 *
 * @example
 * ```ts
 * const dns = new DnsClient({ servers: ['127.0.0.1:5353'], timeoutMs: 2000 });
 * const txt = await dns.txt('_mta-sts.example.com'); // string[][]: one array of strings per record
 * ```
 */
import { Resolver } from 'node:dns/promises';

/** Why a lookup did not produce records. `nodata` and `nxdomain` are answers, the rest are failures. */
export type DnsFailureKind = 'nxdomain' | 'nodata' | 'timeout' | 'servfail' | 'refused' | 'error' | 'cname-loop' | 'cname-too-deep';

/** Most aliases followed for one lookup (a recursive resolver gives up after a similar number). */
export const MAX_CNAME_DEPTH = 8;

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

/** The finding code for a DNS failure that is not a negative answer. */
export function dnsFailureCode(err: unknown): 'dns-timeout' | 'dns-error' | 'dns-cname-loop' | 'dns-cname-too-deep' {
  if (!(err instanceof DnsLookupError)) return 'dns-error';
  switch (err.kind) {
    case 'timeout': return 'dns-timeout';
    case 'cname-loop': return 'dns-cname-loop';
    case 'cname-too-deep': return 'dns-cname-too-deep';
    default: return 'dns-error';
  }
}

/** Lower case without trailing dots (a loop, not /\.+$/, which backtracks on long runs of dots). */
function normalize(name: string): string {
  let end = name.length;
  while (end > 0 && name.charCodeAt(end - 1) === 0x2e) end--;
  return name.slice(0, end).toLowerCase();
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
    return this.chase('TXT', name, (n, at) => this.query('TXT', n, () => this.resolver.resolveTxt(n), at));
  }

  /** The CNAME target of `name`, or null when `name` is not an alias. */
  async cname(name: string): Promise<string | null> {
    return this.cnameBefore(name, Date.now() + this.timeoutMs);
  }

  /** MX records sorted by preference, exchange names without a trailing dot. */
  async mx(name: string): Promise<MxRecord[]> {
    const records = await this.chase('MX', name, (n, at) => this.query('MX', n, () => this.resolver.resolveMx(n), at));
    return records
      .map((r) => ({ exchange: r.exchange.replace(/\.$/, ''), preference: r.priority }))
      .sort((a, b) => a.preference - b.preference || a.exchange.localeCompare(b.exchange));
  }

  /**
   * IPv4 and IPv6 addresses of `name` (IPv6 first when both exist, as RFC 6724 prefers). Throws
   * only when neither family produced an answer; an empty family is not an error.
   */
  async addresses(name: string): Promise<string[]> {
    const deadlineAt = Date.now() + this.timeoutMs;
    // Both families are asked at each name of a chain; the chain is followed only when neither
    // has an address (a name holding A records is no alias, so its empty AAAA set is real).
    const both = async (n: string, deadlineAt: number): Promise<string[]> => {
      const [v6, v4] = await Promise.allSettled([
        this.query('AAAA', n, () => this.resolver.resolve6(n), deadlineAt),
        this.query('A', n, () => this.resolver.resolve4(n), deadlineAt),
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
      if (nx) throw nx;
      return []; // no data in either family: chase() looks for a CNAME
    };
    return this.chase('A/AAAA', name, both, deadlineAt);
  }

  private async cnameBefore(name: string, deadlineAt: number): Promise<string | null> {
    try {
      const [target] = await this.query('CNAME', name, () => this.resolver.resolveCname(name), deadlineAt);
      return target === undefined ? null : normalize(target);
    } catch (err) {
      if (err instanceof DnsLookupError && err.isNegativeAnswer) return null;
      throw err;
    }
  }

  /**
   * Runs `run` at `name`; on "no data", asks for a CNAME at the same name and, if there is one,
   * starts over at its target (RFC 1034 §3.6.2: an alias is followed by restarting the query at the
   * canonical name). Loops and chains longer than MAX_CNAME_DEPTH fail with their own kinds.
   */
  private async chase<T>(
    rrtype: string,
    name: string,
    /** One lookup at `name` (through query(), so that it is bounded and queued). */
    run: (name: string, deadlineAt: number) => Promise<T>,
    deadlineAt = Date.now() + this.timeoutMs,
  ): Promise<T> {
    const chain = [normalize(name)];
    let current = name;
    for (;;) {
      let noData: DnsLookupError;
      try {
        const at = current;
        const answer = await run(at, deadlineAt);
        // c-ares gives an empty list (not ENODATA) for an answer holding only a CNAME.
        if (!Array.isArray(answer) || answer.length > 0) return answer;
        noData = new DnsLookupError('nodata', at, rrtype, `no ${rrtype} records`);
      } catch (err) {
        if (!(err instanceof DnsLookupError) || err.kind !== 'nodata') throw err;
        noData = err;
      }
      let target: string | null;
      try {
        target = await this.cnameBefore(current, deadlineAt);
      } catch {
        throw noData; // the CNAME question failed; the answer to the question asked stands
      }
      if (target === null) throw noData;
      if (chain.includes(target)) {
        throw new DnsLookupError('cname-loop', name, rrtype, `CNAME loop: ${[...chain, target].join(' → ')}`);
      }
      if (chain.length > MAX_CNAME_DEPTH) {
        throw new DnsLookupError('cname-too-deep', name, rrtype, `more than ${MAX_CNAME_DEPTH} CNAMEs in a chain (${chain.slice(0, 3).join(' → ')} → … → ${target}); gave up`);
      }
      chain.push(target);
      current = target;
    }
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

  private async query<T>(rrtype: string, name: string, run: () => Promise<T>, deadlineAt = Date.now() + this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let waiter: Waiter | undefined;
    let holding = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (waiter) waiter.done = true;
        reject(new DnsLookupError('timeout', name, rrtype, `no answer within ${this.timeoutMs} ms`));
      }, Math.max(0, deadlineAt - Date.now()));
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
