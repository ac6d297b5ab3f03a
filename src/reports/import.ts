/**
 * `mtasts reports import PATH...`: files, directories (recursively), mbox files, Maildir folders and
 * standard input (`-`), each recognised by content, never by name:
 *
 * - gzip (`1f 8b`), zip (`PK\x03\x04`) or JSON (`{`): a report file, through {@link ingestPayload};
 * - `From ` at the start: an mbox file; an RFC 5322 header block: one mail message (`.eml`);
 * - a folder with `cur/`, `new/` and `tmp/`: a Maildir; any other folder is walked.
 *
 * Files are read concurrently, and their reports are group-committed by the store (many per
 * transaction); no item says `imported` before its transaction has committed.
 *
 * @example
 * ```ts
 * const store = await ReportStore.open(databaseSpec());
 * const items = await importReports(store, ['reports/', 'inbox.mbox']);
 * console.log(items.filter((i) => i.status === 'imported').length);
 * ```
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DnsClient } from '../dns/resolver.js';
import { commitPrepared, DEFAULT_LIMITS, isPrepared, prepareIngest, type ImportItem, type IntakeLimits, type PreparedReport } from './ingest.js';
import { sniffContent } from './decode.js';
import { looksLikeMbox, readHead } from './mail/mbox.js';
import type { ReportStore } from './store.js';

export interface ImportReportsOptions {
  /** DNS client for DKIM key lookups of mailed reports (`--dns`). */
  dns?: DnsClient;
  /** Where `-` reads from (default: the process's standard input). */
  readStdin?: () => Promise<Buffer>;
  limits?: IntakeLimits;
  /** Files read and decoded at once (default 32). */
  concurrency?: number;
}

/** The mail intake (mailparser, mailauth, imapflow), loaded when the first message is met. */
const mail = (): Promise<typeof import('./mail/index.js')> => import('./mail/index.js');

/** A folder with `cur/`, `new/` and `tmp/` (the same test as the mail intake's isMaildir, without loading it). */
async function isMaildir(dir: string): Promise<boolean> {
  const subs = await Promise.all(['cur', 'new', 'tmp'].map((d) => stat(path.join(dir, d)).catch(() => null)));
  return subs.every((x) => x?.isDirectory() === true);
}

/** Largest file read whole: a report, or one message holding a base64 report (4/3 larger) and headers. */
const readCapFor = (limits: IntakeLimits): number => Math.max(limits.maxCompressedBytes, Math.ceil(limits.maxCompressedBytes * 1.4) + (1 << 20));

/** Files up to this size are read synchronously. */
const SYNC_READ_MAX = 256 * 1024;
/** Most parsed reports waiting for their commit during a bulk import. */
const MAX_WAITING = 600;
/** During a bulk import, a transaction starts once no report has arrived for this long, ms. */
const BULK_LINGER_MS = 3;

const rejected = (source: string, code: string, message: string): ImportItem => ({ source, status: 'rejected', code, message });

async function readStdinDefault(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}


/** One unit of work: a file, a Maildir, or standard input. */
type Job = { kind: 'file'; path: string } | { kind: 'maildir'; path: string } | { kind: 'stdin' } | { kind: 'item'; item: ImportItem };

/** Expands the paths into jobs, walking folders (sorted, symlinked folders not followed). */
async function plan(paths: string[]): Promise<Job[]> {
  const jobs: Job[] = [];
  const walk = async (dir: string, top: boolean): Promise<void> => {
    if (await isMaildir(dir)) {
      jobs.push({ kind: 'maildir', path: dir });
      return;
    }
    const before = jobs.length;
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p, false);
      else if (e.isFile()) jobs.push({ kind: 'file', path: p });
      else if (e.isSymbolicLink()) {
        const s = await stat(p).catch(() => null);
        if (s?.isFile()) jobs.push({ kind: 'file', path: p });
      }
    }
    if (top && jobs.length === before) jobs.push({ kind: 'item', item: rejected(dir, 'report-source-empty', `the folder ${dir} holds no files`) });
  };
  for (const p of paths) {
    if (p === '-') {
      jobs.push({ kind: 'stdin' });
      continue;
    }
    const s = await stat(p).catch((err: NodeJS.ErrnoException) => err);
    if (s instanceof Error) {
      jobs.push({ kind: 'item', item: rejected(p, 'report-source-unreadable', `${p} cannot be read (${s.code ?? s.message})`) });
    } else if (s.isDirectory()) {
      await walk(p, true).catch((err: NodeJS.ErrnoException) => {
        jobs.push({ kind: 'item', item: rejected(p, 'report-source-unreadable', `${p} cannot be read (${err.code ?? err.message})`) });
      });
    } else {
      jobs.push({ kind: 'file', path: p });
    }
  }
  return jobs;
}

/** What a file gave: items already final (mail, rejects), or reports parsed and waiting for a commit. */
type Staged = ImportItem[] | (ImportItem | PreparedReport)[];

/** Imports the bytes of one file or of standard input, by what they contain. */
async function importBytes(store: ReportStore, bytes: Buffer, source: string, opts: ImportReportsOptions, limits: IntakeLimits): Promise<Staged> {
  const head = bytes.subarray(0, 8192);
  const kind = sniffContent(head);
  if (kind === 'unknown') {
    const mailOpts = { ...(opts.dns ? { dns: opts.dns } : {}), limits };
    if (looksLikeMbox(head)) {
      // The mbox reader works on files: standard input goes through a private temporary file.
      const dir = await mkdtemp(path.join(tmpdir(), 'mtasts-mbox-'));
      try {
        const file = path.join(dir, 'stdin.mbox');
        await writeFile(file, bytes, { mode: 0o600 });
        const items = await (await mail()).importMbox(store, file, mailOpts);
        return items.map((i) => ({ ...i, source: i.source.replace(`mbox:${file}`, `mbox:${source}`) }));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const m = await mail();
    if (m.looksLikeMessage(head)) return m.importMessage(store, bytes, source, mailOpts);
  }
  return prepareIngest({ bytes, source, transport: 'file', receivedAt: new Date() }, limits);
}

/**
 * Reads a file of at most {@link SYNC_READ_MAX} bytes synchronously (open, fstat, read, close: one
 * path lookup), or gives its size when it is larger.
 */
function readSmallFile(file: string): Buffer | number {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > SYNC_READ_MAX) return size;
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

async function importFile(store: ReportStore, file: string, opts: ImportReportsOptions, limits: IntakeLimits): Promise<Staged> {
  const mailOpts = { ...(opts.dns ? { dns: opts.dns } : {}), limits };
  let size: number;
  try {
    // Small files are read on this thread: a thread-pool round trip per open/stat/read/close costs
    // more than the read itself when thousands of report files are imported.
    const small = readSmallFile(file);
    if (typeof small !== 'number') return await importBytes(store, small, file, opts, limits);
    size = small;
    const readCap = readCapFor(limits);
    if (size <= readCap) return await importBytes(store, await readFile(file), file, opts, limits);
    // Too big to be one report or message: only an mbox (streamed message by message) is read.
    if (looksLikeMbox(await readHead(file))) return await (await mail()).importMbox(store, file, mailOpts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) && e.syscall !== undefined) {
      return [rejected(file, 'report-source-unreadable', `${file} cannot be read (${e.code})`)];
    }
    throw err;
  }
  return [rejected(file, 'report-too-large', `the file is ${size} bytes, over the limit of ${limits.maxCompressedBytes} for a report`)];
}

/**
 * Imports every report found under `paths`. Items come back in the order of the paths (folders
 * in name order): one per report found, or one per source that held none.
 */
export async function importReports(store: ReportStore, paths: string[], opts: ImportReportsOptions = {}): Promise<ImportItem[]> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const jobs = await plan(paths);
  const results: (ImportItem[] | Promise<ImportItem[]>)[] = new Array(jobs.length);
  // Parsed reports wait for their group commit while the workers read on; this caps how many wait.
  let waiting = 0;
  const wakeups: (() => void)[] = [];
  const commit = (staged: Staged): ImportItem[] | Promise<ImportItem[]> => {
    if (!staged.some((x) => 'input' in x)) return staged as ImportItem[];
    const p = Promise.all(staged.map((x) => (isPrepared(x) ? commitPrepared(store, x) : x)));
    waiting++;
    const settled = (): void => {
      waiting--;
      wakeups.shift()?.();
    };
    p.then(settled, settled);
    return p;
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i]!;
      switch (job.kind) {
        case 'item':
          results[i] = [job.item];
          break;
        case 'stdin': {
          const bytes = await (opts.readStdin ?? readStdinDefault)();
          results[i] = bytes.length === 0
            ? [rejected('-', 'report-source-empty', 'standard input is empty')]
            : commit(await importBytes(store, bytes, '-', opts, limits));
          break;
        }
        case 'maildir': {
          const got = await (await mail()).importMaildir(store, job.path, { ...(opts.dns ? { dns: opts.dns } : {}), limits });
          results[i] = got.length > 0 ? got : [rejected(job.path, 'report-source-empty', `the Maildir ${job.path} holds no unprocessed messages`)];
          break;
        }
        case 'file':
          results[i] = commit(await importFile(store, job.path, opts, limits));
          break;
      }
      while (waiting >= MAX_WAITING) await new Promise<void>((r) => wakeups.push(r));
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 32, jobs.length));
  const linger = store.lingerMs;
  // A bulk import lets hundreds of reports share a commit (each still counted only once committed):
  // a transaction starts when reports stop arriving for a moment, or when 500 are waiting.
  if (jobs.length > 1) store.lingerMs = Math.max(linger, BULK_LINGER_MS);
  try {
    await Promise.all(Array.from({ length: n }, worker));
    return (await Promise.all(results)).flat();
  } finally {
    store.lingerMs = linger;
  }
}
