/**
 * The host's own accounts, which is what Debian's Dovecot serves out of the box: userdb
 * `passwd` (a system user's uid, gid and home) and passdb `shadow` (the user's crypt(3) hash
 * in /etc/shadow: yescrypt, SHA-crypt, bcrypt or MD5-crypt). Dovecot's stock passdb is `pam`,
 * whose pam_unix reads the same file; Node cannot call PAM without a compiled addon, so Loft
 * reads the file itself.
 *
 * Both files are read directly and re-read when they change (passwd-file.ts's cache). A user
 * missing from /etc/passwd is asked of NSS (`getent passwd`), so accounts from LDAP or sssd
 * resolve as they do for login(1). /etc/shadow is `root:shadow 0640` on Debian: the auth
 * service reads it with `extra_groups = shadow` in `service auth`, never as root.
 */
import type { AuthRequest, Passdb, PassdbResult, UidRange, Userdb, UserdbResult } from './auth-types.js';
import { checkStoredPassword, driverError, resolveUserIds, type DriverContext } from './driver-support.js';
import { getentLine } from './id-resolver.js';
import { parsePasswdFile, PasswdFileCache, type ParsedPasswdFile, type PasswdEntry } from './passwd-file.js';

export const PASSWD_PATH = '/etc/passwd';
export const SHADOW_PATH = '/etc/shadow';

const DAY_MS = 86_400_000;
/** What useradd accepts (plus `$` for machine accounts); anything else, e.g. `alice@example.com`, is no system user. */
const SYSTEM_USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,255}\$?$/;

/** Paths and the NSS fallback, for tests. */
export interface SystemDriverOptions {
  passwdPath?: string;
  shadowPath?: string;
  /** `getent passwd NAME` when the user is not in the file; undefined: not found. */
  getent?: (user: string) => Promise<string | undefined>;
  uids?: UidRange;
}

function noArgs(kind: string, args: string): void {
  // Dovecot's `blocking=` chose its worker processes; lookups here never block the auth process.
  const words = args.split(/\s+/).filter((word) => word !== '' && !/^blocking=(yes|no)$/.test(word));
  if (words.length > 0) throw driverError(kind, `takes no args, got '${args}'`);
}

export function createPasswdUserdb(args: string, context: DriverContext, options: SystemDriverOptions = {}): Userdb {
  noArgs('passwd', args);
  const path = options.passwdPath ?? PASSWD_PATH;
  const cache = new PasswdFileCache(context.now, context.warn, parsePasswdFile, 'passwd');
  const getent = options.getent ?? ((name: string) => getentLine('passwd', name));
  const uids = options.uids ?? { first: 500, last: 0 };

  async function find(user: string): Promise<{ entry: PasswdEntry; where: string } | UserdbResult> {
    const found = await cache.lookup(path, user);
    if (found.kind === 'found') return { entry: found.entry, where: `${path}:${found.entry.line}` };
    if (found.kind === 'error') return { result: 'tempfail', user, reason: found.reason };
    let line: string | undefined;
    try {
      line = await getent(user);
    } catch (err) {
      return { result: 'tempfail', user, reason: `getent passwd ${user} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    const entry = line === undefined ? undefined : parsePasswdFile(line, 'getent passwd').entries.get(user);
    return entry ? { entry, where: `getent passwd ${user}` } : { result: 'unknown_user', user };
  }

  return {
    async lookup(request: AuthRequest): Promise<UserdbResult> {
      const user = request.user;
      if (!SYSTEM_USER_NAME.test(user)) return { result: 'unknown_user', user };
      const found = await find(user);
      if ('result' in found) return found;
      const ids = await resolveUserIds(context.ids, user, found.entry.uid, found.entry.gid, found.where);
      if ('result' in ids) return ids;
      return { result: 'ok', user, ...ids, home: found.entry.home, extra: {} };
    },
    // Dovecot lists only the accounts mail may run as: root and the system's daemons are no mail users.
    async *iterate(): AsyncIterable<string> {
      const entries = await cache.entries(path);
      if (entries === 'no-file') throw driverError('passwd', `${path} does not exist`);
      for (const entry of entries.values()) {
        const uid = Number(entry.uid);
        if (/^\d+$/.test(entry.uid) && uid >= uids.first && (uids.last === 0 || uid <= uids.last)) yield entry.user;
      }
    },
    close: async () => undefined,
  };
}

export interface ShadowEntry {
  user: string;
  /** The crypt(3) string; `!` or `*` in front locks the account. */
  password: string;
  /** Day (since 1970) the account expires on; undefined: never. */
  expireDay: number | undefined;
  line: number;
}

/** `name:hash:lastchange:min:max:warn:inactive:expire:` lines. */
export function parseShadowFile(text: string, path: string): ParsedPasswdFile<ShadowEntry> {
  const entries = new Map<string, ShadowEntry>();
  const warnings: string[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const fields = raw.split(':');
    const user = fields[0];
    if (fields.length < 2 || !SYSTEM_USER_NAME.test(user)) {
      // Never quote the line: it may hold a hash.
      warnings.push(`${path}:${index + 1}: not a shadow entry (name:password:…); line skipped`);
      return;
    }
    if (entries.has(user)) return; // getspnam(3) takes the first
    const expire = fields[7] ?? '';
    entries.set(user, { user, password: fields[1], expireDay: /^\d+$/.test(expire) ? Number(expire) : undefined, line: index + 1 });
  });
  return { entries, warnings };
}

export function createShadowPassdb(args: string, context: DriverContext, options: SystemDriverOptions = {}): Passdb {
  noArgs('shadow', args);
  const path = options.shadowPath ?? SHADOW_PATH;
  const cache = new PasswdFileCache(context.now, context.warn, parseShadowFile, 'shadow file');
  return {
    async verifyPlain(request: AuthRequest, password: string): Promise<PassdbResult> {
      const user = request.user;
      if (!SYSTEM_USER_NAME.test(user)) return { result: 'unknown_user', user };
      const found = await cache.lookup(path, user);
      switch (found.kind) {
        case 'no-user':
          return { result: 'unknown_user', user };
        case 'no-file':
          return { result: 'tempfail', user, reason: `${path} does not exist` };
        case 'error':
          return { result: 'tempfail', user, reason: found.reason.includes('EACCES') ? `${found.reason}: the auth service needs its group; set extra_groups = shadow in service auth` : found.reason };
        case 'found':
          break;
      }
      const entry = found.entry;
      // A locked account (`!`, `*`, `!!`, `*LK*`…) fails as a wrong password would: its hash is
      // not meant to match, and saying "locked" would tell a guesser the name exists.
      if (entry.password.startsWith('!') || entry.password.startsWith('*')) return { result: 'mismatch', user };
      if (entry.expireDay !== undefined && entry.expireDay * DAY_MS <= context.now()) {
        context.warn(`shadow: account '${user}' expired on ${new Date(entry.expireDay * DAY_MS).toISOString().slice(0, 10)}; login refused`);
        return { result: 'mismatch', user };
      }
      // Always read as crypt(3), whatever the hash looks like: the file holds no {SCHEME}.
      return checkStoredPassword(user, password, entry.password === '' ? '' : `{CRYPT}${entry.password}`, 'CRYPT', `${path}:${entry.line}`, {});
    },
    close: async () => undefined,
  };
}
