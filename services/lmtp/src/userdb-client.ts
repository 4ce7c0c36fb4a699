/**
 * Recipient lookups in userdb over `<base_dir>/run/auth-userdb.sock` (root-only, which lmtp
 * is). One connection, made again when it closes; lookups of all sessions share it.
 */
import path from 'node:path';
import { IpcClient } from '@loft/ipc';
import { RUN_FILES, type AuthUserdbProtocol, type UserLookupResult } from '@loft/master-protocol';

/** How long a recipient waits for userdb before it gets a 451. */
export const USERDB_LOOKUP_TIMEOUT_MS = 15_000;

export class UserdbClient {
  private client: Promise<IpcClient<AuthUserdbProtocol>> | undefined;

  constructor(private readonly baseDir: string) {}

  /** A tempfail result when auth cannot be reached, never a rejection. */
  async lookup(user: string): Promise<UserLookupResult> {
    try {
      const client = await this.connection();
      return await client.request('user-lookup', { user, service: 'lmtp' }, { timeoutMs: USERDB_LOOKUP_TIMEOUT_MS });
    } catch (err) {
      return { result: 'tempfail', user, reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private connection(): Promise<IpcClient<AuthUserdbProtocol>> {
    if (!this.client) {
      const socketPath = path.join(this.baseDir, 'run', RUN_FILES.AUTH_USERDB_SOCKET);
      const connecting = IpcClient.connect<AuthUserdbProtocol>(socketPath, { timeoutMs: USERDB_LOOKUP_TIMEOUT_MS });
      this.client = connecting;
      connecting.then((client) => client.onClose(() => {
        if (this.client === connecting) this.client = undefined;
      }), () => {
        if (this.client === connecting) this.client = undefined;
      });
    }
    return this.client;
  }

  close(): void {
    void this.client?.then((client) => client.close(), () => undefined);
    this.client = undefined;
  }
}
