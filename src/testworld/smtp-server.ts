/**
 * SMTP servers for the test world, one per behaviour. A small raw `net` implementation rather
 * than the smtp-server package: the broken variants (silent, garbage, refusing) need byte-level
 * control anyway, and one code path for all keeps STARTTLS handling identical across variants.
 */
import net from 'node:net';
import tls from 'node:tls';
import { SniContexts, type CertPair, type CertSource } from './sni-contexts.js';

export type SmtpVariant = 'ok' | 'no-starttls' | 'reject-starttls' | 'hang' | 'garbage' | 'refuse';

export interface SmtpServer {
  variant: SmtpVariant;
  address: string;
  port: number;
  /** Certificate for STARTTLS clients sending SNI `host` (exact, case-insensitive). */
  setCertificate(host: string, cert: CertSource): void;
  removeCertificate(host: string): void;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Messages accepted with `acceptMail` (always empty otherwise), in arrival order. */
  readonly messages: readonly ReceivedMessage[];
  close(): Promise<void>;
}

/** A message received by a server started with `acceptMail`. */
export interface ReceivedMessage {
  /** MAIL FROM address (without angle brackets). */
  from: string;
  /** RCPT TO addresses (without angle brackets). */
  to: string[];
  /** The message as received, dot-unstuffed, lines joined with CRLF. */
  data: string;
  /** Whether the message arrived over STARTTLS. */
  secure: boolean;
  /** SNI the client sent in the STARTTLS handshake, if any. */
  servername?: string;
}

export interface SmtpServerOptions {
  variant: SmtpVariant;
  /** Sent when SNI is absent or unknown; should name only `default.invalid`. */
  defaultCert: CertPair;
  certificates?: Map<string, CertSource>;
  address?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Name in the banner and EHLO reply (one server answers for many MX names). */
  hostname?: string;
  /**
   * Accept DATA (variant `ok` only) and record each message in `messages`, for end-to-end tests
   * with a real MTA. Default false: DATA is refused with 554, as a checker never sends mail.
   */
  acceptMail?: boolean;
}

const MAX_LINE = 4096;
const IDLE_MS = 60_000;

/** Binds and starts one SMTP server. Rejects with the listen error (e.g. EADDRINUSE). */
export async function startSmtpServer(opts: SmtpServerOptions): Promise<SmtpServer> {
  const { variant } = opts;
  const address = opts.address ?? '127.0.0.1';
  const hostname = opts.hostname ?? 'mx.testworld.invalid';
  const certificates = new SniContexts();
  for (const [h, c] of opts.certificates ?? []) certificates.set(h.toLowerCase(), c);
  const defaultContext = tls.createSecureContext({ cert: opts.defaultCert.certPem, key: opts.defaultCert.keyPem });
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const messages: ReceivedMessage[] = [];
  const acceptMail = opts.acceptMail === true && variant === 'ok';

  const sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    const ctx = certificates.get(servername.replace(/\.$/, '').toLowerCase());
    if (!ctx) return cb(null, defaultContext);
    ctx.then((c) => cb(null, c), (err: Error) => cb(err));
  };

  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };

  /** Runs an SMTP dialogue on `sock` (plain, or TLS after STARTTLS). */
  const session = (sock: net.Socket, secure: boolean): void => {
    let buf = '';
    let upgrading = false;
    // Envelope and DATA state (acceptMail only).
    let from: string | undefined;
    let rcpts: string[] = [];
    let dataLines: string[] | undefined;
    const servername = secure ? ((sock as tls.TLSSocket).servername || undefined) : undefined;
    const addr = (arg: string): string => /<([^>]*)>/.exec(arg)?.[1] ?? arg.replace(/^[A-Za-z ]+:/, '').trim();
    const send = (text: string): void => {
      if (!sock.destroyed) sock.write(text);
    };
    const ehloLines = (peer: string): string[] => {
      const ext = ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SIZE 10240000'];
      if (!secure && (variant === 'ok' || variant === 'reject-starttls')) ext.push('STARTTLS');
      return [`${hostname} greets ${peer || 'you'}`, ...ext];
    };
    const multiline = (code: number, lines: string[]): string =>
      lines.map((l, i) => `${code}${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');

    const onLine = (line: string): void => {
      if (dataLines) {
        if (line === '.') {
          messages.push({
            from: from ?? '', to: rcpts, data: dataLines.join('\r\n'), secure,
            ...(servername ? { servername } : {}),
          });
          dataLines = undefined;
          from = undefined;
          rcpts = [];
          return send(`250 2.0.0 Ok: queued as ${messages.length}\r\n`);
        }
        dataLines.push(line.startsWith('.') ? line.slice(1) : line);
        return;
      }
      const [verbRaw = '', ...rest] = line.split(' ');
      const verb = verbRaw.toUpperCase();
      const arg = rest.join(' ').trim();
      if (variant === 'refuse') {
        // RFC 5321 §3.1: after a 554 greeting the server waits for QUIT, refusing everything else.
        if (verb === 'QUIT') return quit();
        return send('503 5.5.1 No service\r\n');
      }
      switch (verb) {
        case 'EHLO':
          return send(multiline(250, ehloLines(arg)));
        case 'HELO':
          return send(`250 ${hostname}\r\n`);
        case 'STARTTLS':
          if (secure) return send('503 5.5.1 TLS already active\r\n');
          if (variant === 'no-starttls') return send('502 5.5.1 STARTTLS not supported\r\n');
          if (variant === 'reject-starttls') return send('454 4.7.0 TLS not available due to temporary reason\r\n');
          upgrading = true;
          send('220 2.0.0 Ready to start TLS\r\n');
          return startTls();
        case 'MAIL':
          from = addr(arg);
          rcpts = [];
          return send('250 2.1.0 OK\r\n');
        case 'RCPT':
          rcpts.push(addr(arg));
          return send('250 2.1.5 OK\r\n');
        case 'DATA':
          if (!acceptMail) return send('554 5.3.0 The test world accepts no mail\r\n');
          if (from === undefined || rcpts.length === 0) return send('503 5.5.1 Need MAIL and RCPT first\r\n');
          dataLines = [];
          return send('354 End data with <CR><LF>.<CR><LF>\r\n');
        case 'RSET':
          from = undefined;
          rcpts = [];
          return send('250 2.0.0 OK\r\n');
        case 'NOOP':
          return send('250 2.0.0 OK\r\n');
        case 'VRFY':
          return send('252 2.1.5 Cannot VRFY user\r\n');
        case 'QUIT':
          return quit();
        default:
          return send('500 5.5.2 Command not recognized\r\n');
      }
    };
    const quit = (): void => {
      send('221 2.0.0 Bye\r\n');
      sock.end();
    };

    const onData = (chunk: Buffer): void => {
      if (upgrading) return; // bytes pipelined after STARTTLS are discarded (RFC 3207 §4.2)
      buf += chunk.toString('latin1');
      let i: number;
      while (!upgrading && (i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        onLine(line);
      }
      if (buf.length > (dataLines ? 1_000_000 : MAX_LINE)) {
        send('500 5.5.6 Line too long\r\n');
        sock.end();
      }
    };

    const startTls = (): void => {
      sock.off('data', onData);
      const secureSock = new tls.TLSSocket(sock, {
        isServer: true,
        secureContext: defaultContext,
        SNICallback: sniCallback,
      });
      track(secureSock);
      secureSock.setTimeout(IDLE_MS, () => secureSock.destroy());
      // The client speaks first after the handshake (it sends EHLO again).
      secureSock.once('secure', () => session(secureSock, true));
    };

    sock.on('data', onData);
  };

  const server = net.createServer((sock) => {
    connections++;
    track(sock);
    sock.setNoDelay(true);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    switch (variant) {
      case 'hang':
        sock.resume(); // read and ignore, never greet
        return;
      case 'garbage':
        sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      case 'refuse':
        sock.write(`554 5.3.2 ${hostname} no service\r\n`);
        return session(sock, false);
      default:
        sock.write(`220 ${hostname} ESMTP mtasts test world\r\n`);
        return session(sock, false);
    }
  });
  server.maxConnections = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A generous backlog: benchmarks open a hundred connections at once.
    server.listen({ port: opts.port ?? 0, host: address, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;

  let closing: Promise<void> | undefined;
  return {
    variant,
    address,
    port,
    get connections() {
      return connections;
    },
    messages,
    setCertificate(host, cert) {
      const h = host.replace(/\.$/, '').toLowerCase();
      certificates.set(h, cert);
    },
    removeCertificate(host) {
      const h = host.replace(/\.$/, '').toLowerCase();
      certificates.delete(h);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
