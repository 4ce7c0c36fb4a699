/** Turning a service's settings into who it runs as and which module it runs. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoftError } from '@loft/errors';
import type { ServiceSettings } from '@loft/master-protocol';
import type { ServiceIdentity } from './service-pool.js';
import { linkedModule, lookupGroup, lookupUser } from '@loft/service-runtime';

/**
 * services/ of this install: built-in executables are services/<name>/dist/main.js, started
 * from main.linked.js when the build linked it (see linkedModule).
 */
const SERVICES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function resolveExecutable(service: string, settings: ServiceSettings, warn: (message: string) => void): string {
  const executable = settings.executable || service;
  if (path.isAbsolute(executable)) {
    if (!fs.existsSync(executable)) throw new LoftError('LOFT_E_MASTER_UNKNOWN_SERVICE', `service ${service}: executable ${executable} does not exist`);
    return executable;
  }
  const builtin = /^[a-z0-9][a-z0-9-]*$/.test(executable) ? path.join(SERVICES_DIR, executable, 'dist', 'main.js') : '';
  if (!builtin || !fs.existsSync(builtin)) {
    throw new LoftError('LOFT_E_MASTER_UNKNOWN_SERVICE', `service ${service}: executable '${executable}' is neither a built-in service nor an absolute path`);
  }
  const linked = linkedModule(builtin);
  if (linked.stale) warn(`service ${service}: starting it from its compiled modules: ${linked.stale}`);
  return linked.path;
}

/** Rootless: everything runs as the invoking user. As root an unset user means root itself. */
export async function resolveIdentity(service: string, settings: ServiceSettings, rootless: boolean): Promise<ServiceIdentity> {
  if (rootless || (!settings.user && !settings.group)) {
    if (!rootless && settings.extra_groups.length > 0) throw new LoftError('LOFT_E_MASTER_USER', `service ${service}: extra_groups needs user: a process that stays root has every group's access already`);
    return {};
  }
  const user = settings.user ? await lookupUser(settings.user) : undefined;
  if (settings.user && !user) {
    throw new LoftError('LOFT_E_MASTER_USER', `service ${service}: user = ${settings.user}: no such user (check getent passwd ${settings.user})`);
  }
  let gid = user?.gid ?? 0;
  if (settings.group) {
    const group = await lookupGroup(settings.group);
    if (group === undefined) throw new LoftError('LOFT_E_MASTER_USER', `service ${service}: group = ${settings.group}: no such group`);
    gid = group;
  }
  const extraGids: number[] = [];
  for (const name of settings.extra_groups) {
    const extra = /^\d+$/.test(name) ? Number(name) : await lookupGroup(name);
    if (extra === undefined) throw new LoftError('LOFT_E_MASTER_USER', `service ${service}: extra_groups = ${name}: no such group (check getent group ${name})`);
    extraGids.push(extra);
  }
  return { uid: user?.uid ?? 0, gid, user: user?.name, ...(extraGids.length > 0 ? { extraGids } : {}) };
}

/** Owner of a unix listener's socket file, or undefined to keep loftd's. */
export async function resolveSocketOwner(user: string, group: string, rootless: boolean): Promise<{ uid: number; gid: number } | undefined> {
  if (rootless || (!user && !group)) return undefined;
  const entry = user ? await lookupUser(user) : undefined;
  if (user && !entry) throw new LoftError('LOFT_E_MASTER_USER', `unix_listener user = ${user}: no such user`);
  const gid = group ? await lookupGroup(group) : entry?.gid;
  if (gid === undefined) throw new LoftError('LOFT_E_MASTER_USER', `unix_listener group = ${group}: no such group`);
  return { uid: entry?.uid ?? 0, gid };
}
