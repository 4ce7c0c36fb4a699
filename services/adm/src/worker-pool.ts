/**
 * One short-lived worker process per mail command. The service is root; mail is never
 * touched as root (a user could plant symlinks in their own mail directory), so each
 * command runs in a child forked as root that drops to the user's uid/gid before it opens
 * anything. At most adm_worker_limit workers run at once (more wait their turn), and a
 * worker that runs longer than adm_worker_timeout is killed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';
import type { AdmChunk } from '@loft/master-protocol';
import { isWorkerReply, WORKER_ENV, type WorkerAck, type WorkerJob, type WorkerReply } from './worker-protocol.js';

const WORKER_MODULE = fileURLToPath(new URL('./adm-worker.js', import.meta.url));

/** A queue a producer pushes into and one async consumer drains. */
class Channel<T> {
  private readonly items: T[] = [];

  /** `taken` runs each time the consumer takes an item. */
  constructor(private readonly taken: () => void) {}

  private waiting: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        this.taken();
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }
}

export interface WorkerPoolOptions {
  limit: number;
  timeoutMs: number;
  logger: Logger;
}

export class WorkerPool {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly options: WorkerPoolOptions) {}

  /** Runs `job` as uid/gid; yields its chunks; throws what the worker reported. */
  async *run(job: WorkerJob, identity: { uid: number; gid: number }, signal: AbortSignal): AsyncGenerator<AdmChunk> {
    await this.acquire(signal);
    try {
      yield* this.runChild(job, identity, signal);
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal): Promise<void> {
    if (this.running < this.options.limit) {
      this.running++;
      return Promise.resolve();
    }
    this.options.logger.debug(`adm_worker_limit (${this.options.limit}) reached; a command waits for a worker`);
    return new Promise((resolve, reject) => {
      const start = (): void => {
        signal.removeEventListener('abort', cancel);
        this.running++;
        resolve();
      };
      const cancel = (): void => {
        const at = this.queue.indexOf(start);
        if (at >= 0) this.queue.splice(at, 1);
        reject(new LoftError('LOFT_E_ADM_WORKER', 'the client went away while the command waited for a worker'));
      };
      signal.addEventListener('abort', cancel, { once: true });
      this.queue.push(start);
    });
  }

  private release(): void {
    this.running--;
    this.queue.shift()?.();
  }

  private async *runChild(job: WorkerJob, identity: { uid: number; gid: number }, signal: AbortSignal): AsyncGenerator<AdmChunk> {
    const { logger, timeoutMs } = this.options;
    const output = new Channel<AdmChunk>(() => {
      // A worker that sent its last chunk may be gone already: the ack is then moot.
      if (child.connected) child.send({ type: 'ack' } satisfies WorkerAck, () => undefined);
    });
    // Forked as root (the user need not be able to read Loft's install); the worker drops
    // to these ids before it reads its job. cwd '/' so nothing resolves inside a user's tree.
    const child = fork(WORKER_MODULE, [], {
      cwd: '/',
      env: { ...process.env, [WORKER_ENV.UID]: String(identity.uid), [WORKER_ENV.GID]: String(identity.gid) },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.children.add(child);
    const log = logger.child({ user: job.user, cmd: job.command.cmd, worker: child.pid });
    let finished = false;
    const kill = (why: string, level: 'warn' | 'debug' = 'warn'): void => {
      if (finished) return;
      finished = true;
      log[level](why);
      child.kill('SIGKILL');
      output.end(new LoftError('LOFT_E_ADM_WORKER', why));
    };
    const timer = setTimeout(() => kill(`adm_worker_timeout (${timeoutMs} ms) reached; worker killed`), timeoutMs);
    // loftadm interrupted (Ctrl-C) or its connection dropped: nothing for an admin to act on.
    const onAbort = (): void => kill('the client went away; worker killed', 'debug');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: unknown) => {
      if (!isWorkerReply(message)) kill('adm worker sent a malformed message; worker killed');
      else if (message.type === 'chunk') output.push(message.chunk);
      else if (message.type === 'done') {
        finished = true;
        output.end();
      } else if (message.type === 'failed') {
        finished = true;
        output.end(failure(message));
      }
    });
    child.on('error', (err) => {
      log.error({ err }, 'adm worker failed to run');
      output.end(new LoftError('LOFT_E_ADM_WORKER', err.message, { cause: err }));
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      this.children.delete(child);
      if (!finished) {
        log.error({ code, signal: sig }, `adm worker exited (${sig ?? code}) before finishing`);
        output.end(new LoftError('LOFT_E_ADM_WORKER', `worker exited (${sig ?? `code ${code}`}) before finishing`));
      }
    });
    child.send(job);
    try {
      yield* output.drain();
    } finally {
      clearTimeout(timer);
      // The consumer stopped early (loftadm cancelled): a worker that has not reported its end is stopped.
      if (!finished) kill('the client stopped reading; worker killed', 'debug');
    }
  }

  /** Shutdown: no command outlives the service. */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}

/** The worker's error as the client sees it: its code kept, so scripts can match on it. */
function failure(message: Extract<WorkerReply, { type: 'failed' }>): Error {
  const err = new Error(message.message) as Error & { code?: string };
  if (message.code) err.code = message.code;
  return err;
}
