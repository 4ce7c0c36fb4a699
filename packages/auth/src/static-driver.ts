/**
 * Dovecot's `static` drivers. userdb: `args = uid=vmail gid=vmail home=/var/vmail/%d/%n
 * mail=sdbox:~/mail` gives every user the same fields. passdb: `args = password=…` (any
 * scheme) or `nopassword`, plus fields such as `proxy=y host=…`; for tests and proxies.
 */
import type { Passdb, Userdb, UserdbResult } from './auth-types.js';
import { checkStoredPassword, driverError, resolveUserIds, splitArgs, type DriverContext } from './driver-support.js';
import { isAcceptableUserName, isSafePathComponent } from './user-names.js';
import { expand, parseTemplate, variableValues, type TemplatePiece } from './variables.js';

/** Fields with their variables parsed; `password` is kept verbatim (a password may hold a '%'). */
function parseFields(driver: string, args: string): { fields: Map<string, TemplatePiece[]>; password: string | undefined } {
  const fields = new Map<string, TemplatePiece[]>();
  let password: string | undefined;
  for (const { key, value } of splitArgs(args)) {
    if (!/^[A-Za-z_][\w.-]*$/.test(key)) throw driverError(driver, `'${key}' is not a field name (args are key=value words)`);
    if (key === 'password') password = value ?? '';
    else fields.set(key, parseTemplate(value ?? ''));
  }
  return { fields, password };
}

export function createStaticUserdb(args: string, context: DriverContext): Userdb {
  const { fields } = parseFields('static userdb', args);
  for (const required of ['uid', 'gid']) if (!fields.has(required)) throw driverError('static userdb', `args must set ${required}= (e.g. uid=vmail gid=vmail home=/var/vmail/%d/%n)`);
  // Dovecot's allow_all_users steers its passdb check, which the auth service does; it is no user field.
  fields.delete('allow_all_users');
  return {
    async lookup(request): Promise<UserdbResult> {
      const user = request.user;
      if (!isAcceptableUserName(user)) return { result: 'unknown_user', user };
      const values = variableValues(request);
      const expanded: Record<string, string> = {};
      for (const [key, pieces] of fields) {
        // A user name that could climb out of the home directory is nobody's.
        const value = expand(pieces, values, isSafePathComponent);
        if (value === undefined) return { result: 'unknown_user', user };
        expanded[key] = value;
      }
      const { uid, gid, home = '', mail, ...extra } = expanded;
      const ids = await resolveUserIds(context.ids, user, uid, gid, 'static userdb');
      if ('result' in ids) return ids;
      return mail === undefined ? { result: 'ok', user, ...ids, home, extra } : { result: 'ok', user, ...ids, home, mail, extra };
    },
    close: async () => undefined,
  };
}

export function createStaticPassdb(args: string, defaultScheme: string): Passdb {
  const { fields, password } = parseFields('static passdb', args);
  if (password === undefined && !fields.has('nopassword')) throw driverError('static passdb', 'args must set password=… or nopassword');
  const stored = password ?? '';
  return {
    async verifyPlain(request, given) {
      const user = request.user;
      if (!isAcceptableUserName(user)) return { result: 'unknown_user', user };
      const values = variableValues(request);
      const extra: Record<string, string> = {};
      for (const [key, pieces] of fields) extra[key] = expand(pieces, values) ?? '';
      return checkStoredPassword(user, given, stored, defaultScheme, 'static passdb', extra);
    },
    close: async () => undefined,
  };
}
