/**
 * passdb and userdb `passwd-file`: `args = [scheme=S] [username_format=%n] /etc/loft/%d/passwd`.
 * A user name reaches the path only as a safe component: no `/`, `..`, NUL or control
 * characters; anything else is simply an unknown user.
 */
import type { AuthRequest, Passdb, PassdbResult, Userdb, UserdbResult } from './auth-types.js';
import { checkStoredPassword, driverError, resolveUserIds, splitArgs, type DriverContext } from './driver-support.js';
import { parsePasswdFile, PasswdFileCache, type PasswdEntry } from './passwd-file.js';
import { isAcceptableUserName, isSafePathComponent } from './user-names.js';
import { expand, hasVariables, parseTemplate, variableValues, type TemplatePiece } from './variables.js';

interface PasswdFileArgs {
  path: TemplatePiece[];
  pathTemplate: string;
  usernameFormat: TemplatePiece[];
  scheme: string | undefined;
}

function parseArgs(args: string): PasswdFileArgs {
  let scheme: string | undefined;
  let usernameFormat = '%u';
  const words = splitArgs(args);
  const rest: string[] = [];
  for (const { key, value } of words) {
    if (key === 'scheme' && value !== undefined) scheme = value;
    else if (key === 'username_format' && value !== undefined) usernameFormat = value;
    else rest.push(value === undefined ? key : `${key}=${value}`);
  }
  if (rest.length !== 1) throw driverError('passwd-file', `args must be [scheme=S] [username_format=F] PATH, got '${args}'`);
  // Relative paths are relative to the working directory, which loftd sets to base_dir as
  // Dovecot does; the directory itself is not a template, so its '%' are escaped.
  const file = rest[0].startsWith('/') ? rest[0] : `${process.cwd().replace(/%/g, '%%')}/${rest[0]}`;
  return { path: parseTemplate(file), pathTemplate: file, usernameFormat: parseTemplate(usernameFormat), scheme };
}

type Found = { entry: PasswdEntry; user: string; where: string } | PassdbResult;

class PasswdFileSource {
  readonly args: PasswdFileArgs;
  private readonly cache: PasswdFileCache;

  constructor(args: string, readonly context: DriverContext) {
    this.args = parseArgs(args);
    this.cache = new PasswdFileCache(context.now, context.warn, parsePasswdFile, 'passwd-file');
  }

  /** The entry for a request, or the result to give instead. */
  async find(request: AuthRequest): Promise<Found> {
    const user = request.user;
    if (!isAcceptableUserName(user)) return { result: 'unknown_user', user };
    const values = variableValues(request);
    const key = expand(this.args.usernameFormat, values);
    const path = expand(this.args.path, values, isSafePathComponent);
    if (key === undefined || key === '' || path === undefined) return { result: 'unknown_user', user };
    const found = await this.cache.lookup(path, key);
    switch (found.kind) {
      case 'found':
        return { entry: found.entry, user, where: `${path}:${found.entry.line}` };
      case 'no-user':
        return { result: 'unknown_user', user };
      case 'no-file':
        // A per-domain file that does not exist is a domain we do not serve; the one fixed file missing is a broken setup.
        return hasVariables(this.args.path) ? { result: 'unknown_user', user } : { result: 'tempfail', user, reason: `passwd-file ${path} does not exist` };
      case 'error':
        return { result: 'tempfail', user, reason: found.reason };
    }
  }

  async *users(): AsyncIterable<string> {
    const entries = await this.cache.entries(this.args.pathTemplate);
    if (entries === 'no-file') throw driverError('passwd-file', `${this.args.pathTemplate} does not exist`);
    yield* entries.keys();
  }
}

export function createPasswdFilePassdb(args: string, defaultScheme: string, context: DriverContext): Passdb {
  const source = new PasswdFileSource(args, context);
  const scheme = source.args.scheme ?? defaultScheme;
  return {
    async verifyPlain(request, password) {
      const found = await source.find(request);
      if ('result' in found) return found;
      // userdb_ fields ride along with their prefix, as in Dovecot's passdb reply (for userdb prefetch).
      const userdbFields = Object.entries(found.entry.userdbExtra).map(([key, value]) => [`userdb_${key}`, value]);
      return checkStoredPassword(found.user, password, found.entry.password, scheme, found.where, { ...found.entry.passdbExtra, ...Object.fromEntries(userdbFields) });
    },
    close: async () => undefined,
  };
}

export function createPasswdFileUserdb(args: string, context: DriverContext): Userdb {
  const source = new PasswdFileSource(args, context);
  const userdb: Userdb = {
    async lookup(request): Promise<UserdbResult> {
      const found = await source.find(request);
      if ('result' in found) return found.result === 'tempfail' ? found : { result: 'unknown_user', user: request.user };
      const { entry, user, where } = found;
      const { uid = entry.uid, gid = entry.gid, home = entry.home, mail, ...extra } = entry.userdbExtra;
      const ids = await resolveUserIds(context.ids, user, uid, gid, where);
      if ('result' in ids) return ids;
      return mail === undefined ? { result: 'ok', user, ...ids, home, extra } : { result: 'ok', user, ...ids, home, mail, extra };
    },
    close: async () => undefined,
  };
  // A path with variables names many files, none of which lists every user.
  if (!hasVariables(source.args.path)) userdb.iterate = () => source.users();
  return userdb;
}
