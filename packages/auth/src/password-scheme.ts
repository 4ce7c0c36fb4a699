/**
 * Dovecot's password schemes: `{SCHEME}data` strings as `doveadm pw` writes them and as
 * passwd-files and SQL tables hold them. Every stored-hash problem (unknown scheme,
 * malformed data, a cost beyond our bounds) is a LOFT_E_AUTH_SCHEME error, never a plain
 * "wrong password", so the admin hears about a broken entry.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { LoftError } from '@loft/errors';
import { hashArgon2, verifyArgon2 } from './argon2-scheme.js';
import { hashBcrypt, verifyBcrypt } from './bcrypt-scheme.js';
import { shaCryptOffloaded, yescryptOffloaded } from './crypt-pool.js';
import { md5Crypt, md5CryptSalt } from './md5-crypt.js';
import { parseShaCrypt, SHA_CRYPT_DEFAULT_ROUNDS, type ShaCryptVariant } from './sha-crypt.js';
import { parseYescrypt, YESCRYPT_MAX_PASSWORD_BYTES, YESCRYPT_SALT_BYTES, yescryptSetting } from './yescrypt.js';

/** Highest SHA-crypt `rounds=` we compute: 100× glibc's default, about a second of one core. */
export const SHA_CRYPT_MAX_ROUNDS = 500_000;
/** Bytes of salt `doveadm pw -s SSHA512` appends. */
const SSHA512_SALT_BYTES = 4;
/** Characters of salt `doveadm pw -s SHA512-CRYPT` (and MD5-CRYPT) writes. */
const SHA_CRYPT_SALT_CHARS = 16;
const MD5_CRYPT_SALT_CHARS = 8;
const CRYPT_SALT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

interface Scheme {
  /** Whether `.HEX` / `.B64` suffixes apply: the scheme's data is raw bytes. */
  binary: boolean;
  verify(password: string, data: string, encoding: BinaryEncoding): Promise<boolean>;
  /** The data part, without `{SCHEME}`. */
  hash(password: string, encoding: BinaryEncoding): Promise<string>;
}

type BinaryEncoding = 'base64' | 'hex' | 'default';

const plain: Scheme = {
  binary: true,
  // Compared as digests so that not even the stored password's length shows in the timing.
  verify: async (password, data, encoding) => constantTimeEqual(sha256(Buffer.from(password, 'utf8')), sha256(encoding === 'default' ? Buffer.from(data, 'utf8') : decodeBinary(data, encoding, 'PLAIN'))),
  hash: async (password, encoding) => (encoding === 'default' ? password : Buffer.from(password, 'utf8').toString(encoding)),
};

const SCHEMES: Readonly<Record<string, Scheme>> = {
  PLAIN: plain,
  CLEARTEXT: plain,
  CLEAR: plain,
  'SHA512-CRYPT': shaCryptScheme('6'),
  'SHA256-CRYPT': shaCryptScheme('5'),
  'BLF-CRYPT': { binary: false, verify: (password, data) => verifyBcrypt(password, data), hash: (password) => hashBcrypt(password) },
  ARGON2ID: { binary: false, verify: (password, data) => verifyArgon2(password, data, 'argon2id'), hash: (password) => hashArgon2(password, 'argon2id') },
  ARGON2I: { binary: false, verify: (password, data) => verifyArgon2(password, data, 'argon2i'), hash: (password) => hashArgon2(password, 'argon2i') },
  SSHA512: { binary: true, verify: verifySsha512, hash: hashSsha512 },
  'MD5-CRYPT': { binary: false, verify: async (password, data) => verifyMd5Crypt(password, data), hash: async (password) => md5Crypt(password, randomCryptSalt(MD5_CRYPT_SALT_CHARS)) },
  // What Debian 11+ writes to /etc/shadow, so shadow entries can be copied over as they are.
  YESCRYPT: { binary: false, verify: (password, data) => verifyYescrypt(password, data, 'YESCRYPT'), hash: hashYescrypt },
  // glibc-style crypt(3) strings: the prefix says which algorithm; doveadm writes bcrypt.
  CRYPT: { binary: false, verify: verifyCrypt, hash: (password) => hashBcrypt(password) },
};

/** Scheme names verifyPassword and hashPassword accept (case-insensitive, as in Dovecot). */
export const PASSWORD_SCHEMES: readonly string[] = Object.freeze(Object.keys(SCHEMES));

/**
 * Whether `password` matches `stored`: `{SCHEME}data`, or bare data read with
 * `defaultScheme`. Throws LOFT_E_AUTH_SCHEME for an unknown scheme, malformed data or a
 * cost above our bounds. Messages name the scheme, never the password or the hash.
 */
export async function verifyPassword(password: string, stored: string, defaultScheme?: string): Promise<boolean> {
  const { name, data } = splitStored(stored, defaultScheme);
  const { scheme, encoding } = lookupScheme(name);
  return scheme.verify(password, data, encoding);
}

/** `{SCHEME}data` as `doveadm pw -s SCHEME` writes it: fresh random salt, Dovecot's default cost. */
export async function hashPassword(password: string, schemeName: string): Promise<string> {
  const { scheme, encoding, canonical } = lookupScheme(schemeName);
  return `{${canonical}}${await scheme.hash(password, encoding)}`;
}

/** Scheme name and data of a stored password. */
export function splitStored(stored: string, defaultScheme?: string): { name: string; data: string } {
  const match = /^\{([^{}]+)\}/.exec(stored);
  if (match) return { name: match[1], data: stored.slice(match[0].length) };
  // Dovecot reads a bare `$1$` hash as MD5-CRYPT whatever the default scheme says.
  if (stored.startsWith('$1$')) return { name: 'MD5-CRYPT', data: stored };
  if (defaultScheme === undefined || defaultScheme === '') throw new LoftError('LOFT_E_AUTH_SCHEME', 'stored password has no {SCHEME} prefix and no default scheme is set');
  return { name: defaultScheme, data: stored };
}

function lookupScheme(name: string): { scheme: Scheme; encoding: BinaryEncoding; canonical: string } {
  const [base, suffix, ...rest] = name.toUpperCase().split('.');
  const scheme = Object.hasOwn(SCHEMES, base) ? SCHEMES[base] : undefined;
  if (!scheme || rest.length > 0) {
    // `{…}` may hold something that is not a scheme at all (a password typed in braces): only a name-like one is repeated.
    const shown = /^[A-Za-z0-9.-]{1,32}$/.test(name) ? `'${name}'` : '(not a scheme name)';
    throw new LoftError('LOFT_E_AUTH_SCHEME', `unknown password scheme ${shown} (known: ${PASSWORD_SCHEMES.join(' ')})`);
  }
  if (suffix === undefined) return { scheme, encoding: 'default', canonical: base };
  const encoding = suffix === 'HEX' ? 'hex' : suffix === 'B64' || suffix === 'BASE64' ? 'base64' : undefined;
  if (!scheme.binary || encoding === undefined) throw new LoftError('LOFT_E_AUTH_SCHEME', `password scheme '${base}' has no encoding '.${suffix}'`);
  return { scheme, encoding, canonical: `${base}.${suffix}` };
}

function shaCryptScheme(variant: ShaCryptVariant): Scheme {
  return {
    binary: false,
    verify: (password, data) => verifyShaCrypt(password, data, variant),
    hash: (password) => shaCryptOffloaded(password, { variant, rounds: SHA_CRYPT_DEFAULT_ROUNDS, roundsGiven: false, salt: randomCryptSalt(SHA_CRYPT_SALT_CHARS) }),
  };
}

async function verifyShaCrypt(password: string, data: string, variant: ShaCryptVariant): Promise<boolean> {
  const parsed = parseShaCrypt(data);
  const schemeName = variant === '5' ? 'SHA256-CRYPT' : 'SHA512-CRYPT';
  const digestChars = variant === '5' ? 43 : 86;
  if (!parsed || parsed.variant !== variant || parsed.digest.length !== digestChars) throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed ${schemeName} hash (expected $${variant}$[rounds=N$]salt$digest)`);
  if (parsed.rounds > SHA_CRYPT_MAX_ROUNDS) throw new LoftError('LOFT_E_AUTH_SCHEME', `${schemeName} rounds=${parsed.rounds} is above the limit of ${SHA_CRYPT_MAX_ROUNDS}`);
  const computed = await shaCryptOffloaded(password, parsed);
  return constantTimeEqual(Buffer.from(computed), Buffer.from(data));
}

async function verifySsha512(password: string, data: string, encoding: BinaryEncoding): Promise<boolean> {
  const raw = decodeBinary(data, encoding === 'default' ? 'base64' : encoding, 'SSHA512');
  if (raw.length <= 64) throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed SSHA512 hash (${raw.length} bytes; a SHA-512 digest and a salt need more than 64)`);
  const digest = raw.subarray(0, 64);
  return constantTimeEqual(ssha512Digest(password, raw.subarray(64)), digest);
}

async function hashSsha512(password: string, encoding: BinaryEncoding): Promise<string> {
  const salt = randomBytes(SSHA512_SALT_BYTES);
  return Buffer.concat([ssha512Digest(password, salt), salt]).toString(encoding === 'default' ? 'base64' : encoding);
}

function ssha512Digest(password: string, salt: Buffer): Buffer {
  return createHash('sha512').update(password, 'utf8').update(salt).digest();
}

/** Verifies a `$y$` hash ({YESCRYPT}), or under {CRYPT} also libxcrypt's `$7$` scrypt. */
async function verifyYescrypt(password: string, data: string, schemeName: 'YESCRYPT' | 'CRYPT'): Promise<boolean> {
  // Throws on its own for a cost above our bounds, naming the parameter.
  const parsed = parseYescrypt(data);
  if (!parsed || parsed.digest === '' || (schemeName === 'YESCRYPT' && parsed.kind !== 'y')) {
    const expected = schemeName === 'YESCRYPT' ? '$y$params$salt$hash' : '$y$params$salt$hash or $7$params salt$hash';
    throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed ${schemeName} yescrypt hash (expected ${expected})`);
  }
  // crypt(3) refuses to hash such a password, so no stored hash can be its.
  if (Buffer.byteLength(password, 'utf8') > YESCRYPT_MAX_PASSWORD_BYTES) return false;
  const computed = await yescryptOffloaded(password, data);
  return constantTimeEqual(Buffer.from(computed), Buffer.from(data));
}

/** `$y$j9T$` and 16 random bytes of salt: what Debian's passwd and `mkpasswd -m yescrypt` write. */
async function hashYescrypt(password: string): Promise<string> {
  if (Buffer.byteLength(password, 'utf8') > YESCRYPT_MAX_PASSWORD_BYTES) throw new LoftError('LOFT_E_AUTH_SCHEME', `YESCRYPT cannot hash a password longer than ${YESCRYPT_MAX_PASSWORD_BYTES} bytes (crypt(3)'s limit)`);
  return yescryptOffloaded(password, yescryptSetting(randomBytes(YESCRYPT_SALT_BYTES)));
}

/** CRYPT: what the crypt(3) prefix says it is (glibc's, and libxcrypt's yescrypt and scrypt). */
async function verifyCrypt(password: string, data: string): Promise<boolean> {
  if (data.startsWith('$6$')) return verifyShaCrypt(password, data, '6');
  if (data.startsWith('$5$')) return verifyShaCrypt(password, data, '5');
  if (/^\$2[aby]\$/.test(data)) return verifyBcrypt(password, data);
  if (data.startsWith('$1$')) return verifyMd5Crypt(password, data);
  if (data.startsWith('$y$') || data.startsWith('$7$')) return verifyYescrypt(password, data, 'CRYPT');
  throw new LoftError('LOFT_E_AUTH_SCHEME', 'CRYPT hash of an unsupported kind (DES or unknown prefix); supported: $1$, $5$, $6$, $2a$, $2b$, $2y$, $y$ (yescrypt), $7$ (scrypt)');
}

function verifyMd5Crypt(password: string, data: string): boolean {
  const salt = md5CryptSalt(data);
  if (salt === undefined) throw new LoftError('LOFT_E_AUTH_SCHEME', 'malformed MD5-CRYPT hash (expected $1$salt$ and 22 characters)');
  return constantTimeEqual(Buffer.from(md5Crypt(password, salt)), Buffer.from(data));
}

function decodeBinary(data: string, encoding: 'base64' | 'hex', schemeName: string): Buffer {
  const valid = encoding === 'hex' ? /^(?:[0-9a-fA-F]{2})*$/.test(data) : /^[A-Za-z0-9+/]*={0,2}$/.test(data) && data.length % 4 === 0;
  if (!valid) throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed ${schemeName} data (not ${encoding})`);
  return Buffer.from(data, encoding);
}

/** Equal-length comparison in constant time; a length difference is not secret. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function randomCryptSalt(chars: number): string {
  let salt = '';
  for (let i = 0; i < chars; i++) salt += CRYPT_SALT_ALPHABET[randomInt(CRYPT_SALT_ALPHABET.length)];
  return salt;
}
