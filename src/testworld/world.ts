/**
 * The declarative test world: a CA, a DNS server, a policy web server and one SMTP server per
 * behaviour, all on loopback, configured from `DomainSpec`s whose defaults describe a healthy
 * MTA-STS deployment. Each spec field that is set breaks one thing the way real deployments do.
 *
 * Addresses (Linux routes all of 127.0.0.0/8 to `lo`, so these need no setup):
 *   127.0.0.1   DNS (UDP+TCP), HTTPS policy host, SMTP `ok`
 *   127.0.0.2   SMTP `no-starttls`     127.0.0.3  SMTP `reject-starttls`
 *   127.0.0.4   SMTP `hang`            127.0.0.5  SMTP `garbage`
 *   127.0.0.6   SMTP `refuse`          127.0.0.250 nothing listens (connections refused)
 * All SMTP servers share one port, so a checker needs a single `smtpPort`.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import { createTestCA, type IssuedCert, type TestCA } from './ca.js';
import { startDnsServer, Zone, type DnsServer, type ZoneRecord } from './dns-server.js';
import { startHttpsServer, type Behaviour, type CertPair, type HttpsServer } from './https-server.js';
import { startSmtpServer, type SmtpServer, type SmtpVariant } from './smtp-server.js';
import { serializePolicy } from '../mtasts/policy.js';

/** Where each SMTP variant listens, plus an address where nothing does. */
export const WORLD_ADDRESSES = {
  ok: '127.0.0.1',
  'no-starttls': '127.0.0.2',
  'reject-starttls': '127.0.0.3',
  hang: '127.0.0.4',
  garbage: '127.0.0.5',
  refuse: '127.0.0.6',
  unreachable: '127.0.0.250',
} as const satisfies Record<SmtpVariant | 'unreachable', string>;

const SMTP_VARIANTS: readonly SmtpVariant[] = ['ok', 'no-starttls', 'reject-starttls', 'hang', 'garbage', 'refuse'];

/**
 * Certificate variants for the policy host and MX hosts:
 * - valid: issued by the world CA for the host
 * - expired / not-yet-valid / expiring-soon (3 days left): validity shifted
 * - wrong-name: valid, but for `other.<parent of host>` only
 * - wildcard: `*.<parent of host>` (e.g. `*.example.test` for mta-sts.example.test)
 * - self-signed: signed by its own key
 * - untrusted-ca: issued by a second CA that is not in `caPem`
 * - intermediate: issued by an intermediate CA, served with it (a correct chain)
 * - missing-intermediate: issued by an intermediate CA, served without it
 */
export type CertVariant =
  | 'valid' | 'expired' | 'not-yet-valid' | 'expiring-soon' | 'wrong-name' | 'wildcard'
  | 'self-signed' | 'untrusted-ca' | 'intermediate' | 'missing-intermediate';

/** How an MX host answers: an SMTP variant, `unreachable` (A record to 127.0.0.250) or `missing` (no address). */
export type MxSmtp = SmtpVariant | 'unreachable' | 'missing';

export interface MxSpec {
  /** Host name (U-labels are converted to A-labels). */
  host: string;
  /** Default 10, 20, 30… in list order. */
  preference?: number;
  /** Default 'ok'. */
  smtp?: MxSmtp;
  /** Default 'valid'. Only matters for `smtp: 'ok'`, the one variant that completes STARTTLS. */
  cert?: CertVariant;
}

/** Like the server's policy behaviour, but the body defaults to the domain's policy text. */
export type DomainHttp =
  | Exclude<Behaviour, { kind: 'policy' }>
  | { kind: 'policy'; body?: string | Buffer; contentType?: string; status?: number };

export interface DomainSpec {
  /** The domain; U-labels are converted with url.domainToASCII. */
  domain: string;
  /** TXT records at _mta-sts.<domain>, one string[] per record. Default `[["v=STSv1; id=<hash of the policy>"]]`; null: none. */
  stsTxt?: string[][] | null;
  /** More TXT records at _mta-sts.<domain> (e.g. SPF junk, or a 2 KB set to force DNS over TCP). */
  extraTxt?: string[][];
  /** Makes _mta-sts.<domain> a CNAME to this name, where the TXT records are then published. */
  stsCname?: string;
  /** Policy text. Default: STSv1, mode enforce, one `mx:` per MX host, max_age 604800, CRLF line ends. */
  policy?: string;
  /** What the policy host serves. Default `{kind: 'policy'}` with `policy` as body. */
  http?: DomainHttp;
  /** ok (default): A 127.0.0.1; missing: no address record; unreachable: A 127.0.0.250. */
  policyHost?: 'ok' | 'missing' | 'unreachable';
  /** Certificate of mta-sts.<domain>. Default 'valid'. */
  policyCert?: CertVariant;
  /** Default: one MX `mx1.<domain>`, smtp ok, cert valid. */
  mx?: MxSpec[];
  /** Publishes a null MX (`MX 0 .`) instead of `mx`; the default policy is then mode none without mx lines. */
  nullMx?: boolean;
  /** TXT records at _smtp._tls.<domain>. Default `[["v=TLSRPTv1; rua=mailto:tlsrpt@<domain>"]]`; null: none. */
  tlsrpt?: string[][] | null;
  /** DNS behaviour for every name at or under the domain. Default 'ok'. */
  dns?: 'ok' | 'silent' | 'servfail';
}

export interface World {
  dns: DnsServer;
  /** `127.0.0.1:PORT` of the DNS server, for `Resolver.setServers`. */
  dnsServer: string;
  https: HttpsServer;
  httpsPort: number;
  /** The SMTP server of each variant, all on `smtpPort`. */
  smtp: Record<SmtpVariant, SmtpServer>;
  smtpPort: number;
  /** The trusted CA (the untrusted one used by 'untrusted-ca' is not exposed on purpose). */
  ca: TestCA;
  caPem: string;
  /** A temporary file holding `caPem`, deleted by close(). */
  caFile: string;
  /** Adds (or replaces) a domain; takes effect immediately for DNS, certificates and HTTP. */
  addDomain(spec: DomainSpec): Promise<void>;
  removeDomain(domain: string): void;
  /** A-labels of the domains currently installed. */
  domains(): string[];
  close(): Promise<void>;
}

const DAY = 86_400_000;

/**
 * A zone owner name in lower-case A-label form. Looser than `toALabel` in src/dns/name.ts on purpose:
 * test zones hold names such as `_mta-sts.x` that are not host names.
 */
export function worldName(name: string): string {
  const trimmed = name.trim().replace(/\.$/, '');
  const a = domainToASCII(trimmed).toLowerCase();
  if (a === '') throw new Error(`testworld: invalid domain name ${JSON.stringify(name)}`);
  return a;
}

/** An MTA-STS policy text in canonical form, for specs and scenarios. */
export function policyText(opts: { mode?: 'enforce' | 'testing' | 'none'; mx: readonly string[]; maxAge?: number }): string {
  return serializePolicy({ version: 'STSv1', mode: opts.mode ?? 'enforce', mx: [...opts.mx], maxAge: opts.maxAge ?? 604800, extensions: [] });
}

/** A valid record id derived from the policy text, so that it changes when the policy does. */
function policyId(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 20);
}

function parentOf(host: string): string {
  const i = host.indexOf('.');
  return i < 0 ? host : host.slice(i + 1);
}

interface Installed {
  names: string[];
  policyHost: string;
  mxHosts: string[];
}

async function startSmtpSet(defaultCert: CertPair): Promise<Record<SmtpVariant, SmtpServer>> {
  // One port on several addresses: take an ephemeral port on 127.0.0.1, then claim it elsewhere.
  for (let attempt = 0; ; attempt++) {
    const started: SmtpServer[] = [];
    try {
      const ok = await startSmtpServer({ variant: 'ok', address: WORLD_ADDRESSES.ok, port: 0, defaultCert });
      started.push(ok);
      for (const variant of SMTP_VARIANTS) {
        if (variant === 'ok') continue;
        started.push(await startSmtpServer({ variant, address: WORLD_ADDRESSES[variant], port: ok.port, defaultCert }));
      }
      return Object.fromEntries(started.map((s) => [s.variant, s])) as Record<SmtpVariant, SmtpServer>;
    } catch (err) {
      await Promise.all(started.map((s) => s.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
          throw new Error('testworld: cannot bind 127.0.0.2-6 (on macOS, add loopback aliases with `ifconfig lo0 alias 127.0.0.N`)', { cause: err });
        }
        throw err;
      }
    }
  }
}

/** Starts a world and installs `opts.domains`. Call `close()` when done. */
export async function createWorld(opts: {
  domains?: DomainSpec[];
  /** Port of the HTTPS policy server (default: an ephemeral port; 443 lets unmodified clients in, e.g. benchmarks). */
  httpsPort?: number;
} = {}): Promise<World> {
  const ca = await createTestCA();
  const memo = <T>(f: () => Promise<T>): (() => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => (p ??= f());
  };
  const untrustedCA = memo(() => createTestCA({ commonName: 'Untrusted Test CA' }));
  const intermediate = memo(() => ca.issueIntermediate({ commonName: 'mtasts Test World Intermediate CA' }));
  const defaultCert = await ca.issue({ names: ['default.invalid'] });
  const toPair = (c: IssuedCert): CertPair => ({ certPem: c.chainPem, keyPem: c.keyPem });

  const zone = new Zone();
  const started: { close(): Promise<void> }[] = [];
  let dir: string | undefined;
  try {
    const dns = await startDnsServer({ zone, address: '127.0.0.1' });
    started.push(dns);
    const httpsServer = await startHttpsServer({ defaultCert: toPair(defaultCert), address: '127.0.0.1', port: opts.httpsPort ?? 0 });
    started.push(httpsServer);
    const smtp = await startSmtpSet(toPair(defaultCert));
    started.push(...Object.values(smtp));
    dir = await mkdtemp(path.join(tmpdir(), 'mtasts-testworld-'));
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, ca.certPem);
    const tmpDir = dir;

    // Certificates are issued on first handshake and cached per (host, variant).
    const certCache = new Map<string, Promise<CertPair>>();
    const certFor = (host: string, variant: CertVariant): Promise<CertPair> => {
      const key = `${variant}|${host}`;
      let p = certCache.get(key);
      if (!p) {
        p = issueVariant(host, variant);
        certCache.set(key, p);
      }
      return p;
    };
    const issueVariant = async (host: string, variant: CertVariant): Promise<CertPair> => {
      const now = Date.now();
      switch (variant) {
        case 'valid': return toPair(await ca.issue({ names: [host] }));
        case 'expired': return toPair(await ca.issue({ names: [host], notBefore: new Date(now - 120 * DAY), notAfter: new Date(now - 30 * DAY) }));
        case 'not-yet-valid': return toPair(await ca.issue({ names: [host], notBefore: new Date(now + 30 * DAY), notAfter: new Date(now + 120 * DAY) }));
        case 'expiring-soon': return toPair(await ca.issue({ names: [host], notBefore: new Date(now - 60 * DAY), notAfter: new Date(now + 3 * DAY) }));
        case 'wrong-name': return toPair(await ca.issue({ names: [`other.${parentOf(host)}`] }));
        case 'wildcard': return toPair(await ca.issue({ names: [`*.${parentOf(host)}`] }));
        case 'self-signed': return toPair(await ca.issue({ names: [host], selfSigned: true }));
        case 'untrusted-ca': return toPair(await (await untrustedCA()).issue({ names: [host] }));
        case 'intermediate': return toPair(await (await intermediate()).issue({ names: [host] }));
        case 'missing-intermediate': {
          const c = await (await intermediate()).issue({ names: [host] });
          return { certPem: c.certPem, keyPem: c.keyPem };
        }
      }
    };

    const installed = new Map<string, Installed>();

    const removeDomain = (domain: string): void => {
      const d = worldName(domain);
      const inst = installed.get(d);
      if (!inst) return;
      installed.delete(d);
      for (const n of inst.names) zone.delete(n);
      zone.setBehaviour(d, 'ok');
      httpsServer.setBehaviour(inst.policyHost, null);
      httpsServer.removeCertificate(inst.policyHost);
      for (const h of inst.mxHosts) smtp.ok.removeCertificate(h);
    };

    const addDomain = async (spec: DomainSpec): Promise<void> => {
      const domain = worldName(spec.domain);
      removeDomain(domain);

      const records = new Map<string, ZoneRecord[]>();
      const put = (name: string, ...rrs: ZoneRecord[]): void => {
        const n = worldName(name);
        records.set(n, [...(records.get(n) ?? []), ...rrs]);
      };

      // MX
      const mxSpecs: Required<MxSpec>[] = spec.nullMx
        ? []
        : (spec.mx ?? [{ host: `mx1.${domain}` }]).map((m, i) => ({
            host: worldName(m.host),
            preference: m.preference ?? 10 * (i + 1),
            smtp: m.smtp ?? 'ok',
            cert: m.cert ?? 'valid',
          }));
      if (spec.nullMx) put(domain, { type: 'MX', preference: 0, exchange: '.' });
      for (const m of mxSpecs) {
        put(domain, { type: 'MX', preference: m.preference, exchange: m.host });
        if (m.smtp === 'missing') continue;
        const address = m.smtp === 'unreachable' ? WORLD_ADDRESSES.unreachable : WORLD_ADDRESSES[m.smtp];
        // Several MX entries may name one host: publish its address once.
        if (!(records.get(m.host) ?? []).some((r) => r.type === 'A')) put(m.host, { type: 'A', address });
      }

      // Policy
      const mxHosts = [...new Set(mxSpecs.map((m) => m.host))];
      const policy = spec.policy ?? (spec.nullMx ? policyText({ mode: 'none', mx: [] }) : policyText({ mx: mxHosts }));
      const http: Behaviour =
        spec.http === undefined ? { kind: 'policy', body: policy }
        : spec.http.kind === 'policy' ? { ...spec.http, body: spec.http.body ?? policy }
        : spec.http;
      const policyHost = `mta-sts.${domain}`;
      if ((spec.policyHost ?? 'ok') !== 'missing') {
        put(policyHost, { type: 'A', address: spec.policyHost === 'unreachable' ? WORLD_ADDRESSES.unreachable : '127.0.0.1' });
      }

      // _mta-sts TXT, possibly behind a CNAME
      const idSource = http.kind === 'policy' ? http.body : domain;
      const txt = [...(spec.stsTxt === undefined ? [[`v=STSv1; id=${policyId(idSource)}`]] : spec.stsTxt ?? []), ...(spec.extraTxt ?? [])];
      const stsName = `_mta-sts.${domain}`;
      const txtOwner = spec.stsCname !== undefined ? worldName(spec.stsCname) : stsName;
      if (spec.stsCname !== undefined) put(stsName, { type: 'CNAME', target: txtOwner });
      if (txt.length > 0) put(txtOwner, ...txt.map((data): ZoneRecord => ({ type: 'TXT', data })));

      // TLS-RPT
      const rpt = spec.tlsrpt === undefined ? [[`v=TLSRPTv1; rua=mailto:tlsrpt@${domain}`]] : spec.tlsrpt ?? [];
      if (rpt.length > 0) put(`_smtp._tls.${domain}`, ...rpt.map((data): ZoneRecord => ({ type: 'TXT', data })));

      // Install everything at once so concurrent queries never see half a domain.
      for (const [name, rrs] of records) zone.set(name, rrs);
      zone.setBehaviour(domain, spec.dns ?? 'ok', { subtree: true });
      httpsServer.setBehaviour(policyHost, http);
      const policyCert = spec.policyCert ?? 'valid';
      httpsServer.setCertificate(policyHost, () => certFor(policyHost, policyCert));
      for (const m of mxSpecs) {
        if (m.smtp === 'ok') smtp.ok.setCertificate(m.host, () => certFor(m.host, m.cert));
      }
      installed.set(domain, { names: [...records.keys()], policyHost, mxHosts });
    };

    for (const spec of opts.domains ?? []) await addDomain(spec);

    let closing: Promise<void> | undefined;
    return {
      dns,
      dnsServer: dns.hostPort,
      https: httpsServer,
      httpsPort: httpsServer.port,
      smtp,
      smtpPort: smtp.ok.port,
      ca,
      caPem: ca.certPem,
      caFile,
      addDomain,
      removeDomain,
      domains: () => [...installed.keys()],
      close() {
        closing ??= Promise.all(started.map((s) => s.close()))
          .then(() => rm(tmpDir, { recursive: true, force: true }));
        return closing;
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
