/**
 * The per-mailbox index, `loft.index`: a checkpoint of the state that the transaction log
 * produces up to `logOffset`, so opening a mailbox reads this file plus the log tail instead
 * of the whole log. It is only ever replaced whole (temp + fsync + rename, under the mailbox
 * lock), and only once the log tail has grown past a quarter of the index size, so a flag
 * change or an expunge writes a log record and nothing else.
 *
 * Layout (little-endian). Header, 96 bytes:
 *    0 u32 magic 0x58494c46 ("FLIX")      4 u32 version (1)       8 u32 header size (96)
 *   12 u32 message count n               16 u32 uidValidity      20 u32 uidNext
 *   24 u32 firstRecentUid                28 u32 keyword words per message (k)
 *   32 u32 logId of the checkpointed log  36 u32 keyword names byte length
 *   40 f64 highestModseq                 48 f64 logOffset (where replay continues)
 *   56 u32 crc32 of everything after the header                60 u32 crc32 of bytes 0..59
 *   64..95 reserved (0)
 * Then columns, each keyed by position (seq - 1) and padded to 8 bytes, so fields read
 * together sit together (UID->seq binary search touches only the UID column; SORT by size
 * or date touches only that column):
 *   u32 uid[n] (strictly increasing)   u32 flags[n] (system flag bits)   u32 size[n]
 *   f64 modseq[n]   f64 internalDate[n] (ms)   f64 saveDate[n] (ms)   u8 guid[16n]
 *   u32 keywordBits[n*k]   keyword names, UTF-8, joined by "\n"
 * Per message that is 52 bytes plus 4 per 32 keywords.
 */
import { crc32 } from './binary.js';

export const INDEX_MAGIC = 0x58494c46;
export const INDEX_VERSION = 1;
export const INDEX_HEADER_BYTES = 96;

/** System flags as bits of the flags column. \Recent is not stored: it is per session. */
export const SYSTEM_FLAGS: ReadonlyArray<readonly [name: string, bit: number]> = [
  ['\\Seen', 1],
  ['\\Answered', 2],
  ['\\Flagged', 4],
  ['\\Deleted', 8],
  ['\\Draft', 16],
];
export const SYSTEM_FLAG_MASK = 31;
/** In-memory only: expunged in the log but not yet announced to this session's view. */
export const FLAG_EXPUNGE_PENDING = 1 << 30;

export interface IndexHeader {
  uidValidity: number;
  uidNext: number;
  firstRecentUid: number;
  highestModseq: number;
  keywords: string[];
  logId: number;
  logOffset: number;
}

/** First index in ascending `sorted[0..end)` whose value is >= `value` (`end` if none). */
export function lowerBound(sorted: Uint32Array, value: number, end = sorted.length): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** From this many messages a full table grows by a quarter rather than doubling. */
const GROW_BY_QUARTER_FROM = 16 * 1024;

/** Column arrays of the messages of one mailbox, sorted by UID. */
export class MessageTable {
  count = 0;
  kwWords = 0;
  // No room until the first push(): a table is mostly decoded or merged into, and its
  // columns replaced. The empty arrays are shared and never written.
  uids: Uint32Array = NO_U32;
  flags: Uint32Array = NO_U32;
  sizes: Uint32Array = NO_U32;
  modseqs: Float64Array = NO_F64;
  internalDates: Float64Array = NO_F64;
  saveDates: Float64Array = NO_F64;
  guids: Uint8Array = NO_U8;
  keywordBits: Uint32Array = NO_U32;

  private get capacity(): number {
    return this.uids.length;
  }

  private grow(min: number): void {
    // Doubling, then a quarter more at a time: a table decoded as views of a 100,000-message
    // index has no room, and the first save past it copied 5.6 MB into 11 MB of new columns.
    const step = this.capacity < GROW_BY_QUARTER_FROM ? this.capacity : this.capacity >> 2;
    const cap = Math.max(min, this.capacity + step, 16);
    this.setColumns(this.copyColumns(cap));
  }

  /** New columns of `capacity` slots holding this table's messages. */
  private copyColumns(capacity: number): Columns {
    const next = allocColumns(capacity, this.kwWords);
    const n = this.count;
    next.uids.set(this.uids.subarray(0, n));
    next.flags.set(this.flags.subarray(0, n));
    next.sizes.set(this.sizes.subarray(0, n));
    next.modseqs.set(this.modseqs.subarray(0, n));
    next.internalDates.set(this.internalDates.subarray(0, n));
    next.saveDates.set(this.saveDates.subarray(0, n));
    next.guids.set(this.guids.subarray(0, n * 16));
    next.keywordBits.set(this.keywordBits.subarray(0, n * this.kwWords));
    return next;
  }

  /** Takes `columns` (allocColumns) as the table's arrays. */
  private setColumns(columns: Columns): void {
    this.uids = columns.uids;
    this.flags = columns.flags;
    this.sizes = columns.sizes;
    this.modseqs = columns.modseqs;
    this.internalDates = columns.internalDates;
    this.saveDates = columns.saveDates;
    this.guids = columns.guids;
    this.keywordBits = columns.keywordBits;
  }

  /** Widens the keyword bitmaps so keyword number `index` fits. */
  ensureKeyword(index: number): void {
    const words = (index >> 5) + 1;
    if (words <= this.kwWords) return;
    const next = new Uint32Array(this.capacity * words);
    for (let slot = 0; slot < this.count; slot++) {
      for (let w = 0; w < this.kwWords; w++) next[slot * words + w] = this.keywordBits[slot * this.kwWords + w]!;
    }
    this.keywordBits = next;
    this.kwWords = words;
  }

  push(uid: number, flags: number, modseq: number, guid: Uint8Array, size: number, internalDate: number, saveDate: number): number {
    if (this.count === this.capacity) this.grow(this.count + 1);
    const slot = this.count++;
    this.uids[slot] = uid;
    this.flags[slot] = flags;
    this.sizes[slot] = size;
    this.modseqs[slot] = modseq;
    this.internalDates[slot] = internalDate;
    this.saveDates[slot] = saveDate;
    this.guids.set(guid.subarray(0, 16), slot * 16);
    this.keywordBits.fill(0, slot * this.kwWords, (slot + 1) * this.kwWords);
    return slot;
  }

  /** First slot whose UID is >= uid (count if none). */
  lowerBound(uid: number): number {
    return lowerBound(this.uids, uid, this.count);
  }

  slotOf(uid: number): number {
    const slot = this.lowerBound(uid);
    return slot < this.count && this.uids[slot] === uid ? slot : -1;
  }

  guidHex(slot: number): string {
    return Buffer.from(this.guids.buffer, this.guids.byteOffset + slot * 16, 16).toString('hex');
  }

  hasKeyword(slot: number, index: number): boolean {
    const w = index >> 5;
    if (w >= this.kwWords) return false;
    return (this.keywordBits[slot * this.kwWords + w]! & (1 << (index & 31))) !== 0;
  }

  setKeyword(slot: number, index: number, on: boolean): void {
    this.ensureKeyword(index);
    const at = slot * this.kwWords + (index >> 5);
    const bit = 1 << (index & 31);
    this.keywordBits[at] = on ? this.keywordBits[at]! | bit : this.keywordBits[at]! & ~bit;
  }

  keywordIndexes(slot: number): number[] {
    const out: number[] = [];
    for (let w = 0; w < this.kwWords; w++) {
      let bits = this.keywordBits[slot * this.kwWords + w]!;
      while (bits !== 0) {
        const low = 31 - Math.clz32(bits & -bits);
        out.push(w * 32 + low);
        bits &= bits - 1;
      }
    }
    return out;
  }

  /** compact() of the slots marked FLAG_EXPUNGE_PENDING; one pass over the flags when there are none (the usual case). */
  dropExpungePending(): void {
    const flags = this.flags;
    let slot = 0;
    while (slot < this.count && (flags[slot]! & FLAG_EXPUNGE_PENDING) === 0) slot++;
    if (slot < this.count) this.compact((s) => (this.flags[s]! & FLAG_EXPUNGE_PENDING) !== 0);
  }

  /** Drops the slots for which `drop` is true, keeping order. */
  compact(drop: (slot: number) => boolean): void {
    let to = 0;
    const k = this.kwWords;
    for (let from = 0; from < this.count; from++) {
      if (drop(from)) continue;
      if (to !== from) {
        this.uids[to] = this.uids[from]!;
        this.flags[to] = this.flags[from]!;
        this.sizes[to] = this.sizes[from]!;
        this.modseqs[to] = this.modseqs[from]!;
        this.internalDates[to] = this.internalDates[from]!;
        this.saveDates[to] = this.saveDates[from]!;
        this.guids.copyWithin(to * 16, from * 16, from * 16 + 16);
        if (k > 0) this.keywordBits.copyWithin(to * k, from * k, from * k + k);
      }
      to++;
    }
    this.count = to;
  }

  clone(): MessageTable {
    const copy = new MessageTable();
    copy.count = this.count;
    copy.kwWords = this.kwWords;
    copy.setColumns(this.copyColumns(this.count));
    return copy;
  }
}

const NO_U32 = new Uint32Array(0);
const NO_F64 = new Float64Array(0);
const NO_U8 = new Uint8Array(0);

interface Columns {
  uids: Uint32Array;
  flags: Uint32Array;
  sizes: Uint32Array;
  modseqs: Float64Array;
  internalDates: Float64Array;
  saveDates: Float64Array;
  guids: Uint8Array;
  keywordBits: Uint32Array;
}

/**
 * Columns for `capacity` messages, all in one ArrayBuffer: each typed array and ArrayBuffer
 * costs ~180 bytes of its own besides its data, and an IMAP session holds a table for its
 * selected mailbox (eight arrays of 16 or 32 slots were ~3.2 KiB a session, ~1,000 sessions
 * a process). The 64-bit columns come first, so every column is aligned.
 */
function allocColumns(capacity: number, kwWords: number): Columns {
  const c = capacity;
  const buffer = new ArrayBuffer(c * (3 * 8 + 3 * 4 + 16 + kwWords * 4));
  return {
    modseqs: new Float64Array(buffer, 0, c),
    internalDates: new Float64Array(buffer, 8 * c, c),
    saveDates: new Float64Array(buffer, 16 * c, c),
    uids: new Uint32Array(buffer, 24 * c, c),
    flags: new Uint32Array(buffer, 28 * c, c),
    sizes: new Uint32Array(buffer, 32 * c, c),
    keywordBits: new Uint32Array(buffer, 36 * c, c * kwWords),
    guids: new Uint8Array(buffer, (36 + 4 * kwWords) * c, 16 * c),
  };
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

function columnBytes(view: ArrayBufferView, bytes: number): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, bytes);
}

/**
 * Serialises a checkpoint. Slots flagged FLAG_EXPUNGE_PENDING are left out: on disk the
 * index holds the state of the log, not of one session's view.
 */
export function encodeIndex(header: IndexHeader, source: MessageTable): Buffer {
  let table = source;
  if (hasPending(source)) {
    table = source.clone();
    table.compact((slot) => (table.flags[slot]! & FLAG_EXPUNGE_PENDING) !== 0);
  }
  const n = table.count;
  const k = table.kwWords;
  const names = Buffer.from(header.keywords.join('\n'), 'utf8');
  const parts: Buffer[] = [];
  const pushColumn = (buf: Buffer): void => {
    parts.push(buf);
    const padding = pad8(buf.length) - buf.length;
    if (padding) parts.push(Buffer.alloc(padding));
  };
  const flags = new Uint32Array(n);
  for (let i = 0; i < n; i++) flags[i] = table.flags[i]! & SYSTEM_FLAG_MASK;
  pushColumn(columnBytes(table.uids, n * 4));
  pushColumn(columnBytes(flags, n * 4));
  pushColumn(columnBytes(table.sizes, n * 4));
  pushColumn(columnBytes(table.modseqs, n * 8));
  pushColumn(columnBytes(table.internalDates, n * 8));
  pushColumn(columnBytes(table.saveDates, n * 8));
  pushColumn(columnBytes(table.guids, n * 16));
  pushColumn(columnBytes(table.keywordBits, n * k * 4));
  parts.push(names);
  const data = Buffer.concat(parts);
  const head = Buffer.alloc(INDEX_HEADER_BYTES);
  head.writeUInt32LE(INDEX_MAGIC, 0);
  head.writeUInt32LE(INDEX_VERSION, 4);
  head.writeUInt32LE(INDEX_HEADER_BYTES, 8);
  head.writeUInt32LE(n, 12);
  head.writeUInt32LE(header.uidValidity >>> 0, 16);
  head.writeUInt32LE(header.uidNext >>> 0, 20);
  head.writeUInt32LE(header.firstRecentUid >>> 0, 24);
  head.writeUInt32LE(k, 28);
  head.writeUInt32LE(header.logId >>> 0, 32);
  head.writeUInt32LE(names.length, 36);
  head.writeDoubleLE(header.highestModseq, 40);
  head.writeDoubleLE(header.logOffset, 48);
  head.writeUInt32LE(crc32(data), 56);
  head.writeUInt32LE(crc32(head.subarray(0, 60)), 60);
  return Buffer.concat([head, data]);
}

function hasPending(table: MessageTable): boolean {
  for (let i = 0; i < table.count; i++) if ((table.flags[i]! & FLAG_EXPUNGE_PENDING) !== 0) return true;
  return false;
}

/** The checkpoint in `buf`, or the reason it cannot be trusted. */
export function decodeIndex(buf: Buffer): { header: IndexHeader; table: MessageTable } | string {
  if (buf.length < INDEX_HEADER_BYTES) return `index is ${buf.length} bytes, shorter than its header`;
  if (buf.readUInt32LE(0) !== INDEX_MAGIC) return 'index has a bad magic number';
  if (buf.readUInt32LE(4) !== INDEX_VERSION) return `index version ${buf.readUInt32LE(4)} is not supported`;
  if (buf.readUInt32LE(60) !== crc32(buf.subarray(0, 60))) return 'index header checksum mismatch';
  const n = buf.readUInt32LE(12);
  const k = buf.readUInt32LE(28);
  const nameBytes = buf.readUInt32LE(36);
  const expected = INDEX_HEADER_BYTES + pad8(n * 4) * 3 + n * 8 * 3 + pad8(n * 16) + pad8(n * k * 4) + nameBytes;
  if (buf.length !== expected) return `index is ${buf.length} bytes, its header says ${expected}`;
  const data = buf.subarray(INDEX_HEADER_BYTES);
  if (buf.readUInt32LE(56) !== crc32(data)) return 'index data checksum mismatch';
  // The columns are views of the file's bytes when the Buffer holds exactly the file (an
  // index of more than 4 KiB is read into a Buffer of its own, at offset 0, so every column
  // starts at a multiple of 8 bytes, as a Float64Array must). A smaller one sits in Node's
  // shared 8 KiB pool, which views would keep alive: each of its columns is copied once into
  // an array of its own. An aligned copy of the whole file and then a copy per column took
  // 4.5 ms of a SELECT of 100,000 messages, the views ~1.1 (the checksum, mostly). A table
  // outgrows its views on the first append (MessageTable.grow copies).
  let off = 0;
  const inPlace = buf.byteOffset === 0 && buf.buffer.byteLength === buf.length;
  // Copies go into columns of one allocation (allocColumns), with room to grow.
  const copies = inPlace ? undefined : allocColumns(Math.max(16, n), k);
  const column = <T extends Uint32Array | Float64Array | Uint8Array>(
    ctor: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number },
    count: number,
    copy: T | undefined,
  ): T => {
    const bytes = count * ctor.BYTES_PER_ELEMENT;
    let out: T;
    if (copy === undefined) {
      out = new ctor(data.buffer, data.byteOffset + off, count);
    } else {
      out = copy;
      new Uint8Array(out.buffer, out.byteOffset, bytes).set(data.subarray(off, off + bytes));
    }
    off += pad8(bytes);
    return out;
  };
  const table = new MessageTable();
  table.count = n;
  table.kwWords = k;
  table.uids = column(Uint32Array, n, copies?.uids);
  table.flags = column(Uint32Array, n, copies?.flags);
  table.sizes = column(Uint32Array, n, copies?.sizes);
  table.modseqs = column(Float64Array, n, copies?.modseqs);
  table.internalDates = column(Float64Array, n, copies?.internalDates);
  table.saveDates = column(Float64Array, n, copies?.saveDates);
  table.guids = column(Uint8Array, n * 16, copies?.guids);
  table.keywordBits = column(Uint32Array, n * k, copies?.keywordBits);
  const names = data.toString('utf8', off, off + nameBytes);
  for (let i = 1; i < n; i++) {
    if (table.uids[i]! <= table.uids[i - 1]!) return 'index UIDs are not strictly increasing';
  }
  const header: IndexHeader = {
    uidValidity: buf.readUInt32LE(16),
    uidNext: buf.readUInt32LE(20),
    firstRecentUid: buf.readUInt32LE(24),
    highestModseq: buf.readDoubleLE(40),
    keywords: names === '' ? [] : names.split('\n'),
    logId: buf.readUInt32LE(32),
    logOffset: buf.readDoubleLE(48),
  };
  if (n > 0 && table.uids[n - 1]! >= header.uidNext) return 'index uidNext is not above its last UID';
  return { header, table };
}

