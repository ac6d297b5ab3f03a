/**
 * DKIM verification of mailed reports (RFC 8460 §3: reports sent by mail are DKIM-signed by the
 * reporting organisation, so a receiver can tell a real report from a forged one).
 *
 * Verification is mailauth's `dkimVerify`; its key lookups go through our {@link DnsClient}, so
 * `--dns HOST[:PORT]` applies to them as it does to every other lookup, with the client's deadline.
 *
 * The result names are those of RFC 8601 §2.7.1 (`pass`, `fail`, `neutral`, `temperror`,
 * `permerror`, `policy`, `none`). mailauth reports a body-hash mismatch as `neutral`; RFC 6376
 * §6.1.3 makes it a permanent failure of the signature, so it is recorded here as `fail`.
 *
 * @example
 * ```ts
 * const dkim = await verifyDkim(raw, { dns: new DnsClient({ servers: ['127.0.0.1:5353'] }), submitter: 'google.com' });
 * dkim.result; // 'pass' | 'fail' | 'none' | ...
 * ```
 */
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { DnsClient, DnsLookupError } from '../../dns/resolver.js';

export type DkimResultName = 'pass' | 'fail' | 'none' | 'neutral' | 'temperror' | 'permerror' | 'policy';

export interface DkimOutcome {
  result: DkimResultName;
  /** The signing domain (d=) of the signature the result is about. */
  domain?: string;
  /** Its selector (s=). */
  selector?: string;
  /** Why, when it is not a plain pass (mailauth's comment). */
  detail?: string;
}

/** node:dns error codes for our lookup failures, as mailauth's key lookup expects them. */
const CODE_BY_KIND: Record<string, string> = {
  nxdomain: 'ENOTFOUND', nodata: 'ENODATA', timeout: 'ETIMEOUT', servfail: 'ESERVFAIL', refused: 'EREFUSED',
};

/**
 * A resolver in the shape mailauth calls, `(name, rrtype) => records`, backed by our DNS client.
 * Only the record types DKIM, ARC and their helpers ask for are supported.
 */
export function mailauthResolver(dns: DnsClient): (name: string, rrtype: string) => Promise<string[][] | string[]> {
  return async (name, rrtype) => {
    try {
      switch (rrtype.toUpperCase()) {
        case 'TXT': return await cachedTxt(dns, name);
        case 'A':
        case 'AAAA': return await dns.addresses(name);
        case 'MX': return (await dns.mx(name)).map((m) => m.exchange);
        default: {
          const err = new Error(`${rrtype} lookups are not supported`) as Error & { code: string };
          err.code = 'ENOTIMP';
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof DnsLookupError) {
        const e = new Error(err.message) as Error & { code: string };
        e.code = CODE_BY_KIND[err.kind] ?? 'ESERVFAIL';
        throw e;
      }
      throw err;
    }
  };
}

/** How long a looked-up key record is reused, ms: a bulk import of mail from one sender asks once. */
const KEY_CACHE_MS = 60_000;
/** Most key records remembered per DNS client. */
const KEY_CACHE_MAX = 1000;
/** Per DNS client (one per import run or daemon), the TXT answers of recent key lookups. */
const keyCache = new WeakMap<DnsClient, Map<string, { at: number; records: Promise<string[][]> }>>();

/**
 * TXT lookups for DKIM keys (`selector._domainkey.domain`), shared for {@link KEY_CACHE_MS} per DNS
 * client: a bulk import of thousands of messages signed with the same key asks DNS once (or once a
 * minute), not once per message. Failures are not kept (the next message asks again); the cache is
 * bounded, oldest entry first out. Other TXT names are looked up every time.
 */
function cachedTxt(dns: DnsClient, name: string): Promise<string[][]> {
  if (!name.toLowerCase().includes('._domainkey.')) return dns.txt(name);
  let cache = keyCache.get(dns);
  if (cache === undefined) keyCache.set(dns, (cache = new Map()));
  const key = name.toLowerCase();
  const now = performance.now();
  const hit = cache.get(key);
  if (hit !== undefined && now - hit.at < KEY_CACHE_MS) return hit.records;
  cache.delete(key);
  if (cache.size >= KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
  const records = dns.txt(name);
  const entry = { at: now, records };
  cache.set(key, entry);
  records.catch(() => {
    if (cache.get(key) === entry) cache.delete(key);
  });
  return records;
}

const RESULTS: readonly DkimResultName[] = ['pass', 'fail', 'none', 'neutral', 'temperror', 'permerror', 'policy'];

/** Is `domain` the submitter's domain, or a parent or child of it (relaxed alignment)? */
function aligned(domain: string, submitter: string | null | undefined): boolean {
  if (!submitter) return false;
  const d = domain.toLowerCase();
  const s = submitter.toLowerCase();
  return d === s || d.endsWith(`.${s}`) || s.endsWith(`.${d}`);
}

/**
 * Verifies the DKIM signatures of a raw message and returns one outcome: a passing signature
 * (preferring one aligned with the `TLS-Report-Submitter` domain), else the first signature's
 * result, else `none` when the message is unsigned.
 */
export async function verifyDkim(raw: Buffer, opts: { dns?: DnsClient; submitter?: string | null; now?: Date } = {}): Promise<DkimOutcome> {
  const dns = opts.dns ?? new DnsClient();
  let verified;
  try {
    verified = await dkimVerify(raw, { resolver: mailauthResolver(dns), ...(opts.now ? { curTime: opts.now } : {}) });
  } catch (err) {
    return { result: 'permerror', detail: `DKIM verification failed: ${(err as Error).message}` };
  }
  const outcomes: DkimOutcome[] = [];
  for (const r of verified.results) {
    const status = r.status as { result?: string; comment?: string | boolean };
    let result = (RESULTS.includes(status.result as DkimResultName) ? status.result : 'neutral') as DkimResultName;
    const comment = typeof status.comment === 'string' ? status.comment : undefined;
    // RFC 6376 §6.1.3: a body hash that does not verify fails the signature.
    if (result === 'neutral' && comment === 'body hash did not verify') result = 'fail';
    if (result === 'none') continue;
    outcomes.push({
      result,
      ...(r.signingDomain ? { domain: r.signingDomain.toLowerCase() } : {}),
      ...(r.selector ? { selector: r.selector } : {}),
      ...(comment ? { detail: comment } : {}),
    });
  }
  if (outcomes.length === 0) return { result: 'none' };
  const passes = outcomes.filter((o) => o.result === 'pass');
  return passes.find((o) => o.domain !== undefined && aligned(o.domain, opts.submitter)) ?? passes[0] ?? outcomes[0]!;
}
