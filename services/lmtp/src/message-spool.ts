/**
 * The message of one transaction. Up to SPOOL_MEMORY_MAX_BYTES it stays in memory (as in
 * Dovecot's lmtp, which keeps mail data in memory up to 128 KiB); a larger message goes to a
 * temp file that is unlinked as soon as it is open, so it leaves nothing behind when lmtp is
 * killed, and that only this process can read (through its fd). Each recipient's delivery
 * reads it with positional reads, so deliveries can read it at the same time.
 *
 * The lmtp process never changes its own uid (deliveries run in child processes, in both
 * privsep modes), so the temp file is always created as root.
 */
import { constants, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '@loft/errors';

/** Bytes per read when a delivery streams the spool, and per `chunk` sent to a child. */
export const SPOOL_READ_CHUNK_BYTES = 64 * 1024;
/** A message up to this size is kept in memory; a larger one goes to a temp file. */
export const SPOOL_MEMORY_MAX_BYTES = 128 * 1024;

export class MessageSpool {
  private written = 0;
  private closed = false;
  /** In memory until the message outgrows SPOOL_MEMORY_MAX_BYTES. */
  private parts: Buffer[] | undefined = [];
  private joined: Buffer | undefined;
  private handle: fsp.FileHandle | undefined;
  private headRead: Promise<Buffer> | undefined;

  /** Bytes written so far. */
  get size(): number {
    return this.written;
  }

  /** Whether the message went to a temp file. */
  get onDisk(): boolean {
    return this.handle !== undefined;
  }

  /** Appends the chunks (the DATA decoder hands over one slice per line). */
  async append(chunks: readonly Buffer[]): Promise<void> {
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (data.length === 0) return;
    this.joined = undefined;
    this.headRead = undefined;
    if (this.parts) {
      if (this.written + data.length <= SPOOL_MEMORY_MAX_BYTES) {
        // A copy: the slices point into the socket's input buffers.
        this.parts.push(Buffer.from(data));
        this.written += data.length;
        return;
      }
      const held = Buffer.concat(this.parts);
      this.handle = await MessageSpool.openTempFile();
      this.parts = undefined;
      await this.writeAt(held, 0);
    }
    await this.writeAt(data, this.written);
    this.written += data.length;
  }

  private async writeAt(data: Buffer, position: number): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.handle!.write(data, offset, data.length - offset, position + offset);
      offset += bytesWritten;
    }
  }

  /** An anonymous temp file, open for reading and writing. */
  private static async openTempFile(): Promise<fsp.FileHandle> {
    const file = path.join(os.tmpdir(), `loft-lmtp.${process.pid}.${randomBytes(8).toString('hex')}`);
    try {
      const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await fsp.unlink(file).catch(async (err: unknown) => {
        await handle.close();
        throw err;
      });
      return handle;
    } catch (err) {
      const code = (err as { code?: string } | null)?.code ?? 'unknown';
      throw new LoftError('LOFT_E_LMTP_SPOOL', `open ${file} failed: ${code}`, { cause: err });
    }
  }

  /** Reads `length` bytes at `position` (fewer at the end; empty past it). */
  async read(position: number, length = SPOOL_READ_CHUNK_BYTES): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.written - position));
    if (want === 0) return Buffer.alloc(0);
    if (this.parts) {
      this.joined ??= this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      return this.joined.subarray(position, position + want);
    }
    if (!this.handle) throw new LoftError('LOFT_E_LMTP_SPOOL', 'the spool is closed');
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.handle.read(buffer, got, want - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got);
  }

  /** The first SPOOL_READ_CHUNK_BYTES of the finished message, read once for all recipients. */
  head(): Promise<Buffer> {
    this.headRead ??= this.read(0);
    return this.headRead;
  }

  /** The whole message from the start, chunk by chunk. */
  async *stream(): AsyncIterable<Uint8Array> {
    for (let position = 0; position < this.written;) {
      const chunk = await this.read(position);
      if (chunk.length === 0) return;
      position += chunk.length;
      yield chunk;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.parts = undefined;
    this.joined = undefined;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
