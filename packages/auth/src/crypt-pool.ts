/**
 * A small pool of worker threads for SHA-crypt and yescrypt, the schemes implemented here in
 * JavaScript (bcryptjs yields between rounds, @node-rs/argon2 runs on libuv's threadpool).
 * Workers start on first use and never keep the process alive while idle.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ShaCryptHash } from './sha-crypt.js';

/** One hash to compute; `kind` picks the algorithm, so a new one is a new member here and a case in the worker. */
export type CryptJob =
  | { id: number; kind: 'sha-crypt'; password: string; setting: Omit<ShaCryptHash, 'digest'> }
  /** `setting` is a `$y$` or `$7$` setting or full hash, already checked against our cost bounds. */
  | { id: number; kind: 'yescrypt'; password: string; setting: string };

/** What a job is called in an error message. */
const JOB_NAMES: Readonly<Record<CryptJob['kind'], string>> = { 'sha-crypt': 'SHA-crypt', yescrypt: 'yescrypt' };

/** A job before the pool numbers it: Omit applied to each kind, so `kind` still tells them apart. */
type Unnumbered<Job> = Job extends CryptJob ? Omit<Job, 'id'> : never;
type CryptRequest = Unnumbered<CryptJob>;

export type CryptReply = { id: number; result: string } | { id: number; error: string };

/** Two threads at least so one slow hash cannot queue every login; at most four, the auth process is not a hashing farm. */
const CRYPT_POOL_SIZE = Math.min(4, Math.max(2, availableParallelism()));

interface Pending {
  job: CryptJob;
  resolve: (hash: string) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  busy: Pending | undefined;
}

const workers: PoolWorker[] = [];
const queue: Pending[] = [];
let nextId = 1;

/** glibc crypt() of `password` with `setting`, computed on a worker thread. */
export function shaCryptOffloaded(password: string, setting: Omit<ShaCryptHash, 'digest'>): Promise<string> {
  return offload({ kind: 'sha-crypt', password, setting });
}

/** libxcrypt crypt() of `password` with a `$y$` or `$7$` setting, computed on a worker thread. */
export function yescryptOffloaded(password: string, setting: string): Promise<string> {
  return offload({ kind: 'yescrypt', password, setting });
}

function offload(request: CryptRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    queue.push({ job: { ...request, id: nextId++ }, resolve, reject });
    dispatch();
  });
}

function dispatch(): void {
  while (queue.length > 0) {
    const idle = workers.find((entry) => entry.busy === undefined) ?? (workers.length < CRYPT_POOL_SIZE ? startWorker() : undefined);
    if (!idle) return;
    const pending = queue.shift() as Pending;
    idle.busy = pending;
    idle.worker.ref();
    idle.worker.postMessage(pending.job);
  }
}

function startWorker(): PoolWorker {
  const entry: PoolWorker = { worker: new Worker(new URL('./crypt-worker.js', import.meta.url)), busy: undefined };
  entry.worker.on('message', (reply: CryptReply) => {
    const pending = entry.busy;
    entry.busy = undefined;
    entry.worker.unref();
    if (pending && pending.job.id === reply.id) {
      if ('result' in reply) pending.resolve(reply.result);
      else pending.reject(new Error(`${JOB_NAMES[pending.job.kind]} failed: ${reply.error}`));
    }
    dispatch();
  });
  // A worker that dies takes only its own job with it; the next job starts a fresh one.
  const fail = (err: Error): void => {
    const index = workers.indexOf(entry);
    if (index >= 0) workers.splice(index, 1);
    entry.busy?.reject(err);
    entry.busy = undefined;
    dispatch();
  };
  entry.worker.on('error', fail);
  entry.worker.on('exit', (code) => fail(new Error(`crypt worker exited with code ${code}`)));
  workers.push(entry);
  return entry;
}
