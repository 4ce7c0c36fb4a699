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
import { fdatasync as fdatasyncCb, fdatasyncSync, fsync as fsyncCb, fsyncSync, linkSync, mkdirSync, open as openCb, openSync, promises as fsp, renameSync, rmSync, unlink as unlinkCb, unlinkSync } from 'node:fs';
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

/** rename(2). */
export function renameIo(from: string, to: string): Promise<void> {
  return blocking ? direct(() => renameSync(from, to)) : fsp.rename(from, to);
}

/** link(2). */
export function linkIo(existing: string, path: string): Promise<void> {
  return blocking ? direct(() => linkSync(existing, path)) : fsp.link(existing, path);
}

/** mkdir(2) of one directory, or with `recursive` of it and its missing parents. */
export function mkdirIo(path: string, mode: number, recursive = false): Promise<void> {
  return blocking ? direct(() => void mkdirSync(path, { mode, recursive })) : fsp.mkdir(path, { mode, recursive }).then(() => undefined);
}

/** Removes `path` (a directory with what is in it, with `recursive`) if it is there; never fails. */
export function removeIo(path: string, recursive = false): Promise<void> {
  if (blocking) return direct(() => rmSync(path, { recursive, force: true })).catch(() => undefined);
  return fsp.rm(path, { recursive, force: true }).catch(() => undefined);
}
