/**
 * One long-lived connection to another service's socket, opened on first use and again
 * after it closed or failed to open: what a service that calls another for each of its
 * clients keeps (imap-login calling auth, auth calling anvil). Its close listener is added
 * once per connection; one added per call would hold a closure for every call ever made.
 */
import { IpcClient, type IpcClientOptions } from './client.js';
import type { ProtocolShape } from './protocol.js';

export class ReconnectingClient<P extends ProtocolShape<P>> {
  #client: Promise<IpcClient<P>> | undefined;

  constructor(
    private readonly path: string,
    private readonly options: IpcClientOptions = {},
  ) {}

  /** The open connection, or one being opened. */
  get(): Promise<IpcClient<P>> {
    if (this.#client) return this.#client;
    const connecting = IpcClient.connect<P>(this.path, this.options);
    this.#client = connecting;
    const forget = (): void => this.drop(connecting);
    connecting.then((client) => client.onClose(forget), forget);
    return connecting;
  }

  /** Forgets `connection` if it is still the current one (a call on it failed): the next get() connects again. */
  drop(connection: Promise<IpcClient<P>>): void {
    if (this.#client === connection) this.#client = undefined;
  }

  close(): void {
    void this.#client?.then((client) => client.close(), () => undefined);
    this.#client = undefined;
  }
}
