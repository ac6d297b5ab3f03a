/**
 * Importing reports from a Maildir folder (the layout of Dovecot, Postfix `home_mailbox = Maildir/`
 * and others: `tmp/`, `new/`, `cur/`; see https://cr.yp.to/proto/maildir.html).
 *
 * - Messages in `new/`, and messages in `cur/` without the seen flag `S`, are imported.
 *   Messages in `cur/` flagged `S` (processed by us, or read by someone) are skipped, like the
 *   unseen-only IMAP poll; `includeSeen` imports them too (dedupe makes that harmless).
 * - A message is marked processed only after its reports are committed: moved from `new/NAME` to
 *   `cur/NAME:2,S`, or, in `cur/`, renamed with `S` added to its flags. Nothing is ever deleted.
 * - A message that holds no report, or whose report is rejected, is left as it is (unseen), so that
 *   it stays visible and is reported again on the next run; a storage failure marks nothing and
 *   is thrown.
 * - Files in `tmp/` are being delivered and are never touched.
 */
import { readdir, rename, stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_LIMITS, type ImportItem } from '../ingest.js';
import type { ReportStore } from '../store.js';
import { importMessage, maxMessageBytesFor, rejectedItem, type MailImportOptions } from './import-message.js';

/** True when `dir` has the three Maildir subfolders `cur`, `new` and `tmp`. */
export async function isMaildir(dir: string): Promise<boolean> {
  try {
    const subs = await Promise.all(['cur', 'new', 'tmp'].map((s) => stat(path.join(dir, s))));
    return subs.every((s) => s.isDirectory());
  } catch {
    return false;
  }
}

/** The flags of a Maildir file name (`NAME:2,FLAGS`), or '' when it has no info part. */
function flagsOf(name: string): string {
  const i = name.lastIndexOf(':2,');
  return i < 0 ? '' : name.slice(i + 3);
}

/** The file name with the seen flag added (flags kept in ASCII order, as the spec asks). */
export function withSeenFlag(name: string): string {
  const i = name.lastIndexOf(':2,');
  const base = i < 0 ? name.replace(/:.*$/, '') : name.slice(0, i);
  const flags = new Set([...flagsOf(name)]);
  flags.add('S');
  return `${base}:2,${[...flags].sort().join('')}`;
}

/** Did every report of a message end up stored (imported now or before)? */
function allStored(items: ImportItem[]): boolean {
  return items.length > 0 && items.every((i) => i.status === 'imported' || i.status === 'duplicate');
}

export async function importMaildir(store: ReportStore, dir: string, opts: MailImportOptions = {}): Promise<ImportItem[]> {
  const maxBytes = opts.maxMessageBytes ?? maxMessageBytesFor(opts.limits ?? DEFAULT_LIMITS);
  const items: ImportItem[] = [];
  for (const sub of ['new', 'cur'] as const) {
    const folder = path.join(dir, sub);
    const names = (await readdir(folder, { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    for (const name of names) {
      if (sub === 'cur' && !opts.includeSeen && flagsOf(name).includes('S')) continue;
      const target = withSeenFlag(name);
      const file = path.join(folder, name);
      // The source is where the message lives once processed.
      const source = `maildir:${path.join(dir, 'cur', target)}`;
      let raw: Buffer;
      let mtime: Date;
      try {
        const st = await stat(file);
        if (st.size > maxBytes) {
          items.push(rejectedItem(source, 'mail-too-large', `the message is ${st.size} bytes, more than the limit of ${maxBytes}`));
          continue;
        }
        raw = await readFile(file);
        mtime = st.mtime;
      } catch (err) {
        // Moved or removed by another reader since the listing: not ours to process any more.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const got = await importMessage(store, raw, source, { ...opts, receivedAt: opts.receivedAt ?? mtime });
      items.push(...got);
      if (!allStored(got)) continue;
      if (sub === 'cur' && name === target) continue;
      try {
        await rename(file, path.join(dir, 'cur', target));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  return items;
}
