/**
 * Netstrings (D. J. Bernstein), the framing of Postfix's socketmap protocol: `<length>:<bytes>,`
 * with the length in decimal. Requests are bounded in size; anything malformed is an error that
 * ends the connection.
 */
export class NetstringError extends Error {
  override readonly name = 'NetstringError';
}

export function encodeNetstring(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from(`${body.length}:`, 'ascii'), body, Buffer.from(',', 'ascii')]);
}

/** Incremental decoder: feed bytes, get whole payloads. */
export class NetstringDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLength = 4096) {}

  /** Returns the payloads completed by `chunk`; throws NetstringError on malformed input. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) {
        if (this.buf.length > 10 || !/^\d*$/.test(this.buf.toString('latin1'))) throw new NetstringError('malformed netstring length');
        return out;
      }
      const lenText = this.buf.subarray(0, colon).toString('latin1');
      if (!/^\d{1,10}$/.test(lenText)) throw new NetstringError('malformed netstring length');
      const len = Number(lenText);
      if (len > this.maxLength) throw new NetstringError(`netstring of ${len} bytes exceeds the limit of ${this.maxLength}`);
      if (this.buf.length < colon + 1 + len + 1) return out;
      if (this.buf[colon + 1 + len] !== 0x2c) throw new NetstringError('netstring not terminated by ","');
      out.push(this.buf.subarray(colon + 1, colon + 1 + len));
      this.buf = this.buf.subarray(colon + 2 + len);
    }
  }
}
