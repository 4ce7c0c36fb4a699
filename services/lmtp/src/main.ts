/**
 * loft/lmtp: delivery from the MTA (RFC 2033) on unix and inet listeners. Runs as root and
 * delivers as each recipient's uid, through a fork child or with seteuid (lmtp_privsep).
 */
import os from 'node:os';
import { lookupUser, runService } from '@loft/service-runtime';
import { STORAGE_SETTINGS_DEFAULTS, type StorageSettings } from '@loft/storage';
import { LmtpSession } from './lmtp-session.js';
import { createDeliverer, type Deliverer } from './privsep.js';
import type { LmtpSettings } from './settings.js';
import { UserdbClient } from './userdb-client.js';

const sessions = new Set<LmtpSession>();
let deliverer: Deliverer | undefined;
let userdb: UserdbClient | undefined;
/** uid -> system user name for initgroups ('' when the uid has no system account). */
const systemUsers = new Map<number, Promise<string | undefined>>();

function storageSettings(all: Readonly<Record<string, unknown>>): StorageSettings {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(STORAGE_SETTINGS_DEFAULTS)) if (key in all) picked[key] = all[key];
  return { ...STORAGE_SETTINGS_DEFAULTS, ...picked } as StorageSettings;
}

/** The system account of a uid, if one has the same name as the userdb user; cached. */
function systemUser(uid: number): Promise<string | undefined> {
  let known = systemUsers.get(uid);
  if (!known) {
    known = lookupUser(String(uid)).then((entry) => (entry && entry.uid === uid ? entry.name : undefined), () => undefined);
    systemUsers.set(uid, known);
  }
  return known;
}

await runService({
  fetchSettings: { protocol: 'lmtp' },
  start(ctx) {
    const settings = ctx.settings as unknown as LmtpSettings;
    deliverer = createDeliverer(settings, ctx.logger, systemUser);
    userdb = new UserdbClient(ctx.baseDir);
    ctx.logger.info({ privsep: settings.lmtp_privsep }, `lmtp_privsep (${settings.lmtp_privsep})`);
  },
  onConnection(socket, _listener, ctx) {
    if (!deliverer || !userdb) {
      socket.destroy();
      return;
    }
    const settings = ctx.settings as unknown as LmtpSettings & { first_valid_uid?: number; last_valid_uid?: number };
    const lookup = userdb.lookup.bind(userdb);
    const session = new LmtpSession(socket, {
      settings,
      storage: storageSettings(ctx.settings),
      validUids: { first: settings.first_valid_uid ?? 500, last: settings.last_valid_uid ?? 0 },
      hostname: settings.hostname || os.hostname(),
      deliverer,
      lookup,
      logger: ctx.logger,
    });
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
    session.start();
  },
  async onShutdown() {
    for (const session of sessions) session.shutdownIfIdle();
    userdb?.close();
    await deliverer?.close();
  },
});
