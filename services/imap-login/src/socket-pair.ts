/**
 * A connected pair of UNIX sockets, which Node cannot make directly (no socketpair()).
 * After a TLS login, imap-login keeps the TLS session and relays plaintext to the imap
 * process over such a pair, as Dovecot's login processes do: TLS state cannot travel
 * between processes, a plain socket can. The pair is made through a listener on an
 * abstract socket name (no file); since anyone on the host could connect to it, each
 * connection must first present a 32-byte random cookie, and anything else is dropped.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const COOKIE_BYTES = 32;
const PAIR_TIMEOUT_MS = 5_000;

export class SocketPairFactory {
  private readonly name = `\0loft-imap-login-${process.pid}-${randomBytes(8).toString('hex')}`;
  private readonly waiting = new Map<string, (socket: net.Socket) => void>();
  private server: Promise<net.Server> | undefined;

  /** [our end, the end to hand over], connected to each other. */
  async pair(): Promise<[net.Socket, net.Socket]> {
    await this.listening();
    const cookie = randomBytes(COOKIE_BYTES);
    const theirs = new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(cookie.toString('hex'));
        reject(new Error('socket pair was not completed in time'));
      }, PAIR_TIMEOUT_MS);
      this.waiting.set(cookie.toString('hex'), (socket) => {
        clearTimeout(timer);
        resolve(socket);
      });
    });
    const ours = net.connect(this.name);
    ours.on('error', () => undefined);
    ours.write(cookie);
    return [ours, await theirs];
  }

  private listening(): Promise<net.Server> {
    this.server ??= new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.on('error', reject);
      server.listen(this.name, () => resolve(server));
    });
    return this.server;
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), PAIR_TIMEOUT_MS);
    const onReadable = (): void => {
      const cookie = socket.read(COOKIE_BYTES) as Buffer | null;
      if (cookie === null) return; // not all 32 bytes yet
      socket.off('readable', onReadable);
      clearTimeout(timer);
      const complete = this.waiting.get(cookie.toString('hex'));
      if (!complete) {
        socket.destroy();
        return;
      }
      this.waiting.delete(cookie.toString('hex'));
      socket.pause();
      complete(socket);
    };
    socket.on('readable', onReadable);
  }

  /**
   * Stop making pairs. Not waiting for the server's 'close': that waits for every pair ever
   * accepted to end, and the ends handed over live on in other processes (Node asks the
   * master about them, which knows nothing of them once passed on); the relays still
   * running are clients of their own, counted until they end.
   */
  async close(): Promise<void> {
    const server = await this.server?.catch(() => undefined);
    server?.close();
  }
}
