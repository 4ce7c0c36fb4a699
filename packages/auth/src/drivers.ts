/** createPassdb / createUserdb: one passdb or userdb section → its driver. */
import type { DriverOptions, Passdb, Userdb } from './auth-types.js';
import { driverContext, driverError } from './driver-support.js';
import { createPasswdFilePassdb, createPasswdFileUserdb } from './passwd-file-driver.js';
import type { PassdbSettings, UserdbSettings } from './settings.js';
import { createSqlPassdb, createSqlUserdb } from './sql-driver.js';
import { createStaticPassdb, createStaticUserdb } from './static-driver.js';
import { createPasswdUserdb, createShadowPassdb } from './system-driver.js';

/** The settings a passdb driver reads; a whole `passdb NAME { }` section fits. */
export type PassdbDriverSettings = Pick<PassdbSettings, 'driver' | 'args'> & Partial<Pick<PassdbSettings, 'default_password_scheme'>>;
/** The settings a userdb driver reads; a whole `userdb NAME { }` section fits. */
export type UserdbDriverSettings = Pick<UserdbSettings, 'driver' | 'args'>;

/** Dovecot's default scheme for passdbs that do not say (passwd-file's). */
const DEFAULT_PASSWORD_SCHEME = 'CRYPT';

/** Throws LOFT_E_AUTH_DRIVER for an unknown driver or unusable args (never for a backend that is down). */
export function createPassdb(settings: PassdbDriverSettings, options: DriverOptions = {}): Passdb {
  const context = driverContext(options);
  const scheme = settings.default_password_scheme || DEFAULT_PASSWORD_SCHEME;
  switch (settings.driver) {
    case 'passwd-file':
      return createPasswdFilePassdb(settings.args, scheme, context);
    case 'static':
      return createStaticPassdb(settings.args, scheme);
    case 'sql':
      return createSqlPassdb(settings.args, scheme, context);
    case 'shadow':
      return createShadowPassdb(settings.args, context);
    case 'passwd':
      throw driverError('passdb', 'passwd is a userdb driver; for the passwords of system accounts use driver = shadow');
    default:
      throw driverError('passdb', `unknown driver '${settings.driver}'; use passwd-file, static, sql or shadow`);
  }
}

export function createUserdb(settings: UserdbDriverSettings, options: DriverOptions = {}): Userdb {
  const context = driverContext(options);
  switch (settings.driver) {
    case 'passwd-file':
      return createPasswdFileUserdb(settings.args, context);
    case 'static':
      return createStaticUserdb(settings.args, context);
    case 'sql':
      return createSqlUserdb(settings.args, context);
    case 'passwd':
      return createPasswdUserdb(settings.args, context, { uids: options.uids });
    case 'shadow':
      throw driverError('userdb', 'shadow is a passdb driver; for system accounts use driver = passwd');
    default:
      throw driverError('userdb', `unknown driver '${settings.driver}'; use passwd-file, static, sql or passwd`);
  }
}
