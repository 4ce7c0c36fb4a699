/**
 * MD5-crypt (`$1$`, Poul-Henning Kamp's FreeBSD algorithm), Dovecot's MD5-CRYPT and what
 * old passwd-files and SQL tables still hold. Weak: verified for migration, never a default.
 * A fixed 1000 MD5 rounds take about a millisecond, so it runs inline.
 */
import { createHash } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MAGIC = '$1$';
const MD5_CRYPT_MAX_SALT_CHARS = 8;
const MD5_CRYPT_ROUNDS = 1000;

const PATTERN = /^\$1\$([^$]{0,8})\$([./0-9A-Za-z]{22})$/;

/** Salt of a `$1$salt$digest` string, or undefined when it is not one. */
export function md5CryptSalt(text: string): string | undefined {
  return PATTERN.exec(text)?.[1];
}

export function md5Crypt(password: string, salt: string): string {
  const pw = Buffer.from(password, 'utf8');
  const saltBytes = Buffer.from(salt.slice(0, MD5_CRYPT_MAX_SALT_CHARS), 'utf8');
  const alternate = createHash('md5').update(pw).update(saltBytes).update(pw).digest();
  const context = createHash('md5').update(pw).update(MAGIC).update(saltBytes);
  for (let left = pw.length; left > 0; left -= 16) context.update(alternate.subarray(0, Math.min(left, 16)));
  // The reference code meant to add bytes of the digest here but adds a NUL or the first password byte.
  for (let bits = pw.length; bits > 0; bits >>= 1) context.update(bits & 1 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let digest = context.digest();
  for (let round = 0; round < MD5_CRYPT_ROUNDS; round++) {
    const step = createHash('md5');
    step.update(round & 1 ? pw : digest);
    if (round % 3 !== 0) step.update(saltBytes);
    if (round % 7 !== 0) step.update(pw);
    step.update(round & 1 ? digest : pw);
    digest = step.digest();
  }
  return `${MAGIC}${saltBytes.toString('utf8')}$${encode(digest)}`;
}

function encode(digest: Buffer): string {
  const groups: readonly [number, number, number][] = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]];
  let text = '';
  for (const [a, b, c] of groups) text += encode24((digest[a] << 16) | (digest[b] << 8) | digest[c], 4);
  return text + encode24(digest[11], 2);
}

function encode24(word: number, chars: number): string {
  let text = '';
  for (let i = 0; i < chars; i++, word >>= 6) text += ITOA64[word & 0x3f];
  return text;
}
