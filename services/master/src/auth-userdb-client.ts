/**
 * The master's connection to auth's userdb socket (root-only, unreachable from login
 * processes): where tickets are redeemed, so the master learns who logged in from auth
 * itself, never from the login process that may be compromised.
 */
import { IpcClient } from '@loft/ipc';
import type { AuthUserdbProtocol } from '@loft/master-protocol';

const AUTH_USERDB_TIMEOUT_MS = 30_000;

export class AuthUserdbClient {
  private client: Promise<IpcClient<AuthUserdbProtocol>> | undefined;

  constructor(private readonly socketPath: () => string | undefined) {}

  async request<K extends keyof AuthUserdbProtocol & string>(method: K, params: AuthUserdbProtocol[K]['params']): Promise<AuthUserdbProtocol[K]['result']> {
    const client = await this.connect();
    return client.request(method, params);
  }

  private connect(): Promise<IpcClient<AuthUserdbProtocol>> {
    if (!this.client) {
      const path = this.socketPath();
      if (!path) return Promise.reject(new Error('no auth service with an auth-userdb listener is configured'));
      const connecting = IpcClient.connect<AuthUserdbProtocol>(path, { timeoutMs: AUTH_USERDB_TIMEOUT_MS });
      this.client = connecting;
      connecting.then((c) => c.onClose(() => { if (this.client === connecting) this.client = undefined; }), () => { if (this.client === connecting) this.client = undefined; });
    }
    return this.client;
  }

  close(): void {
    void this.client?.then((c) => c.close(), () => undefined);
    this.client = undefined;
  }
}
