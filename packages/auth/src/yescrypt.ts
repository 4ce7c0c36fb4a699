/**
 * yescrypt (`$y$`), the hash Debian 11+ and Fedora 35+ write to /etc/shadow, and classic
 * scrypt (`$7$`), as libxcrypt's crypt(3) computes them. Written from Alexander Peslyak's
 * yescrypt 1.x specification so that shadow entries verify without a native module. Pure
 * and synchronous: callers run it in the crypt worker pool, since Debian's default cost
 * (`$y$j9T$`, 16 MiB) takes about 0.17 s of one core here once V8 has warmed up (libxcrypt's
 * C: 0.09 s), 0.3 s the first time.
 *
 * Only what crypt(3) itself can compute is supported: classic scrypt, the WORM flavour and
 * the default RW flavour (pwxform with 12 KiB S-boxes). No ROM (NROM), no hash upgrades (g).
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { LoftError } from '@loft/errors';

/** Highest memory a stored hash may ask for, counted as yescrypt counts it: 128·r·N bytes (Debian's `jBT`, cost 7). */
export const YESCRYPT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;
/**
 * Most memory a hash may mix in all, 128·r·(N + the loops t and p add): bounds time as the
 * memory limit bounds space. Twice `jBT`'s 64 MiB, so `jBT` with t up to 2 passes, which
 * takes 1.25 s of one AMD EPYC core.
 */
export const YESCRYPT_MAX_WORK_BYTES = 128 * 1024 * 1024;
/** Highest `p`: crypt(3) never writes one above 1, and the threads here run one after the other. */
export const YESCRYPT_MAX_P = 4;
/** Longest password libxcrypt hashes (CRYPT_MAX_PASSPHRASE_SIZE less the NUL); it refuses longer ones. */
export const YESCRYPT_MAX_PASSWORD_BYTES = 511;
/** What `crypt_gensalt("$y$", 0, …)` writes on Debian 12: the RW flavour, N = 2^12, r = 32. */
export const YESCRYPT_DEFAULT_PARAMS = 'j9T';
/** Bytes of random salt crypt_gensalt draws (22 characters once encoded). */
export const YESCRYPT_SALT_BYTES = 16;

/** A parsed `$y$params$salt[$hash]` or `$7$params salt[$hash]` string. */
export interface YescryptHash {
  /** `y` for yescrypt's own encoding, `7` for classic scrypt's. */
  kind: 'y' | '7';
  /** 0 classic scrypt, 1 WORM, YESCRYPT_RW_DEFAULTS; nothing else can be computed by crypt(3). */
  flags: number;
  /** Number of blocks, a power of two ≥ 2. */
  N: number;
  /** Block size in units of 128 bytes. */
  r: number;
  p: number;
  t: number;
  /** Everything before the digest, as written: the output repeats it verbatim. */
  setting: string;
  /** The salt bytes hashed: decoded for `$y$`, the characters themselves for `$7$`. */
  salt: Buffer;
  /** The 43-character encoded hash; empty when a bare setting was parsed. */
  digest: string;
}

const YESCRYPT_WORM = 1;
const YESCRYPT_RW = 2;
/** ROUNDS_6 | GATHER_4 | SIMPLE_2 | SBOX_12K: the one RW flavour yescrypt 1.x implements. */
const YESCRYPT_RW_DEFAULTS = 0xb6;
const YESCRYPT_PREHASH = 0x10000000;

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGEST_CHARS = 43;
const MAX_SALT_BYTES = 64;
const HASH_BYTES = 32;

/** Parses a full hash or a setting; undefined when it is neither. Throws LOFT_E_AUTH_SCHEME for a cost or feature refused here. */
export function parseYescrypt(text: string): YescryptHash | undefined {
  const lastDollar = text.lastIndexOf('$');
  if (text.startsWith('$y$')) return parseY(text, lastDollar);
  if (text.startsWith('$7$')) return parse7(text, lastDollar);
  return undefined;
}

/**
 * The whole string libxcrypt's crypt() returns for this password and setting (a setting or
 * a full hash: only its parameters and salt are used). Throws for a setting that does not
 * parse or is refused, and a RangeError for a password crypt(3) would refuse too.
 */
export function yescrypt(password: string, setting: string): string {
  const parsed = parseYescrypt(setting);
  if (!parsed) throw new LoftError('LOFT_E_AUTH_SCHEME', 'malformed yescrypt setting (expected $y$params$salt or $7$params salt)');
  const passwordBytes = Buffer.from(password, 'utf8');
  if (passwordBytes.length > YESCRYPT_MAX_PASSWORD_BYTES) throw new RangeError(`password is longer than the ${YESCRYPT_MAX_PASSWORD_BYTES} bytes crypt(3) accepts`);
  const hash = yescryptKdf(passwordBytes, parsed);
  return `${parsed.setting}$${encode64(hash)}`;
}

/** `$y$params$salt` for these salt bytes, with Debian's default cost unless told otherwise. */
export function yescryptSetting(salt: Uint8Array, params = YESCRYPT_DEFAULT_PARAMS): string {
  if (salt.length > MAX_SALT_BYTES) throw new RangeError(`yescrypt salt of ${salt.length} bytes is above ${MAX_SALT_BYTES}`);
  return `$y$${params}$${encode64(salt)}`;
}

// --- Parsing -------------------------------------------------------------------------

const DIGEST_PATTERN = /^[./0-9A-Za-z]*$/;

/** The salt text and digest of a string whose parameters end at `saltStart`: crypt(3) takes the salt up to the last `$`. */
function splitSaltAndDigest(text: string, saltStart: number, lastDollar: number): { saltText: string; digest: string } | undefined {
  const hasDigest = lastDollar >= saltStart;
  const saltText = hasDigest ? text.slice(saltStart, lastDollar) : text.slice(saltStart);
  const digest = hasDigest ? text.slice(lastDollar + 1) : '';
  if (!DIGEST_PATTERN.test(digest) || (digest.length !== 0 && digest.length !== DIGEST_CHARS)) return undefined;
  return { saltText, digest };
}

function parseY(text: string, lastDollar: number): YescryptHash | undefined {
  const reader = { text, pos: 3 };
  const flavor = decodeVarUint(reader, 0);
  const nLog2 = decodeVarUint(reader, 1);
  const r = decodeVarUint(reader, 1);
  if (flavor === undefined || nLog2 === undefined || r === undefined) return undefined;
  let p = 1;
  let t = 0;
  let g = 0;
  let nromLog2 = 0;
  if (text[reader.pos] !== '$') {
    const have = decodeVarUint(reader, 1);
    // Bits above these four name nothing; crypt(3) skips them, no writer sets them.
    if (have === undefined || have > 15) return undefined;
    const fields = [
      have & 1 ? decodeVarUint(reader, 2) : p,
      have & 2 ? decodeVarUint(reader, 1) : t,
      have & 4 ? decodeVarUint(reader, 1) : g,
      have & 8 ? decodeVarUint(reader, 1) : nromLog2,
    ];
    if (fields.some((value) => value === undefined)) return undefined;
    [p, t, g, nromLog2] = fields as number[];
  }
  if (text[reader.pos] !== '$') return undefined;
  const saltStart = reader.pos + 1;
  const parts = splitSaltAndDigest(text, saltStart, lastDollar);
  const salt = parts && decodeSalt(parts.saltText);
  if (!parts || !salt) return undefined;

  // The flavour number packs the RW flag bits; crypt(3) can compute only three of them.
  const flags = flavor < YESCRYPT_RW ? flavor : YESCRYPT_RW + ((flavor - YESCRYPT_RW) << 2);
  if (flags !== 0 && flags !== YESCRYPT_WORM && flags !== YESCRYPT_RW_DEFAULTS) return undefined;
  if (flags === 0 && t !== 0) return undefined;
  if (nLog2 > 63 || nromLog2 > 63) return undefined;
  if (nromLog2 !== 0) throw new LoftError('LOFT_E_AUTH_SCHEME', 'yescrypt hash needs a ROM (NROM), which crypt(3) and Loft do not support');
  if (g !== 0) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt hash upgrades (g=${g}) are not supported, by crypt(3) either`);
  checkCost(nLog2, r, p, t, flags);
  return { kind: 'y', flags, N: 2 ** nLog2, r, p, t, setting: text.slice(0, saltStart + parts.saltText.length), salt, digest: parts.digest };
}

function parse7(text: string, lastDollar: number): YescryptHash | undefined {
  const nLog2 = atoi64(text, 3);
  const r = decodeFixed30(text, 4);
  const p = decodeFixed30(text, 9);
  if (nLog2 === undefined || nLog2 < 1 || nLog2 > 63 || r === undefined || p === undefined) return undefined;
  const parts = splitSaltAndDigest(text, 14, lastDollar);
  // crypt(3) hashes the salt characters as they are; anything outside its alphabet is not a salt a writer made.
  if (!parts || !DIGEST_PATTERN.test(parts.saltText) || parts.saltText.length > MAX_SALT_BYTES) return undefined;
  checkCost(nLog2, r, p, 0, 0);
  return { kind: '7', flags: 0, N: 2 ** nLog2, r, p, t: 0, setting: text.slice(0, 14 + parts.saltText.length), salt: Buffer.from(parts.saltText, 'latin1'), digest: parts.digest };
}

/** Refuses what would take the auth process's memory or seconds of CPU; checked before anything is allocated. */
function checkCost(nLog2: number, r: number, p: number, t: number, flags: number): void {
  const N = 2 ** nLog2;
  if (r < 1 || p < 1 || r * p >= 2 ** 30) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt r=${r}, p=${p} are out of range`);
  const memory = 128 * r * N;
  if (memory > YESCRYPT_MAX_MEMORY_BYTES) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt memory 128·r·N = ${formatBytes(memory)} (N=2^${nLog2}, r=${r}) is above the limit of ${formatBytes(YESCRYPT_MAX_MEMORY_BYTES)}`);
  if (p > YESCRYPT_MAX_P) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt p=${p} is above the limit of ${YESCRYPT_MAX_P}`);
  // RW splits N among the p threads and needs at least two blocks each.
  if (flags & YESCRYPT_RW && Math.floor(N / p) <= 1) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt N=2^${nLog2} is too small for p=${p}`);
  // RW's threads share N between them; scrypt's and WORM's each mix all of it.
  const mixes = flags & YESCRYPT_RW ? N + p * loopCounts(Math.floor(N / p), p, t, flags).all : p * (N + loopCounts(N, 1, t, flags).all);
  const work = 128 * r * mixes;
  if (work > YESCRYPT_MAX_WORK_BYTES) throw new LoftError('LOFT_E_AUTH_SCHEME', `yescrypt N=2^${nLog2}, r=${r}, p=${p}, t=${t} would mix ${formatBytes(work)}, above the limit of ${formatBytes(YESCRYPT_MAX_WORK_BYTES)}`);
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MiB` : `${bytes} bytes`;
}

function atoi64(text: string, pos: number): number | undefined {
  const value = pos < text.length ? ITOA64.indexOf(text[pos]) : -1;
  return value < 0 ? undefined : value;
}

/**
 * yescrypt's compact integer encoding: the first character says how many follow (0..47
 * stand alone, then ever smaller ranges announce 1, 2, … more characters of 6 bits each).
 */
function decodeVarUint(reader: { text: string; pos: number }, min: number): number | undefined {
  const first = atoi64(reader.text, reader.pos++);
  if (first === undefined) return undefined;
  let value = min;
  let start = 0;
  let end = 47;
  let extraChars = 0;
  while (first > end) {
    value += (end + 1 - start) * 2 ** (6 * extraChars);
    start = end + 1;
    end = start + Math.floor((62 - end) / 2);
    extraChars++;
  }
  value += (first - start) * 2 ** (6 * extraChars);
  for (let i = extraChars - 1; i >= 0; i--) {
    const next = atoi64(reader.text, reader.pos++);
    if (next === undefined) return undefined;
    value += next * 2 ** (6 * i);
  }
  return value;
}

/** scrypt's `$7$` fields: five characters, least significant first. */
function decodeFixed30(text: string, pos: number): number | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const digit = atoi64(text, pos + i);
    if (digit === undefined) return undefined;
    value += digit * 2 ** (6 * i);
  }
  return value;
}

/**
 * The salt's bytes: groups of up to four characters, least significant first, each group at
 * least two characters and with its unused high bits zero, as crypt(3) demands.
 */
function decodeSalt(text: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let offset = 0; offset < text.length; offset += 4) {
    const group = text.slice(offset, offset + 4);
    if (group.length < 2) return undefined;
    let value = 0;
    for (let i = 0; i < group.length; i++) {
      const digit = ITOA64.indexOf(group[i]);
      if (digit < 0) return undefined;
      value += digit * 2 ** (6 * i);
    }
    const byteCount = Math.floor((group.length * 6) / 8);
    for (let i = 0; i < byteCount; i++) {
      bytes.push(value & 0xff);
      value = Math.floor(value / 256);
    }
    if (value !== 0) return undefined;
  }
  return bytes.length > MAX_SALT_BYTES ? undefined : Buffer.from(bytes);
}

/** Three bytes at a time, little-endian, as four characters least significant first. */
function encode64(bytes: Uint8Array): string {
  let text = '';
  for (let offset = 0; offset < bytes.length; offset += 3) {
    const count = Math.min(3, bytes.length - offset);
    let value = 0;
    for (let i = 0; i < count; i++) value |= bytes[offset + i] << (8 * i);
    for (let bits = 0; bits < count * 8; bits += 6) {
      text += ITOA64[value & 0x3f];
      value >>>= 6;
    }
  }
  return text;
}

// --- The KDF -------------------------------------------------------------------------

function yescryptKdf(password: Buffer, params: YescryptHash): Buffer {
  const { flags, N, r, p, t, salt } = params;
  let key = password;
  // Large RW hashes first hash with N/64 so that a client could do that part (the "prehash").
  if (flags & YESCRYPT_RW && Math.floor(N / p) >= 0x100 && Math.floor(N / p) * r >= 0x20000) {
    key = kdfBody(key, salt, flags | YESCRYPT_PREHASH, N / 64, r, p, 0);
  }
  return kdfBody(key, salt, flags, N, r, p, t);
}

function kdfBody(password: Buffer, salt: Buffer, flags: number, N: number, r: number, p: number, t: number): Buffer {
  let key = flags === 0 ? password : hmacSha256(Buffer.from(flags & YESCRYPT_PREHASH ? 'yescrypt-prehash' : 'yescrypt'), password);
  const blocks = pbkdf2Sync(key, salt, 1, 128 * r * p, 'sha256');
  if (flags !== 0) key = Buffer.from(blocks.subarray(0, 32));
  const memory = new Mixer(N, r, flags & YESCRYPT_RW ? p : 0);
  if (flags & YESCRYPT_RW) {
    key = memory.smixRw(blocks, N, p, t, flags, key);
  } else {
    for (let i = 0; i < p; i++) memory.smixSequential(blocks.subarray(128 * r * i, 128 * r * (i + 1)), N, t, flags);
  }
  const derived = pbkdf2Sync(key, blocks, 1, HASH_BYTES, 'sha256');
  // Outside classic scrypt the result is SCRAM's StoredKey, so a SCRAM-like protocol could use it.
  if (flags === 0 || flags & YESCRYPT_PREHASH) return derived;
  return createHash('sha256').update(hmacSha256(derived, Buffer.from('Client Key'))).digest();
}

function hmacSha256(key: Buffer, message: Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

/** Largest power of two not above `x` (x ≥ 1, below 2^32). */
function p2floor(x: number): number {
  return 2 ** (31 - Math.clz32(x));
}

/** Loop counts of SMix for one thread's share of N, from the time parameter t. */
function loopCounts(nChunk: number, p: number, t: number, flags: number): { all: number; rw: number } {
  let all = nChunk;
  if (flags & YESCRYPT_RW) {
    all = t <= 1 ? Math.floor(((t === 1 ? 2 : 1) * nChunk + 2) / 3) : nChunk * (t - 1);
  } else if (t !== 0) {
    all = t === 1 ? nChunk + Math.floor((nChunk + 1) / 2) : nChunk * t;
  }
  const rw = flags & YESCRYPT_RW ? Math.floor(all / p) : 0;
  // Both rounded up to even: the reference's loops are unrolled by two.
  return { all: all + (all & 1), rw: rw + (rw & 1) };
}

/** Words of one pwxform S-box: 2^8 entries of PWXsimple (2) 64-bit lanes. */
const SBOX_WORDS = 1024;
/** Word mask that picks an S-box entry from a 32-bit lane: (2^8 - 1)·16 bytes, in words. */
const SBOX_INDEX_MASK = 0xff0;
const PWX_WORDS = 16;

/**
 * The memory-hard part. Blocks live in "shuffled" word order (word i holds Salsa20 word
 * 5i mod 16), as the reference keeps them for SIMD; pwxform and Integerify are defined on
 * that order, so following it is what makes the results match.
 */
class Mixer {
  private readonly V: Uint32Array;
  /** The block being mixed (32r words). */
  private readonly X: Uint32Array;
  /** Scratch: blockmix_salsa8's output blocks. */
  private readonly Y: Uint32Array;
  /** Scratch: blockmix_salsa8's chaining value. */
  private readonly chain = new Uint32Array(16);
  /** Signed views of X and the S-boxes, for pwxform's int32 arithmetic. */
  private readonly xSigned: Int32Array;
  private readonly S: Int32Array;
  private readonly blockWords: number;
  // pwxform's three S-boxes rotate after every call; these are word offsets into S.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private sWrite = 0;
  private usePwxform = false;

  constructor(N: number, r: number, sboxes: number) {
    this.blockWords = 32 * r;
    this.V = new Uint32Array(this.blockWords * N);
    this.X = new Uint32Array(this.blockWords);
    this.Y = new Uint32Array(Math.max(this.blockWords, 32));
    this.xSigned = new Int32Array(this.X.buffer);
    this.S = new Int32Array(3 * SBOX_WORDS * sboxes);
  }

  /** SMix for scrypt and WORM: one B at a time over the whole of V. */
  smixSequential(block: Buffer, N: number, t: number, flags: number): void {
    const { all } = loopCounts(N, 1, t, flags);
    this.usePwxform = false;
    this.load(block);
    this.smix1(0, N, false);
    this.smix2(0, N, all, false);
    this.store(block);
  }

  /**
   * SMix for the RW flavour: each of the p threads fills its own slice of V, then all read
   * the whole. Returns the key for the final PBKDF2, which thread 0 rekeys once its S-boxes
   * are seeded, so that the result depends on them.
   */
  smixRw(blocks: Buffer, N: number, p: number, t: number, flags: number, key: Buffer): Buffer {
    const nChunkFull = Math.floor(N / p);
    const { all, rw } = loopCounts(nChunkFull, p, t, flags);
    const nChunk = nChunkFull - (nChunkFull & 1);
    const blockBytes = 4 * this.blockWords;
    const sboxState: { s0: number; s1: number; s2: number; sWrite: number }[] = [];
    let updatedKey = key;
    for (let i = 0; i < p; i++) {
      const block = blocks.subarray(blockBytes * i, blockBytes * (i + 1));
      const vStart = nChunk * i;
      const n = i < p - 1 ? nChunk : N - vStart;
      this.initSboxes(block, i);
      if (i === 0) updatedKey = hmacSha256(Buffer.from(block.subarray(blockBytes - 64)), key);
      this.usePwxform = true;
      this.load(block);
      this.smix1(vStart, n, true);
      this.smix2(vStart, p2floor(n), rw, true);
      this.store(block);
      sboxState.push({ s0: this.s0, s1: this.s1, s2: this.s2, sWrite: this.sWrite });
    }
    for (let i = 0; i < p; i++) {
      const block = blocks.subarray(blockBytes * i, blockBytes * (i + 1));
      ({ s0: this.s0, s1: this.s1, s2: this.s2, sWrite: this.sWrite } = sboxState[i]);
      this.load(block);
      this.smix2(0, N, all - rw, false);
      this.store(block);
    }
    return updatedKey;
  }

  /** Fills thread i's S-boxes with an r=1 scrypt SMix1 of B's first 128 bytes, as the spec seeds them. */
  private initSboxes(block: Buffer, thread: number): void {
    const base = 3 * SBOX_WORDS * thread;
    const sbox = new Uint32Array(this.S.buffer, 4 * base, 3 * SBOX_WORDS);
    const x = new Uint32Array(32);
    loadShuffled(block, x, 32);
    const y = this.Y.subarray(0, 32);
    for (let i = 0; i < sbox.length / 32; i++) {
      sbox.set(x, 32 * i);
      blockmixSalsa8(x, y, this.chain, 1);
    }
    storeShuffled(x, block, 32);
    this.s2 = base;
    this.s1 = base + SBOX_WORDS;
    this.s0 = base + 2 * SBOX_WORDS;
    this.sWrite = 0;
  }

  private load(block: Buffer): void {
    loadShuffled(block, this.X, this.blockWords);
  }

  private store(block: Buffer): void {
    storeShuffled(this.X, block, this.blockWords);
  }

  /** First loop: V[start..start+n) ← successive X; under RW also mixes in an earlier, data-chosen block. */
  private smix1(start: number, n: number, rw: boolean): void {
    const { V, X, blockWords } = this;
    const lastWord = blockWords - 16;
    for (let i = 0; i < n; i++) {
      V.set(X, (start + i) * blockWords);
      if (rw && i > 1) {
        // Wrap(Integerify(X), i): a block among those written so far, favouring recent ones.
        const window = p2floor(i);
        const j = ((X[lastWord] & (window - 1)) >>> 0) + (i - window);
        xorInto(X, V, (start + j) * blockWords, blockWords);
      }
      this.blockmix();
    }
  }

  /** Second loop: data-dependent reads of V[start..start+n), written back under RW. */
  private smix2(start: number, n: number, loops: number, rw: boolean): void {
    const { V, X, blockWords } = this;
    const lastWord = blockWords - 16;
    for (let i = 0; i < loops; i++) {
      const offset = (start + ((X[lastWord] & (n - 1)) >>> 0)) * blockWords;
      xorInto(X, V, offset, blockWords);
      if (rw) V.set(X, offset);
      this.blockmix();
    }
  }

  private blockmix(): void {
    if (this.usePwxform) this.blockmixPwxform();
    else blockmixSalsa8(this.X, this.Y, this.chain, this.blockWords / 32);
  }

  /**
   * BlockMix_pwxform: pwxform over each 64-byte sub-block, each first xored with the one
   * before it (the first with the last), then Salsa20/2 on the last. Done in place: the
   * chaining value is always the sub-block just written.
   */
  private blockmixPwxform(): void {
    const { xSigned, S } = this;
    const last = this.blockWords - PWX_WORDS;
    let { s0, s1, s2, sWrite } = this;
    let previous = last;
    for (let offset = 0; offset <= last; offset += PWX_WORDS) {
      sWrite = pwxform(xSigned, offset, previous, S, s0, s1, s2, sWrite);
      // (S0, S1, S2) ← (S2, S0, S1): the box just written is read next.
      const written = s2;
      s2 = s1;
      s1 = s0;
      s0 = written;
      previous = offset;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.sWrite = sWrite;
    salsa20Shuffled(this.X, last, 1);
  }
}

/**
 * pwxform, on the sub-block at `o` xored with the chaining one at `c` (BlockMix's xor, done
 * here to save a pass): six rounds of 64-bit multiply-add-xor over four gathers of two
 * 64-bit lanes (lo, hi word pairs), each gather's S-box rows chosen by its first lane;
 * rounds 2 to 5 also write the lanes into S2 from entry w on. Returns the next w.
 *
 * Written out lane by lane with the state in locals: this is where nearly all of a verify's
 * time goes, and V8 keeps locals in registers where it would reload typed-array words.
 * Words are handled as int32; `>>> 0` marks where their unsigned value matters.
 */
function pwxform(x: Int32Array, o: number, c: number, S: Int32Array, s0: number, s1: number, s2: number, w: number): number {
  let write = s2 + 2 * w;
  let x0 = x[o] ^ x[c], x1 = x[o + 1] ^ x[c + 1], x2 = x[o + 2] ^ x[c + 2], x3 = x[o + 3] ^ x[c + 3];
  let x4 = x[o + 4] ^ x[c + 4], x5 = x[o + 5] ^ x[c + 5], x6 = x[o + 6] ^ x[c + 6], x7 = x[o + 7] ^ x[c + 7];
  let x8 = x[o + 8] ^ x[c + 8], x9 = x[o + 9] ^ x[c + 9], x10 = x[o + 10] ^ x[c + 10], x11 = x[o + 11] ^ x[c + 11];
  let x12 = x[o + 12] ^ x[c + 12], x13 = x[o + 13] ^ x[c + 13], x14 = x[o + 14] ^ x[c + 14], x15 = x[o + 15] ^ x[c + 15];
  for (let round = 0; round < 6; round++) {
    const record = round !== 0 && round !== 5;
    {
      const row0 = s0 + ((x0 & SBOX_INDEX_MASK) >> 2);
      const row1 = s1 + ((x1 & SBOX_INDEX_MASK) >> 2);
      {
        const product = Math.imul(x0, x1);
        const add = S[row0 + 0];
        const sum = (product + add) | 0;
        x1 = ((mulHigh(x0, x1, product) + S[row0 + 1] + carry(sum, add)) | 0) ^ S[row1 + 1];
        x0 = sum ^ S[row1 + 0];
        if (record) {
          S[write++] = x0;
          S[write++] = x1;
        }
      }
      {
        const product = Math.imul(x2, x3);
        const add = S[row0 + 2];
        const sum = (product + add) | 0;
        x3 = ((mulHigh(x2, x3, product) + S[row0 + 3] + carry(sum, add)) | 0) ^ S[row1 + 3];
        x2 = sum ^ S[row1 + 2];
        if (record) {
          S[write++] = x2;
          S[write++] = x3;
        }
      }
    }
    {
      const row0 = s0 + ((x4 & SBOX_INDEX_MASK) >> 2);
      const row1 = s1 + ((x5 & SBOX_INDEX_MASK) >> 2);
      {
        const product = Math.imul(x4, x5);
        const add = S[row0 + 0];
        const sum = (product + add) | 0;
        x5 = ((mulHigh(x4, x5, product) + S[row0 + 1] + carry(sum, add)) | 0) ^ S[row1 + 1];
        x4 = sum ^ S[row1 + 0];
        if (record) {
          S[write++] = x4;
          S[write++] = x5;
        }
      }
      {
        const product = Math.imul(x6, x7);
        const add = S[row0 + 2];
        const sum = (product + add) | 0;
        x7 = ((mulHigh(x6, x7, product) + S[row0 + 3] + carry(sum, add)) | 0) ^ S[row1 + 3];
        x6 = sum ^ S[row1 + 2];
        if (record) {
          S[write++] = x6;
          S[write++] = x7;
        }
      }
    }
    {
      const row0 = s0 + ((x8 & SBOX_INDEX_MASK) >> 2);
      const row1 = s1 + ((x9 & SBOX_INDEX_MASK) >> 2);
      {
        const product = Math.imul(x8, x9);
        const add = S[row0 + 0];
        const sum = (product + add) | 0;
        x9 = ((mulHigh(x8, x9, product) + S[row0 + 1] + carry(sum, add)) | 0) ^ S[row1 + 1];
        x8 = sum ^ S[row1 + 0];
        if (record) {
          S[write++] = x8;
          S[write++] = x9;
        }
      }
      {
        const product = Math.imul(x10, x11);
        const add = S[row0 + 2];
        const sum = (product + add) | 0;
        x11 = ((mulHigh(x10, x11, product) + S[row0 + 3] + carry(sum, add)) | 0) ^ S[row1 + 3];
        x10 = sum ^ S[row1 + 2];
        if (record) {
          S[write++] = x10;
          S[write++] = x11;
        }
      }
    }
    {
      const row0 = s0 + ((x12 & SBOX_INDEX_MASK) >> 2);
      const row1 = s1 + ((x13 & SBOX_INDEX_MASK) >> 2);
      {
        const product = Math.imul(x12, x13);
        const add = S[row0 + 0];
        const sum = (product + add) | 0;
        x13 = ((mulHigh(x12, x13, product) + S[row0 + 1] + carry(sum, add)) | 0) ^ S[row1 + 1];
        x12 = sum ^ S[row1 + 0];
        if (record) {
          S[write++] = x12;
          S[write++] = x13;
        }
      }
      {
        const product = Math.imul(x14, x15);
        const add = S[row0 + 2];
        const sum = (product + add) | 0;
        x15 = ((mulHigh(x14, x15, product) + S[row0 + 3] + carry(sum, add)) | 0) ^ S[row1 + 3];
        x14 = sum ^ S[row1 + 2];
        if (record) {
          S[write++] = x14;
          S[write++] = x15;
        }
      }
    }
  }
  x[o] = x0; x[o + 1] = x1; x[o + 2] = x2; x[o + 3] = x3; x[o + 4] = x4; x[o + 5] = x5; x[o + 6] = x6; x[o + 7] = x7;
  x[o + 8] = x8; x[o + 9] = x9; x[o + 10] = x10; x[o + 11] = x11; x[o + 12] = x12; x[o + 13] = x13; x[o + 14] = x14; x[o + 15] = x15;
  return (w + 32) & 511;
}

/**
 * High 32 bits of the 64-bit product of two words, given its low 32 bits from Math.imul:
 * the double product is off by less than 2^12, far from changing bit 32, so rounding away
 * the exact low half leaves the exact high half. No BigInt, no 16-bit limbs.
 */
function mulHigh(a: number, b: number, low: number): number {
  return (((a >>> 0) * (b >>> 0) - (low >>> 0)) * TWO_POW_MINUS_32 + 0.5) >>> 0;
}

/** 1 when the 32-bit addition that gave `sum` wrapped around, i.e. the carry into the high word. */
function carry(sum: number, addend: number): number {
  return sum >>> 0 < addend >>> 0 ? 1 : 0;
}

const TWO_POW_MINUS_32 = 2 ** -32;

function xorInto(target: Uint32Array, source: Uint32Array, sourceOffset: number, words: number): void {
  for (let k = 0; k < words; k++) target[k] ^= source[sourceOffset + k];
}

/** Little-endian bytes into words, word i of each 16-word block taking Salsa20 word 5i mod 16. */
function loadShuffled(bytes: Buffer, words: Uint32Array, count: number): void {
  for (let block = 0; block < count; block += 16) {
    for (let i = 0; i < 16; i++) words[block + i] = bytes.readUInt32LE(4 * (block + ((i * 5) % 16)));
  }
}

function storeShuffled(words: Uint32Array, bytes: Buffer, count: number): void {
  for (let block = 0; block < count; block += 16) {
    for (let i = 0; i < 16; i++) bytes.writeUInt32LE(words[block + i], 4 * (block + ((i * 5) % 16)));
  }
}

/** scrypt's BlockMix with Salsa20/8 over B's 2r sub-blocks; Y (32r words) and chain (16) are scratch. */
function blockmixSalsa8(B: Uint32Array, Y: Uint32Array, chain: Uint32Array, r: number): void {
  chain.set(B.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    for (let k = 0; k < 16; k++) chain[k] ^= B[i * 16 + k];
    salsa20Shuffled(chain, 0, 4);
    // Even-numbered outputs go to the first half of B, odd-numbered ones to the second.
    Y.set(chain, ((i & 1) * r + (i >> 1)) * 16);
  }
  B.set(Y.subarray(0, 32 * r));
}

/**
 * The Salsa20 core with `doubleRounds` column+row rounds, in place on the 16 shuffled words
 * at `offset`: stored word i is Salsa20 word 5i mod 16, so Salsa20 word m sits at 13m mod 16.
 */
function salsa20Shuffled(B: Uint32Array, offset: number, doubleRounds: number): void {
  const j0 = B[offset], j1 = B[offset + 13], j2 = B[offset + 10], j3 = B[offset + 7];
  const j4 = B[offset + 4], j5 = B[offset + 1], j6 = B[offset + 14], j7 = B[offset + 11];
  const j8 = B[offset + 8], j9 = B[offset + 5], j10 = B[offset + 2], j11 = B[offset + 15];
  const j12 = B[offset + 12], j13 = B[offset + 9], j14 = B[offset + 6], j15 = B[offset + 3];
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
  let u: number;
  for (let i = 0; i < doubleRounds; i++) {
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  B[offset] = j0 + x0; B[offset + 13] = j1 + x1; B[offset + 10] = j2 + x2; B[offset + 7] = j3 + x3;
  B[offset + 4] = j4 + x4; B[offset + 1] = j5 + x5; B[offset + 14] = j6 + x6; B[offset + 11] = j7 + x7;
  B[offset + 8] = j8 + x8; B[offset + 5] = j9 + x9; B[offset + 2] = j10 + x10; B[offset + 15] = j11 + x11;
  B[offset + 12] = j12 + x12; B[offset + 9] = j13 + x13; B[offset + 6] = j14 + x14; B[offset + 3] = j15 + x15;
}
