/**
 * A small pool of worker threads for SHA-crypt, the one scheme implemented here in
 * JavaScript (bcryptjs yields between rounds, @node-rs/argon2 runs on libuv's threadpool).
 * Workers start on first use and never keep the process alive while idle.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ShaCryptHash } from './sha-crypt.js';

export interface CryptJob {
  id: number;
  password: string;
  setting: Omit<ShaCryptHash, 'digest'>;
}

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
  return new Promise((resolve, reject) => {
    queue.push({ job: { id: nextId++, password, setting }, resolve, reject });
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
      else pending.reject(new Error(`SHA-crypt failed: ${reply.error}`));
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
