/** ARGON2ID / ARGON2I: PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) as Dovecot writes them. */
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { LoftError } from '@loft/errors';

export type Argon2Variant = 'argon2id' | 'argon2i';

/** Dovecot's defaults (libsodium's), as `doveadm pw -s ARGON2ID` / `-s ARGON2I` write them. */
export const ARGON2_DEFAULTS: Readonly<Record<Argon2Variant, { memoryKiB: number; timeCost: number; parallelism: number }>> = {
  argon2id: { memoryKiB: 65_536, timeCost: 3, parallelism: 1 },
  argon2i: { memoryKiB: 32_768, timeCost: 4, parallelism: 1 },
};
/** Bounds on a stored hash's cost: memory is taken from the auth process for every login in flight. */
export const ARGON2_MAX_MEMORY_KIB = 256 * 1024;
export const ARGON2_MAX_TIME_COST = 16;
export const ARGON2_MAX_PARALLELISM = 16;

// @node-rs/argon2 declares Algorithm as a const enum, which isolatedModules cannot read: its values.
const ALGORITHM: Readonly<Record<Argon2Variant, Algorithm>> = { argon2i: 1 as Algorithm, argon2id: 2 as Algorithm };

const PHC_PATTERN = /^\$(argon2id|argon2i)\$v=(16|19)\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{16,})$/;

export async function verifyArgon2(password: string, data: string, variant: Argon2Variant): Promise<boolean> {
  const schemeName = variant.toUpperCase();
  const match = PHC_PATTERN.exec(data);
  if (!match || match[1] !== variant) throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed ${schemeName} hash (expected $${variant}$v=19$m=…,t=…,p=…$salt$hash)`);
  const [memoryKiB, timeCost, parallelism] = [Number(match[3]), Number(match[4]), Number(match[5])];
  if (memoryKiB > ARGON2_MAX_MEMORY_KIB) throw new LoftError('LOFT_E_AUTH_SCHEME', `${schemeName} m=${memoryKiB} KiB is above the limit of ${ARGON2_MAX_MEMORY_KIB}`);
  if (timeCost < 1 || timeCost > ARGON2_MAX_TIME_COST) throw new LoftError('LOFT_E_AUTH_SCHEME', `${schemeName} t=${timeCost} is outside 1..${ARGON2_MAX_TIME_COST}`);
  if (parallelism < 1 || parallelism > ARGON2_MAX_PARALLELISM) throw new LoftError('LOFT_E_AUTH_SCHEME', `${schemeName} p=${parallelism} is outside 1..${ARGON2_MAX_PARALLELISM}`);
  try {
    // Runs on libuv's threadpool, off the event loop; compares in constant time.
    return await verify(data, password);
  } catch (err) {
    throw new LoftError('LOFT_E_AUTH_SCHEME', `malformed ${schemeName} hash`, { cause: err });
  }
}

export async function hashArgon2(password: string, variant: Argon2Variant): Promise<string> {
  return hash(password, {
    algorithm: ALGORITHM[variant],
    memoryCost: ARGON2_DEFAULTS[variant].memoryKiB,
    timeCost: ARGON2_DEFAULTS[variant].timeCost,
    parallelism: ARGON2_DEFAULTS[variant].parallelism,
  });
}
