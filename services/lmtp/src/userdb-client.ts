/**
 * Recipient lookups in userdb over `<base_dir>/run/auth-userdb.sock` (root-only, which lmtp
 * is). One connection, made again when it closes; lookups of all sessions share it.
 */
import path from 'node:path';
import { ReconnectingClient } from '@loft/ipc';
import { RUN_FILES, type AuthUserdbProtocol, type UserLookupResult } from '@loft/master-protocol';

/** How long a recipient waits for userdb before it gets a 451. */
export const USERDB_LOOKUP_TIMEOUT_MS = 15_000;

export class UserdbClient {
  private readonly userdb: ReconnectingClient<AuthUserdbProtocol>;

  constructor(baseDir: string) {
    this.userdb = new ReconnectingClient(path.join(baseDir, 'run', RUN_FILES.AUTH_USERDB_SOCKET), { timeoutMs: USERDB_LOOKUP_TIMEOUT_MS });
  }

  /** A tempfail result when auth cannot be reached, never a rejection. */
  async lookup(user: string): Promise<UserLookupResult> {
    try {
      const client = await this.userdb.get();
      return await client.request('user-lookup', { user, service: 'lmtp' }, { timeoutMs: USERDB_LOOKUP_TIMEOUT_MS });
    } catch (err) {
      return { result: 'tempfail', user, reason: err instanceof Error ? err.message : String(err) };
    }
  }

  close(): void {
    this.userdb.close();
  }
}
