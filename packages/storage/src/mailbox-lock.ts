/**
 * The mailbox lock (`loft.lock`): held while allocating UIDs, writing an index checkpoint and
 * rebuilding. Log appends of flag changes and expunges do not take it.
 *
 * proper-lockfile runs the protocol (atomic create, mtime refreshed while held, a stale lock
 * taken over after LOCK_STALE_MS, compromise detection), but its atomic create is link(2)
 * rather than mkdir(2): each process keeps one small holder file per lock directory,
 * `loft.lock.holder.<pid>`, holding "<pid> <hostname>", and taking the lock is linking it to
 * `loft.lock`; releasing is unlinking that name. On ext4 a link and an unlink cost ~10 µs
 * where a mkdir and an rmdir (an inode and a directory block each time) cost 200 µs to 1 ms,
 * more than the rest of a save. The holder record comes with the link, so a waiter on the
 * same host reads who holds the lock and, if that process no longer exists, breaks the lock
 * at once instead of waiting LOCK_STALE_MS (Dovecot's dotlocks do the same).
 *
 * Holder files are removed when the process exits; one left by a process killed with
 * SIGKILL is removed when its lock is broken, or replaced by a later process with the same
 * pid. A `loft.lock` directory (the format before link locks) is broken as ownerless.
 */
import nodeFs from 'node:fs';
import { closeSync, constants, linkSync, lstatSync, openSync, promises as fsp, readdirSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { LoftError } from '@loft/errors';
import { O_NOFOLLOW, isErrno, lstatOrUndefined } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';

export const LOCK_STALE_MS = 10_000;
export const LOCK_WAIT_MS = 30_000;
const LOCK_RETRY_MAX_MS = 50;
/** A lock without a readable holder record for this long belongs to a dead process. */
export const OWNERLESS_BREAK_MS = 2000;
const HOLDER_PREFIX = 'loft.lock.holder.';
/** The lock's name in its directory. */
export const LOCK_NAME = 'loft.lock';

export type ReleaseLock = () => Promise<void>;

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

/** This process's holder files, by lock directory; removed at exit. */
const holders = new Map<string, string>();
/** The file system given to proper-lockfile, by lock directory: the sessions of a mailbox share one. */
const lockFileSystems = new Map<string, typeof nodeFs>();
process.once('exit', () => {
  for (const path of holders.values()) {
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
  }
});

/** The holder file of this process in `dir`, made on first use. */
function holderFile(dir: string): string {
  let path = holders.get(dir);
  if (path !== undefined) return path;
  path = join(dir, `${HOLDER_PREFIX}${process.pid}`);
  // One left by a dead process that had our pid may be linked as its lock: never reuse it.
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, `${process.pid} ${hostname()}\n`);
  } catch (err) {
    // A full file system has room for the file (an inode) but not for its record (a data
    // block). Without the lock nobody could expunge to make room, and with mdbox nobody could
    // even log in: the lock works without the record (see recordlessHolder()).
    if (!isErrno(err, 'ENOSPC') && !isErrno(err, 'EDQUOT')) throw err;
  } finally {
    closeSync(fd);
  }
  holders.set(dir, path);
  return path;
}

/**
 * The file system proper-lockfile sees (it calls only the *Sync methods under lockSync):
 * "mkdir" links this process's holder file to the lock path, "rmdir" unlinks it (or removes
 * an old-format lock directory).
 */
function linkLockFs(dir: string): typeof nodeFs {
  let fs = lockFileSystems.get(dir);
  if (fs) return fs;
  // Inherits the rest of node:fs (stat, utimes) rather than copying it per lock.
  fs = Object.assign(Object.create(nodeFs) as typeof nodeFs, {
    mkdirSync: (path: string) => linkSync(holderFile(dir), path),
    rmdirSync: (path: string) => {
      try {
        unlinkSync(path);
      } catch (err) {
        if (isErrno(err, 'EISDIR') || isErrno(err, 'EPERM')) rmdirSync(path);
        else throw err;
      }
    },
  });
  lockFileSystems.set(dir, fs);
  return fs;
}

export class MailboxLock {
  private readonly lockPath: string;
  private readonly fs: typeof nodeFs;

  /** `lockPath`: `dir`'s loft.lock, when the caller has it (a mailbox's paths): the views of a mailbox then share one string. */
  constructor(private readonly dir: string, private readonly logger: StorageLogger, lockPath = join(dir, LOCK_NAME)) {
    this.lockPath = lockPath;
    this.fs = linkLockFs(dir);
  }

  /**
   * Sessions of one process queue here for the lock directory instead of polling it, so
   * concurrent deliveries into one mailbox hand the lock on without sleeping.
   */
  private static readonly local = new Map<string, { tail: Promise<void>; waiting: number }>();

  /** Takes the lock, waiting up to `waitMs`; `waitMs = 0` tries once and returns undefined if busy. */
  async acquire(waitMs = LOCK_WAIT_MS): Promise<ReleaseLock | undefined> {
    const key = this.lockPath;
    let entry = MailboxLock.local.get(key);
    if (!entry) MailboxLock.local.set(key, (entry = { tail: Promise.resolve(), waiting: 0 }));
    if (waitMs === 0 && entry.waiting > 0) return undefined;
    const local = entry;
    const previous = local.tail;
    let handOn!: () => void;
    const mine = new Promise<void>((resolve) => {
      handOn = resolve;
    });
    local.tail = mine;
    local.waiting++;
    const done = (): void => {
      local.waiting--;
      if (local.waiting === 0 && local.tail === mine) MailboxLock.local.delete(key);
      handOn();
    };
    await previous;
    try {
      const release = await this.acquireFile(waitMs);
      if (!release) {
        done();
        return undefined;
      }
      return async () => {
        await release();
        done();
      };
    } catch (err) {
      done();
      throw err;
    }
  }

  private async acquireFile(waitMs: number): Promise<ReleaseLock | undefined> {
    const deadline = Date.now() + waitMs;
    let backoff = 1;
    for (;;) {
      // Synchronous: taking a free lock is a handful of tiny system calls, far cheaper
      // than as many round trips through libuv's thread pool.
      try {
        const release = lockfile.lockSync(this.dir, {
          lockfilePath: this.lockPath,
          realpath: false,
          stale: LOCK_STALE_MS,
          fs: this.fs,
          onCompromised: (err) => this.logger.error({ err, path: this.lockPath }, 'mailbox lock was taken over while held (stale after LOCK_STALE_MS)'),
        });
        return async () => {
          try {
            release();
          } catch (err) {
            this.logger.warn({ err, path: this.lockPath }, 'releasing the mailbox lock failed');
          }
        };
      } catch (err) {
        if (!isErrno(err, 'ELOCKED')) throw new LoftError('LOFT_E_STORAGE_LOCKED', this.lockPath, { cause: err });
      }
      if (await this.breakDeadOwner()) continue;
      if (waitMs === 0) return undefined;
      if (Date.now() >= deadline) throw new LoftError('LOFT_E_STORAGE_LOCKED', `${this.lockPath} still held after ${waitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, LOCK_RETRY_MAX_MS);
    }
  }

  /** The holder record of the lock at `path` (a file), or undefined if it has none readable. */
  private readHolder(path: string): { pid: number; host: string } | undefined {
    let text: string;
    try {
      // O_NONBLOCK: whatever sits at the lock path must not block this process in open().
      const fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(256);
        text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return undefined;
    }
    const [pid, host] = text.trim().split(' ');
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 && host ? { pid: n, host } : undefined;
  }

  /**
   * Whether the lock (inode `ino`) is a holder file whose record could not be written, the
   * file system being full. Its holder, of whatever host, is left to proper-lockfile, which
   * takes the lock over once its mtime (refreshed while held) is LOCK_STALE_MS old.
   */
  private recordlessHolder(ino: number): boolean {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return false;
    }
    return names.some((name) => name.startsWith(HOLDER_PREFIX) && lstatOrUndefined(join(this.dir, name))?.ino === ino);
  }

  /**
   * Breaks the lock if its holder is a process of this host that no longer exists (or had
   * our pid: this process never waits for itself, the local queue sees to that), or if it
   * has had no readable holder record for OWNERLESS_BREAK_MS.
   */
  private async breakDeadOwner(): Promise<boolean> {
    let lockStat;
    try {
      lockStat = lstatSync(this.lockPath);
    } catch {
      return false; // released meanwhile: just retry
    }
    const holder = lockStat.isFile() ? this.readHolder(this.lockPath) : undefined;
    if (holder) {
      if (holder.host !== hostname()) return false;
      if (holder.pid !== process.pid && processExists(holder.pid)) return false;
    } else if (Date.now() - lockStat.mtimeMs < OWNERLESS_BREAK_MS || (lockStat.isFile() && lockStat.size === 0 && this.recordlessHolder(lockStat.ino))) {
      return false;
    }
    // Move the lock aside atomically, then make sure it was the dead holder's we moved.
    const aside = `${this.lockPath}.dead.${randomBytes(4).toString('hex')}`;
    try {
      await fsp.rename(this.lockPath, aside);
    } catch {
      return false;
    }
    const moved = await fsp.lstat(aside).catch(() => undefined);
    if (moved?.ino !== lockStat.ino) {
      await fsp.rename(aside, this.lockPath).catch(() => undefined);
      return false;
    }
    await fsp.rm(aside, { recursive: true, force: true });
    if (holder && holder.pid !== process.pid) await fsp.rm(join(this.dir, `${HOLDER_PREFIX}${holder.pid}`), { force: true });
    this.logger.warn({ path: this.lockPath, pid: holder?.pid }, 'broke the mailbox lock of a process that no longer exists');
    return true;
  }
}
