/**
 * A throwaway certificate authority minted per run. Certificates are encoded with a small DER
 * writer and signed with node:crypto (ECDSA P-256): about a tenth of a millisecond per
 * certificate, so a world with thousands of hosts costs nothing, and there is no dependency on
 * an ASN.1 library's start-up or DI container. Nothing is written to disk.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface IssuedCert {
  /** The leaf certificate alone. */
  certPem: string;
  /** PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
  /** The leaf followed by any intermediate certificates: what a server should send. */
  chainPem: string;
}

export interface IssueOptions {
  /** subjectAltName dNSName entries; wildcards such as `*.example.test` allowed. */
  names: string[];
  /** Default: one hour ago. */
  notBefore?: Date;
  /** Default: 90 days from now. */
  notAfter?: Date;
  /** Sign the certificate with its own key instead of the CA's. */
  selfSigned?: boolean;
  /** Subject CN; defaults to the first name. */
  commonName?: string;
}

export interface TestCA {
  /** This CA's certificate. For a root, the PEM that clients should trust. */
  certPem: string;
  /** Certificates a server must send after a leaf issued here (empty for a root; the intermediate itself for a sub-CA). */
  chainPem: string;
  issue(opts: IssueOptions): Promise<IssuedCert>;
  /** A sub-CA signed by this CA. Serve `leaf.chainPem` for a complete chain, `leaf.certPem` for a "missing intermediate" one. */
  issueIntermediate(opts?: { commonName?: string }): Promise<TestCA>;
}

// --- minimal DER writer ---------------------------------------------------------------------

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const bitString = (b: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), b);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && ((b[i + 1] ?? 0) & 0x80) === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, ((v[0] ?? 0) & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const bytes = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift(0x80 | (v & 0x7f));
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const name = (commonName: string): Buffer =>
  seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));

// --- certificates ---------------------------------------------------------------------------

interface KeyPair {
  privateKey: KeyObject;
  spki: Buffer;
  /** RFC 5280 §4.2.1.2 method 1: SHA-1 of the public key bits. */
  keyId: Buffer;
}

function newKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // For P-256 the uncompressed point is the last 65 bytes of the SPKI.
  const keyId = createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
  return { privateKey, spki, keyId };
}

function pem(tag: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${tag}-----\n${lines.join('\n')}\n-----END ${tag}-----\n`;
}

function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01; // positive and exactly 16 bytes
  return b;
}

function buildCert(p: {
  issuerName: Buffer;
  subjectName: Buffer;
  notBefore: Date;
  notAfter: Date;
  subjectKey: KeyPair;
  signer: KeyPair;
  extensions: Buffer[];
}): Buffer {
  const sigAlg = seq(oid(OID.ecdsaWithSHA256));
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(randomSerial()),
    sigAlg,
    p.issuerName,
    seq(time(p.notBefore), time(p.notAfter)),
    p.subjectName,
    p.subjectKey.spki,
    tlv(0xa3, seq(...p.extensions)),
  );
  const signature = sign('sha256', tbs, { key: p.signer.privateKey, dsaEncoding: 'der' });
  return seq(tbs, sigAlg, bitString(signature));
}

function makeCA(commonName: string, parent: { key: KeyPair; subject: Buffer; chainPem: string } | null): TestCA {
  const key = newKey();
  const subject = name(commonName);
  const now = Date.now();
  const signer = parent?.key ?? key;
  const der = buildCert({
    issuerName: parent?.subject ?? subject,
    subjectName: subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + (parent ? 5 : 10) * 365 * DAY),
    subjectKey: key,
    signer,
    extensions: [
      // cA TRUE; an intermediate may only issue leaves (pathLen 0).
      extension(OID.basicConstraints, true, parent ? seq(bool(true), integer(Buffer.from([0]))) : seq(bool(true))),
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)), // keyCertSign | cRLSign
      extension(OID.subjectKeyIdentifier, false, octets(key.keyId)),
      extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, signer.keyId))),
    ],
  });
  const certPem = pem('CERTIFICATE', der);
  const chainPem = parent ? certPem + parent.chainPem : '';

  return {
    certPem,
    chainPem,
    async issue(opts: IssueOptions): Promise<IssuedCert> {
      if (opts.names.length === 0) throw new Error('issue: at least one name is required');
      const leafKey = newKey();
      const t = Date.now();
      const leafSubject = name(opts.commonName ?? opts.names[0] ?? 'leaf');
      const leafSigner = opts.selfSigned ? leafKey : key;
      const leaf = buildCert({
        issuerName: opts.selfSigned ? leafSubject : subject,
        subjectName: leafSubject,
        notBefore: opts.notBefore ?? new Date(t - HOUR),
        notAfter: opts.notAfter ?? new Date(t + 90 * DAY),
        subjectKey: leafKey,
        signer: leafSigner,
        extensions: [
          extension(OID.basicConstraints, true, seq()),
          extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
          extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, seq(...opts.names.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))))),
          extension(OID.subjectKeyIdentifier, false, octets(leafKey.keyId)),
          extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, leafSigner.keyId))),
        ],
      });
      const leafPem = pem('CERTIFICATE', leaf);
      const keyPem = leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      return { certPem: leafPem, keyPem, chainPem: opts.selfSigned ? leafPem : leafPem + chainPem };
    },
    async issueIntermediate(o = {}): Promise<TestCA> {
      return makeCA(o.commonName ?? `${commonName} Intermediate`, { key, subject, chainPem });
    },
  };
}

/** Creates a fresh root CA (ECDSA P-256, valid from a day ago for ten years). Trust `ca.certPem` in clients. */
export async function createTestCA(opts: { commonName?: string } = {}): Promise<TestCA> {
  return makeCA(opts.commonName ?? 'mtasts Test World Root CA', null);
}
