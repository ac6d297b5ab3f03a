/**
 * A STARTTLS probe of one MX host, the way an MTA-STS sender sees it (RFC 8461 §4.2): connect to
 * port 25, read the greeting, EHLO, STARTTLS (RFC 3207), then a TLS handshake with SNI set to the MX
 * host name, and judge the certificate against that name (RFC 8461 §4.1). No mail is sent; the
 * session ends with QUIT.
 *
 * Bounded everywhere: a deadline for the whole probe, a cap on reply size, and every address of the
 * host tried in turn until one completes the exchange.
 *
 * @example
 * ```ts
 * const r = await probeMx('mx1.example.com', { dns: new DnsClient() });
 * r.starttls; r.certificate?.valid; r.findings;
 * ```
 */
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { isNonPublicAddress } from '../dns/address-policy.js';
import { dnsFailureCode, DnsLookupError, type DnsClient } from '../dns/resolver.js';
import { finding, type Finding } from '../findings.js';
import { certificateFindings, clientContext, inspectPeerCertificate, type CertificateReport } from '../tls/certificate.js';
import { trustStore, type TrustStore } from '../tls/trust.js';

export interface ProbeOptions {
  dns: DnsClient;
  /** SMTP port (default 25; tests use an unprivileged port). */
  port?: number;
  /** Extra trusted CA certificates (PEM), added to the default store; ignored when `trust` is given. */
  ca?: readonly string[];
  /** The CAs to trust (src/tls/trust.ts); default: bundled roots + NODE_EXTRA_CA_CERTS + `ca`. */
  trust?: TrustStore;
  /** Deadline for the whole probe, all addresses included (default 30000 ms). */
  timeoutMs?: number;
  /** Name sent with EHLO (default: this machine's host name). */
  ehloName?: string;
  blockPrivate?: boolean;
  expiringDays?: number;
  now?: () => Date;
}

export interface MxProbeResult {
  host: string;
  addresses: string[];
  /** The address the conclusive exchange was made with. */
  address?: string;
  banner?: string;
  starttls: boolean;
  tlsVersion?: string;
  cipher?: string;
  certificate?: CertificateReport;
  /** True when a sender applying MTA-STS would deliver to this host. */
  ok: boolean;
  findings: Finding[];
  elapsedMs: number;
}

/** Largest SMTP reply we read (RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets). */
const MAX_REPLY_BYTES = 64 * 1024;

class ProbeFailure extends Error {
  constructor(
    readonly outcome: 'unreachable' | 'timeout' | 'protocol' | 'no-starttls' | 'starttls-rejected' | 'handshake',
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  code: number;
  lines: string[];
}

/** Reads SMTP replies (possibly multi-line, `250-...` then `250 ...`) from a socket. */
class ReplyReader {
  private buffer = '';
  private waiter: ((r: Reply | Error) => void) | null = null;
  private pending: (Reply | Error)[] = [];
  private lines: string[] = [];

  constructor(private socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', this.onData);
    socket.on('end', () => this.push(new ProbeFailure('protocol', 'connection closed by the server')));
    socket.on('error', (err) => this.push(err));
  }

  detach(): void {
    this.socket.off('data', this.onData);
  }

  private onData = (chunk: string): void => {
    this.buffer += chunk;
    if (this.buffer.length > MAX_REPLY_BYTES) {
      this.push(new ProbeFailure('protocol', `reply longer than ${MAX_REPLY_BYTES} bytes`));
      this.socket.destroy();
      return;
    }
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) {
        this.push(new ProbeFailure('protocol', `not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`));
        this.lines = [];
        continue;
      }
      this.lines.push(m[3] ?? '');
      if (m[2] !== '-') {
        this.push({ code: Number(m[1]), lines: this.lines });
        this.lines = [];
      }
    }
  };

  private push(r: Reply | Error): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(r);
    } else {
      this.pending.push(r);
    }
  }

  next(): Promise<Reply> {
    const ready = this.pending.shift();
    if (ready) return ready instanceof Error ? Promise.reject(ready) : Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.waiter = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
  }
}

export async function probeMx(host: string, options: ProbeOptions): Promise<MxProbeResult> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadlineAt = started + timeoutMs;
  const result: MxProbeResult = { host, addresses: [], starttls: false, ok: false, findings: [], elapsedMs: 0 };
  const done = (): MxProbeResult => {
    result.elapsedMs = Date.now() - started;
    return result;
  };
  const extra = { host };

  try {
    result.addresses = await options.dns.addresses(host);
  } catch (err) {
    if (err instanceof DnsLookupError && err.isNegativeAnswer) {
      result.findings.push(finding('smtp-unresolvable', `MX ${host} has no A or AAAA record (${err.kind})`, extra));
    } else {
      const code = dnsFailureCode(err);
      result.findings.push(finding(code, (err as Error).message, { ...extra, section: 'smtp' }));
    }
    return done();
  }
  let candidates = result.addresses;
  if (options.blockPrivate) {
    candidates = candidates.filter((a) => !isNonPublicAddress(a));
    if (candidates.length === 0) {
      result.findings.push(finding('address-not-public', `MX ${host} resolves only to ${result.addresses.join(', ')}`, extra));
      return done();
    }
  }

  const trust = options.trust ?? trustStore({ extraPem: options.ca ?? [], extraLabel: 'extra CA certificates' });
  const context = clientContext(trust, 'smtp');
  const failures: ProbeFailure[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const address = candidates[i]!;
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) break;
    const budget = i === candidates.length - 1 ? remaining : Math.max(Math.min(remaining, 2000), Math.floor(remaining / (candidates.length - i)));
    try {
      await probeAddress(host, address, result, {
        port: options.port ?? 25,
        context,
        trustName: trust.description,
        ehloName: options.ehloName ?? os.hostname(),
        deadlineAt: Date.now() + budget,
        now: options.now?.() ?? new Date(),
      });
      result.address = address;
      if (result.certificate) {
        result.findings.push(...certificateFindings(result.certificate, 'smtp', host, options.expiringDays));
        result.ok = result.certificate.valid;
      }
      if (result.tlsVersion === 'TLSv1' || result.tlsVersion === 'TLSv1.1') {
        result.findings.push(finding('smtp-tls-old', `MX ${host} negotiated ${result.tlsVersion}`, extra));
      }
      return done();
    } catch (err) {
      const failure = err instanceof ProbeFailure ? err : new ProbeFailure('protocol', (err as Error).message);
      failures.push(failure);
      // Only a failure to connect, or a timeout, is a reason to try the next address; an answer
      // from the server (no STARTTLS, bad certificate) is what every address would say.
      if (failure.outcome !== 'unreachable' && failure.outcome !== 'timeout') {
        result.address = address;
        break;
      }
    }
  }

  const last = failures.at(-1);
  const all = failures.map((f) => f.message).join('; ');
  if (!last) {
    result.findings.push(finding('smtp-timeout', `MX ${host}: no time left to try any address`, extra));
  } else if (last.outcome === 'unreachable' && failures.every((f) => f.outcome === 'unreachable')) {
    result.findings.push(finding('smtp-unreachable', `could not connect to MX ${host} port ${options.port ?? 25}: ${all}`, extra));
  } else if (last.outcome === 'timeout' || last.outcome === 'unreachable') {
    result.findings.push(finding('smtp-timeout', `MX ${host}: ${all}`, extra));
  } else if (last.outcome === 'no-starttls') {
    result.findings.push(finding('smtp-no-starttls', `MX ${host}: ${last.message}`, extra));
  } else if (last.outcome === 'starttls-rejected') {
    result.findings.push(finding('smtp-starttls-rejected', `MX ${host}: ${last.message}`, extra));
  } else if (last.outcome === 'handshake') {
    result.findings.push(finding('smtp-tls-handshake', `MX ${host}: ${last.message}`, extra));
  } else {
    result.findings.push(finding('smtp-protocol', `MX ${host}: ${last.message}`, extra));
  }
  return done();
}

interface AddressProbeParams {
  port: number;
  context: tls.SecureContext;
  trustName: string;
  ehloName: string;
  deadlineAt: number;
  now: Date;
}

/** The SMTP dialogue with one address; fills `result` or throws a ProbeFailure. */
async function probeAddress(host: string, address: string, result: MxProbeResult, p: AddressProbeParams): Promise<void> {
  const socket = net.connect({ host: address, port: p.port });
  let tlsSocket: tls.TLSSocket | undefined;
  let stage = 'connecting';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeFailure('timeout', `${address}: timed out while ${stage}`)), Math.max(0, p.deadlineAt - Date.now()));
  });
  const within = <T>(work: Promise<T>): Promise<T> => Promise.race([work, timeout]);

  try {
    await within(new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new ProbeFailure('unreachable', `${address}: ${err.code ?? err.message}`)));
    }));
    const reader = new ReplyReader(socket);
    const send = (line: string): void => {
      socket.write(`${line}\r\n`);
    };
    const expect = async (what: string): Promise<Reply> => {
      stage = `waiting for ${what}`;
      try {
        return await within(reader.next());
      } catch (err) {
        if (err instanceof ProbeFailure) throw err;
        throw new ProbeFailure('protocol', `${address}: ${(err as Error).message} while waiting for ${what}`);
      }
    };

    const greeting = await expect('the greeting');
    result.banner = `${greeting.code} ${greeting.lines[0] ?? ''}`.trim();
    if (greeting.code !== 220) {
      throw new ProbeFailure('protocol', `${address}: greeting was "${result.banner}", not 220`);
    }
    send(`EHLO ${p.ehloName}`);
    const ehlo = await expect('the EHLO reply');
    if (ehlo.code !== 250) {
      throw new ProbeFailure('protocol', `${address}: EHLO was answered "${ehlo.code} ${ehlo.lines[0] ?? ''}"`);
    }
    // RFC 3207 §4: the server lists STARTTLS among its EHLO keywords.
    const offersStarttls = ehlo.lines.slice(1).some((l) => /^STARTTLS\b/i.test(l.trim()));
    if (!offersStarttls) {
      send('QUIT');
      throw new ProbeFailure('no-starttls', `${address}: STARTTLS is not offered in the EHLO reply`);
    }
    result.starttls = true;
    send('STARTTLS');
    const ready = await expect('the STARTTLS reply');
    if (ready.code !== 220) {
      throw new ProbeFailure('starttls-rejected', `${address}: STARTTLS was answered "${ready.code} ${ready.lines[0] ?? ''}"`);
    }
    reader.detach();
    stage = 'in the TLS handshake';
    tlsSocket = tls.connect({
      socket,
      servername: host, // RFC 8461 §4.2 / RFC 6066: SNI with the MX host name
      secureContext: p.context, // see clientContext: old TLS allowed so that it can be reported
      // Names are matched by our own RFC 6125 DNS-ID rules (src/tls/identity.ts), not Node's.
      checkServerIdentity: () => undefined,
      rejectUnauthorized: false, // judged below, so that every problem is reported
    });
    const secured = tlsSocket;
    await within(new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', resolve);
      secured.once('error', (err) => reject(new ProbeFailure('handshake', `${address}: ${err.message}`)));
    }));
    result.tlsVersion = secured.getProtocol() ?? undefined;
    result.cipher = secured.getCipher()?.name;
    result.certificate = inspectPeerCertificate(secured, host, p.now, p.trustName) ?? undefined;
    if (!result.certificate) throw new ProbeFailure('handshake', `${address}: the server sent no certificate`);
    secured.on('error', () => {});
    secured.end('QUIT\r\n');
  } finally {
    clearTimeout(timer);
    timeout.catch(() => {});
    if (tlsSocket) {
      tlsSocket.destroySoon();
      setTimeout(() => tlsSocket?.destroy(), 1000).unref();
    }
    socket.on('error', () => {});
    if (!tlsSocket) socket.destroy();
  }
}
