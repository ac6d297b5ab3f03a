/**
 * Decoding of report payloads, recognised by content (never by file name or media type): gzip
 * (RFC 8460 §5.3 `application/tlsrpt+gzip`), zip (some senders zip their reports) or plain JSON.
 *
 * Decompression is streamed and bounded: output beyond `maxJsonBytes` stops the inflater at once,
 * so a gzip bomb costs at most that much memory and the CPU to inflate that much.
 */
import { gunzip as gunzipCb, gunzipSync } from 'node:zlib';
import yauzl from 'yauzl';

export type ContentKind = 'gzip' | 'zip' | 'json' | 'unknown';

/** A failure to take in a payload: a `report-*` reject code and the HTTP status a receiver answers. */
export class IntakeError extends Error {
  override readonly name = 'IntakeError';
  readonly httpStatus: 400 | 413 | 415;
  constructor(readonly code: string, message: string, httpStatus?: 400 | 413 | 415) {
    super(message);
    this.httpStatus = httpStatus ?? (/too-large|too-many/.test(code) ? 413 : 400);
  }
}

/** What the first bytes say the payload is. */
export function sniffContent(head: Buffer): ContentKind {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  // PK\x03\x04: a local file header; PK\x05\x06: an empty archive.
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'zip';
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++;
  if (i < head.length && (head[i] === 0x7b || head[i] === 0x5b)) return 'json';
  return 'unknown';
}

export interface DecodeLimits {
  maxJsonBytes: number;
}

/** One report's JSON text found in a payload, with the gzip bytes when it came as gzip. */
export interface DecodedReport {
  json: Buffer;
  /** The payload itself when it was gzip of exactly this JSON (kept as the raw copy, no recompression). */
  gzip?: Buffer;
  /** The zip entry it came from. */
  entry?: string;
}

const tooLarge = (what: string, limit: number): IntakeError =>
  new IntakeError('report-too-large', `${what} decompresses to more than ${limit} bytes; refused (a report this big is not expected)`, 413);

/**
 * Below this compressed size, gunzip runs on the calling thread: a thread-pool round trip costs
 * more than inflating a few kilobytes, and the output cap bounds the work (at most `limit` bytes).
 */
export const SYNC_GUNZIP_MAX = 64 * 1024;

/**
 * {@link gunzipBounded} on the calling thread, for inputs of at most {@link SYNC_GUNZIP_MAX} bytes;
 * throws {@link IntakeError}.
 */
export function gunzipSmall(data: Buffer, limit: number): Buffer {
  try {
    // The output buffer is sized to the input (reports compress ~5-20x); a larger one costs
    // allocation and garbage collection on every one of thousands of small reports.
    const chunkSize = Math.min(64 * 1024, Math.max(4096, 2 ** Math.ceil(Math.log2(data.length * 8))));
    return gunzipSync(data, { maxOutputLength: limit, chunkSize });
  } catch (err) {
    throw gunzipError(err as Error, limit);
  }
}

/** Gunzips with a hard output cap; the inflater stops as soon as the cap is passed. */
export function gunzipBounded(data: Buffer, limit: number): Promise<Buffer> {
  if (data.length <= SYNC_GUNZIP_MAX) {
    try {
      return Promise.resolve(gunzipSmall(data, limit));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    gunzipCb(data, { maxOutputLength: limit, chunkSize: 64 * 1024 }, (err, out) => {
      if (err === null) resolve(out);
      else reject(gunzipError(err, limit));
    });
  });
}

function gunzipError(err: Error, limit: number): IntakeError {
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) return tooLarge('the gzip data', limit);
  return new IntakeError('report-gzip-invalid', `the gzip data cannot be read (${err.message})`);
}

/** Reads a stream into memory, aborting as soon as more than `limit` bytes arrive. */
function readBounded(stream: NodeJS.ReadableStream & { destroy(): void }, limit: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        stream.destroy();
        reject(tooLarge(what, limit));
        return;
      }
      chunks.push(c);
    });
    stream.on('error', (err: Error) => reject(err instanceof IntakeError ? err : new IntakeError('report-zip-invalid', `${what} cannot be read (${err.message})`)));
    stream.on('end', () => resolve(Buffer.concat(chunks, size)));
  });
}

/** Most entries read from a zip archive. */
const MAX_ZIP_ENTRIES = 64;

async function unzipBounded(data: Buffer, limits: DecodeLimits): Promise<DecodedReport[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, z) =>
      err ? reject(new IntakeError('report-zip-invalid', `the zip archive cannot be read (${err.message})`)) : resolve(z!)));
  const found: DecodedReport[] = [];
  let total = 0;
  let entries = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (err: Error) => reject(new IntakeError('report-zip-invalid', `the zip archive cannot be read (${err.message})`)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        void (async () => {
          if (++entries > MAX_ZIP_ENTRIES) throw new IntakeError('report-zip-invalid', `the zip archive has more than ${MAX_ZIP_ENTRIES} entries`);
          if (entry.fileName.endsWith('/')) return;
          if (entry.isEncrypted()) throw new IntakeError('report-zip-invalid', `the zip entry ${entry.fileName} is encrypted`);
          const room = limits.maxJsonBytes - total;
          // The declared size is checked first; the stream is capped too, in case it lies.
          if (entry.uncompressedSize > room) throw tooLarge(`the zip entry ${entry.fileName}`, limits.maxJsonBytes);
          const stream = await new Promise<NodeJS.ReadableStream & { destroy(): void }>((res, rej) =>
            zip.openReadStream(entry, (err, s) => (err ? rej(new IntakeError('report-zip-invalid', `the zip entry ${entry.fileName} cannot be read (${err.message})`)) : res(s!))));
          let bytes = await readBounded(stream, room, `the zip entry ${entry.fileName}`);
          const kind = sniffContent(bytes.subarray(0, 64));
          if (kind === 'gzip') bytes = await gunzipBounded(bytes, room);
          else if (kind !== 'json') return; // a README or signature beside the report
          total += bytes.length;
          found.push({ json: bytes, entry: entry.fileName });
        })().then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  if (found.length === 0) throw new IntakeError('report-zip-invalid', 'the zip archive holds no JSON or gzip report');
  return found;
}

/**
 * Decodes a payload into the report JSON text(s) it holds: one for JSON and gzip, one per report
 * entry for zip. Throws {@link IntakeError} for anything else or anything over the limits.
 */
export async function decodePayload(bytes: Buffer, limits: DecodeLimits): Promise<DecodedReport[]> {
  const kind = sniffContent(bytes.subarray(0, 64));
  switch (kind) {
    case 'gzip': {
      const json = await gunzipBounded(bytes, limits.maxJsonBytes);
      // Some gateways compress twice: one more layer is taken off (then the raw copy is recompressed).
      if (sniffContent(json.subarray(0, 64)) === 'gzip') return [{ json: await gunzipBounded(json, limits.maxJsonBytes) }];
      return [{ json, gzip: bytes }];
    }
    case 'zip':
      return unzipBounded(bytes, limits);
    case 'json':
      if (bytes.length > limits.maxJsonBytes) throw new IntakeError('report-too-large', `the JSON is ${bytes.length} bytes, over the limit of ${limits.maxJsonBytes}`, 413);
      return [{ json: bytes }];
    default:
      throw new IntakeError('report-format-unknown', bytes.length === 0
        ? 'the input is empty'
        : 'the input is neither JSON, gzip nor zip (recognised by content); give a TLS-RPT report as .json, .json.gz or .zip');
  }
}

