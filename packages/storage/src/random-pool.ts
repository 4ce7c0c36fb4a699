/**
 * Random bytes for message GUIDs and temporary file names, taken from a pool that is
 * refilled from the CSPRNG when it runs out.
 *
 * Each crypto.randomBytes() call goes through OpenSSL's generator with its locks and a
 * getpid() for fork detection: 7-9 µs for 16 bytes on the bench machine, and a save asks for
 * bytes twice (the GUID, the temporary name). From a pool it costs well under a microsecond.
 * The bytes are the same CSPRNG's; a Node process does not fork, so no two processes share a
 * pool.
 */
import { randomFillSync } from 'node:crypto';

/**
 * A save takes 19 bytes, so the pool is refilled every 27 saves. A larger pool was refilled
 * for the first time only after V8 had optimised the save path without ever seeing that call,
 * and the first refill then threw the optimised code away (prepareSave, deoptimised once in
 * every imap process and delivery child, and compiled again). Filling 512 bytes costs a few
 * microseconds.
 */
const POOL_BYTES = 512;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `size` (at most POOL_BYTES) random bytes in a Buffer of their own. */
export function pooledRandomBytes(size: number): Buffer {
  if (size > POOL_BYTES) throw new RangeError(`pooledRandomBytes: ${size} is more than ${POOL_BYTES} bytes`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.allocUnsafe(size);
  pool.copy(bytes, 0, offset, offset + size);
  offset += size;
  return bytes;
}
