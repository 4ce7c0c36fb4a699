/**
 * The message of one transaction, on disk rather than in memory: a temp file that is
 * unlinked as soon as it is open, so it leaves nothing behind when lmtp is killed, and
 * that only this process can read (through its fd). Each recipient's delivery reads it
 * with positional reads, so deliveries can read it at the same time.
 */
import { constants, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '@loft/errors';

/** Bytes per read when a delivery streams the spool. */
export const SPOOL_READ_CHUNK_BYTES = 64 * 1024;

export class MessageSpool {
  private written = 0;
  private closed = false;

  private constructor(private readonly handle: fsp.FileHandle) {}

  /**
   * Opens an anonymous temp file. In seteuid mode `asRoot` runs the open and unlink with
   * root's identity (paths are resolved with the effective uid); reads and writes of the
   * open fd are not checked against it.
   */
  static async create(asRoot: <T>(fn: () => Promise<T>) => Promise<T>): Promise<MessageSpool> {
    const file = path.join(os.tmpdir(), `loft-lmtp.${process.pid}.${randomBytes(8).toString('hex')}`);
    try {
      return await asRoot(async () => {
        const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        await fsp.unlink(file).catch(async (err: unknown) => {
          await handle.close();
          throw err;
        });
        return new MessageSpool(handle);
      });
    } catch (err) {
      const code = (err as { code?: string } | null)?.code ?? 'unknown';
      throw new LoftError('LOFT_E_LMTP_SPOOL', `open ${file} failed: ${code}`, { cause: err });
    }
  }

  /** Bytes written so far. */
  get size(): number {
    return this.written;
  }

  /** Appends the chunks with one write (the DATA decoder hands over one slice per line). */
  async append(chunks: readonly Buffer[]): Promise<void> {
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset, this.written);
      offset += bytesWritten;
      this.written += bytesWritten;
    }
  }

  /** Reads `length` bytes at `position` (fewer at the end; empty past it). */
  async read(position: number, length = SPOOL_READ_CHUNK_BYTES): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.written - position));
    if (want === 0) return Buffer.alloc(0);
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.handle.read(buffer, got, want - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got);
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
    await this.handle.close();
  }
}
