/**
 * Requests from the master to one child over its IPC channel (config-reload, log-errors…),
 * correlated by id, with a timeout. Replies from the child are checked before use.
 */
import type { ChildProcess } from 'node:child_process';
import type { ChildRequestMethod, MasterToChild } from '@loft/master-protocol';

const CHILD_REQUEST_TIMEOUT_MS = 30_000;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class ChildChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private readonly onExit = (): void => this.failAll(new Error(`${this.label} exited`));

  constructor(private readonly child: ChildProcess, private readonly label: string) {
    child.once('exit', this.onExit);
  }

  /** Stops watching the child (it moves to another pool, which opens its own channel). */
  close(): void {
    this.child.off('exit', this.onExit);
    this.failAll(new Error(`${this.label} was handed to another pool`));
  }

  request<T>(method: ChildRequestMethod, params: unknown = {}, timeoutMs = CHILD_REQUEST_TIMEOUT_MS): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const message: MasterToChild = { type: 'request', id, method, params };
      try {
        this.child.send(message);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  /** A `reply` message from the child. Unknown ids (late replies) are ignored. */
  onReply(id: number, result: unknown, error: unknown): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (typeof error === 'string') pending.reject(new Error(error));
    else pending.resolve(result);
  }

  private failAll(err: Error): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(err);
      this.pending.delete(id);
    }
  }
}
