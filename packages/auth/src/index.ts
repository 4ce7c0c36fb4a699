/**
 * @loft/auth: Dovecot's password schemes and the passdb/userdb drivers the auth service
 * uses (passwd-file, static, sql on PostgreSQL), with the auth settings they are
 * configured by.
 */
export { PASSWORD_SCHEMES, SHA_CRYPT_MAX_ROUNDS, hashPassword, verifyPassword } from './password-scheme.js';
export { BCRYPT_MAX_COST } from './bcrypt-scheme.js';
export { ARGON2_MAX_MEMORY_KIB, ARGON2_MAX_PARALLELISM, ARGON2_MAX_TIME_COST } from './argon2-scheme.js';
export type { AuthRequest, DriverOptions, ExtraFields, IdResolver, Passdb, PassdbResult, UidRange, Userdb, UserdbResult } from './auth-types.js';
export { createPassdb, createUserdb, type PassdbDriverSettings, type UserdbDriverSettings } from './drivers.js';
export { parsePasswdFile, type ParsedPasswdFile, type PasswdEntry } from './passwd-file.js';
export { createGetentResolver } from './id-resolver.js';
export {
  AUTH_DRIVERS,
  authSettingsSchema,
  checkAuthSettings,
  inConsultOrder,
  type AuthDriverName,
  type AuthSettings,
  type PassdbSettings,
  type ResultAction,
  type UserdbSettings,
} from './settings.js';
