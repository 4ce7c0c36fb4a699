/**
 * Small metadata files (the mailbox list index, subscriptions, a mailbox's `loft.mailbox`)
 * are JSON inside a checked frame, replaced atomically:
 *    0 u32 magic (one per file kind)   4 u32 version   8 u32 payload length
 *   12 u32 crc32 of the payload        16 payload (UTF-8 JSON)
 * A file whose magic, version, length or crc is wrong is reported as corrupt, never used.
 */
import { crc32 } from './binary.js';
import { atomicWriteFile, readFileNoFollow } from './safe-fs.js';

export const FRAME_HEADER_BYTES = 16;

export function encodeFramedJson(magic: number, version: number, value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32LE(magic, 0);
  head.writeUInt32LE(version, 4);
  head.writeUInt32LE(payload.length, 8);
  head.writeUInt32LE(crc32(payload), 12);
  return Buffer.concat([head, payload]);
}

/** The parsed payload, or a string saying why the file cannot be used. */
export function decodeFramedJson(buf: Buffer, magic: number, version: number): unknown {
  if (buf.length < FRAME_HEADER_BYTES) return { corrupt: 'file is shorter than its header' };
  if (buf.readUInt32LE(0) !== magic) return { corrupt: 'bad magic number' };
  if (buf.readUInt32LE(4) !== version) return { corrupt: `version ${buf.readUInt32LE(4)} is not supported` };
  const length = buf.readUInt32LE(8);
  if (buf.length !== FRAME_HEADER_BYTES + length) return { corrupt: `file is ${buf.length} bytes, its header says ${FRAME_HEADER_BYTES + length}` };
  const payload = buf.subarray(FRAME_HEADER_BYTES);
  if (buf.readUInt32LE(12) !== crc32(payload)) return { corrupt: 'checksum mismatch' };
  try {
    return { value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch {
    return { corrupt: 'payload is not JSON' };
  }
}

export type FramedRead = { state: 'missing' } | { state: 'corrupt'; reason: string } | { state: 'ok'; value: unknown };

export async function readFramedJson(path: string, magic: number, version: number): Promise<FramedRead> {
  const buf = await readFileNoFollow(path);
  if (!buf) return { state: 'missing' };
  const result = decodeFramedJson(buf, magic, version) as { corrupt?: string; value?: unknown };
  if (result.corrupt !== undefined) return { state: 'corrupt', reason: result.corrupt };
  return { state: 'ok', value: result.value };
}

export async function writeFramedJson(path: string, magic: number, version: number, value: unknown, fsync: boolean): Promise<void> {
  await atomicWriteFile(path, encodeFramedJson(magic, version, value), fsync);
}
