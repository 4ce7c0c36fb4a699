/** The calling side of a connection: typed requests and streams, correlated by id. */
import net from 'node:net';
import { LoftError, describeError } from '@loft/errors';
import { FrameDecoder, IPC_MAX_FRAME_BYTES_DEFAULT, encodeFrame } from './frame.js';
import { cancelMessage, parseServerMessage, requestMessage, type ServerMessage } from './wire-messages.js';
import { NOOP_LOGGER, type IpcLogger, type ProtocolShape } from './protocol.js';
import { TickBatchedWriter } from './socket-writer.js';
import { ReadGate, RequestCall, StreamCall, type Call } from './client-calls.js';

export const IPC_REQUEST_TIMEOUT_MS_DEFAULT = 30_000;

export interface IpcClientOptions {
  /**
   * Largest frame payload in bytes, default IPC_MAX_FRAME_BYTES_DEFAULT. A larger reply
   * closes the connection; a larger request fails only that call.
   */
  maxFrameBytes?: number;
  /**
   * Default timeout for request() and idle timeout for stream(), in ms, default
   * IPC_REQUEST_TIMEOUT_MS_DEFAULT; 0 (or more than 2^31-1) = none.
   */
  timeoutMs?: number;
  logger?: IpcLogger;
}

export interface CallOptions {
  /** ms; overrides the client's timeoutMs for this call; 0 = none */
  timeoutMs?: number;
}

export class IpcClient<P extends ProtocolShape<P>> {
  readonly #socket: net.Socket;
  readonly #decoder: FrameDecoder;
  readonly #writer: TickBatchedWriter;
  readonly #gate: ReadGate;
  readonly #timeoutMs: number;
  readonly #logger: IpcLogger;
  readonly #calls = new Map<number, Call>();
  readonly #closeListeners: Array<(err?: Error) => void> = [];
  #nextId = 1;
  #closed = false;
  #socketClosed = false;
  /** Why the connection ended, when it was not a plain close: a bad reply or a socket error. */
  #closeReason: Error | undefined;

  /**
   * Connects to a UNIX socket. Rejects with LoftError LOFT_E_IPC_CLOSED, the socket error
   * as its cause, when nobody listens (ENOENT, ECONNREFUSED) or we may not connect (EACCES).
   */
  static connect<P extends ProtocolShape<P>>(path: string, options: IpcClientOptions = {}): Promise<IpcClient<P>> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new LoftError('LOFT_E_IPC_CLOSED', `cannot connect to ${path}: ${err.code ?? err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new IpcClient<P>(socket, options));
      });
    });
  }

  constructor(socket: net.Socket, options: IpcClientOptions = {}) {
    this.#socket = socket;
    this.#decoder = new FrameDecoder(options.maxFrameBytes ?? IPC_MAX_FRAME_BYTES_DEFAULT);
    this.#writer = new TickBatchedWriter(socket);
    this.#gate = new ReadGate(socket);
    this.#timeoutMs = options.timeoutMs ?? IPC_REQUEST_TIMEOUT_MS_DEFAULT;
    this.#logger = options.logger ?? NOOP_LOGGER;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#closeReason ??= err;
      this.#logger.debug({ err }, `ipc client connection failed: ${err.message}`);
    });
    socket.once('close', () => this.#onSocketClose());
    if (socket.closed) queueMicrotask(() => this.#onSocketClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  request<K extends keyof P & string>(method: K, params: P[K]['params'], options: CallOptions = {}): Promise<P[K]['result']> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const call = new RequestCall(method, resolve as (value: unknown) => void, reject);
      this.#start(id, call, method, params);
      call.startTimer(options.timeoutMs ?? this.#timeoutMs, () => this.#forget(id, true));
    });
  }

  /**
   * Streaming call, sent when iteration starts. timeoutMs is an idle timeout: how long the
   * consumer may wait for the next chunk. Leaving the loop early cancels the stream; the
   * server then stops pulling its iterator and calls its return().
   */
  async *stream<K extends keyof P & string>(
    method: K,
    params: P[K]['params'],
    options: CallOptions = {},
  ): AsyncIterable<P[K]['result']> {
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const call = new StreamCall(method, timeoutMs, this.#gate, () => this.#forget(id, true));
    this.#start(id, call, method, params);
    try {
      while (true) {
        const step = await call.next();
        if (step.done) return;
        yield step.value as P[K]['result'];
      }
    } finally {
      this.#forget(id, !call.finished);
      call.discard();
    }
  }

  /** Closes the connection; calls still in flight reject with LOFT_E_IPC_CLOSED. */
  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  /** `listener` runs once when the connection closes, with the reason unless it closed cleanly. */
  onClose(listener: (err?: Error) => void): void {
    if (this.#socketClosed) queueMicrotask(() => this.#notify(listener));
    else this.#closeListeners.push(listener);
  }

  /** Registers and sends a call; throws (rejecting the caller) if it cannot be sent. */
  #start(id: number, call: Call, method: string, params: unknown): void {
    if (this.#closed) throw new LoftError('LOFT_E_IPC_CLOSED', `cannot call ${method}: the connection is closed`);
    const frame = encodeFrame(requestMessage(id, method, params), this.#decoder.maxFrameBytes);
    this.#calls.set(id, call);
    this.#writer.write(frame);
  }

  /** Drops a call's id so late replies are ignored; `cancel` also tells the server to stop. */
  #forget(id: number, cancel: boolean): void {
    if (!this.#calls.delete(id) || !cancel || !this.#socket.writable) return;
    this.#writer.write(encodeFrame(cancelMessage(id)));
  }

  #onData(chunk: Buffer): void {
    let values: unknown[];
    try {
      values = this.#decoder.push(chunk);
    } catch (err) {
      this.#abandon(err as LoftError);
      return;
    }
    for (const value of values) {
      const parsed = parseServerMessage(value);
      if (!parsed.ok) {
        this.#abandon(new LoftError('LOFT_E_IPC_BAD_FRAME', parsed.problem));
        return;
      }
      this.#route(parsed.message);
    }
  }

  #route(message: ServerMessage): void {
    const call = this.#calls.get(message.id);
    // No call: a late reply to one that timed out or was cancelled.
    if (call === undefined) return;
    const outcome = call.receive(message);
    if (outcome !== 'continue') this.#forget(message.id, outcome === 'cancel');
  }

  /** The server sent something we cannot read: nothing after it can be trusted. */
  #abandon(err: LoftError): void {
    this.#logger.error({ err }, `${err.message}; closing the connection`);
    this.#closeReason = err;
    this.close();
  }

  #onSocketClose(): void {
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    this.#closed = true;
    const reason = this.#closeReason;
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.fail(reason instanceof LoftError ? reason : closedError(reason));
    for (const listener of this.#closeListeners.splice(0)) this.#notify(listener);
  }

  #notify(listener: (err?: Error) => void): void {
    try {
      listener(this.#closeReason);
    } catch (err) {
      this.#logger.error({ err }, `ipc client onClose listener threw: ${describeError(err)}`);
    }
  }
}

function closedError(cause: Error | undefined): LoftError {
  const detail = cause ? `connection lost: ${cause.message}` : 'connection closed before the reply';
  return new LoftError('LOFT_E_IPC_CLOSED', detail, { cause });
}
