/**
 * User and group lookups for service users, through getent so that NSS sources (LDAP,
 * systemd dynamic users) work as they do for Dovecot. Only the root master calls these.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Lookups still running, by database and key: the master resolves every service's user and
 * sockets' owners side by side at start and reload, mostly the same few names, and each
 * getent is a process of its own. Only a running lookup is shared, so a later one sees the
 * NSS sources as they are then.
 */
const running = new Map<string, Promise<string[] | undefined>>();

function getent(database: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  const id = `${database}:${key}`;
  let lookup = running.get(id);
  if (!lookup) {
    lookup = runGetent(database, key).finally(() => running.delete(id));
    running.set(id, lookup);
  }
  return lookup;
}

async function runGetent(database: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  if (!/^[A-Za-z0-9._-][A-Za-z0-9._$-]*$/.test(key)) return undefined;
  try {
    const { stdout } = await run('getent', [database, key], { timeout: 5000 });
    const line = stdout.split('\n')[0];
    return line ? line.split(':') : undefined;
  } catch {
    return undefined; // exit code 2: no such entry
  }
}

export async function lookupUser(name: string): Promise<UserEntry | undefined> {
  const fields = await getent('passwd', name);
  if (!fields || fields.length < 6) return undefined;
  return { name: fields[0], uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}

export async function lookupGroup(name: string): Promise<number | undefined> {
  const fields = await getent('group', name);
  if (!fields || fields.length < 3) return undefined;
  return Number(fields[2]);
}
