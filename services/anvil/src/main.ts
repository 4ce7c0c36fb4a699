/**
 * loft/anvil: who is connected where (for `loftadm who`, `kick` and the per-user+IP limit)
 * and auth-failure penalties. Sessions come from the master, which saw every hand-off;
 * penalties from auth over anvil.sock. It keeps no mail and no secret.
 */
import { IpcServer } from '@loft/ipc';
import type { AnvilProtocol, AnvilSession } from '@loft/master-protocol';
import { runService } from '@loft/service-runtime';
import { PenaltyTable } from './penalty-table.js';
import type { AnvilSettings } from './settings.js';

const sessions = new Map<string, AnvilSession>();
const penalties = new PenaltyTable();
let server: IpcServer<AnvilProtocol> | undefined;

await runService({
  start(ctx) {
    server = new IpcServer<AnvilProtocol>({
      'penalty-get': ({ ip }) => penalties.get(String(ip)),
      'penalty-inc': ({ ip }) => penalties.increment(String(ip)),
      'penalty-reset': ({ ip }) => {
        penalties.reset(String(ip));
        return { ok: true as const };
      },
    }, { logger: ctx.logger, name: 'anvil.sock' });
  },
  onConnection(socket) {
    server?.handleSocket(socket);
  },
  onMessage(message) {
    if (message.type !== 'anvil-session') return;
    if (message.event === 'start') sessions.set(message.session.id, message.session);
    else sessions.delete(message.session.id);
  },
  onRequest(method, params, ctx) {
    const p = (params ?? {}) as { user?: string; remoteIp?: string };
    if (method === 'anvil-who') {
      return [...sessions.values()].filter((s) => !p.user || s.user === p.user).sort((a, b) => a.user.localeCompare(b.user) || a.started - b.started);
    }
    if (method === 'anvil-count') {
      let count = 0;
      for (const s of sessions.values()) if (s.user === p.user && s.remoteIp === p.remoteIp) count++;
      return { count, limit: (ctx.settings as unknown as AnvilSettings).mail_max_userip_connections };
    }
    throw new Error(`anvil does not handle ${method}`);
  },
  async onShutdown() {
    await server?.close();
  },
});
