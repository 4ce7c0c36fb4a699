/** Writing frames to a socket. */
import type net from 'node:net';

/**
 * Coalesces the frames written in one tick into a single write(2). Pipelined calls and
 * their replies are mostly small frames produced together; without this each costs its
 * own system call. Backpressure still works: write() returns false once the buffered
 * bytes pass the socket's high-water mark, and 'drain' follows the flush.
 */
export class TickBatchedWriter {
  readonly #socket: net.Socket;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  constructor(socket: net.Socket) {
    this.#socket = socket;
  }

  /** false when the caller should wait for 'drain' before writing more. */
  write(frame: Buffer): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    return this.#socket.write(frame);
  }
}
