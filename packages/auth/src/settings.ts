/**
 * Settings of the auth service: the global auth_* settings and the `passdb NAME { }` /
 * `userdb NAME { }` sections. Dovecot consults passdbs and userdbs in the order they appear
 * in the file; Loft's named sections are consulted in name order (`passdb 10-local`,
 * `passdb 20-sql`), see passdbsInOrder.
 */
import type { JSONSchemaType } from 'ajv';

/** passdb: passwd-file, static, sql, shadow; userdb: passwd-file, static, sql, passwd. */
export const AUTH_DRIVERS = ['passwd-file', 'static', 'sql', 'passwd', 'shadow'] as const;
/** '' is the unset value: checkAuthSettings reports it. */
export type AuthDriverName = '' | (typeof AUTH_DRIVERS)[number];

/** What happens after a passdb/userdb answers (Dovecot's result_* values). */
export type ResultAction = 'return-ok' | 'return-fail' | 'continue' | 'continue-ok' | 'continue-fail';
const RESULT_ACTIONS: ResultAction[] = ['return-ok', 'return-fail', 'continue', 'continue-ok', 'continue-fail'];

export type SkipWhen = 'never' | 'authenticated' | 'unauthenticated';

export interface PassdbSettings {
  driver: AuthDriverName;
  args: string;
  default_password_scheme: string;
  deny: boolean;
  skip: SkipWhen;
  result_success: ResultAction;
  result_failure: ResultAction;
  result_internalfail: ResultAction;
}

export interface UserdbSettings {
  driver: AuthDriverName;
  args: string;
  skip: 'never' | 'found' | 'notfound';
  result_success: ResultAction;
  result_failure: ResultAction;
  result_internalfail: ResultAction;
}

export interface AuthSettings {
  /** Milliseconds a failed login waits before its answer. */
  auth_failure_delay: number;
  /** Bytes of cached passdb/userdb answers; 0 disables the cache. */
  auth_cache_size: number;
  /** Milliseconds a cached answer is used. */
  auth_cache_ttl: number;
  auth_cache_negative_ttl: number;
  auth_username_format: string;
  auth_allow_cleartext: boolean;
  auth_mechanisms: string[];
  passdb: Record<string, PassdbSettings>;
  userdb: Record<string, UserdbSettings>;
}

const driverProperty = {
  type: 'string',
  enum: ['', ...AUTH_DRIVERS],
  default: '',
  description: 'passwd-file, static or sql; shadow (passdb) and passwd (userdb) for the system\'s own accounts (required).',
} as const;

function resultProperty(defaultAction: ResultAction, when: string) {
  return { type: 'string', enum: RESULT_ACTIONS, default: defaultAction, description: `What to do ${when}: return-ok, return-fail, continue, continue-ok or continue-fail.` } as const;
}

const passdbSchema: JSONSchemaType<PassdbSettings> = {
  type: 'object',
  properties: {
    driver: driverProperty,
    args: { type: 'string', default: '', description: 'Driver arguments: a passwd-file path ([scheme=S] [username_format=%n] PATH), static fields (password=… or nopassword), or the sql conf file.' },
    default_password_scheme: { type: 'string', default: 'CRYPT', description: 'Scheme of stored passwords written without a {SCHEME} prefix (Dovecot\'s default for passwd-file is CRYPT).' },
    deny: { type: 'boolean', loftKind: 'bool', default: false, description: 'A user this passdb knows is refused (a deny list).' },
    skip: { type: 'string', enum: ['never', 'authenticated', 'unauthenticated'], default: 'never', description: 'Skip this passdb when an earlier one has (authenticated) or has not (unauthenticated) succeeded.' },
    result_success: resultProperty('return-ok', 'when the password matches'),
    result_failure: resultProperty('continue', 'on a wrong password or unknown user'),
    result_internalfail: resultProperty('continue', 'when the backend fails (temporary failure)'),
  },
  required: ['driver', 'args', 'default_password_scheme', 'deny', 'skip', 'result_success', 'result_failure', 'result_internalfail'],
  additionalProperties: false,
};

const userdbSchema: JSONSchemaType<UserdbSettings> = {
  type: 'object',
  properties: {
    driver: driverProperty,
    args: { type: 'string', default: '', description: 'Driver arguments: a passwd-file path, static fields (uid=vmail gid=vmail home=/var/vmail/%d/%n), or the sql conf file.' },
    skip: { type: 'string', enum: ['never', 'found', 'notfound'], default: 'never', description: 'Skip this userdb when an earlier one has found the user (found) or has not (notfound).' },
    result_success: resultProperty('return-ok', 'when the user is found'),
    result_failure: resultProperty('continue', 'when the user is not found'),
    result_internalfail: resultProperty('continue', 'when the backend fails (temporary failure)'),
  },
  required: ['driver', 'args', 'skip', 'result_success', 'result_failure', 'result_internalfail'],
  additionalProperties: false,
};

export const authSettingsSchema: JSONSchemaType<AuthSettings> = {
  type: 'object',
  properties: {
    auth_failure_delay: { type: 'integer', loftKind: 'duration', minimum: 0, default: 2000, description: 'How long a failed login waits before it is answered, which slows password guessing.' },
    auth_cache_size: { type: 'integer', loftKind: 'size', minimum: 0, default: 0, description: 'Memory for cached passdb/userdb answers; 0 disables the cache.' },
    auth_cache_ttl: { type: 'integer', loftKind: 'duration', minimum: 0, default: 3_600_000, description: 'How long a cached answer is used.' },
    auth_cache_negative_ttl: { type: 'integer', loftKind: 'duration', minimum: 0, default: 3_600_000, description: 'How long a cached "unknown user" or mismatch is used; 0 caches none.' },
    auth_username_format: { type: 'string', default: '%Lu', description: 'How the login name is rewritten before any lookup (%Lu lowercases it; %n drops the domain).' },
    auth_allow_cleartext: { type: 'boolean', loftKind: 'bool', default: false, description: 'Accept plaintext logins (LOGIN, AUTHENTICATE PLAIN) on connections without TLS from non-local addresses.' },
    auth_mechanisms: { type: 'array', loftKind: 'list', items: { type: 'string' }, default: ['plain', 'login'], description: 'SASL mechanisms offered to clients.' },
    passdb: { type: 'object', loftSection: 'named', required: [], additionalProperties: passdbSchema, default: {}, description: 'A password database: passdb NAME { driver args default_password_scheme … }, consulted in name order.' },
    userdb: { type: 'object', loftSection: 'named', required: [], additionalProperties: userdbSchema, default: {}, description: 'A user database: userdb NAME { driver args … }, consulted in name order.' },
  },
  required: ['auth_failure_delay', 'auth_cache_size', 'auth_cache_ttl', 'auth_cache_negative_ttl', 'auth_username_format', 'auth_allow_cleartext', 'auth_mechanisms', 'passdb', 'userdb'],
  additionalProperties: false,
};

/** Sections in the order they are consulted: by name. */
export function inConsultOrder<T>(sections: Readonly<Record<string, T>>): [string, T][] {
  return Object.entries(sections).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Drivers whose args may be empty. */
const NO_ARGS_DRIVERS: ReadonlySet<string> = new Set(['static', 'passwd', 'shadow']);

/** What the schema cannot say; each message names the section and the fix. */
export function checkAuthSettings(settings: Pick<AuthSettings, 'passdb' | 'userdb' | 'auth_mechanisms'>): string[] {
  const problems: string[] = [];
  for (const [kind, sections] of [['passdb', settings.passdb], ['userdb', settings.userdb]] as const) {
    for (const [name, section] of inConsultOrder<PassdbSettings | UserdbSettings>(sections)) {
      if (section.driver === '') problems.push(`${kind} ${name}: driver is not set; set driver = passwd-file, static or sql`);
      else if (kind === 'passdb' && section.driver === 'passwd') problems.push(`passdb ${name}: passwd is a userdb driver; for the passwords of system accounts use driver = shadow`);
      else if (kind === 'userdb' && section.driver === 'shadow') problems.push(`userdb ${name}: shadow is a passdb driver; for system accounts use driver = passwd`);
      else if (!NO_ARGS_DRIVERS.has(section.driver) && section.args.trim() === '') problems.push(`${kind} ${name}: driver ${section.driver} needs args (the file to read)`);
    }
  }
  if (Object.keys(settings.passdb).length === 0) problems.push('no passdb is configured, so nobody can log in; add passdb NAME { driver = … }');
  if (Object.keys(settings.userdb).length === 0) problems.push('no userdb is configured, so no user has a uid or home; add userdb NAME { driver = static  args = uid=vmail gid=vmail home=/var/vmail/%d/%n }');
  if (settings.auth_mechanisms.length === 0) problems.push('auth_mechanisms is empty; set auth_mechanisms = plain login');
  return problems;
}
