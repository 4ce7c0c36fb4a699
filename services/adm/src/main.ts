/**
 * loft/adm: the doveadm server. loftadm's mail commands arrive on run/adm.sock (root only);
 * each is looked up in userdb and run in a worker that drops to the user's uid/gid, and its
 * rows stream back as they come. The service itself stays root and never opens mail.
 */
import { IpcServer } from '@loft/ipc';
import type { AdmProtocol } from '@loft/master-protocol';
import { runService } from '@loft/service-runtime';
import { checkRequest } from './request-check.js';
import type { AdmSettings } from './settings.js';
import { lookupMailUser } from './user-lookup.js';
import { WorkerPool } from './worker-pool.js';
import { storageSettingsFor } from './storage-settings.js';

let server: IpcServer<AdmProtocol> | undefined;
let pool: WorkerPool | undefined;

await runService({
  start(ctx) {
    const settings = ctx.settings as unknown as AdmSettings & { first_valid_uid?: number; last_valid_uid?: number };
    const workers = new WorkerPool({ limit: settings.adm_worker_limit, timeoutMs: settings.adm_worker_timeout, logger: ctx.logger });
    pool = workers;
    const uidRange = { first_valid_uid: settings.first_valid_uid ?? 500, last_valid_uid: settings.last_valid_uid ?? 0 };
    server = new IpcServer<AdmProtocol>({
      'mail-command': async function* (params, call) {
        const request = checkRequest(params);
        const identity = await lookupMailUser(ctx.baseDir, request.user, uidRange);
        ctx.logger.info({ user: identity.user, cmd: request.command.cmd }, `loftadm ${request.command.cmd} for ${identity.user}`);
        const job = { type: 'run' as const, user: identity.user, home: identity.home, settings: storageSettingsFor(ctx.settings, identity.mail, identity.quotaRule), command: request.command };
        yield* workers.run(job, identity, call.signal);
      },
    }, { logger: ctx.logger, name: 'adm.sock' });
  },
  onConnection(socket) {
    server?.handleSocket(socket);
  },
  async onShutdown() {
    pool?.killAll();
    await server?.close();
  },
});
