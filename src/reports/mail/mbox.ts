/**
 * Reading an mbox file (RFC 4155, `application/mbox`) one message at a time.
 *
 * Messages start at a "From " separator line (the "postmark"), which is not part of the message.
 * A "From " line counts as a separator at the start of the file, after an empty line, or when it
 * has the postmark's shape ("From SENDER DAY MON ..."), so that an unescaped "From " inside a body
 * (mboxo writers) does not split a message. Body lines escaped as ">From " (and ">>From " ...,
 * mboxrd) lose one ">". The empty line that ends each message is dropped.
 *
 * The file is streamed: memory is bounded by the largest message kept, and a message larger than
 * `maxMessageBytes` is skipped (reported with its size) without being held in memory.
 *
 * @example
 * ```ts
 * for await (const m of readMbox('/var/mail/tlsrpt', { maxMessageBytes: 8 << 20 })) {
 *   if (m.raw) console.log(m.index, m.raw.length); else console.log(m.index, 'too large:', m.size);
 * }
 * ```
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

export interface MboxMessage {
  /** 1-based position of the message in the file. */
  index: number;
  /** The message, or undefined when it was larger than the limit. */
  raw?: Buffer;
  /** Size in bytes of the message as stored (before unescaping). */
  size: number;
}

const FROM = Buffer.from('From ');
/** "From SENDER Www Mmm dd ...": the postmark line's shape (RFC 4155 §2 via ctime(3)). */
const POSTMARK = /^From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d/;

/** True when the bytes start with "From " (an mbox file's first line). */
export function looksLikeMbox(head: Buffer): boolean {
  return head.length >= 5 && head.subarray(0, 5).equals(FROM);
}

function startsWithFrom(line: Buffer): boolean {
  return line.length >= 5 && line[0] === 0x46 && line.subarray(0, 5).equals(FROM);
}

/** ">From ", ">>From ", ...: a quoted "From " line (mboxrd). */
function isQuotedFrom(line: Buffer): boolean {
  let i = 0;
  while (i < line.length && line[i] === 0x3e) i++;
  return i > 0 && line.length - i >= 5 && line.subarray(i, i + 5).equals(FROM);
}

function isBlank(line: Buffer): boolean {
  return line.length === 0 || (line.length === 1 && line[0] === 0x0a) || (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);
}

/** Streams the messages of an mbox file. */
export async function* readMbox(file: string, opts: { maxMessageBytes: number; highWaterMark?: number }): AsyncGenerator<MboxMessage> {
  const max = opts.maxMessageBytes;
  let index = 0;
  let started = false; // a message is open
  let parts: Buffer[] = [];
  let kept = 0; // bytes held in parts
  let size = 0; // bytes of the message as stored
  let tooLarge = false;
  let lastBlankLen = -1; // length of the message's last line when it was blank, else -1
  let prevBlank = true; // the start of the file counts as after an empty line
  // The current incomplete line: its pieces, total length, and its first bytes (enough to classify it).
  let lineParts: Buffer[] = [];
  let lineLen = 0;
  let lineOverflow = false; // the current line alone is over the limit; only its head is held
  let lineTotal = 0; // the current incomplete line's real length

  const finish = (): MboxMessage | null => {
    if (!started) return null;
    started = false;
    const m: MboxMessage = { index, size };
    if (!tooLarge) {
      let raw = Buffer.concat(parts, kept);
      if (lastBlankLen >= 0) raw = raw.subarray(0, raw.length - lastBlankLen);
      m.raw = raw;
    }
    parts = [];
    kept = 0;
    size = 0;
    tooLarge = false;
    lastBlankLen = -1;
    return m;
  };

  const onLine = (line: Buffer, overflow = false, total = line.length): MboxMessage | null => {
    let out: MboxMessage | null = null;
    const head = line.subarray(0, Math.min(line.length, 256));
    if (startsWithFrom(head) && (prevBlank || !started || POSTMARK.test(head.toString('latin1')))) {
      out = finish();
      started = true;
      index++;
      prevBlank = false;
      return out;
    }
    const blank = isBlank(line);
    if (!started) {
      // Text before the first separator: not an mbox message unless it holds something.
      if (blank) return null;
      started = true;
      index++;
    }
    size += total;
    if (overflow && !tooLarge) {
      tooLarge = true;
      parts = [];
      kept = 0;
    }
    if (!tooLarge) {
      const piece = isQuotedFrom(head) ? line.subarray(1) : line;
      if (kept + piece.length > max) {
        tooLarge = true;
        parts = [];
        kept = 0;
      } else {
        parts.push(piece);
        kept += piece.length;
      }
    }
    lastBlankLen = blank ? line.length : -1;
    prevBlank = blank;
    return out;
  };

  const stream = createReadStream(file, { highWaterMark: opts.highWaterMark ?? 64 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const ready: MboxMessage[] = [];
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        let line: Buffer;
        if (lineParts.length > 0) {
          lineParts.push(chunk.subarray(start, nl + 1));
          line = Buffer.concat(lineParts, lineLen + nl + 1 - start);
        } else {
          line = chunk.subarray(start, nl + 1);
        }
        const m = onLine(line, lineOverflow, lineTotal + nl + 1 - start);
        lineParts = [];
        lineLen = 0;
        lineTotal = 0;
        lineOverflow = false;
        if (m) ready.push(m);
        start = nl + 1;
      }
      if (start < chunk.length) {
        // An incomplete line: hold it, unless it alone is already over the limit (then only its head
        // is kept, to classify it, and the message it belongs to is marked too large).
        const rest = chunk.subarray(start);
        if (lineOverflow || lineLen + rest.length > max + 2) {
          if (lineLen < 256) {
            const head = Buffer.from(rest.subarray(0, 256 - lineLen));
            lineParts.push(head);
            lineLen += head.length;
          }
          lineOverflow = true;
        } else {
          lineParts.push(Buffer.from(rest));
          lineLen += rest.length;
        }
        lineTotal += rest.length;
      }
      for (const m of ready) yield m;
    }
    if (lineLen > 0) {
      const m = onLine(Buffer.concat(lineParts, lineLen), lineOverflow, lineTotal);
      if (m) yield m;
    }
    const last = finish();
    if (last) yield last;
  } finally {
    stream.destroy();
  }
}

/** Reads the first bytes of a file (for sniffing its kind). */
export async function readHead(file: string, bytes = 4096): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
