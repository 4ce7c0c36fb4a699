/** Writing responses to a client socket with a bound on what a slow reader can make us hold. */

/** The part of a net.Socket / tls.TLSSocket the writer uses. */
export interface WritableSocketLike {
  write(data: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  /** Bytes the socket holds that the kernel has not taken yet (net.Socket has it). */
  readonly writableLength?: number;
  /** Hold writes until uncork(), then pass them to the kernel in one writev (net.Socket has them). */
  cork?(): void;
  uncork?(): void;
}

export interface StallOptions {
  /** How long the client may take nothing of what waits for it before onStall runs, ms. */
  timeoutMs: number;
  /** The client read nothing for timeoutMs; the caller disconnects it. Runs once. */
  onStall: (queuedBytes: number) => void;
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
  #corked = false;
  #overflowListeners: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  readonly #stall: StallOptions | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** Bytes still waiting when the stall timer was last armed, to tell a slow reader from a stopped one. */
  #stallBaseline = 0;

  constructor(socket: WritableSocketLike, maxBufferedBytes = WRITER_MAX_BUFFERED_BYTES_DEFAULT, stall?: StallOptions) {
    this.#socket = socket;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#stall = stall;
  }

  /** The socket refused more: output is held here until the client reads. Producers should stop. */
  get waiting(): boolean {
    return this.#waitingForDrain && !this.#closed && !this.#overflowed;
  }

  /** Bytes not yet taken by the kernel: held here plus held in the socket. */
  get queued(): number {
    return this.#buffered + (this.#socket.writableLength ?? 0);
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
    this.#stopStallTimer();
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
      this.#cork();
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

  /**
   * Responses sent in one turn of the event loop (a FETCH of many messages, its tagged OK)
   * reach the kernel in one writev instead of a write() each. end() uncorks by itself.
   */
  #cork(): void {
    const socket = this.#socket;
    if (this.#corked || socket.cork === undefined || socket.uncork === undefined) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork!();
    });
  }

  #waitForDrain(): void {
    this.#waitingForDrain = true;
    this.#socket.once('drain', () => this.#flush());
    if (this.#stall !== undefined && this.#stallTimer === undefined) this.#armStallTimer(this.#stall);
  }

  /**
   * 'drain' only comes once the socket is empty, which a client reading slowly but steadily
   * may never let happen; so the timer checks whether the queue shrank and only then waits again.
   */
  #armStallTimer(stall: StallOptions): void {
    this.#stallBaseline = this.queued;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (!this.#waitingForDrain || this.#closed || this.#overflowed) return;
      if (this.queued < this.#stallBaseline) return this.#armStallTimer(stall);
      stall.onStall(this.queued);
    }, stall.timeoutMs);
    this.#stallTimer.unref();
  }

  #stopStallTimer(): void {
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #flush(): void {
    this.#waitingForDrain = false;
    this.#stopStallTimer();
    if (this.#overflowed || this.#closed) return;
    while (this.#queue.length > 0) {
      const queue = this.#queue;
      this.#queue = [];
      this.#buffered = 0;
      // Corked, the chunks reach the kernel in one writev. Joined with Buffer.concat they
      // were a copy of everything held (256 KiB at a time in a FETCH 1:* of a large
      // mailbox) into a Buffer large enough for malloc to map fresh pages for each time:
      // 2,100-2,500 page faults in a process's first FETCH 1:* (FLAGS) of 100,000 messages.
      let accepted = true;
      if (queue.length === 1) {
        accepted = this.#socket.write(queue[0]!);
      } else {
        this.#cork();
        for (const bytes of queue) accepted = this.#socket.write(bytes);
      }
      if (!accepted) {
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
    this.#stopStallTimer();
    this.#queue = [];
    this.#buffered = 0;
    const listeners = this.#overflowListeners;
    this.#overflowListeners = [];
    for (const listener of listeners) listener();
    // Whoever awaits drained() must not hang on a connection that is being dropped.
    this.#releaseDrainWaiters();
  }
}
