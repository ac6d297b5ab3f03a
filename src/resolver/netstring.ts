/**
 * Netstrings (D. J. Bernstein), the framing of Postfix's socketmap protocol: `<length>:<bytes>,`
 * with the length in decimal. Requests are bounded in size; anything malformed is an error that
 * ends the connection.
 */
export class NetstringError extends Error {
  override readonly name = 'NetstringError';
}

export function encodeNetstring(payload: string | Buffer): Buffer {
  if (typeof payload === 'string') {
    // One allocation: the framing is ASCII, so the whole netstring can be built as one string.
    return Buffer.from(netstringText(payload), 'utf8');
  }
  return Buffer.concat([Buffer.from(`${payload.length}:`, 'ascii'), payload, Buffer.from(',', 'ascii')]);
}

/** The netstring of `payload` as a string (to be written as UTF-8); the length counts UTF-8 bytes. */
export function netstringText(payload: string): string {
  return `${Buffer.byteLength(payload, 'utf8')}:${payload},`;
}

const EMPTY = Buffer.alloc(0);

/** Incremental decoder: feed bytes, get whole payloads. */
export class NetstringDecoder {
  private buf: Buffer = EMPTY;

  constructor(private readonly maxLength = 4096) {}

  /** Returns the payloads completed by `chunk`; throws NetstringError on malformed input. */
  push(chunk: Buffer): Buffer[] {
    // Usually a chunk holds whole netstrings and nothing is left over: no copy then.
    let buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      // The decimal length: 1 to 10 digits, then ":".
      let len = 0;
      let i = 0;
      for (; i < buf.length; i++) {
        const c = buf[i]!;
        if (c === 0x3a) break;
        if (c < 0x30 || c > 0x39 || i >= 10) throw new NetstringError('malformed netstring length');
        len = len * 10 + (c - 0x30);
      }
      if (i === buf.length) {
        // No ":" yet: only digits so far (checked above); wait for more.
        this.buf = buf;
        return out;
      }
      if (i === 0) throw new NetstringError('malformed netstring length');
      if (len > this.maxLength) throw new NetstringError(`netstring of ${len} bytes exceeds the limit of ${this.maxLength}`);
      const end = i + 1 + len;
      if (buf.length < end + 1) {
        this.buf = buf;
        return out;
      }
      if (buf[end] !== 0x2c) throw new NetstringError('netstring not terminated by ","');
      out.push(buf.subarray(i + 1, end));
      buf = buf.subarray(end + 1);
    }
  }
}
