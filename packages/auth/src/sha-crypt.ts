/**
 * SHA-crypt (`$5$` SHA-256, `$6$` SHA-512) as specified by Ulrich Drepper and implemented by
 * glibc's crypt(3), which is what Dovecot's SHA256-CRYPT / SHA512-CRYPT call. Pure and
 * synchronous: callers run it in the crypt worker pool so it never stalls the event loop.
 */
import { createHash } from 'node:crypto';

export type ShaCryptVariant = '5' | '6';

export const SHA_CRYPT_DEFAULT_ROUNDS = 5000;
/** The spec clamps `rounds=` into this range rather than refusing it. */
export const SHA_CRYPT_MIN_ROUNDS = 1000;
export const SHA_CRYPT_MAX_SPEC_ROUNDS = 999_999_999;
export const SHA_CRYPT_MAX_SALT_CHARS = 16;

/** A parsed `$5$[rounds=N$]salt$hash` string. */
export interface ShaCryptHash {
  variant: ShaCryptVariant;
  /** Effective rounds, already clamped to the spec's range. */
  rounds: number;
  /** Whether `rounds=` was written: glibc then writes it back, even for 5000. */
  roundsGiven: boolean;
  /** At most 16 characters (longer salts are truncated, as glibc does). */
  salt: string;
  /** The encoded digest after the last `$`; empty when parsing a bare setting string. */
  digest: string;
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Byte triples of the final digest, in the order the spec encodes them (b2, b1, b0).
const SHA512_ORDER: readonly (readonly [number, number, number])[] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];
const SHA256_ORDER: readonly (readonly [number, number, number])[] = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26],
  [27, 7, 17], [18, 28, 8], [9, 19, 29],
];

const HASH_PATTERN = /^\$([56])\$(?:rounds=(\d{1,10})\$)?([^$:\n]*)(?:\$([./0-9A-Za-z]*))?$/;

/** Parses a full hash or a setting string (`$6$rounds=N$salt`); undefined when it is neither. */
export function parseShaCrypt(text: string): ShaCryptHash | undefined {
  const match = HASH_PATTERN.exec(text);
  if (!match) return undefined;
  const [, variant, roundsText, salt, digest = ''] = match;
  const requested = roundsText === undefined ? SHA_CRYPT_DEFAULT_ROUNDS : Number(roundsText);
  return {
    variant: variant as ShaCryptVariant,
    rounds: Math.min(Math.max(requested, SHA_CRYPT_MIN_ROUNDS), SHA_CRYPT_MAX_SPEC_ROUNDS),
    roundsGiven: roundsText !== undefined,
    salt: salt.slice(0, SHA_CRYPT_MAX_SALT_CHARS),
    digest,
  };
}

/** The whole `$N$…` string glibc's crypt() returns for this password and setting. */
export function shaCrypt(password: string, setting: Omit<ShaCryptHash, 'digest'>): string {
  const algorithm = setting.variant === '5' ? 'sha256' : 'sha512';
  const final = shaCryptDigest(algorithm, Buffer.from(password, 'utf8'), Buffer.from(setting.salt, 'utf8'), setting.rounds);
  const rounds = setting.roundsGiven ? `rounds=${setting.rounds}$` : '';
  return `$${setting.variant}$${rounds}${setting.salt}$${encodeDigest(setting.variant, final)}`;
}

function shaCryptDigest(algorithm: 'sha256' | 'sha512', password: Buffer, salt: Buffer, rounds: number): Buffer {
  const digestLength = algorithm === 'sha256' ? 32 : 64;
  const alternate = createHash(algorithm).update(password).update(salt).update(password).digest();

  const first = createHash(algorithm).update(password).update(salt);
  first.update(repeatTo(alternate, password.length));
  for (let length = password.length; length > 0; length >>= 1) first.update(length & 1 ? alternate : password);
  let current = first.digest();

  const passwordDigest = createHash(algorithm);
  for (let i = 0; i < password.length; i++) passwordDigest.update(password);
  const passwordSequence = repeatTo(passwordDigest.digest(), password.length);

  const saltDigest = createHash(algorithm);
  for (let i = 0; i < 16 + current[0]; i++) saltDigest.update(salt);
  const saltSequence = saltDigest.digest().subarray(0, salt.length);

  for (let round = 0; round < rounds; round++) {
    const step = createHash(algorithm);
    step.update(round & 1 ? passwordSequence : current);
    if (round % 3 !== 0) step.update(saltSequence);
    if (round % 7 !== 0) step.update(passwordSequence);
    step.update(round & 1 ? current : passwordSequence);
    current = step.digest();
  }
  if (current.length !== digestLength) throw new Error(`unexpected ${algorithm} digest length ${current.length}`);
  return current;
}

/** `source` repeated and cut to exactly `length` bytes. */
function repeatTo(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += source.length) source.copy(out, offset, 0, Math.min(source.length, length - offset));
  return out;
}

function encodeDigest(variant: ShaCryptVariant, digest: Buffer): string {
  let text = '';
  for (const [b2, b1, b0] of variant === '5' ? SHA256_ORDER : SHA512_ORDER) text += encode24(digest[b2], digest[b1], digest[b0], 4);
  return variant === '5' ? text + encode24(0, digest[31], digest[30], 3) : text + encode24(0, 0, digest[63], 2);
}

function encode24(b2: number, b1: number, b0: number, chars: number): string {
  let word = (b2 << 16) | (b1 << 8) | b0;
  let text = '';
  for (let i = 0; i < chars; i++) {
    text += ITOA64[word & 0x3f];
    word >>= 6;
  }
  return text;
}
