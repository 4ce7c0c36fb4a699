/** The serving side: accepts connections and answers them with typed handlers. */
import net from 'node:net';
import { chmod } from 'node:fs/promises';
import { IPC_MAX_FRAME_BYTES_DEFAULT } from './frame.js';
import { NOOP_LOGGER, type Handlers, type IpcLogger, type ProtocolShape } from './protocol.js';
import { ServerConnection, type ConnectionSettings } from './server-connection.js';
import { removeStaleSocket } from './socket-file.js';

/** Only the owner may connect unless the caller says otherwise. */
export const IPC_SOCKET_MODE_DEFAULT = 0o600;

export interface IpcServerOptions {
  /** Largest frame payload in bytes, default IPC_MAX_FRAME_BYTES_DEFAULT; a peer sending more is disconnected. */
  maxFrameBytes?: number;
  /** default: a no-op logger */
  logger?: IpcLogger;
  /** for log lines, e.g. 'master.sock' */
  name?: string;
}

export class IpcServer<P extends ProtocolShape<P>> {
  readonly #handlers: Handlers<P>;
  readonly #settings: ConnectionSettings;
  readonly #servers = new Set<net.Server>();
  /** Open connections, each with a promise of its socket's 'close'. */
  readonly #connections = new Map<ServerConnection<P>, Promise<void>>();
  #nextConnectionId = 1;
  #closed = false;

  constructor(handlers: Handlers<P>, options: IpcServerOptions = {}) {
    this.#handlers = handlers;
    this.#settings = {
      maxFrameBytes: options.maxFrameBytes ?? IPC_MAX_FRAME_BYTES_DEFAULT,
      logger: options.logger ?? NOOP_LOGGER,
      name: options.name ?? 'ipc',
    };
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Serves connections that arrive on an existing net.Server (e.g. a listener the master passed). */
  attach(server: net.Server): void {
    this.#adopt(server);
    this.#logServerErrors(server);
  }

  /**
   * Listens on a UNIX socket path, first removing a socket file that nobody listens on any
   * more, then chmods it to `mode`. Until the chmod the file has the umask's mode; Loft's
   * run directory is the real barrier, and setting the umask around the bind is not safe
   * in Node, where libuv threads create files concurrently.
   */
  async listen(path: string, mode = IPC_SOCKET_MODE_DEFAULT): Promise<net.Server> {
    await removeStaleSocket(path);
    const server = net.createServer();
    this.#adopt(server);
    try {
      await listenOn(server, path);
      await chmod(path, mode);
    } catch (err) {
      this.#servers.delete(server);
      server.close();
      throw err;
    }
    this.#logServerErrors(server);
    return server;
  }

  /** Serves one already-connected socket. */
  handleSocket(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const connection = new ServerConnection(this.#nextConnectionId++, socket, this.#handlers, this.#settings);
    const closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.#connections.delete(connection);
        resolve();
      }),
    );
    this.#connections.set(connection, closed);
  }

  /** Stops: closes servers created by listen()/attach() and destroys all connections. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = [...this.#servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    this.#servers.clear();
    for (const [connection, closed] of this.#connections) {
      connection.destroy();
      closing.push(closed);
    }
    await Promise.all(closing);
  }

  #adopt(server: net.Server): void {
    this.#servers.add(server);
    server.on('connection', (socket: net.Socket) => this.handleSocket(socket));
  }

  /** An accept failure (EMFILE, say) must not become an uncaught exception in the daemon. */
  #logServerErrors(server: net.Server): void {
    const { logger, name } = this.#settings;
    server.on('error', (err) => logger.error({ err, name }, `ipc listener failed: ${err.message}`));
  }
}

function listenOn(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
