/** Pieces every driver shares: argument words, verdicts on a stored password, userdb ids. */
import { isLoftError, LoftError } from '@loft/errors';
import type { DriverOptions, IdResolver, PassdbResult, UserdbResult } from './auth-types.js';
import { createGetentResolver } from './id-resolver.js';
import { verifyPassword } from './password-scheme.js';

export interface DriverContext {
  warn: (message: string) => void;
  now: () => number;
  ids: IdResolver;
}

export function driverContext(options: DriverOptions = {}): DriverContext {
  const now = options.now ?? Date.now;
  return {
    warn: options.warn ?? ((message) => process.emitWarning(message, 'LoftAuthWarning')),
    now,
    ids: options.resolveIds ?? createGetentResolver(now),
  };
}

/** `key=value key2 word` → ordered pairs; a bare word has value undefined. */
export function splitArgs(args: string): { key: string; value: string | undefined }[] {
  return args
    .split(/\s+/)
    .filter((word) => word !== '')
    .map((word) => {
      const eq = word.indexOf('=');
      return eq < 0 ? { key: word, value: undefined } : { key: word.slice(0, eq), value: word.slice(eq + 1) };
    });
}

/**
 * The verdict for `password` against a stored one. A stored password we cannot read
 * (unknown scheme, malformed, cost too high) is the admin's problem, so it is a tempfail
 * whose reason says where, never a "wrong password" the user would retry forever.
 */
export async function checkStoredPassword(user: string, password: string, stored: string, defaultScheme: string, where: string, extra: Record<string, string>): Promise<PassdbResult> {
  if (Object.hasOwn(extra, 'nopassword') && !/^(n|no|0|false)$/i.test(extra.nopassword)) return { result: 'ok', user, extra };
  // An empty password field locks the account, as in Dovecot.
  if (stored === '') return { result: 'mismatch', user };
  try {
    return (await verifyPassword(password, stored, defaultScheme)) ? { result: 'ok', user, extra } : { result: 'mismatch', user };
  } catch (err) {
    if (isLoftError(err, 'LOFT_E_AUTH_SCHEME')) return { result: 'tempfail', user, reason: `${where}: stored password of '${user}' is unusable: ${err.message}` };
    throw err;
  }
}

/** uid/gid as numbers, or a tempfail naming what could not be resolved. */
export async function resolveUserIds(ids: IdResolver, user: string, uid: string, gid: string, where: string): Promise<{ uid: number; gid: number } | UserdbResult> {
  if (uid === '' || gid === '') return { result: 'tempfail', user, reason: `${where}: user '${user}' has no ${uid === '' ? 'uid' : 'gid'}; set it (or userdb_${uid === '' ? 'uid' : 'gid'}=)` };
  try {
    return { uid: await ids.uid(uid), gid: await ids.gid(gid) };
  } catch (err) {
    if (isLoftError(err, 'LOFT_E_AUTH_DRIVER')) return { result: 'tempfail', user, reason: `${where}: ${err.message}` };
    throw err;
  }
}

export function driverError(driver: string, problem: string): LoftError {
  return new LoftError('LOFT_E_AUTH_DRIVER', `${driver}: ${problem}`);
}
