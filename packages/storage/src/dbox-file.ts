/**
 * sdbox message files: one file `u.<uid>` per message, in the mailbox directory or, with
 * mail_dir_hash = N, under N levels of hashed directories named by bytes of the UID
 * (`<mailbox>/3f/u.1087`), so no directory holds more than a few thousand files.
 *
 * A message is written to `tmp/` first and renamed to its UID only when complete, so a
 * visible `u.<uid>` is never half-written. The file holds a 64-byte header, then the raw
 * message bytes unchanged (so a FETCH BODY[] is one read):
 *    0 u32 magic 0x42444c46 ("FLDB")   4 u16 version (1)   6 u16 header size (64)
 *    8 u8[16] message GUID (stays with the message across COPY/MOVE and replication)
 *   24 f64 internal (received) date, ms since the epoch
 *   32 f64 save date, ms since the epoch
 *   40 f64 stored size in bytes (file size - header size)
 *   48 u8 flags: bit 0 = the stored bytes are an attachment stub (attachment-store.ts): MIME
 *      bodies moved to mail_attachment_dir; the message is rebuilt from both on read
 *   49..51 reserved (0)   52 f64 message size when bit 0 is set (0 otherwise)
 *   60 u32 crc32 of bytes 0..59
 * Files written before the flags existed have zeros there, and read as they always did.
 * The header is self-describing so a lost index can be rebuilt from the files alone.
 */
import { closeSync, constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LoftError } from '@loft/errors';
import { crc32 } from './binary.js';
import { O_NOFOLLOW, ioError, openNoFollow, writeAllSync } from './safe-fs.js';
import { blockingIo, fsyncFile, openCreating } from './io-mode.js';

export const DBOX_MAGIC = 0x42444c46;
export const DBOX_VERSION = 1;
export const DBOX_HEADER_BYTES = 64;
/** Messages up to this size are written with synchronous calls. */
const SYNC_WRITE_MAX_BYTES = 256 * 1024;

export interface DboxHeader {
  guid: Buffer;
  internalDate: number;
  saveDate: number;
  /** Bytes stored after the header. */
  size: number;
  /** DBOX_FLAG_* bits; 0 when absent. */
  flags?: number;
  /** RFC822.SIZE of the message: `size` unless the stored bytes are an attachment stub. */
  messageSize?: number;
}

/** The stored bytes are an attachment stub (attachment-store.ts). */
export const DBOX_FLAG_ATTACHMENT_STUB = 1;

/** RFC822.SIZE of the message a header describes. */
export function messageSizeOf(header: DboxHeader): number {
  return header.messageSize ?? header.size;
}

export function encodeDboxHeader(header: DboxHeader): Buffer {
  const buf = Buffer.alloc(DBOX_HEADER_BYTES);
  buf.writeUInt32LE(DBOX_MAGIC, 0);
  buf.writeUInt16LE(DBOX_VERSION, 4);
  buf.writeUInt16LE(DBOX_HEADER_BYTES, 6);
  header.guid.copy(buf, 8, 0, 16);
  buf.writeDoubleLE(header.internalDate, 24);
  buf.writeDoubleLE(header.saveDate, 32);
  buf.writeDoubleLE(header.size, 40);
  const flags = header.flags ?? 0;
  buf[48] = flags;
  if (flags & DBOX_FLAG_ATTACHMENT_STUB) buf.writeDoubleLE(header.messageSize ?? header.size, 52);
  buf.writeUInt32LE(crc32(buf.subarray(0, 60)), 60);
  return buf;
}

export function decodeDboxHeader(buf: Buffer, fileSize: number): DboxHeader | string {
  if (buf.length < DBOX_HEADER_BYTES) return 'message file is shorter than its header';
  if (buf.readUInt32LE(0) !== DBOX_MAGIC) return 'message file has a bad magic number';
  if (buf.readUInt16LE(4) !== DBOX_VERSION) return `message file version ${buf.readUInt16LE(4)} is not supported`;
  if (buf.readUInt32LE(60) !== crc32(buf.subarray(0, 60))) return 'message file header checksum mismatch';
  const size = buf.readDoubleLE(40);
  if (size !== fileSize - DBOX_HEADER_BYTES) return `message file is ${fileSize} bytes, its header says ${size + DBOX_HEADER_BYTES}`;
  const flags = buf[48]!;
  const messageSize = flags & DBOX_FLAG_ATTACHMENT_STUB ? buf.readDoubleLE(52) : size;
  return { guid: Buffer.from(buf.subarray(8, 24)), internalDate: buf.readDoubleLE(24), saveDate: buf.readDoubleLE(32), size, flags, messageSize };
}

/** Directory levels below the mailbox directory for `uid`. */
export function hashDirs(uid: number, levels: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < levels; i++) out.push(((uid >>> (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return out;
}

export function messagePath(dir: string, uid: number, levels: number): string {
  return join(dir, ...hashDirs(uid, levels), `u.${uid}`);
}

/** What a writer says about a message besides its bytes. */
export type DboxMeta = Omit<DboxHeader, 'size'>;

/**
 * Writes a complete message file at `path` (which must not exist) and returns its header.
 * The caller renames it into place.
 */
export async function writeDboxFile(
  path: string,
  message: Buffer | AsyncIterable<Uint8Array>,
  meta: DboxMeta,
  fsync: boolean,
): Promise<DboxHeader> {
  if (blockingIo() || (Buffer.isBuffer(message) && message.length <= SYNC_WRITE_MAX_BYTES)) return writeDboxFileDirect(path, message, meta, fsync);
  const handle = await openNoFollow(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    let size = 0;
    if (Buffer.isBuffer(message)) {
      size = message.length;
      await writeAll(handle, Buffer.concat([encodeDboxHeader({ ...meta, size }), message]), 0);
    } else {
      let pos = DBOX_HEADER_BYTES;
      for await (const chunk of message) {
        await writeAll(handle, chunk, pos);
        pos += chunk.length;
      }
      size = pos - DBOX_HEADER_BYTES;
      await writeAll(handle, encodeDboxHeader({ ...meta, size }), 0);
    }
    if (fsync) await handle.sync();
    return { ...meta, size };
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(path, { force: true });
    throw err instanceof LoftError ? err : ioError('write', path, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Small messages (most mail), and every message in a process with blocking I/O (a seteuid
 * delivery child, which streams each message from the lmtp spool): creating the file goes
 * through io-mode (the thread pool by default, since creating an inode on a journaling file
 * system can take a millisecond under load and an imap process serves many sessions); the
 * writes (to the page cache) and close are direct calls, and the fsync goes through io-mode.
 * A streamed message is written after its header's place, and the header, which holds the
 * size, last.
 */
async function writeDboxFileDirect(path: string, message: Buffer | AsyncIterable<Uint8Array>, meta: DboxMeta, fsync: boolean): Promise<DboxHeader> {
  let fd: number;
  try {
    fd = await openCreating(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    throw ioError('open', path, err);
  }
  let header: DboxHeader;
  try {
    if (Buffer.isBuffer(message)) {
      header = { ...meta, size: message.length };
      writeAllSync(fd, Buffer.concat([encodeDboxHeader(header), message]), 0);
    } else {
      let position = DBOX_HEADER_BYTES;
      for await (const chunk of message) {
        writeAllSync(fd, chunk, position);
        position += chunk.length;
      }
      header = { ...meta, size: position - DBOX_HEADER_BYTES };
      writeAllSync(fd, encodeDboxHeader(header), 0);
    }
    if (fsync) await fsyncFile(fd);
  } catch (err) {
    closeSync(fd);
    await fsp.rm(path, { force: true });
    throw err instanceof LoftError ? err : ioError('write', path, err);
  }
  closeSync(fd);
  return header;
}

async function writeAll(handle: fsp.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Header of the file at `path`, or the reason it is unusable. */
export async function readDboxHeader(path: string): Promise<DboxHeader | string> {
  const handle = await openNoFollow(path, constants.O_RDONLY);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return 'not a regular file';
    const buf = Buffer.alloc(DBOX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, DBOX_HEADER_BYTES, 0);
    return decodeDboxHeader(buf.subarray(0, bytesRead), stat.size);
  } finally {
    await handle.close();
  }
}

/** The raw message bytes of the file at `path`, checked against its header. */
export async function readDboxMessage(path: string): Promise<{ header: DboxHeader; message: Buffer }> {
  const handle = await openNoFollow(path, constants.O_RDONLY);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${path} is not a regular file`);
    const data = await handle.readFile();
    const header = decodeDboxHeader(data.subarray(0, DBOX_HEADER_BYTES), data.length);
    if (typeof header === 'string') throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: ${header}`);
    return { header, message: data.subarray(DBOX_HEADER_BYTES) };
  } finally {
    await handle.close();
  }
}
