/**
 * Single-instance attachment storage (mail_attachment_dir, mail_attachment_min_size): a MIME
 * body at least that large is stored once, by the sha256 of its bytes, and shared by every
 * message and user that contains it. The bytes are stored as they appear in the message
 * (still transfer-encoded), so the message reads back byte-identical.
 *
 * Under mail_attachment_dir, as Dovecot's sis does it, with hard links as reference counts:
 *   <h0h1>/<h2h3>/<sha256>                     the content (written temp + fsync + link)
 *   <h0h1>/<h2h3>/<sha256>-<user id>-<guid>    one hard link per message (message GUID) of a
 *                                              user (user id: 16 hex digits of sha256(user))
 * A message holds its attachment through its own link, so reading never depends on the
 * shared name; the inode's link count is the reference count. purge() removes the links of
 * messages no mailbox has any more and then the content name once only it is left.
 *
 * The message file holds a stub instead of the message (dbox header flag bit 0):
 *    0 u32 magic 0x54414c46 ("FLAT")   4 u32 n
 *    8 n x { f64 offset in the message, f64 length, u8[32] sha256 }  (ascending offsets)
 *    then the message bytes with those n ranges cut out.
 */
import { closeSync, constants, fdatasyncSync, fstatSync, linkSync, lstatSync, openSync, promises as fsp, readSync, unlinkSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseMessage, type MimePart } from '@loft/mime';
import { LoftError } from '@loft/errors';
import { O_NOFOLLOW, ensureRealDir, fsyncDir, ioError, isErrno, tempName } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';

export const STUB_MAGIC = 0x54414c46;
const STUB_ENTRY_BYTES = 48;

interface ExternalPart {
  offset: number;
  length: number;
  hash: string;
}

export interface AttachmentPurgeResult {
  /** Message links removed. */
  links: number;
  /** Attachment contents freed (their last reference went). */
  freed: number;
  freedBytes: number;
}

export class AttachmentStore {
  private readonly userId: string;
  private readonly knownDirs = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly minSize: number,
    user: string,
    private readonly fsync: boolean,
    private readonly logger: StorageLogger,
  ) {
    this.userId = createHash('sha256').update(user).digest('hex').slice(0, 16);
  }

  private hashDir(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash.slice(2, 4));
  }

  private linkPath(hash: string, guid: string): string {
    return join(this.hashDir(hash), `${hash}-${this.userId}-${guid}`);
  }

  /** The MIME leaves whose bodies go to the attachment directory. */
  private externalParts(message: Buffer): ExternalPart[] {
    if (message.length < this.minSize) return [];
    const out: ExternalPart[] = [];
    const stack: MimePart[] = [parseMessage(message)];
    while (stack.length > 0) {
      const part = stack.pop()!;
      if (part.message) stack.push(part.message);
      stack.push(...part.parts);
      if (part.parts.length > 0 || part.message) continue;
      const length = part.end - part.bodyStart;
      if (length === 0 || length < this.minSize) continue;
      out.push({ offset: part.bodyStart, length, hash: createHash('sha256').update(message.subarray(part.bodyStart, part.end)).digest('hex') });
    }
    return out.sort((a, b) => a.offset - b.offset);
  }

  /**
   * Splits a message for saving: the stub to store (or undefined if no part is large
   * enough) and the work that gives the stub's attachments their links (after the stub is
   * written, so purge always sees the message before its links: see purge()).
   */
  split(message: Buffer): { stub: Buffer; link: (guid: string) => Promise<void> } | undefined {
    const parts = this.externalParts(message);
    if (parts.length === 0) return undefined;
    const head = Buffer.alloc(8 + parts.length * STUB_ENTRY_BYTES);
    head.writeUInt32LE(STUB_MAGIC, 0);
    head.writeUInt32LE(parts.length, 4);
    const pieces: Buffer[] = [head];
    let pos = 0;
    parts.forEach((p, i) => {
      const at = 8 + i * STUB_ENTRY_BYTES;
      head.writeDoubleLE(p.offset, at);
      head.writeDoubleLE(p.length, at + 8);
      Buffer.from(p.hash, 'hex').copy(head, at + 16);
      pieces.push(message.subarray(pos, p.offset));
      pos = p.offset + p.length;
    });
    pieces.push(message.subarray(pos));
    return {
      stub: Buffer.concat(pieces),
      link: async (guid) => {
        for (const p of parts) await this.addLink(p.hash, guid, message.subarray(p.offset, p.offset + p.length));
      },
    };
  }

  /** Makes `<hash>-<user>-<guid>` a link of the content `bytes`, storing it if it is new. */
  private async addLink(hash: string, guid: string, bytes: Buffer): Promise<void> {
    const dir = this.hashDir(hash);
    if (!this.knownDirs.has(dir)) {
      await ensureRealDir(this.dir);
      await ensureRealDir(join(this.dir, hash.slice(0, 2)));
      await ensureRealDir(dir);
      this.knownDirs.add(dir);
    }
    const content = join(dir, hash);
    const link = this.linkPath(hash, guid);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(content, link);
        if (lstatSync(link).size !== bytes.length) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${content} has the wrong size for its hash`);
        return;
      } catch (err) {
        if (isErrno(err, 'EEXIST')) return; // this message already holds it
        if (!isErrno(err, 'ENOENT')) throw err instanceof LoftError ? err : ioError('link', link, err);
      }
      // New content (or purged meanwhile): write it under a temp name, then publish it.
      const tmp = tempName(content);
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
      try {
        let done = 0;
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
        if (this.fsync) fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, content);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw ioError('link', content, err);
      } finally {
        unlinkSync(tmp);
      }
      if (this.fsync) await fsyncDir(dir);
    }
    throw new LoftError('LOFT_E_STORAGE_IO', `${link}: attachment kept disappearing while linking it`);
  }

  /** The message a stub stands for, byte-identical to what was saved. */
  expand(stub: Buffer, guid: string): Buffer {
    if (stub.length < 8 || stub.readUInt32LE(0) !== STUB_MAGIC) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `message ${guid}: attachment stub is damaged`);
    const n = stub.readUInt32LE(4);
    let pos = 8 + n * STUB_ENTRY_BYTES;
    if (pos > stub.length) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `message ${guid}: attachment stub is truncated`);
    const pieces: Buffer[] = [];
    let messagePos = 0;
    for (let i = 0; i < n; i++) {
      const at = 8 + i * STUB_ENTRY_BYTES;
      const offset = stub.readDoubleLE(at);
      const length = stub.readDoubleLE(at + 8);
      const hash = stub.toString('hex', at + 16, at + 48);
      const inline = offset - messagePos;
      pieces.push(stub.subarray(pos, pos + inline));
      pos += inline;
      pieces.push(this.readAttachment(hash, guid, length));
      messagePos = offset + length;
    }
    pieces.push(stub.subarray(pos));
    return Buffer.concat(pieces);
  }

  private readAttachment(hash: string, guid: string, length: number): Buffer {
    const path = this.linkPath(hash, guid);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.logger.error({ path }, 'attachment of a message is missing from mail_attachment_dir');
        throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: attachment is missing`, { cause: err });
      }
      throw ioError('open', path, err);
    }
    try {
      if (fstatSync(fd).size !== length) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: attachment has the wrong size`);
      const bytes = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, bytes, done, length - done, done);
        if (n === 0) break;
        done += n;
      }
      // Never serve bytes that are not the ones saved.
      if (done !== length || createHash('sha256').update(bytes).digest('hex') !== hash) {
        this.logger.error({ path }, 'attachment content does not match its hash');
        throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: attachment content does not match its hash`);
      }
      return bytes;
    } finally {
      closeSync(fd);
    }
  }

  /** This user's message links: [path, hash, message GUID]. */
  private async userLinks(): Promise<Array<{ path: string; hash: string; guid: string }>> {
    const out: Array<{ path: string; hash: string; guid: string }> = [];
    const suffix = new RegExp(`^([0-9a-f]{64})-${this.userId}-([0-9a-f]{32})$`);
    for (const a of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await fsp.readdir(join(this.dir, a)).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{2}$/.test(b)) continue;
        for (const name of await fsp.readdir(join(this.dir, a, b)).catch(() => [] as string[])) {
          const m = suffix.exec(name);
          if (m) out.push({ path: join(this.dir, a, b, name), hash: m[1]!, guid: m[2]! });
        }
      }
    }
    return out;
  }

  /**
   * Drops this user's links of messages that no longer exist, and frees contents whose last
   * link went. `liveGuids` is called after the links are listed: a save writes its message
   * (stub) before its links, so a link listed here belongs to a message liveGuids sees.
   */
  async purge(liveGuids: () => Promise<Set<string>>): Promise<AttachmentPurgeResult> {
    const links = await this.userLinks();
    if (links.length === 0) return { links: 0, freed: 0, freedBytes: 0 };
    const live = await liveGuids();
    const result: AttachmentPurgeResult = { links: 0, freed: 0, freedBytes: 0 };
    for (const link of links) {
      if (live.has(link.guid)) continue;
      try {
        unlinkSync(link.path);
        result.links++;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw ioError('unlink', link.path, err);
        continue;
      }
      const content = join(this.hashDir(link.hash), link.hash);
      try {
        const stat = lstatSync(content);
        // Only the content name is left: no message of any user holds it.
        if (stat.isFile() && stat.nlink === 1) {
          unlinkSync(content);
          result.freed++;
          result.freedBytes += stat.size;
        }
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw ioError('unlink', content, err);
      }
    }
    return result;
  }
}
