/**
 * Readers of mail to import: an mbox file (or a directory of them) and a Maildir++ tree.
 * They run in the worker as the user, so they read only what the user may read. Messages
 * are yielded one at a time; an mbox of any size is streamed, never read whole.
 *
 * mbox: a message starts at a `From ` line at the start of the file or after a blank line
 * that looks like a real From_ line (sender, then an asctime date); the blank line before
 * it belongs to the format, not the message. `>From ` lines are unquoted once (mboxrd).
 * Status / X-Status / X-Keywords become flags and, with X-UID, X-IMAP, X-IMAPbase and
 * Content-Length, are dropped from the message, as Dovecot's mbox reader hides them.
 *
 * Maildir++: `cur/` and `new/` of the root are INBOX, `.A.B/` is `A/B`. Flags come from the
 * `:2,` suffix (D F R S T, a-z via dovecot-keywords); the received date is the file's mtime,
 * which is what Dovecot uses.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { LoftError } from '@loft/errors';

export interface SourceMessage {
  /** The source mailbox, with `/` between levels. */
  mailbox: string;
  raw: Buffer;
  flags: string[];
  received?: Date;
}

const FROM_LINE = /^From \S*\s+(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ([+-]\d{4}|[A-Z]{2,5}))? (\d{4})(?: ([+-]\d{4}))?/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HIDDEN_HEADERS = new Set(['status', 'x-status', 'x-keywords', 'x-uid', 'x-imap', 'x-imapbase', 'content-length']);

function importError(detail: string, cause?: unknown): LoftError {
  return new LoftError('LOFT_E_ADM_IMPORT', detail, cause === undefined ? undefined : { cause });
}

/** The received date a From_ line carries (local time unless it names a numeric zone). */
export function fromLineDate(line: string): Date | undefined {
  const m = FROM_LINE.exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!);
  const [day, hour, minute, second, year] = [m[2], m[3], m[4], m[5] ?? '0', m[7]].map(Number) as [number, number, number, number, number];
  // The numeric zone may stand before the year (asctime with a zone) or after it.
  const zone = [m[6], m[8]].find((z) => z !== undefined && /^[+-]\d{4}$/.test(z));
  if (month < 0) return undefined;
  if (!zone) return new Date(year, month, day, hour, minute, second);
  const offsetMin = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3)));
  return new Date(Date.UTC(year, month, day, hour, minute, second) - offsetMin * 60_000);
}

/** Flags from mbox status headers, and the message without them. */
function mboxMessage(lines: Buffer[], mailbox: string, received: Date | undefined): SourceMessage {
  const flags = new Set<string>();
  const kept: Buffer[] = [];
  let inHeader = true;
  let hiding = false;
  for (const line of lines) {
    if (inHeader) {
      const text = line.toString('latin1');
      if (text === '\n' || text === '\r\n') inHeader = false;
      else if (/^[ \t]/.test(text)) {
        if (hiding) continue;
      } else {
        const colon = text.indexOf(':');
        const name = colon > 0 ? text.slice(0, colon).trim().toLowerCase() : '';
        hiding = HIDDEN_HEADERS.has(name);
        if (hiding) {
          const value = text.slice(colon + 1).trim();
          if (name === 'status' && value.includes('R')) flags.add('\\Seen');
          if (name === 'x-status') {
            if (value.includes('A')) flags.add('\\Answered');
            if (value.includes('F')) flags.add('\\Flagged');
            if (value.includes('T')) flags.add('\\Draft');
            if (value.includes('D')) flags.add('\\Deleted');
          }
          if (name === 'x-keywords') for (const k of value.split(/[\s,]+/)) if (k) flags.add(k);
          continue;
        }
      }
    }
    kept.push(line);
  }
  return { mailbox, raw: Buffer.concat(kept), flags: [...flags], ...(received ? { received } : {}) };
}

/** Lines of a file, each with its line ending, read as a stream. */
async function* fileLines(file: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  const stream = createReadStream(file);
  const chunks = (async function* () {
    try {
      yield* stream;
    } catch (err) {
      throw importError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    }
  })();
  for await (const chunk of chunks) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
      yield data.subarray(start, nl + 1);
      start = nl + 1;
    }
    data = data.subarray(start);
    rest = Buffer.from(data);
  }
  if (rest.length > 0) yield rest;
}

function isBlank(line: Buffer): boolean {
  return line.length === 1 ? line[0] === 10 : line.length === 2 && line[0] === 13 && line[1] === 10;
}

/** The messages of one mbox file. */
export async function* mboxFile(file: string, mailbox: string): AsyncGenerator<SourceMessage> {
  let lines: Buffer[] | undefined;
  let received: Date | undefined;
  let previousBlank = true;
  for await (const line of fileLines(file)) {
    const startsFrom = line.length >= 5 && line.toString('latin1', 0, 5) === 'From ';
    if (startsFrom && previousBlank && FROM_LINE.test(line.toString('latin1'))) {
      if (lines) {
        if (lines.length > 0 && isBlank(lines[lines.length - 1]!)) lines.pop();
        yield mboxMessage(lines, mailbox, received);
      }
      lines = [];
      received = fromLineDate(line.toString('latin1'));
      previousBlank = false;
      continue;
    }
    if (!lines) throw importError(`${file} is not an mbox file: it does not start with a From_ line`);
    previousBlank = isBlank(line);
    // mboxrd: one level of > quoting comes off every >From line.
    lines.push(/^>+From /.test(line.toString('latin1', 0, Math.min(line.length, 64))) ? line.subarray(1) : line);
  }
  if (lines) {
    if (lines.length > 0 && isBlank(lines[lines.length - 1]!)) lines.pop();
    yield mboxMessage(lines, mailbox, received);
  }
}

/** mbox:<file> is INBOX; mbox:<directory> holds one file per mailbox (`inbox` is INBOX). */
export async function* mboxSource(root: string): AsyncGenerator<SourceMessage> {
  const stat = await fsp.stat(root).catch((err: unknown) => {
    throw importError(`cannot read ${root}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
  });
  if (!stat.isDirectory()) {
    yield* mboxFile(root, 'INBOX');
    return;
  }
  const walk = async function* (dir: string, prefix: string): AsyncGenerator<SourceMessage> {
    for (const entry of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) yield* walk(path.join(dir, entry.name), name);
      else if (entry.isFile()) yield* mboxFile(path.join(dir, entry.name), name.toLowerCase() === 'inbox' ? 'INBOX' : name);
    }
  };
  yield* walk(root, '');
}

const MAILDIR_FLAGS: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };

async function maildirKeywords(dir: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  const text = await fsp.readFile(path.join(dir, 'dovecot-keywords'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\S+)$/.exec(line.trim());
    if (m && Number(m[1]) < 26) map.set(String.fromCharCode(97 + Number(m[1])), m[2]!);
  }
  return map;
}

type MaildirEntry = { sub: 'new' | 'cur'; name: string };

/** Files of new/ and cur/ in delivery order (Maildir names start with the delivery time); undefined if neither exists. */
async function maildirListing(dir: string): Promise<MaildirEntry[] | undefined> {
  const names: MaildirEntry[] = [];
  let found = false;
  for (const sub of ['new', 'cur'] as const) {
    const entries = await fsp.readdir(path.join(dir, sub)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw importError(`cannot read ${path.join(dir, sub)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    });
    if (!entries) continue;
    found = true;
    for (const name of entries) if (!name.startsWith('.')) names.push({ sub, name });
  }
  if (!found) return undefined;
  const order = (n: string): number => Number.parseFloat(/^\d+(\.\d+)?/.exec(n)?.[0] ?? 'Infinity');
  return names.sort((a, b) => order(a.name) - order(b.name) || a.name.localeCompare(b.name));
}

/** The messages of one Maildir folder, read one at a time. */
async function* maildirFolder(dir: string, mailbox: string, names: readonly MaildirEntry[]): AsyncGenerator<SourceMessage> {
  const keywords = await maildirKeywords(dir);
  for (const { sub, name } of names) {
    const file = path.join(dir, sub, name);
    const stat = await fsp.lstat(file).catch(() => undefined);
    if (!stat?.isFile()) continue; // gone meanwhile, or not a regular file
    const flags: string[] = [];
    const info = name.lastIndexOf(':2,');
    if (sub === 'cur' && info >= 0) {
      for (const ch of name.slice(info + 3)) {
        const flag = MAILDIR_FLAGS[ch] ?? keywords.get(ch);
        if (flag) flags.push(flag);
      }
    }
    const raw = await fsp.readFile(file).catch((err: unknown) => {
      throw importError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    });
    yield { mailbox, raw, flags, received: stat.mtime };
  }
}

/** maildir:<directory>: the root is INBOX, `.A.B` folders are `A/B`. */
export async function* maildirSource(root: string): AsyncGenerator<SourceMessage> {
  const inbox = await maildirListing(root);
  if (!inbox) throw importError(`${root} is not a Maildir: it has no cur/ or new/`);
  yield* maildirFolder(root, 'INBOX', inbox);
  const entries = await fsp.readdir(root, { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || !entry.name.startsWith('.') || entry.name === '.' || entry.name === '..') continue;
    const name = entry.name.slice(1).split('.').filter(Boolean).join('/');
    if (!name) continue;
    const dir = path.join(root, entry.name);
    const names = await maildirListing(dir);
    if (names) yield* maildirFolder(dir, name, names);
  }
}
