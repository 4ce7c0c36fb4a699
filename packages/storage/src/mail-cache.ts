/**
 * The cache of parsed message fields, `loft.index.cache`. Fixed-size fields every SORT or
 * FETCH needs (sizes, internal and save dates, GUIDs) live as columns in `loft.index`; this
 * file holds the variable-size ones (envelope, bodystructure, header values, sent date),
 * all fields of one message written together in one record when first asked for, so a FETCH
 * of ENVELOPE+BODYSTRUCTURE reads one place.
 *
 * Header, 16 bytes: 0 u32 magic 0x41434c46 ("FLCA")  4 u32 version (1)  8 u32 uidValidity
 *                   12 u32 crc32 of bytes 0..11
 * Records, appended with one O_APPEND write each (no lock; duplicates are harmless):
 *    0 u32 magic 0x5243434c ("LCCR")   4 u32 body length   8 u32 crc32 of the body
 *   12 body: u32 uid, u8 field-name length, field name (ASCII), value (UTF-8 JSON)
 * A damaged record fails its crc and is skipped; the field is parsed again from the message.
 * Entries of expunged messages are dropped when the file is rewritten (compact(), under the
 * mailbox lock when the log rotates). Records other processes append to the old file
 * meanwhile are lost, which only means parsing those fields again.
 *
 * The query engine asks for fields synchronously, so this module uses synchronous I/O on a
 * file that is normally in the page cache.
 */
import { performance } from 'node:perf_hooks';
import { closeSync, constants, fstatSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { crc32 } from './binary.js';
import { O_NOFOLLOW, isErrno, tempName } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';

export const CACHE_MAGIC = 0x41434c46;
export const CACHE_VERSION = 1;
export const CACHE_HEADER_BYTES = 16;
export const CACHE_RECORD_MAGIC = 0x5243434c;
const RECORD_FRAME_BYTES = 12;

function encodeHeader(uidValidity: number): Buffer {
  const buf = Buffer.alloc(CACHE_HEADER_BYTES);
  buf.writeUInt32LE(CACHE_MAGIC, 0);
  buf.writeUInt32LE(CACHE_VERSION, 4);
  buf.writeUInt32LE(uidValidity >>> 0, 8);
  buf.writeUInt32LE(crc32(buf.subarray(0, 12)), 12);
  return buf;
}

/** Bytes of the record encodeRecord() writes, or 0 for a field name too long to store. */
function recordBytes(field: string, json: string): number {
  return field.length > 255 ? 0 : RECORD_FRAME_BYTES + 5 + field.length + Buffer.byteLength(json, 'utf8');
}

/** Writes one framed record at `at` (its size from recordBytes()). */
function writeRecord(buf: Buffer, at: number, size: number, uid: number, field: string, json: string): void {
  const nameLength = field.length;
  const valueStart = at + RECORD_FRAME_BYTES + 5 + nameLength;
  buf.writeUInt32LE(CACHE_RECORD_MAGIC, at);
  buf.writeUInt32LE(size - RECORD_FRAME_BYTES, at + 4);
  buf.writeUInt32LE(uid, at + RECORD_FRAME_BYTES);
  buf[at + RECORD_FRAME_BYTES + 4] = nameLength;
  buf.write(field, at + RECORD_FRAME_BYTES + 5, nameLength, 'latin1');
  buf.write(json, valueStart, 'utf8');
  buf.writeUInt32LE(crc32(buf.subarray(at + RECORD_FRAME_BYTES, at + size)), at + 8);
}

/** One framed record, or undefined for a field name too long to store. */
function encodeRecord(uid: number, field: string, json: string): Buffer | undefined {
  const size = recordBytes(field, json);
  if (size === 0) return undefined;
  const buf = Buffer.allocUnsafe(size);
  writeRecord(buf, 0, size, uid, field, json);
  return buf;
}

/** Bytes of the file kept in memory after a scan, so reading a field costs no system call: per cache… */
const HELD_BYTES_MAX = 32 * 1024 * 1024;
/** …and for all caches of the process; past that, values are read with a pread each. */
const HELD_TOTAL_MAX = 96 * 1024 * 1024;
let heldTotal = 0;
/** Files whose memo is kept; the least recently opened goes first. */
const MEMO_FILES_MAX = 1000;
/** Appended records are gathered into writes of about this size (see put(…, defer)). */
const PENDING_BYTES_MAX = 64 * 1024;
/** A miss re-scans the file for other processes' records at most this often. */
const RESCAN_INTERVAL_MS = 50;
/** Decoded values kept in memory by all caches of the process (see value()). */
let DECODED_MAX = 600_000;

/** Sets the bound on decoded values of the process (tests use a small one); returns the previous. */
export function setDecodedValuesMax(values: number): number {
  const previous = DECODED_MAX;
  DECODED_MAX = values;
  return previous;
}
/** derivedBytes(): a stored value of bytes counts as one value per this many bytes (so ≤ ~38 MiB in all). */
const WIRE_BYTES_PER_VALUE = 64;

/** UIDs per chunk of a UidValues. */
const UID_CHUNK_BITS = 7;
const UID_CHUNK_MASK = (1 << UID_CHUNK_BITS) - 1;
/** What a chunk (~1 KiB) counts against the bound, in values (see WIRE_BYTES_PER_VALUE). */
export const UID_CHUNK_WEIGHT = 16;

/**
 * One field's values by UID. A mailbox's UIDs run mostly in order with few large gaps, so
 * they sit in arrays of 128 UIDs, found by UID / 128; a query walks them in UID order and
 * finds the same array again. A Map of 100,000 UIDs cost a first SORT (SUBJECT) over 100,000
 * messages a third of its time: its lookups, its inserts, and the collections of its table
 * each time it grew. Each chunk counts against the bound, so sparse UIDs (one value per
 * chunk) cost room, not memory past the bound.
 */
class UidValues {
  private readonly chunks = new Map<number, unknown[]>();
  private lastKey = -1;
  private lastChunk: unknown[] | undefined;

  /** The value of `uid`; undefined if none (undefined is never stored). */
  get(uid: number): unknown {
    const key = uid >>> UID_CHUNK_BITS;
    if (key !== this.lastKey) {
      const chunk = this.chunks.get(key);
      if (!chunk) return undefined;
      this.lastKey = key;
      this.lastChunk = chunk;
    }
    return this.lastChunk![uid & UID_CHUNK_MASK];
  }

  has(uid: number): boolean {
    return this.get(uid) !== undefined;
  }

  /** Whether set(uid) would fill a chunk there is already. */
  hasChunkFor(uid: number): boolean {
    const key = uid >>> UID_CHUNK_BITS;
    return key === this.lastKey || this.chunks.has(key);
  }

  set(uid: number, value: unknown): void {
    const key = uid >>> UID_CHUNK_BITS;
    let chunk = key === this.lastKey ? this.lastChunk : this.chunks.get(key);
    if (!chunk) this.chunks.set(key, (chunk = new Array<unknown>(UID_CHUNK_MASK + 1)));
    this.lastKey = key;
    this.lastChunk = chunk;
    chunk[uid & UID_CHUNK_MASK] = value;
  }
}

/**
 * Decoded field values and values derived from them, per cache file, shared by every
 * MailCache of the process on that file: a message's fields never change while its UID and
 * the UIDVALIDITY stay, so a session that opens the mailbox after another finds them ready.
 */
interface Memo {
  uidValidity: number;
  values: Map<string, UidValues>;
  /** What each field's values count against the bound (the sum is `count`). */
  weights: Map<string, number>;
  count: number;
  used: number;
}

const memos = new Map<string, Memo>();
let memoCount = 0;
let memoClock = 0;

function memoFor(path: string, uidValidity: number): Memo {
  let memo = memos.get(path);
  if (!memo || memo.uidValidity !== uidValidity) {
    if (memo) emptyMemo(memo);
    memo = { uidValidity, values: new Map(), weights: new Map(), count: 0, used: 0 };
    memos.set(path, memo);
    if (memos.size > MEMO_FILES_MAX) dropLeastUsed(memo);
  }
  memo.used = ++memoClock;
  return memo;
}

/** overMessages()'s values sit among the per-UID memos under UID 0 (never a message's) and a field of this prefix. */
const OVER_MESSAGES_PREFIX = 'over:';

/**
 * Drops one field's values from `memo` (not `keep`'s): raw header values first, as what
 * they are made into (sort keys, thread ids) is what queries reuse, answers over whole
 * sets last, the largest first. False if only `keep` is left.
 */
function dropField(memo: Memo, keep: string): boolean {
  let victim: string | undefined;
  let victimRank = -1;
  let victimWeight = 0;
  for (const [field, weight] of memo.weights) {
    if (field === keep) continue;
    const rank = field.startsWith('headers:') ? 2 : field.startsWith(OVER_MESSAGES_PREFIX) ? 0 : 1;
    if (rank > victimRank || (rank === victimRank && weight > victimWeight)) {
      victim = field;
      victimRank = rank;
      victimWeight = weight;
    }
  }
  if (victim === undefined) return false;
  removeField(memo, victim);
  return true;
}

/** Forgets all of `field`'s values in `memo`. */
function removeField(memo: Memo, field: string): void {
  const weight = memo.weights.get(field) ?? 0;
  memo.values.delete(field);
  memo.weights.delete(field);
  memo.count -= weight;
  memoCount -= weight;
}

/**
 * Makes room for a value of `weight` for `field`: drops the least recently used files'
 * memos, then other fields of this one (a SORT and a THREAD over 100,000 messages need more
 * than the bound together, and must not empty each other's keys), then this field's values.
 */
function makeRoom(current: Memo, weight: number, field: string): void {
  while (memoCount + weight > DECODED_MAX) {
    if (dropLeastUsed(current)) continue;
    if (dropField(current, field)) continue;
    if (current.count === 0) break;
    emptyMemo(current);
  }
}

/** Drops the least recently used file's memo other than `current`; false if there is none. */
function dropLeastUsed(current: Memo): boolean {
  let oldest: [string, Memo] | undefined;
  for (const entry of memos) if (entry[1] !== current && (!oldest || entry[1].used < oldest[1].used)) oldest = entry;
  if (!oldest) return false;
  emptyMemo(oldest[1]);
  memos.delete(oldest[0]);
  return true;
}

/** Forgets all of a memo's values (emptied, not just dropped: a MailCache may still hold it). */
function emptyMemo(memo: Memo): void {
  memoCount -= memo.count;
  memo.values.clear();
  memo.weights.clear();
  memo.count = 0;
}

interface OverMessages {
  identity: Uint32Array;
  value: unknown;
}

function sameNumbers(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A scanned range of the file, kept in memory. */
interface Chunk {
  start: number;
  data: Buffer;
}

/** Where a field's value is: a string we wrote ourselves, or an index into the location arrays. */
type Entry = string | number;

export class MailCache {
  private fd = -1;
  private scannedTo = CACHE_HEADER_BYTES;
  /** field -> uid -> entry; per field, so a scan allocates one map entry per record. */
  private readonly entries = new Map<string, Map<number, Entry>>();
  /** File offset and byte length of value `i` (an Entry that is a number). */
  private offsets: number[] = [];
  private lengths: number[] = [];
  /** Scanned ranges kept in memory, ascending, at most HELD_BYTES_MAX in all. */
  private chunks: Chunk[] = [];
  private heldBytes = 0;
  private lastScan = -Infinity;
  /** Records not yet written (deferred puts), written together. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The deferred records' values: where each starts in the pending bytes, its length, field and UID. */
  private pendingValues: Array<{ at: number; length: number; field: string; uid: number }> = [];
  private flushScheduled = false;
  /** Decoded values of the fields value() was asked for: key -> uid -> value. */
  private memo: Memo;
  private warned = false;

  constructor(private readonly path: string, readonly uidValidity: number, private readonly logger: StorageLogger) {
    this.memo = memoFor(path, uidValidity);
  }

  private open(): void {
    if (this.fd >= 0) return;
    try {
      this.fd = openSync(this.path, constants.O_RDWR | constants.O_APPEND | O_NOFOLLOW);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      this.recreate();
      return;
    }
    const head = Buffer.alloc(CACHE_HEADER_BYTES);
    const got = readSync(this.fd, head, 0, CACHE_HEADER_BYTES, 0);
    const valid = got === CACHE_HEADER_BYTES && head.equals(encodeHeader(this.uidValidity));
    if (!valid) {
      this.logger.warn({ path: this.path }, 'cache file header is damaged or from another UIDVALIDITY; recreating it');
      this.recreate();
    }
  }

  /** Keeps `data` (the file from `start`) in memory, if the budgets allow. */
  private hold(start: number, data: Buffer): void {
    if (this.heldBytes + data.length > HELD_BYTES_MAX || heldTotal + data.length > HELD_TOTAL_MAX) return;
    this.chunks.push({ start, data });
    this.heldBytes += data.length;
    heldTotal += data.length;
  }

  private forget(): void {
    this.entries.clear();
    this.offsets = [];
    this.lengths = [];
    this.chunks = [];
    heldTotal -= this.heldBytes;
    this.heldBytes = 0;
    this.scannedTo = CACHE_HEADER_BYTES;
  }

  private recreate(): void {
    if (this.fd >= 0) closeSync(this.fd);
    const tmp = tempName(this.path);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, encodeHeader(this.uidValidity));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, constants.O_RDWR | constants.O_APPEND | O_NOFOLLOW);
    this.forget();
  }

  private entryMap(field: string): Map<number, Entry> {
    let map = this.entries.get(field);
    if (!map) this.entries.set(field, (map = new Map()));
    return map;
  }

  /** Reads records other processes (or we) appended since the last scan. */
  private scan(): void {
    this.lastScan = performance.now();
    let replaced = false;
    try {
      replaced = statSync(this.path).ino !== fstatSync(this.fd).ino;
    } catch {
      replaced = true;
    }
    if (replaced) {
      // Compacted by another process: start over on the new file.
      this.flush();
      closeSync(this.fd);
      this.fd = -1;
      this.forget();
      this.open();
    }
    const size = fstatSync(this.fd).size;
    if (size <= this.scannedTo) return;
    const data = Buffer.allocUnsafe(size - this.scannedTo);
    let got = 0;
    while (got < data.length) {
      const n = readSync(this.fd, data, got, data.length - got, this.scannedTo + got);
      if (n === 0) break;
      got += n;
    }
    let pos = 0;
    let lastName = '';
    let lastNameBytes: Buffer | undefined;
    let map: Map<number, Entry> | undefined;
    while (pos + RECORD_FRAME_BYTES <= got) {
      const length = data.readUInt32LE(pos + 4);
      const end = pos + RECORD_FRAME_BYTES + length;
      if (data.readUInt32LE(pos) !== CACHE_RECORD_MAGIC || (end <= got && data.readUInt32LE(pos + 8) !== crc32(data.subarray(pos + RECORD_FRAME_BYTES, end)))) {
        if (!this.warned) this.logger.warn({ path: this.path, offset: this.scannedTo + pos }, 'damaged cache record skipped; the field will be parsed again');
        this.warned = true;
        const magic = Buffer.alloc(4);
        magic.writeUInt32LE(CACHE_RECORD_MAGIC, 0);
        const next = data.indexOf(magic, pos + 1);
        pos = next < 0 || next >= got ? got : next;
        continue;
      }
      if (end > got) break;
      const body = pos + RECORD_FRAME_BYTES;
      const uid = data.readUInt32LE(body);
      const nameLength = data[body + 4]!;
      const valueStart = body + 5 + nameLength;
      // Records of one message come in the same order of fields: reuse the last name when its bytes match.
      if (!(lastNameBytes !== undefined && lastNameBytes.length === nameLength && data.compare(lastNameBytes, 0, nameLength, body + 5, valueStart) === 0)) {
        lastName = data.toString('latin1', body + 5, valueStart);
        lastNameBytes = data.subarray(body + 5, valueStart);
        map = this.entryMap(lastName);
      }
      const index = this.offsets.length;
      this.offsets.push(this.scannedTo + valueStart);
      this.lengths.push(end - valueStart);
      map!.set(uid, index);
      pos = end;
    }
    if (pos > 0) this.hold(this.scannedTo, data.subarray(0, pos));
    this.scannedTo += pos;
  }

  private entry(uid: number, field: string): Entry | undefined {
    return this.entries.get(field)?.get(uid);
  }

  private text(entry: Entry): string {
    if (typeof entry === 'string') return entry;
    const offset = this.offsets[entry]!;
    const length = this.lengths[entry]!;
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid]!;
      if (offset < c.start) hi = mid - 1;
      else if (offset >= c.start + c.data.length) lo = mid + 1;
      else return c.data.toString('utf8', offset - c.start, offset - c.start + length);
    }
    const buf = Buffer.allocUnsafe(length);
    const got = readSync(this.fd, buf, 0, length, offset);
    return buf.toString('utf8', 0, got);
  }

  /** The cached JSON text of `field` of message `uid`, if present. */
  get(uid: number, field: string): string | undefined {
    this.open();
    let entry = this.entry(uid, field);
    // A miss looks for what other processes appended meanwhile, but not on every message
    // of a search that fills the cache: missing a record only means parsing the field again.
    if (entry === undefined && performance.now() - this.lastScan >= RESCAN_INTERVAL_MS) {
      this.scan();
      entry = this.entry(uid, field);
    }
    return entry === undefined ? undefined : this.text(entry);
  }

  /**
   * The decoded value of `field` of `uid` (decode(JSON text)), kept in memory for the next
   * ask: only for small fields whose values nobody modifies (the query engine's).
   */
  value(uid: number, field: string, decode: (json: string) => unknown): unknown {
    const known = this.memo.values.get(field)?.get(uid);
    if (known !== undefined) return known;
    const text = this.get(uid, field);
    if (text === undefined) return undefined;
    const value = decode(text);
    this.remember(uid, field, value);
    return value;
  }

  /**
   * A value computed from the fields of `uid` (a sort key, say), kept like value()'s: `key`
   * must name the computation and the fields it reads, which never change for a UID.
   */
  derived<A, T>(uid: number, key: string, arg: A, compute: (arg: A) => T, weigh: (value: T) => number = () => 1): T {
    const known = this.memo.values.get(key)?.get(uid);
    if (known !== undefined) return known as T;
    const value = compute(arg);
    this.remember(uid, key, value, weigh(value));
    return value;
  }

  /**
   * derived() for a value that is bytes (a field in its wire form, say): it counts against
   * the memo's bound by its size, one value per WIRE_BYTES_PER_VALUE bytes.
   */
  derivedBytes<A>(uid: number, key: string, arg: A, compute: (arg: A) => Buffer): Buffer {
    return this.derived(uid, key, arg, compute, (value) => 1 + Math.floor(value.length / WIRE_BYTES_PER_VALUE));
  }

  /**
   * A value computed over a set of messages (SORT's order, THREAD's answer), kept until it is
   * asked for over another set: `identity` names the set (its UIDs, and whatever else the
   * value shows, such as sequence numbers), and `key` the computation, which must read only
   * what never changes for a UID. Counted against the bound by its size in bytes.
   */
  overMessages<T>(key: string, identity: Uint32Array, compute: () => T, bytes: (value: T) => number): T {
    const field = `${OVER_MESSAGES_PREFIX}${key}`;
    const memo = this.liveMemo();
    const known = memo.values.get(field)?.get(0) as OverMessages | undefined;
    if (known && sameNumbers(known.identity, identity)) return known.value as T;
    const value = compute();
    // The field holds this one answer: replacing it forgets the field.
    if (known) removeField(memo, field);
    const record: OverMessages = { identity: identity.slice(), value };
    this.remember(0, field, record, 1 + Math.floor((identity.byteLength + bytes(value)) / WIRE_BYTES_PER_VALUE));
    return value;
  }

  /** This file's memo, taken again if it was dropped to make room for another file's values. */
  private liveMemo(): Memo {
    if (memos.get(this.path) !== this.memo) this.memo = memoFor(this.path, this.uidValidity);
    return this.memo;
  }

  /** Keeps a decoded value (one just parsed and put) for value(); `weight` values' worth of the bound. */
  remember(uid: number, field: string, value: unknown, weight = 1): void {
    if (value === undefined) return;
    const memo = this.liveMemo();
    let map = memo.values.get(field);
    if (map?.has(uid)) return;
    let total = weight + (map?.hasChunkFor(uid) ? 0 : UID_CHUNK_WEIGHT);
    makeRoom(memo, total, field);
    if (memo.values.get(field) !== map) map = undefined; // this memo was the one emptied
    if (!map) {
      memo.values.set(field, (map = new UidValues()));
      total = weight + UID_CHUNK_WEIGHT;
    }
    memo.weights.set(field, (memo.weights.get(field) ?? 0) + total);
    memo.count += total;
    memoCount += total;
    map.set(uid, value);
  }

  /** Whether `field` of `uid` is known without re-reading the file (after a get() just scanned it). */
  has(uid: number, field: string): boolean {
    return this.entry(uid, field) !== undefined;
  }

  put(uid: number, field: string, json: string): void {
    this.putMany(uid, [[field, json]]);
  }

  /**
   * Several fields of one message in one write. With `defer`, the records wait (in memory,
   * readable through get()) to be written with others: at PENDING_BYTES_MAX, at flush(),
   * or once the current task is done.
   */
  putMany(uid: number, values: ReadonlyArray<readonly [field: string, json: string]>, defer = false): void {
    this.open();
    // All records of the message in one buffer.
    // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
    const sizes: number[] = [];
    let total = 0;
    for (const [field, json] of values) {
      const size = recordBytes(field, json);
      sizes.push(size);
      total += size;
    }
    if (total > 0) {
      const buf = Buffer.allocUnsafe(total);
      let at = 0;
      values.forEach(([field, json], i) => {
        const size = sizes[i]!;
        if (size === 0) return;
        writeRecord(buf, at, size, uid, field, json);
        const valueAt = at + RECORD_FRAME_BYTES + 5 + field.length;
        this.pendingValues.push({ at: this.pendingBytes + valueAt, length: at + size - valueAt, field, uid });
        at += size;
        this.entryMap(field).set(uid, json);
      });
      this.pending.push(buf);
      this.pendingBytes += total;
    }
    if (!defer || this.pendingBytes >= PENDING_BYTES_MAX) {
      this.flush();
    } else if (!this.flushScheduled && this.pending.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (this.fd < 0) return;
        try {
          this.flush();
        } catch (err) {
          // Only a cache: the fields are parsed again next time.
          this.logger.warn({ err, path: this.path }, 'writing cache records failed');
        }
      });
    }
  }

  /** Writes the deferred records. */
  flush(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const values = this.pendingValues;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingValues = [];
    this.open();
    const before = fstatSync(this.fd).size;
    writeSync(this.fd, data);
    // Nobody else appended since the last scan: our records need not be read back, and
    // their values are served from the bytes just written, not from a string each.
    if (before !== this.scannedTo || fstatSync(this.fd).size !== before + data.length) return;
    this.scannedTo = before + data.length;
    const held = this.chunks.length;
    this.hold(before, data);
    if (this.chunks.length === held) return;
    for (const v of values) {
      const map = this.entryMap(v.field);
      if (typeof map.get(v.uid) !== 'string') continue;
      map.set(v.uid, this.offsets.length);
      this.offsets.push(before + v.at);
      this.lengths.push(v.length);
    }
  }

  /** Rewrites the file with only the newest records of messages `keep` accepts. */
  compact(keep: (uid: number) => boolean): void {
    this.open();
    this.flush();
    this.scan();
    const parts: Buffer[] = [encodeHeader(this.uidValidity)];
    for (const [field, map] of this.entries) {
      for (const [uid, entry] of map) {
        if (!keep(uid)) continue;
        const record = encodeRecord(uid, field, this.text(entry));
        if (record) parts.push(record);
      }
    }
    const tmp = tempName(this.path);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, Buffer.concat(parts));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = -1;
    this.forget();
  }

  /** Bytes in the file, for deciding when to compact. */
  size(): number {
    this.open();
    return fstatSync(this.fd).size;
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        this.flush();
      } catch (err) {
        this.logger.warn({ err, path: this.path }, 'writing cache records failed');
      }
      closeSync(this.fd);
    }
    this.fd = -1;
    // The memory goes with the view; the decoded values (shared) stay.
    this.forget();
  }
}
