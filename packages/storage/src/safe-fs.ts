/**
 * File access that treats the mail directory as hostile: every open uses O_NOFOLLOW, every
 * directory on the way is checked with lstat to be a real directory (not a symlink), and
 * replacing a file is always write-temp + fsync + rename (+ fsync of the directory).
 *
 * Why: in `lmtp_privsep = seteuid` mode deliveries run as root inside the user's home, where
 * the user may plant symlinks. Node has no openat(), so a directory swapped between the
 * lstat and the open is a residual race; the default fork privsep mode does not have it.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, promises as fsp, readSync, writeSync, type Stats } from 'node:fs';
import { blockingIo, fsyncFile, mkdirIo, removeIo, renameIo } from './io-mode.js';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import { describeError, LoftError } from '@loft/errors';

export const O_NOFOLLOW = constants.O_NOFOLLOW;

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Whether a failure (or anything in its chain of causes) is the file system being full
 * (ENOSPC) or the user's disk quota (EDQUOT). Clients and MTAs are told so, rather than of
 * an internal error: an IMAP client shows [OVERQUOTA], an MTA keeps the message and retries.
 * Not every write goes through ioError(), hence the walk.
 */
export function spaceErrorCode(err: unknown): 'LOFT_E_STORAGE_NO_SPACE' | 'LOFT_E_STORAGE_OVER_QUOTA' | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'LOFT_E_STORAGE_NO_SPACE') return 'LOFT_E_STORAGE_NO_SPACE';
    if (code === 'EDQUOT' || code === 'LOFT_E_STORAGE_OVER_QUOTA') return 'LOFT_E_STORAGE_OVER_QUOTA';
  }
  return undefined;
}

/** Log fields for a storage failure: a full disk or quota in one line (its message), anything else with its stack. */
export function storageErrorFields(err: unknown): { err: unknown } | { reason: string } {
  return spaceErrorCode(err) === undefined ? { err } : { reason: describeError(err) };
}

/** Translates a failed system call into the coded error callers see at the module boundary. */
export function ioError(op: string, path: string, err: unknown): LoftError {
  if (isErrno(err, 'ELOOP')) return new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${op} ${path}: is a symlink`, { cause: err });
  if (isErrno(err, 'ENOENT')) return new LoftError('LOFT_E_STORAGE_NOT_FOUND', `${op} ${path}`, { cause: err });
  const space = spaceErrorCode(err);
  if (space !== undefined) return new LoftError(space, `${op} ${path}`, { cause: err });
  const code = (err as { code?: string } | null)?.code ?? 'unknown';
  return new LoftError('LOFT_E_STORAGE_IO', `${op} ${path} failed: ${code}`, { cause: err });
}

/**
 * A descriptor opened with a direct system call, for a file a view keeps open (the log): no
 * thread-pool round trip to open or close it. close() closes it once; a second call does
 * nothing, as the number may name another file by then.
 */
export class SyncFile {
  private closed = false;
  constructor(readonly fd: number) {}

  static openNoFollow(path: string, flags: number): SyncFile {
    // O_NONBLOCK: a FIFO planted at the path must not block the process in open().
    return new SyncFile(openSync(path, flags | O_NOFOLLOW | constants.O_NONBLOCK));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * lstat, or undefined if it fails. Synchronous: these are the per-command checks (has the
 * list or a log changed?) on files the page cache holds, cheaper as one direct system call
 * than as a round trip through libuv's thread pool.
 */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Opens a file without following a symlink in its last component. */
export async function openNoFollow(path: string, flags: number, mode = 0o600): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, flags | O_NOFOLLOW, mode);
  } catch (err) {
    throw ioError('open', path, err);
  }
}

/**
 * The whole file, or undefined if it does not exist. Synchronous: the files read this way
 * (meta, list, index checkpoint) are small, and a few direct system calls cost less than as
 * many round trips through libuv's thread pool.
 */
export async function readFileNoFollow(path: string): Promise<Buffer | undefined> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw ioError('open', path, err);
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let total = 0;
    // Read until EOF rather than trusting the size: a writer may be appending.
    for (let chunk = Buffer.allocUnsafe(Math.max(size, 4096)); ; chunk = Buffer.allocUnsafe(64 * 1024)) {
      const n = readSync(fd, chunk, 0, chunk.length, total);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } catch (err) {
    throw ioError('read', path, err);
  } finally {
    closeSync(fd);
  }
}

/** Refuses `path` unless it lies inside `root` (both absolute, already normalised). */
export function assertInside(root: string, path: string): void {
  const rel = relative(root, path);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'))) return;
  throw new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${path} is outside ${root}`);
}

/** Makes sure `path` is a real directory (creating it 0700 if missing); a symlink is refused. */
/** Creates `path` (mode 0700) if missing; either way it must be a real directory. */
export async function ensureRealDir(path: string): Promise<void> {
  // lstat first: the directory nearly always exists, and a failed mkdir costs an exception.
  if (realDirStat(path)) return;
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw ioError('mkdir', path, err);
  }
  if (!realDirStat(path)) throw ioError('lstat', path, Object.assign(new Error('vanished'), { code: 'ENOENT' }));
}

/**
 * `path` and any missing parents (mode 0700), ending in a real directory. A mail root is
 * opened at every login and nearly always exists: one direct lstat then, where mkdir -p
 * through the thread pool cost two round trips (the mkdir, then a stat for its EEXIST).
 */
export async function ensureRealDirs(path: string): Promise<void> {
  if (realDirStat(path)) return;
  try {
    await mkdirIo(path, 0o700, true);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  await assertRealDir(path);
}

export async function assertRealDir(path: string): Promise<void> {
  if (!realDirStat(path)) throw ioError('lstat', path, Object.assign(new Error('no such directory'), { code: 'ENOENT' }));
}

/** true if `path` is a real directory, false if it does not exist; throws for a symlink or a file. */
function realDirStat(path: string): boolean {
  let stat;
  try {
    stat = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    throw ioError('lstat', path, err);
  }
  if (!stat) return false;
  if (stat.isSymbolicLink()) throw new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${path} is a symlink`);
  if (!stat.isDirectory()) throw new LoftError('LOFT_E_STORAGE_IO', `${path} is not a directory`);
  return true;
}

/**
 * fsync of a directory (a new name in it is durable). Opening and closing a directory are
 * cheap direct calls; only the fsync, which waits for the disk, goes to the thread pool.
 */
export async function fsyncDir(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    throw ioError('open', path, err);
  }
  try {
    await fsyncFile(fd);
  } finally {
    closeSync(fd);
  }
}


export function tempName(path: string): string {
  return `${path}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** Replaces `path` atomically: a reader sees the old or the new file, never a mix. */
export async function atomicWriteFile(path: string, data: Uint8Array | readonly Uint8Array[], fsync: boolean): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeNewFile(tmp, data instanceof Uint8Array ? data : Buffer.concat(data), fsync);
    await renameIo(tmp, path);
  } catch (err) {
    await removeIo(tmp);
    throw err instanceof LoftError ? err : ioError('write', path, err);
  }
  if (fsync) await fsyncDir(dirname(path));
}

/**
 * Creates `path`, which must not exist, holding `data` (synced if `fsync`). With blocking
 * I/O (see io-mode) by direct calls: a process that never uses libuv's thread pool never
 * starts its thread, and a seteuid delivery child, which creates a mailbox for a user's
 * first mail, then has one thread fewer to stop at each set*id() call.
 */
export async function writeNewFile(path: string, data: Uint8Array, fsync: boolean): Promise<void> {
  if (!blockingIo()) {
    const handle = await openNoFollow(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.writeFile(data);
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    return;
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    throw ioError('open', path, err);
  }
  try {
    writeAllSync(fd, data, 0);
    if (fsync) await fsyncFile(fd);
  } finally {
    closeSync(fd);
  }
}

/** write(2) at `position` until all of `data` is written. */
export function writeAllSync(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}
