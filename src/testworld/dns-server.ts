/**
 * A DNS server for the test world: answers from an in-memory zone over UDP and TCP on one port,
 * behaving like a recursive resolver in front of authoritative data (RD/RA/AA set, CNAME chains
 * chased into the answer section, TC=1 over UDP when the answer does not fit so clients retry
 * over TCP). Per-name behaviours simulate dead or broken servers.
 *
 * With `chaseCnames: false` it behaves like an authoritative server whose CNAME targets lie in
 * zones it does not serve: a query for an alias is answered with the CNAME record alone (RFC 1034
 * §4.3.2 step 3a), leaving the client to ask again at the target.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer as RR, DecodedPacket, OptAnswer, Packet } from 'dns-packet';

export type ZoneRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'MX'; preference: number; /** '.' for a null MX (RFC 7505) */ exchange: string; ttl?: number }
  /** One TXT record; each element is one character-string (strings over 255 bytes are split). */
  | { type: 'TXT'; data: string[]; ttl?: number }
  | { type: 'CNAME'; target: string; ttl?: number };

export type ZoneRecordType = ZoneRecord['type'];

/**
 * How the server treats queries for a name. `silent` never answers (a dead server), `servfail`
 * and `refused` answer with that RCODE.
 */
export type NameBehaviour = 'ok' | 'silent' | 'servfail' | 'refused';

/** Default TTL. Kept at 0 so that c-ares' query cache never serves stale data after a live zone change. */
export const DEFAULT_TTL = 0;

/** Lower-case, no trailing dot: the key form of every name in the zone. */
export function normalizeName(name: string): string {
  return name.replace(/\.+$/, '').toLowerCase();
}

function parentOf(name: string): string | null {
  const i = name.indexOf('.');
  return i < 0 ? null : name.slice(i + 1);
}

/** A mutable in-memory zone. Names are case-insensitive and a trailing dot is ignored. */
export class Zone {
  private readonly records = new Map<string, ZoneRecord[]>();
  /** How many names with records sit below each name: > 0 makes an empty non-terminal. */
  private readonly descendants = new Map<string, number>();
  private readonly behaviours = new Map<string, { behaviour: NameBehaviour; subtree: boolean }>();

  /** Replaces all records of `name` (an empty list deletes the name). */
  set(name: string, records: ZoneRecord[]): void {
    const n = normalizeName(name);
    if (records.length === 0) {
      this.delete(n);
      return;
    }
    if (!this.records.has(n)) this.adjustAncestors(n, +1);
    this.records.set(n, records.map((r) => ({ ...r })));
  }

  /** Appends records to `name`. */
  add(name: string, ...records: ZoneRecord[]): void {
    const n = normalizeName(name);
    this.set(n, [...(this.records.get(n) ?? []), ...records]);
  }

  get(name: string): readonly ZoneRecord[] | undefined {
    return this.records.get(normalizeName(name));
  }

  /** Deletes every record of `name`; returns whether it had any. */
  delete(name: string): boolean {
    const n = normalizeName(name);
    if (!this.records.delete(n)) return false;
    this.adjustAncestors(n, -1);
    return true;
  }

  /** True when `name` has records or is an empty non-terminal (so it must not be NXDOMAIN). */
  exists(name: string): boolean {
    const n = normalizeName(name);
    return this.records.has(n) || (this.descendants.get(n) ?? 0) > 0;
  }

  names(): IterableIterator<string> {
    return this.records.keys();
  }

  /**
   * Sets how queries for `name` are treated; with `subtree`, also every name below it.
   * `'ok'` removes the behaviour.
   */
  setBehaviour(name: string, behaviour: NameBehaviour, opts: { subtree?: boolean } = {}): void {
    const n = normalizeName(name);
    if (behaviour === 'ok') this.behaviours.delete(n);
    else this.behaviours.set(n, { behaviour, subtree: opts.subtree ?? false });
  }

  /** The behaviour in force for `name`: its own, else the nearest ancestor's subtree behaviour. */
  behaviourOf(name: string): NameBehaviour {
    const n = normalizeName(name);
    const own = this.behaviours.get(n);
    if (own) return own.behaviour;
    for (let p = parentOf(n); p !== null; p = parentOf(p)) {
      const b = this.behaviours.get(p);
      if (b?.subtree) return b.behaviour;
    }
    return 'ok';
  }

  private adjustAncestors(name: string, delta: number): void {
    for (let p = parentOf(name); p !== null; p = parentOf(p)) {
      const v = (this.descendants.get(p) ?? 0) + delta;
      if (v > 0) this.descendants.set(p, v);
      else this.descendants.delete(p);
    }
  }
}

export interface DnsServer {
  address: string;
  port: number;
  /** `address:port` (bracketed for IPv6), ready for `Resolver.setServers([...])`. */
  hostPort: string;
  zone: Zone;
  /** Queries received, keyed `name/TYPE` (name normalized), counting UDP and TCP separately. */
  queries: Map<string, number>;
  /** Convenience over `queries`: the count for one name, for one type or all types. */
  queryCount(name: string, type?: string): number;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
/** RFC 1035 §4.2.1 limit without EDNS. */
const UDP_PLAIN_MAX = 512;
/** Cap on what we honour from an EDNS advertisement. */
const UDP_EDNS_CAP = 4096;
const MAX_CNAME_HOPS = 8;
const TCP_IDLE_MS = 30_000;

interface Resolution {
  rcode: number;
  answers: RR[];
}

function splitTxt(s: string): Buffer[] {
  const b = Buffer.from(s, 'utf8');
  if (b.length === 0) return [b];
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out;
}

function toAnswer(owner: string, r: ZoneRecord): RR {
  const ttl = r.ttl ?? DEFAULT_TTL;
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return { type: r.type, name: owner, ttl, data: r.address };
    case 'CNAME':
      return { type: 'CNAME', name: owner, ttl, data: normalizeName(r.target) };
    case 'MX':
      return { type: 'MX', name: owner, ttl, data: { preference: r.preference, exchange: normalizeName(r.exchange) } };
    case 'TXT':
      return { type: 'TXT', name: owner, ttl, data: r.data.length === 0 ? [Buffer.alloc(0)] : r.data.flatMap(splitTxt) };
  }
}

/** Resolves a question against the zone, chasing CNAMEs the way a recursive resolver does. */
function resolve(zone: Zone, qname: string, qtype: string, chase = true): Resolution | 'silent' {
  const answers: RR[] = [];
  let owner = qname; // the first owner keeps the client's spelling (0x20 case randomization)
  let name = normalizeName(qname);
  const seen = new Set<string>();
  for (let hop = 0; ; hop++) {
    const behaviour = zone.behaviourOf(name);
    if (behaviour === 'silent') return 'silent';
    if (behaviour === 'servfail') return { rcode: RCODE.SERVFAIL, answers: [] };
    if (behaviour === 'refused') return { rcode: RCODE.REFUSED, answers: [] };

    const rrs = zone.get(name);
    if (!rrs) return { rcode: zone.exists(name) ? RCODE.NOERROR : RCODE.NXDOMAIN, answers };
    const matching = rrs.filter((r) => r.type === qtype);
    if (matching.length > 0) {
      answers.push(...matching.map((r) => toAnswer(owner, r)));
      return { rcode: RCODE.NOERROR, answers };
    }
    const cname = rrs.find((r): r is Extract<ZoneRecord, { type: 'CNAME' }> => r.type === 'CNAME');
    if (!cname) return { rcode: RCODE.NOERROR, answers }; // NODATA
    seen.add(name);
    answers.push(toAnswer(owner, cname));
    if (!chase) return { rcode: RCODE.NOERROR, answers }; // the target is "elsewhere"
    name = normalizeName(cname.target);
    owner = name;
    // A loop or an over-long chain is what a real resolver gives up on with SERVFAIL.
    if (seen.has(name) || hop + 1 >= MAX_CNAME_HOPS) return { rcode: RCODE.SERVFAIL, answers: [] };
  }
}

/** Builds the response to one raw query, or null to stay silent. `udp` enables truncation. */
function handleQuery(
  zone: Zone,
  msg: Buffer,
  udp: boolean,
  count: (name: string, type: string) => void,
  chase = true,
): Buffer | null {
  let q: DecodedPacket & { opcode?: string };
  try {
    q = dnsPacket.decode(msg);
  } catch {
    if (msg.length < 12) return null;
    // FORMERR echoing the id, so the client does not wait for a timeout.
    const h = Buffer.alloc(12);
    msg.copy(h, 0, 0, 2);
    h.writeUInt16BE(0x8000 | (msg.readUInt16BE(2) & 0x7900) | 0x80 | RCODE.FORMERR, 2);
    return h;
  }
  if (q.type === 'response') return null;
  const reqFlags = q.flags ?? 0;
  const question = q.questions?.[0];
  const opt = (q.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');

  let result: Resolution | 'silent';
  if (q.opcode !== undefined && q.opcode !== 'QUERY') result = { rcode: 4 /* NOTIMP */, answers: [] };
  else if (!question || (q.questions?.length ?? 0) !== 1) result = { rcode: RCODE.FORMERR, answers: [] };
  else {
    count(question.name, question.type);
    result = resolve(zone, question.name, question.type, chase);
  }
  if (result === 'silent') return null;

  // Echo opcode, RD and CD; always set AA and RA.
  const baseFlags =
    (reqFlags & 0x7800) | (reqFlags & dnsPacket.RECURSION_DESIRED) | (reqFlags & dnsPacket.CHECKING_DISABLED) |
    dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | result.rcode;
  const additionals: RR[] = opt
    ? [{ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_CAP, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as OptAnswer]
    : [];
  const response: Packet = {
    type: 'response',
    id: q.id ?? 0,
    flags: baseFlags,
    questions: question ? [question] : [],
    answers: result.answers,
    additionals,
  };
  const out = dnsPacket.encode(response);
  if (udp) {
    const limit = opt ? Math.min(Math.max(opt.udpPayloadSize, UDP_PLAIN_MAX), UDP_EDNS_CAP) : UDP_PLAIN_MAX;
    if (out.length > limit) {
      // Too big for this UDP client: question only, TC=1, so it retries over TCP.
      return dnsPacket.encode({ ...response, flags: baseFlags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
    }
  }
  return out;
}

/** Starts the server on `address` (default 127.0.0.1) and `port` (default ephemeral), UDP and TCP alike. */
export async function startDnsServer(opts: { zone?: Zone; address?: string; port?: number; /** Default true; false answers aliases with the CNAME alone. */ chaseCnames?: boolean } = {}): Promise<DnsServer> {
  const chase = opts.chaseCnames ?? true;
  const zone = opts.zone ?? new Zone();
  const address = opts.address ?? '127.0.0.1';
  const family = net.isIPv6(address) ? 'udp6' : 'udp4';
  const queries = new Map<string, number>();
  const count = (name: string, type: string): void => {
    const k = `${normalizeName(name)}/${type}`;
    queries.set(k, (queries.get(k) ?? 0) + 1);
  };

  // UDP and TCP must share a port; with an ephemeral port the TCP bind can collide, so retry.
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  for (let attempt = 0; ; attempt++) {
    const u = dgram.createSocket(family);
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(opts.port ?? 0, address, () => {
        u.off('error', reject);
        resolve();
      });
    });
    const port = u.address().port;
    const t = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        t.once('error', reject);
        t.listen(port, address, () => {
          t.off('error', reject);
          resolve();
        });
      });
      udp = u;
      tcp = t;
      break;
    } catch (err) {
      u.close();
      if (opts.port !== undefined || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  const port = udp.address().port;

  udp.on('message', (msg, rinfo) => {
    const out = handleQuery(zone, msg, true, count, chase);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {
    /* a send to a vanished client must not crash the world */
  });

  const sockets = new Set<net.Socket>();
  tcp.on('connection', (sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // Several queries may share a connection, and one may arrive in pieces.
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = handleQuery(zone, msg, false, count, chase);
        if (out && !sock.destroyed) {
          const frame = Buffer.alloc(2 + out.length);
          frame.writeUInt16BE(out.length, 0);
          out.copy(frame, 2);
          sock.write(frame);
        }
      }
    });
  });

  const tcpServer = tcp;
  const udpSocket = udp;
  let closing: Promise<void> | undefined;
  return {
    address,
    port,
    hostPort: family === 'udp6' ? `[${address}]:${port}` : `${address}:${port}`,
    zone,
    queries,
    queryCount(name: string, type?: string): number {
      const n = normalizeName(name);
      if (type !== undefined) return queries.get(`${n}/${type.toUpperCase()}`) ?? 0;
      let total = 0;
      for (const [k, v] of queries) if (k.slice(0, k.lastIndexOf('/')) === n) total += v;
      return total;
    },
    close(): Promise<void> {
      closing ??= Promise.all([
        new Promise<void>((resolve) => udpSocket.close(() => resolve())),
        new Promise<void>((resolve) => {
          tcpServer.close(() => resolve());
          for (const s of sockets) s.destroy();
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}
