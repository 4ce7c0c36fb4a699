/**
 * The client's view of one call in flight: a request waiting for its result, or a stream
 * queueing chunks for its consumer. The client routes each reply to its call by id.
 */
import type net from 'node:net';
import { LoftError } from '@loft/errors';
import type { ServerMessage } from './wire-messages.js';

/** setTimeout's ceiling; Node fires a longer timer after 1 ms instead. */
const TIMER_MAX_MS = 2 ** 31 - 1;

/** Whether `timeoutMs` asks for a timer: 0 means none, and so does anything past the ceiling. */
function wantsTimer(timeoutMs: number): boolean {
  return timeoutMs > 0 && timeoutMs <= TIMER_MAX_MS;
}

/** What the client does with a call after a reply: keep it, forget it, or also cancel it. */
export type CallOutcome = 'continue' | 'done' | 'cancel';

export interface Call {
  receive(message: ServerMessage): CallOutcome;
  /** The call is over without a reply: timeout, closed connection, undecodable reply. */
  fail(err: Error): void;
}

/** A handler's failure, as the client sees it. */
export class IpcRemoteError extends LoftError {
  /** The string `code` of the error the handler threw, if it had one (e.g. 'ENOENT'). */
  readonly remoteCode?: string;

  constructor(message: string, remoteCode: string | undefined) {
    super('LOFT_E_IPC_REMOTE', message);
    if (remoteCode !== undefined) this.remoteCode = remoteCode;
  }
}

function replyError(method: string, code: string | null, message: string): LoftError {
  if (code === 'LOFT_E_IPC_NO_METHOD') return new LoftError('LOFT_E_IPC_NO_METHOD', method);
  return new IpcRemoteError(message, code ?? undefined);
}

/** request() was used for a streaming method, or stream() for a plain one: a caller's bug. */
function kindMismatch(method: string, answeredWith: 'stream' | 'result'): LoftError {
  const detail =
    answeredWith === 'stream'
      ? `${method} answered with a stream; read it with stream()`
      : `${method} answered with one result, not a stream; call it with request()`;
  return new LoftError('LOFT_E_IPC_CALL_STYLE', detail);
}

export class RequestCall implements Call {
  readonly #method: string;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(method: string, resolve: (value: unknown) => void, reject: (err: Error) => void) {
    this.#method = method;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Fails the call after `timeoutMs` (0 = never); `onTimeout` lets the client forget its id. */
  startTimer(timeoutMs: number, onTimeout: () => void): void {
    if (!wantsTimer(timeoutMs)) return;
    this.#timer = setTimeout(() => {
      onTimeout();
      this.fail(new LoftError('LOFT_E_IPC_TIMEOUT', `${this.#method} got no reply within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  receive(message: ServerMessage): CallOutcome {
    switch (message.kind) {
      case 'result':
        clearTimeout(this.#timer);
        this.#resolve(message.result);
        return 'done';
      case 'error':
        this.fail(replyError(this.#method, message.code, message.message));
        return 'done';
      case 'chunk':
      case 'end':
        this.fail(kindMismatch(this.#method, 'stream'));
        return message.kind === 'chunk' ? 'cancel' : 'done';
    }
  }

  fail(err: Error): void {
    clearTimeout(this.#timer);
    this.#reject(err);
  }
}

/**
 * How many chunks may wait for slow stream consumers before the client stops reading the
 * socket. The server's writes then block and its stream stops pulling: end-to-end
 * backpressure. It is per connection, so one stalled consumer also holds up other calls
 * on that connection, as with any single socket.
 */
const QUEUED_CHUNKS_HIGH_WATER = 256;
const QUEUED_CHUNKS_LOW_WATER = QUEUED_CHUNKS_HIGH_WATER / 4;

/** Counts chunks queued across a connection's streams and pauses its socket when behind. */
export class ReadGate {
  readonly #socket: net.Socket;
  #queuedChunks = 0;

  constructor(socket: net.Socket) {
    this.#socket = socket;
  }

  add(count: number): void {
    this.#queuedChunks += count;
    if (this.#queuedChunks >= QUEUED_CHUNKS_HIGH_WATER && !this.#socket.isPaused()) this.#socket.pause();
  }

  remove(count: number): void {
    this.#queuedChunks -= count;
    if (this.#queuedChunks <= QUEUED_CHUNKS_LOW_WATER && this.#socket.isPaused()) this.#socket.resume();
  }
}

interface Waiter {
  resolve(step: IteratorResult<unknown>): void;
  reject(err: Error): void;
}

export class StreamCall implements Call {
  readonly #method: string;
  readonly #idleTimeoutMs: number;
  readonly #gate: ReadGate;
  readonly #onTimeout: () => void;
  /** Chunks received before the consumer asked for them. */
  readonly #queue: unknown[] = [];
  #waiter: Waiter | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  #failure: Error | undefined;

  /** `idleTimeoutMs` (0 = none) counts only while the consumer waits on an empty queue. */
  constructor(method: string, idleTimeoutMs: number, gate: ReadGate, onTimeout: () => void) {
    this.#method = method;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#gate = gate;
    this.#onTimeout = onTimeout;
  }

  /** True once the server ended the stream or the call failed: nothing left to cancel. */
  get finished(): boolean {
    return this.#ended || this.#failure !== undefined;
  }

  receive(message: ServerMessage): CallOutcome {
    switch (message.kind) {
      case 'chunk':
        this.#deliver(message.chunk);
        return 'continue';
      case 'end':
        this.#ended = true;
        this.#settle({ done: true, value: undefined });
        return 'done';
      case 'error':
        this.fail(replyError(this.#method, message.code, message.message));
        return 'done';
      case 'result':
        this.fail(kindMismatch(this.#method, 'result'));
        return 'done';
    }
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.#failure = err;
    clearTimeout(this.#timer);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(err);
  }

  /** Next chunk for the consumer; chunks queued before an end or failure come first. */
  next(): Promise<IteratorResult<unknown>> {
    if (this.#queue.length > 0) {
      this.#gate.remove(1);
      return Promise.resolve({ done: false, value: this.#queue.shift() });
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#startIdleTimer();
    });
  }

  /** The consumer is gone (done or broke out early): release what it will never read. */
  discard(): void {
    this.#gate.remove(this.#queue.length);
    this.#queue.length = 0;
    this.fail(new LoftError('LOFT_E_IPC_CLOSED', `${this.#method} stream was cancelled`));
  }

  #deliver(chunk: unknown): void {
    if (this.#waiter) {
      this.#settle({ done: false, value: chunk });
      return;
    }
    this.#queue.push(chunk);
    this.#gate.add(1);
  }

  #settle(step: IteratorResult<unknown>): void {
    clearTimeout(this.#timer);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve(step);
  }

  #startIdleTimer(): void {
    if (!wantsTimer(this.#idleTimeoutMs)) return;
    this.#timer = setTimeout(() => {
      this.#onTimeout();
      const detail = `${this.#method} sent no chunk for ${this.#idleTimeoutMs} ms`;
      this.fail(new LoftError('LOFT_E_IPC_TIMEOUT', detail));
    }, this.#idleTimeoutMs);
  }
}
