/**
 * The files of one mailbox directory and how they are read into a MailboxState:
 *   loft.mailbox      metadata (framed JSON: guid, uidValidity, name as of the last rename)
 *   loft.index        checkpoint (mail-index.ts)
 *   loft.index.log    transaction log (transaction-log.ts)
 *   loft.index.cache  parsed fields (mail-cache.ts)
 *   loft.lock         the mailbox lock (mailbox-lock.ts)
 *   tmp/              messages being saved
 *   u.<uid>           messages (dbox-file.ts), possibly under hashed directories
 */
import { constants, fstatSync, promises as fsp, readSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { LoftError } from '@loft/errors';
import { decodeIndex, MessageTable, type IndexHeader } from './mail-index.js';
import { MailboxState } from './mailbox-state.js';
import { ensureRealDir, fsyncDir, ioError, isErrno, readFileNoFollow, SyncFile, tempName, writeNewFile } from './safe-fs.js';
import { linkIo, mkdirIo, removeIo, renameIo } from './io-mode.js';
import { readFramedJson, writeFramedJson } from './framed-json.js';
import { LOG_HEADER_BYTES, decodeLogHeader, encodeLogHeader, scanLog, type LogHeader, type LogScan } from './transaction-log.js';
import type { StorageLogger } from './storage-logger.js';
import { LOCK_NAME } from './mailbox-lock.js';

export const META_MAGIC = 0x424d4c46; // "FLMB"
export const META_VERSION = 1;

export interface MailboxPaths {
  dir: string;
  meta: string;
  index: string;
  log: string;
  cache: string;
  tmp: string;
  /** The mailbox lock (MailboxLock): every view of the mailbox takes this one string. */
  lock: string;
}

export function mailboxPaths(dir: string): MailboxPaths {
  return {
    dir,
    lock: join(dir, LOCK_NAME),
    meta: join(dir, 'loft.mailbox'),
    index: join(dir, 'loft.index'),
    log: join(dir, 'loft.index.log'),
    cache: join(dir, 'loft.index.cache'),
    tmp: join(dir, 'tmp'),
  };
}

export interface MailboxMeta {
  guid: string;
  uidValidity: number;
  name: string;
  createdMs: number;
}

/** A UIDVALIDITY for a new mailbox: seconds since the epoch, as Dovecot does. */
export function newUidValidity(): number {
  return Math.max(1, Math.floor(Date.now() / 1000)) >>> 0;
}

export function newLogId(): number {
  return randomInt(1, 0xffffffff);
}

export async function readMeta(paths: MailboxPaths): Promise<MailboxMeta | undefined> {
  const read = await readFramedJson(paths.meta, META_MAGIC, META_VERSION);
  if (read.state !== 'ok') return undefined;
  const value = read.value as Partial<MailboxMeta>;
  if (typeof value.guid !== 'string' || typeof value.uidValidity !== 'number' || typeof value.name !== 'string') return undefined;
  return { guid: value.guid, uidValidity: value.uidValidity, name: value.name, createdMs: value.createdMs ?? 0 };
}

export async function writeMeta(paths: MailboxPaths, meta: MailboxMeta, fsync: boolean): Promise<void> {
  await writeFramedJson(paths.meta, META_MAGIC, META_VERSION, meta, fsync);
}

/** Creates the log if there is none; never replaces one (link() fails on an existing name). */
export async function createLogExclusive(path: string, header: LogHeader, fsync: boolean): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeNewFile(tmp, encodeLogHeader(header), fsync);
    try {
      await linkIo(tmp, path);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw ioError('link', path, err);
    }
  } finally {
    await removeIo(tmp);
  }
}

/** Prefix of a mailbox directory being made (see initMailboxDir); never a GUID. */
export const STAGING_PREFIX = '.new.';

/**
 * Creates the directory and files of a new, empty mailbox, all at once: they are made in a
 * staging directory beside it (`.new.<guid>.<pid>.<random>`) which is then renamed to its
 * GUID. Whoever looks at the mailbox directories (another process rebuilding a list it
 * has not yet found written) sees the whole mailbox or nothing, never a directory without
 * its loft.mailbox or its transaction log.
 */
export async function initMailboxDir(paths: MailboxPaths, meta: MailboxMeta, fsync: boolean): Promise<void> {
  const parent = dirname(paths.dir);
  const staging = mailboxPaths(join(parent, `${STAGING_PREFIX}${basename(paths.dir)}.${process.pid}.${randomBytes(4).toString('hex')}`));
  try {
    await mkdirIo(staging.dir, 0o700);
  } catch (err) {
    throw ioError('mkdir', staging.dir, err);
  }
  try {
    await ensureRealDir(staging.tmp);
    await writeMeta(staging, meta, fsync);
    await createLogExclusive(staging.log, { logId: newLogId(), uidValidity: meta.uidValidity, baseModseq: 0 }, fsync);
    if (fsync) await fsyncDir(staging.dir);
    try {
      // A fresh GUID names nothing yet; should it, rename fails rather than merge into it.
      await renameIo(staging.dir, paths.dir);
    } catch (err) {
      throw ioError('rename', paths.dir, err);
    }
  } catch (err) {
    await removeIo(staging.dir, true);
    throw err;
  }
  if (fsync) await fsyncDir(parent);
}

/** Staging directories older than this were left by a process that died making a mailbox. */
const STAGING_STALE_MS = 60 * 60 * 1000;

/** Removes what a process that died in initMailboxDir left in `mailboxesDir`. */
export async function removeStaleStaging(mailboxesDir: string, names: readonly string[], logger: StorageLogger): Promise<void> {
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const path = join(mailboxesDir, name);
    const stat = await fsp.lstat(path).catch(() => undefined);
    if (!stat?.isDirectory() || now - stat.mtimeMs < STAGING_STALE_MS) continue;
    await fsp.rm(path, { recursive: true, force: true }).catch(() => undefined);
    logger.info({ path }, 'removed the directory of a mailbox creation that did not finish');
  }
}

export type DiskState =
  | {
      kind: 'ok';
      state: MailboxState;
      log: SyncFile;
      logHeader: LogHeader;
      logIno: number;
      /** Where the next log read starts. */
      offset: number;
      /** Offset and size of the checkpoint this state started from. */
      indexOffset: number;
      indexBytes: number;
    }
  | { kind: 'rebuild'; reason: string }
  | { kind: 'mismatch'; reason: string };

/**
 * Reads bytes [from, end of file) of an open file. Synchronous: the log tail is small (a
 * checkpoint is written every 64 KiB of it), and direct reads beat thread-pool round trips.
 */
export function readTailSync(fd: number, from: number, knownSize?: number): Buffer {
  const size = knownSize ?? fstatSync(fd).size;
  if (size <= from) return Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(size - from);
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, from + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

function emptyHeader(log: LogHeader): IndexHeader {
  return { uidValidity: log.uidValidity, uidNext: 1, firstRecentUid: 1, highestModseq: log.baseModseq, keywords: [], logId: log.logId, logOffset: LOG_HEADER_BYTES };
}

/**
 * The mailbox state: checkpoint plus log tail. Anything that does not add up asks for a
 * rebuild from the message files rather than being trusted.
 */
export async function readDiskState(paths: MailboxPaths, deferExpunges: boolean): Promise<DiskState> {
  let log: SyncFile;
  try {
    log = SyncFile.openNoFollow(paths.log, constants.O_RDONLY);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { kind: 'rebuild', reason: 'transaction log is missing' };
    throw ioError('open', paths.log, err);
  }
  try {
    const stat = fstatSync(log.fd);
    if (!stat.isFile()) throw new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${paths.log} is not a regular file`);
    const headBuf = Buffer.alloc(LOG_HEADER_BYTES);
    const bytesRead = readSync(log.fd, headBuf, 0, LOG_HEADER_BYTES, 0);
    const logHeader = decodeLogHeader(headBuf.subarray(0, bytesRead));
    if (typeof logHeader === 'string') return close(log, { kind: 'rebuild', reason: logHeader });

    const indexBuf = await readFileNoFollow(paths.index);
    const decoded = indexBuf ? decodeIndex(indexBuf) : 'index is missing';
    let header: IndexHeader;
    let table: MessageTable;
    let indexBytes = 0;
    if (typeof decoded !== 'string' && decoded.header.logId === logHeader.logId && decoded.header.logOffset >= LOG_HEADER_BYTES && decoded.header.logOffset <= stat.size) {
      ({ header, table } = decoded);
      indexBytes = indexBuf!.length;
    } else if (typeof decoded !== 'string' && decoded.header.logId !== logHeader.logId) {
      return close(log, { kind: 'mismatch', reason: 'index and log belong to different generations' });
    } else if (logHeader.baseModseq === 0) {
      // The log starts from an empty mailbox, so replaying all of it gives the state.
      header = emptyHeader(logHeader);
      table = new MessageTable();
      if (indexBuf) return close(log, { kind: 'rebuild', reason: typeof decoded === 'string' ? decoded : 'index offset is beyond the log' });
    } else {
      return close(log, { kind: 'rebuild', reason: typeof decoded === 'string' ? decoded : 'index offset is beyond the log' });
    }
    const state = new MailboxState(header, table, deferExpunges);
    const scan = scanLog(readTailSync(log.fd, header.logOffset), header.logOffset);
    // A closed log whose successor is not in place: a rotation is running or died midway.
    if (scan.rotated) return close(log, { kind: 'rebuild', reason: 'transaction log was closed by a rotation that did not finish' });
    const problem = replay(state, scan);
    if (problem) return close(log, { kind: 'rebuild', reason: problem });
    // Nothing of this state has been announced to anyone yet, so expunges need no deferring.
    state.dropExpunged();
    return { kind: 'ok', state, log, logHeader, logIno: stat.ino, offset: scan.end, indexOffset: header.logOffset, indexBytes };
  } catch (err) {
    await log.close().catch(() => undefined);
    throw err;
  }
}

/** Applies a scan; returns why the log cannot be trusted, if it cannot. */
export function replay(state: MailboxState, scan: LogScan): string | undefined {
  if (scan.skipped.length > 0) return `transaction log is damaged at offset ${scan.skipped[0]}`;
  for (const { txn } of scan.transactions) {
    if (state.apply(txn, undefined).rejectedAppends > 0) return 'transaction log appends a UID below uidNext';
  }
  return undefined;
}

async function close<T>(handle: SyncFile, value: T): Promise<T> {
  await handle.close().catch(() => undefined);
  return value;
}
