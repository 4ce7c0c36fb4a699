/** BLF-CRYPT: bcrypt `$2y$` (also `$2a$`, `$2b$`) strings as Dovecot writes and reads them. */
import bcrypt from 'bcryptjs';
import { LoftError } from '@loft/errors';

/** Dovecot's default BLF-CRYPT cost (`doveadm pw -s BLF-CRYPT` writes `$2y$05$`). */
export const BCRYPT_DEFAULT_COST = 5;
/** Highest cost we compute: 2^14 rounds of bcryptjs take about a second; 31 would take days. */
export const BCRYPT_MAX_COST = 14;
const BCRYPT_MIN_COST = 4;

const BCRYPT_PATTERN = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export async function verifyBcrypt(password: string, data: string): Promise<boolean> {
  const match = BCRYPT_PATTERN.exec(data);
  if (!match) throw new LoftError('LOFT_E_AUTH_SCHEME', 'malformed BLF-CRYPT hash (expected $2y$NN$ and 53 characters)');
  const cost = Number(match[1]);
  if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) throw new LoftError('LOFT_E_AUTH_SCHEME', `BLF-CRYPT cost ${cost} is outside ${BCRYPT_MIN_COST}..${BCRYPT_MAX_COST}`);
  // bcryptjs's async API computes in slices between event-loop turns and compares in constant time.
  return bcrypt.compare(password, data);
}

/** `$2y$05$…`: bcryptjs writes `$2b$`, the same algorithm under the prefix Dovecot uses. */
export async function hashBcrypt(password: string, cost = BCRYPT_DEFAULT_COST): Promise<string> {
  const hashed = await bcrypt.hash(password, cost);
  return hashed.replace(/^\$2b\$/, '$2y$');
}
