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

/** One framed record, or undefined for a field name too long to store. */
function encodeRecord(uid: number, field: string, json: string): Buffer | undefined {
  const name = Buffer.from(field, 'latin1');
  if (name.length > 255) return undefined;
  const value = Buffer.from(json, 'utf8');
  const body = Buffer.alloc(5 + name.length + value.length);
  body.writeUInt32LE(uid, 0);
  body[4] = name.length;
  name.copy(body, 5);
  value.copy(body, 5 + name.length);
  const frame = Buffer.alloc(RECORD_FRAME_BYTES);
  frame.writeUInt32LE(CACHE_RECORD_MAGIC, 0);
  frame.writeUInt32LE(body.length, 4);
  frame.writeUInt32LE(crc32(body), 8);
  return Buffer.concat([frame, body]);
}

export class MailCache {
  private fd = -1;
  private scannedTo = CACHE_HEADER_BYTES;
  /** uid -> field -> [file offset of the value, byte length]. */
  private readonly entries = new Map<number, Map<string, string | readonly [number, number]>>();
  private warned = false;

  constructor(private readonly path: string, private readonly uidValidity: number, private readonly logger: StorageLogger) {}

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
    this.scannedTo = CACHE_HEADER_BYTES;
    this.entries.clear();
  }

  /** Reads records other processes (or we) appended since the last scan. */
  private scan(): void {
    let replaced = false;
    try {
      replaced = statSync(this.path).ino !== fstatSync(this.fd).ino;
    } catch {
      replaced = true;
    }
    if (replaced) {
      // Compacted by another process: start over on the new file.
      closeSync(this.fd);
      this.fd = -1;
      this.entries.clear();
      this.scannedTo = CACHE_HEADER_BYTES;
      this.open();
    }
    const size = fstatSync(this.fd).size;
    if (size <= this.scannedTo) return;
    const data = Buffer.alloc(size - this.scannedTo);
    readSync(this.fd, data, 0, data.length, this.scannedTo);
    let pos = 0;
    while (pos + RECORD_FRAME_BYTES <= data.length) {
      const length = data.readUInt32LE(pos + 4);
      const end = pos + RECORD_FRAME_BYTES + length;
      if (data.readUInt32LE(pos) !== CACHE_RECORD_MAGIC || (end <= data.length && data.readUInt32LE(pos + 8) !== crc32(data.subarray(pos + RECORD_FRAME_BYTES, end)))) {
        if (!this.warned) this.logger.warn({ path: this.path, offset: this.scannedTo + pos }, 'damaged cache record skipped; the field will be parsed again');
        this.warned = true;
        const magic = Buffer.alloc(4);
        magic.writeUInt32LE(CACHE_RECORD_MAGIC, 0);
        const next = data.indexOf(magic, pos + 1);
        pos = next < 0 ? data.length : next;
        continue;
      }
      if (end > data.length) break;
      const body = pos + RECORD_FRAME_BYTES;
      const uid = data.readUInt32LE(body);
      const nameLength = data[body + 4]!;
      const name = data.toString('latin1', body + 5, body + 5 + nameLength);
      const valueStart = body + 5 + nameLength;
      let fields = this.entries.get(uid);
      if (!fields) this.entries.set(uid, (fields = new Map()));
      fields.set(name, [this.scannedTo + valueStart, end - valueStart]);
      pos = end;
    }
    this.scannedTo += pos;
  }

  /** The cached JSON text of `field` of message `uid`, if present. */
  get(uid: number, field: string): string | undefined {
    this.open();
    let entry = this.entries.get(uid)?.get(field);
    if (entry === undefined) {
      this.scan();
      entry = this.entries.get(uid)?.get(field);
    }
    if (entry === undefined || typeof entry === 'string') return entry;
    const [offset, length] = entry;
    const buf = Buffer.alloc(length);
    readSync(this.fd, buf, 0, length, offset);
    return buf.toString('utf8');
  }

  /** Whether `field` of `uid` is known without re-reading the file (after a get() just scanned it). */
  has(uid: number, field: string): boolean {
    return this.entries.get(uid)?.has(field) ?? false;
  }

  put(uid: number, field: string, json: string): void {
    this.open();
    const record = encodeRecord(uid, field, json);
    if (!record) return;
    writeSync(this.fd, record);
    let fields = this.entries.get(uid);
    if (!fields) this.entries.set(uid, (fields = new Map()));
    fields.set(field, json);
  }

  /** Several fields of one message in one write. */
  putMany(uid: number, values: ReadonlyArray<readonly [field: string, json: string]>): void {
    this.open();
    const records: Buffer[] = [];
    for (const [field, json] of values) {
      const record = encodeRecord(uid, field, json);
      if (record) records.push(record);
    }
    if (records.length === 0) return;
    writeSync(this.fd, Buffer.concat(records));
    let fields = this.entries.get(uid);
    if (!fields) this.entries.set(uid, (fields = new Map()));
    for (const [field, json] of values) fields.set(field, json);
  }

  /** Rewrites the file with only the newest records of messages `keep` accepts. */
  compact(keep: (uid: number) => boolean): void {
    this.open();
    this.scan();
    const parts: Buffer[] = [encodeHeader(this.uidValidity)];
    for (const [uid, fields] of this.entries) {
      if (!keep(uid)) continue;
      for (const field of fields.keys()) {
        const value = this.get(uid, field);
        const record = value === undefined ? undefined : encodeRecord(uid, field, value);
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
    this.entries.clear();
    this.scannedTo = CACHE_HEADER_BYTES;
  }

  /** Bytes in the file, for deciding when to compact. */
  size(): number {
    this.open();
    return fstatSync(this.fd).size;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
