/** uid/gid names → numbers through `getent` (NSS: /etc/passwd, LDAP, whatever the host uses). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LoftError } from '@loft/errors';
import type { IdResolver } from './auth-types.js';

const run = promisify(execFile);
/** How long a resolved name is trusted: a renumbered system user is picked up without a restart. */
const ID_CACHE_TTL_MS = 60_000;
const GETENT_TIMEOUT_MS = 5_000;
const SYSTEM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;

/** `getent DATABASE NAME`'s first line, or undefined when there is no such entry (exit code 2). */
export async function getentLine(database: 'passwd' | 'group', name: string): Promise<string | undefined> {
  try {
    return (await run('getent', [database, name], { timeout: GETENT_TIMEOUT_MS })).stdout.split('\n')[0];
  } catch (err) {
    if ((err as { code?: unknown }).code === 2) return undefined;
    throw err;
  }
}

export function createGetentResolver(now: () => number = Date.now): IdResolver {
  const cache = new Map<string, { id: number; at: number }>();
  async function resolve(database: 'passwd' | 'group', nameOrNumber: string): Promise<number> {
    if (/^\d+$/.test(nameOrNumber)) return checkedId(Number(nameOrNumber), nameOrNumber);
    if (!SYSTEM_NAME.test(nameOrNumber)) throw new LoftError('LOFT_E_AUTH_DRIVER', `'${nameOrNumber}' is neither a number nor a valid ${database === 'passwd' ? 'user' : 'group'} name`);
    const key = `${database}:${nameOrNumber}`;
    const cached = cache.get(key);
    if (cached && now() - cached.at < ID_CACHE_TTL_MS) return cached.id;
    let line: string | undefined;
    try {
      line = await getentLine(database, nameOrNumber);
    } catch (err) {
      // No getent binary, a hung NSS backend: said as it is.
      throw new LoftError('LOFT_E_AUTH_DRIVER', `getent ${database} ${nameOrNumber}: failed (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    if (line === undefined) throw new LoftError('LOFT_E_AUTH_DRIVER', `getent ${database} ${nameOrNumber}: no such ${database === 'passwd' ? 'user' : 'group'}`);
    const id = checkedId(Number(line.split(':')[2]), nameOrNumber);
    cache.set(key, { id, at: now() });
    return id;
  }
  return { uid: (name) => resolve('passwd', name), gid: (name) => resolve('group', name) };
}

function checkedId(id: number, text: string): number {
  if (!Number.isSafeInteger(id) || id < 0 || id > 0xffff_fffe) throw new LoftError('LOFT_E_AUTH_DRIVER', `'${text}' is not a valid uid/gid`);
  return id;
}
