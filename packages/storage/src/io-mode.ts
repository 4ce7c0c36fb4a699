/**
 * Where the storage's slow system calls run: creating a message file (an inode: up to a
 * millisecond here), fsync/fdatasync, and unlinking an expunged message. By default in libuv's thread pool, so one session's
 * save does not stop the other sessions its process serves. A process that serves one
 * client at a time (an LMTP delivery child, an imap process with one session) gains
 * nothing from that and pays for it: each round trip costs ~40 us of CPU in wake-ups and
 * context switches on a small VM, a save makes four, and the pool's threads make every
 * set*id() call of a seteuid child dearer. Such a process calls setBlockingIo(true), and the
 * calls are made directly, as Dovecot's processes make them.
 */
import { fdatasync as fdatasyncCb, fdatasyncSync, fsync as fsyncCb, fsyncSync, open as openCb, openSync, unlink as unlinkCb, unlinkSync } from 'node:fs';
import { promisify } from 'node:util';

let blocking = false;

/** Make the slow calls directly (true) or in the thread pool (false, the default). */
export function setBlockingIo(on: boolean): void {
  blocking = on;
}

export function blockingIo(): boolean {
  return blocking;
}

const openPool = promisify(openCb);
const fsyncPool = promisify(fsyncCb);
const fdatasyncPool = promisify(fdatasyncCb);
const unlinkPool = promisify(unlinkCb);

/** A synchronous call as the promise the pool's version gives. */
function direct<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** open(2) that may create a file. */
export function openCreating(path: string, flags: number, mode: number): Promise<number> {
  return blocking ? direct(() => openSync(path, flags, mode)) : openPool(path, flags, mode);
}

export function fsyncFile(fd: number): Promise<void> {
  return blocking ? direct(() => fsyncSync(fd)) : fsyncPool(fd);
}

export function fdatasyncFile(fd: number): Promise<void> {
  return blocking ? direct(() => fdatasyncSync(fd)) : fdatasyncPool(fd);
}

/** unlink(2) of a message file (freeing its inode and blocks). */
export function unlinkFile(path: string): Promise<void> {
  return blocking ? direct(() => unlinkSync(path)) : unlinkPool(path);
}
