/**
 * Byte-level helpers shared by the storage file formats: unsigned LEB128 varints (up to
 * 2^53, so modseqs and millisecond dates fit), UID range lists, and CRC-32.
 *
 * All multi-byte fixed-width integers in Loft's storage files are little-endian.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

export function crc32(data: Uint8Array): number {
  return zlibCrc32(data) >>> 0;
}

/** Grows as it is written; `finish()` returns the bytes written so far. */
export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buf[this.pos++] = value & 0xff;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** Unsigned varint; `value` must be an integer in [0, 2^53). */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    this.reserve(8);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** A length-prefixed UTF-8 string. */
  string(value: string): void {
    const data = Buffer.from(value, 'utf8');
    this.varint(data.length);
    this.bytes(data);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Thrown by ByteReader on a short or malformed input; callers turn it into "corrupt". */
export class ShortReadError extends Error {}

export class ByteReader {
  pos: number;

  constructor(private readonly buf: Uint8Array, start = 0, private readonly end = buf.length) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw new ShortReadError('u8 past end');
    return this.buf[this.pos++]!;
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new ShortReadError('u32 past end');
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 0x80;
    }
    throw new ShortReadError('varint too long');
  }

  bytes(length: number): Uint8Array {
    if (this.pos + length > this.end) throw new ShortReadError('bytes past end');
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    const length = this.varint();
    return Buffer.from(this.bytes(length)).toString('utf8');
  }
}

/** Inclusive UID range. */
export type UidRange = readonly [first: number, last: number];

/** Sorted, de-duplicated, merged ranges of a UID list. */
export function toRanges(uids: Iterable<number>): UidRange[] {
  const sorted = Uint32Array.from(uids).sort();
  const out: Array<[number, number]> = [];
  for (const uid of sorted) {
    const last = out[out.length - 1];
    if (last && uid <= last[1] + 1) last[1] = Math.max(last[1], uid);
    else out.push([uid, uid]);
  }
  return out;
}

/** Ranges as varints: count, then for each the gap from the previous end and the length - 1. */
export function writeRanges(writer: ByteWriter, ranges: readonly UidRange[]): void {
  writer.varint(ranges.length);
  let prev = 0;
  for (const [first, last] of ranges) {
    writer.varint(first - prev);
    writer.varint(last - first);
    prev = last;
  }
}

export function readRanges(reader: ByteReader): UidRange[] {
  const count = reader.varint();
  const out: UidRange[] = [];
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const first = prev + reader.varint();
    const last = first + reader.varint();
    if (first < 1 || last > 0xffffffff) throw new ShortReadError('uid range out of bounds');
    out.push([first, last]);
    prev = last;
  }
  return out;
}

export function* rangeUids(ranges: readonly UidRange[]): Generator<number> {
  for (const [first, last] of ranges) for (let uid = first; uid <= last; uid++) yield uid;
}

/** A GUID as 16 bytes <-> 32 lowercase hex characters. */
export function guidToHex(guid: Uint8Array): string {
  return Buffer.from(guid.buffer, guid.byteOffset, 16).toString('hex');
}

export function guidFromHex(hex: string): Buffer {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError(`not a GUID: ${hex}`);
  return Buffer.from(hex, 'hex');
}
