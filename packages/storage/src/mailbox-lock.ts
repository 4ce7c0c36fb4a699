/**
 * The mailbox lock (`loft.lock`, a proper-lockfile directory): held while allocating UIDs,
 * writing an index checkpoint and rebuilding. Log appends of flag changes and expunges do
 * not take it.
 *
 * proper-lockfile only breaks a lock whose mtime is older than LOCK_STALE_MS. A process
 * killed with SIGKILL would thus stall every delivery for that long, so a holder that keeps
 * the lock longer than OWNER_RECORD_DELAY_MS writes its pid and hostname to
 * `loft.lock.owner`; a waiter on the same host whose holder no longer exists breaks the lock
 * at once (Dovecot's dotlocks do the same). Most holds (one save: a link and a log append)
 * end sooner, and skipping the record spares them a file creation and an unlink, which on a
 * journaling file system cost more than the rest of the save. A holder that dies before
 * writing it leaves an ownerless lock, broken after OWNERLESS_BREAK_MS.
 */
import { closeSync, constants, openSync, promises as fsp, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { LoftError } from '@loft/errors';
import { O_NOFOLLOW, isErrno, openNoFollow } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';

export const LOCK_STALE_MS = 10_000;
export const LOCK_WAIT_MS = 30_000;
const LOCK_RETRY_MAX_MS = 50;
/** A lock directory without an owner record for this long belongs to a dead process. */
export const OWNERLESS_BREAK_MS = 2000;
/** A holder records itself once it has held the lock this long (far below OWNERLESS_BREAK_MS). */
export const OWNER_RECORD_DELAY_MS = 25;

export type ReleaseLock = () => Promise<void>;

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

export class MailboxLock {
  private readonly lockPath: string;
  private readonly ownerPath: string;

  constructor(private readonly dir: string, private readonly logger: StorageLogger) {
    this.lockPath = join(dir, 'loft.lock');
    this.ownerPath = join(dir, 'loft.lock.owner');
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
          onCompromised: (err) => this.logger.error({ err, path: this.lockPath }, 'mailbox lock was taken over while held (stale after LOCK_STALE_MS)'),
        });
        let recorded = false;
        let recordFailed: unknown;
        const record = setTimeout(() => {
          try {
            this.writeOwner();
            recorded = true;
          } catch (err) {
            recordFailed = err;
            this.logger.warn({ err, path: this.ownerPath }, 'could not record the mailbox lock owner; a crash now would stall waiters for LOCK_STALE_MS');
          }
        }, OWNER_RECORD_DELAY_MS);
        record.unref();
        return async () => {
          clearTimeout(record);
          if (recorded || recordFailed !== undefined) {
            try {
              unlinkSync(this.ownerPath);
            } catch {
              // already gone: someone broke the lock as ownerless; release() says more
            }
          }
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

  private writeOwner(): void {
    const { ino } = statSync(this.lockPath);
    const fd = openSync(this.ownerPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${process.pid} ${hostname()} ${ino}\n`);
    } finally {
      closeSync(fd);
    }
  }

  private async readOwner(): Promise<{ pid: number; host: string; ino: number } | undefined> {
    let text: string;
    try {
      const handle = await openNoFollow(this.ownerPath, constants.O_RDONLY);
      try {
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return undefined;
    }
    const [pid, host, ino] = text.trim().split(' ');
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 && host ? { pid: n, host, ino: Number(ino) } : undefined;
  }

  /**
   * Breaks the lock if its recorded holder is a process of this host that no longer exists,
   * or if it has had no owner record for OWNERLESS_BREAK_MS (its holder died between
   * creating the lock and recording itself, which takes a holder microseconds).
   */
  private async breakDeadOwner(): Promise<boolean> {
    const lockStat = await fsp.stat(this.lockPath).catch(() => undefined);
    if (!lockStat) return false;
    let owner = await this.readOwner();
    if (owner && owner.ino !== lockStat.ino) owner = undefined; // left by an earlier holder
    if (owner) {
      if (owner.host !== hostname() || processExists(owner.pid)) return false;
    } else if (Date.now() - lockStat.mtimeMs < OWNERLESS_BREAK_MS) {
      return false;
    }
    // Move the lock aside atomically, then make sure it was the dead holder's we moved.
    const aside = `${this.lockPath}.dead.${randomBytes(4).toString('hex')}`;
    try {
      await fsp.rename(this.lockPath, aside);
    } catch {
      return false;
    }
    const now = await this.readOwner();
    if (now && now.ino !== lockStat.ino) {
      await fsp.rename(aside, this.lockPath).catch(() => undefined);
      return false;
    }
    await fsp.rm(this.ownerPath, { force: true });
    await fsp.rm(aside, { recursive: true, force: true });
    this.logger.warn({ path: this.lockPath, pid: owner?.pid }, 'broke the mailbox lock of a process that no longer exists');
    return true;
  }
}
