/**
 * One long-lived connection to another service's socket, opened on first use and again
 * after it closed or failed to open: what a service that calls another for each of its
 * clients keeps (imap-login calling auth, auth calling anvil). Its close listener is added
 * once per connection; one added per call would hold a closure for every call ever made.
 *
 * The master binds a service's socket and the service's process listens on it, so while
 * that process starts (loftd starting, a reload, a replacement after a crash: ~0.2 to 1 s)
 * a connect is refused. A refused connect is tried again for up to `startWaitMs`, so a
 * login that arrives meanwhile waits for the service rather than failing (Dovecot's master
 * listens itself, and such a client waits in the backlog). Once a wait has run out, calls
 * fail at once until a connect succeeds again: a service that stays down does not hold
 * every caller for the whole wait.
 */
import { IpcClient, type IpcClientOptions } from './client.js';
import type { ProtocolShape } from './protocol.js';

/** How long a refused connect is retried (a service's process starting), by default. */
const RECONNECT_START_WAIT_MS = 2_000;
const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 200;

export interface ReconnectingClientOptions extends IpcClientOptions {
  /** How long a refused connect is tried again; 0: fail at once. */
  startWaitMs?: number;
}

function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return cause?.code === 'ECONNREFUSED';
}

export class ReconnectingClient<P extends ProtocolShape<P>> {
  #client: Promise<IpcClient<P>> | undefined;
  /** The last connect ran out of its wait; the next tries once until one succeeds. */
  #down = false;
  /** Counts close() calls: a connect still retrying when the client is closed gives up. */
  #closes = 0;

  constructor(
    private readonly path: string,
    private readonly options: ReconnectingClientOptions = {},
  ) {}

  /** The open connection, or one being opened. */
  get(): Promise<IpcClient<P>> {
    if (this.#client) return this.#client;
    const connecting = this.#connect();
    this.#client = connecting;
    const forget = (): void => this.drop(connecting);
    connecting.then((client) => client.onClose(forget), forget);
    return connecting;
  }

  async #connect(): Promise<IpcClient<P>> {
    const closes = this.#closes;
    const deadline = Date.now() + (this.#down ? 0 : (this.options.startWaitMs ?? RECONNECT_START_WAIT_MS));
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      let failure: unknown;
      try {
        const client = await IpcClient.connect<P>(this.path, this.options);
        this.#down = false;
        return client;
      } catch (err) {
        if (!refused(err)) throw err;
        failure = err;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#down = true;
        throw failure;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      // Closed while waiting: no connection that nobody would close.
      if (this.#closes !== closes) throw failure;
    }
  }

  /** Forgets `connection` if it is still the current one (a call on it failed): the next get() connects again. */
  drop(connection: Promise<IpcClient<P>>): void {
    if (this.#client === connection) this.#client = undefined;
  }

  close(): void {
    this.#closes++;
    void this.#client?.then((client) => client.close(), () => undefined);
    this.#client = undefined;
  }
}
