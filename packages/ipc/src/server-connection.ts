/**
 * One peer's connection to an IpcServer: decodes its requests, runs handlers concurrently,
 * writes their replies. Every failure stays inside this connection: the peer gets an error
 * reply, or, when what it sent cannot be trusted, one log line and a closed connection.
 */
import type net from 'node:net';
import { LoftError, describeError, isLoftError } from '@loft/errors';
import { FrameDecoder, encodeFrame } from './frame.js';
import {
  chunkMessage,
  endMessage,
  errorMessage,
  parseClientMessage,
  resultMessage,
  type ClientMessage,
} from './wire-messages.js';
import { TickBatchedWriter } from './socket-writer.js';
import type { Handlers, IpcLogger, ProtocolShape, RequestContext } from './protocol.js';

export interface ConnectionSettings {
  /** Largest frame payload accepted or sent, in bytes. */
  maxFrameBytes: number;
  logger: IpcLogger;
  /** The server's name, for log lines. */
  name: string;
}

/** Keeps a reply small however long the thrown message is; it is meant for a log line. */
const ERROR_MESSAGE_MAX_CHARS = 2000;
/** Codes and method names come from handlers or the peer; a long one is cut for replies and logs. */
const NAME_MAX_CHARS = 100;

type AnyHandler = (params: unknown, ctx: RequestContext) => unknown;
type RequestMessage = Extract<ClientMessage, { kind: 'request' }>;

export class ServerConnection<P extends ProtocolShape<P>> {
  readonly id: number;
  readonly #socket: net.Socket;
  readonly #handlers: Handlers<P>;
  readonly #settings: ConnectionSettings;
  readonly #decoder: FrameDecoder;
  readonly #writer: TickBatchedWriter;
  /** Calls in flight by id; aborting one's controller tells its handler to stop. */
  readonly #calls = new Map<number, AbortController>();
  /** Streams waiting for the socket to drain; woken together by one listener. */
  #drainWaiters: Array<() => void> = [];

  constructor(id: number, socket: net.Socket, handlers: Handlers<P>, settings: ConnectionSettings) {
    this.id = id;
    this.#socket = socket;
    this.#handlers = handlers;
    this.#settings = settings;
    this.#decoder = new FrameDecoder(settings.maxFrameBytes);
    this.#writer = new TickBatchedWriter(socket);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#wakeDrainWaiters());
    socket.on('error', (err) => this.#log('debug', err, `ipc connection failed: ${err.message}`));
    socket.once('close', () => this.#onClose());
    // A socket handed over from another process arrives paused.
    socket.resume();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let values: unknown[];
    try {
      values = this.#decoder.push(chunk);
    } catch (err) {
      this.#dropPeer(err as LoftError);
      return;
    }
    for (const value of values) {
      const parsed = parseClientMessage(value);
      if (!parsed.ok) {
        this.#dropPeer(new LoftError('LOFT_E_IPC_BAD_FRAME', parsed.problem));
        return;
      }
      if (!this.#dispatch(parsed.message)) return;
    }
  }

  /** Starts or cancels a call; false when the message broke the protocol. */
  #dispatch(message: ClientMessage): boolean {
    if (message.kind === 'cancel') {
      this.#calls.get(message.id)?.abort(new LoftError('LOFT_E_IPC_CLOSED', 'the client cancelled the call'));
      return true;
    }
    if (this.#calls.has(message.id)) {
      this.#dropPeer(new LoftError('LOFT_E_IPC_BAD_FRAME', `request id ${message.id} is already in flight`));
      return false;
    }
    const controller = new AbortController();
    this.#calls.set(message.id, controller);
    this.#run(message, controller.signal)
      .catch((err: unknown) => this.#dropAfterBug(err))
      .finally(() => this.#calls.delete(message.id));
    return true;
  }

  /** Runs one handler and replies; a cancelled or disconnected call gets no reply. */
  async #run({ id, method, params }: RequestMessage, signal: AbortSignal): Promise<void> {
    try {
      const handler = this.#handlerFor(method);
      const value = await handler(params, { signal, connectionId: this.id });
      if (isAsyncIterable(value)) await this.#pump(id, value, signal);
      else if (!signal.aborted) this.#write(resultMessage(id, value));
    } catch (err) {
      if (!signal.aborted) this.#replyError(id, method, err);
    }
  }

  #handlerFor(method: string): AnyHandler {
    // Own properties only: 'constructor' or '__proto__' must not reach Object.prototype.
    const handler = Object.hasOwn(this.#handlers, method) ? (this.#handlers as Record<string, unknown>)[method] : undefined;
    if (typeof handler !== 'function') throw new LoftError('LOFT_E_IPC_NO_METHOD', method.slice(0, NAME_MAX_CHARS));
    return handler as AnyHandler;
  }

  /** Streams chunks, pulling the next only when the socket has room for it. */
  async #pump(id: number, chunks: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
    // Leaving the loop early (return, throw) calls the iterator's return().
    for await (const chunk of chunks) {
      if (!this.#wanted(signal)) return;
      if (!this.#write(chunkMessage(id, chunk))) await this.#drained(signal);
      if (!this.#wanted(signal)) return;
    }
    if (this.#wanted(signal)) this.#write(endMessage(id));
  }

  /**
   * Whether the peer can still use what this call sends. The socket is checked too because
   * 'close', which aborts the signal, comes a tick after destroy(); without it a fast
   * iterator would be pulled to its end in between.
   */
  #wanted(signal: AbortSignal): boolean {
    return !signal.aborted && this.#socket.writable;
  }

  /**
   * Sends the message only, never the stack. An error without a code, or a reply we could
   * not encode, is a bug on this side: it gets a warning with the stack in our own log.
   */
  #replyError(id: number, method: string, err: unknown): void {
    const code = errorCode(err);
    const message = describeError(err).slice(0, ERROR_MESSAGE_MAX_CHARS);
    const isBug = code === null || isLoftError(err, 'LOFT_E_IPC_FRAME_TOO_LARGE') || isLoftError(err, 'LOFT_E_IPC_BAD_FRAME');
    this.#log(isBug ? 'warn' : 'debug', err, `${method.slice(0, NAME_MAX_CHARS)} failed: ${message}`);
    this.#write(errorMessage(id, code, message));
  }

  /** Encodes and writes one message; false when the socket wants us to wait for 'drain'. */
  #write(message: unknown): boolean {
    const frame = encodeFrame(message, this.#settings.maxFrameBytes);
    if (!this.#socket.writable) return false;
    return this.#writer.write(frame);
  }

  /**
   * Resolves on 'drain', or as soon as the call is cancelled: the socket may stay full
   * because the client paused it for another stream, and a cancelled iterator's finally
   * should not wait for that.
   */
  #drained(signal: AbortSignal): Promise<void> {
    if (this.#socket.destroyed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', wake);
        resolve();
      };
      signal.addEventListener('abort', wake);
      this.#drainWaiters.push(wake);
    });
  }

  #wakeDrainWaiters(): void {
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  /** The peer sent something we cannot read: nothing after it can be trusted. */
  #dropPeer(err: LoftError): void {
    this.#log('error', err, `${err.message}; closing the connection`);
    this.#socket.destroy();
  }

  /** Should not happen: a reply failed in a way #run did not catch. */
  #dropAfterBug(err: unknown): void {
    this.#log('error', err, `ipc reply failed: ${describeError(err)}; closing the connection`);
    this.#socket.destroy();
  }

  #onClose(): void {
    const reason = new LoftError('LOFT_E_IPC_CLOSED', 'the connection closed');
    for (const controller of this.#calls.values()) controller.abort(reason);
    this.#wakeDrainWaiters();
  }

  #log(level: keyof IpcLogger, err: unknown, msg: string): void {
    this.#settings.logger[level]({ err, connectionId: this.id, name: this.#settings.name }, msg);
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  return typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
}

/** The thrown error's string `code`, shortened; null when it has none. */
function errorCode(err: unknown): string | null {
  if (typeof err !== 'object' || err === null || !('code' in err)) return null;
  return typeof err.code === 'string' ? err.code.slice(0, NAME_MAX_CHARS) : null;
}
