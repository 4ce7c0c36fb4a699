/** Writing responses to a client socket with a bound on what a slow reader can make us hold. */

/** The part of a net.Socket / tls.TLSSocket the writer uses. */
export interface WritableSocketLike {
  write(data: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** Dovecot's output buffer for a client is of this order; a FETCH larger than it waits for 'drain'. */
export const WRITER_MAX_BUFFERED_BYTES_DEFAULT = 4 * 1024 * 1024;

/**
 * Passes responses to the socket while it accepts them; once socket.write() returns false,
 * holds further responses until 'drain'. When more than maxBufferedBytes are held, the client
 * is not reading: the overflow callbacks run once (the caller disconnects it) and further
 * sends are dropped. Producers of large output await drained() between chunks so they stay
 * under the bound.
 */
export class ImapWriter {
  readonly #socket: WritableSocketLike;
  readonly #maxBufferedBytes: number;
  #queue: Buffer[] = [];
  #buffered = 0;
  #waitingForDrain = false;
  #overflowed = false;
  #closed = false;
  #overflowListeners: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];

  constructor(socket: WritableSocketLike, maxBufferedBytes = WRITER_MAX_BUFFERED_BYTES_DEFAULT) {
    this.#socket = socket;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /** Bytes held here, not yet handed to the socket. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True once the bound was exceeded; everything sent after is dropped. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /**
   * The connection is gone (call it on the socket's 'close'): drop what is held and release
   * whoever awaits drained(), since 'drain' will never come.
   */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#buffered = 0;
    this.#releaseDrainWaiters();
  }

  onOverflow(callback: () => void): void {
    if (this.#overflowed) callback();
    else this.#overflowListeners.push(callback);
  }

  /** Queue bytes (a string is sent as UTF-8). Returns false when the caller should wait for drained(). */
  send(data: Buffer | string): boolean {
    if (this.#overflowed || this.#closed) return false;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.length === 0) return !this.#waitingForDrain;
    if (!this.#waitingForDrain) {
      if (this.#socket.write(bytes)) return true;
      this.#waitForDrain();
      return false;
    }
    this.#queue.push(bytes);
    this.#buffered += bytes.length;
    if (this.#buffered > this.#maxBufferedBytes) this.#overflow();
    return false;
  }

  /** Resolves when the socket has taken everything queued here (at once if nothing is). */
  drained(): Promise<void> {
    if (!this.#waitingForDrain || this.#closed || this.#overflowed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #waitForDrain(): void {
    this.#waitingForDrain = true;
    this.#socket.once('drain', () => this.#flush());
  }

  #flush(): void {
    this.#waitingForDrain = false;
    if (this.#overflowed || this.#closed) return;
    while (this.#queue.length > 0) {
      const bytes = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue, this.#buffered);
      this.#queue = [];
      this.#buffered = 0;
      if (!this.#socket.write(bytes)) {
        this.#waitForDrain();
        return;
      }
    }
    this.#releaseDrainWaiters();
  }

  #releaseDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #overflow(): void {
    this.#overflowed = true;
    this.#queue = [];
    this.#buffered = 0;
    const listeners = this.#overflowListeners;
    this.#overflowListeners = [];
    for (const listener of listeners) listener();
    // Whoever awaits drained() must not hang on a connection that is being dropped.
    this.#releaseDrainWaiters();
  }
}
