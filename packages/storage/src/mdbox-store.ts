/**
 * mdbox ("global dbox storage", Dovecot's roadmap): the bytes of every message of a user live
 * in a few shared storage files, and mailboxes refer to them. The per-mailbox index, log and
 * cache are the same as sdbox's; only where a message's bytes are differs. A mailbox message
 * refers to its bytes by its message GUID (kept by COPY/MOVE), so COPY is a new reference and
 * no byte is copied.
 *
 * Under `<root>/storage/`:
 *   m.<n>          storage files, appended up to mdbox_rotate_size, then a new one is begun.
 *                  Each message is a record: the 64-byte dbox header (dbox-file.ts: GUID,
 *                  dates, size, crc), then the raw bytes. Self-describing, so the map can be
 *                  rebuilt from the files.
 *   loft.map.log   the map index, an append-only log written under the map lock:
 *                  header 16 bytes: 0 u32 magic 0x504d4c46 ("FLMP") 4 u32 version (1)
 *                                   8 u32 generation (random)    12 u32 crc32 of bytes 0..11
 *                  records: 0 u32 magic 0x524d4c46 ("FLMR")  4 u32 body length  8 u32 crc32
 *                  of the body; body: u8 type, u8[16] message GUID, then
 *                    1 ADD:   u32 file number, f64 offset, f64 size, f64 time added (ms)
 *                    2 REF:   u8[16] mailbox GUID, u32 UID    (mailbox:UID now refers to GUID)
 *                    3 UNREF: u8[16] mailbox GUID, u32 UID    (that reference is gone)
 *                    4 DEL:   (nothing; purge removed the message's bytes)
 *                  Replaying it gives map GUID -> (file, offset, size, refcount), where the
 *                  refcount is the number of mailbox:UID keys that refer to the GUID. Keyed
 *                  references make REF and UNREF idempotent, so a crash or a double unref
 *                  cannot drive a count wrong.
 *   loft.lock      the map lock (mailbox-lock.ts); taken after a mailbox lock, never before.
 *
 * Crash safety: a save appends its record to a storage file and an ADD to the map (both
 * fsynced per mail_fsync) before its mailbox transaction, and REFs it under the mailbox lock
 * before the mailbox log commits it. Every crash therefore leaves at worst an unreferenced
 * record or a reference too many, never a mailbox message without bytes. purge() reconciles
 * references with the mailbox indexes and reclaims what nothing refers to.
 *
 * A map that is damaged is rebuilt: ADDs from scanning the storage files, REFs from the
 * indexes of all mailboxes. The GUID in each record header is checked on every read, so a
 * stale offset (after a purge moved a message) is noticed and the map re-read.
 */
import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, lstatSync, openSync, promises as fsp, readSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { LoftError } from '@loft/errors';
import { crc32 } from './binary.js';
import { DBOX_HEADER_BYTES, DBOX_MAGIC, decodeDboxHeader, encodeDboxHeader, type DboxHeader, type DboxMeta } from './dbox-file.js';
import { MailboxLock } from './mailbox-lock.js';
import { O_NOFOLLOW, ensureRealDir, fsyncDir, ioError, isErrno, tempName } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';

export const MAP_MAGIC = 0x504d4c46;
export const MAP_VERSION = 1;
export const MAP_HEADER_BYTES = 16;
export const MAP_RECORD_MAGIC = 0x524d4c46;
const RECORD_FRAME_BYTES = 12;
const enum MapOp {
  Add = 1,
  Ref = 2,
  Unref = 3,
  Del = 4,
}
/**
 * An ADD that was never referenced may belong to a save still on its way to its mailbox
 * commit; purge leaves it alone for this long.
 */
export const MDBOX_UNREFERENCED_GRACE_MS = 60 * 60 * 1000;
/** The map log is rewritten by purge once it holds this many records per live entry. */
const MAP_COMPACT_RATIO = 4;

export interface MapEntry {
  /** Storage file number (`m.<n>`). */
  file: number;
  /** Offset of the record's dbox header in the file. */
  offset: number;
  /** Message bytes (without the header). */
  size: number;
  /** When the bytes were added, ms since the epoch. */
  addedMs: number;
  /** mailbox:UID keys referring to this message. */
  refcount: number;
  /** Whether any reference was ever seen (a never-referenced entry may be an in-flight save). */
  referenced: boolean;
}

export interface PurgeResult {
  /** Messages whose bytes were dropped. */
  removed: number;
  /** Storage files rewritten or deleted. */
  filesRewritten: number;
  /** Bytes the storage directory shrank by. */
  freedBytes: number;
  /** References dropped because their mailbox no longer has the message. */
  staleRefs: number;
  /** mail_attachment_dir: attachment contents freed (their last reference went). */
  attachmentsFreed?: number;
  attachmentBytesFreed?: number;
}

/** One mailbox's live messages, as its index says: what purge and map rebuilds trust. */
export interface MailboxMembers {
  mailboxGuid: string;
  /** Called with the mailbox lock held; returns UID -> message GUID of live messages, or undefined if unreadable. */
  read(): Promise<Map<number, string> | undefined>;
  /** Takes the mailbox's lock. */
  lock(): Promise<() => Promise<void>>;
}

interface MapRecord {
  op: MapOp;
  guid: string;
  file?: number;
  offset?: number;
  size?: number;
  addedMs?: number;
  mailbox?: string;
  uid?: number;
}

function encodeMapHeader(generation: number): Buffer {
  const buf = Buffer.alloc(MAP_HEADER_BYTES);
  buf.writeUInt32LE(MAP_MAGIC, 0);
  buf.writeUInt32LE(MAP_VERSION, 4);
  buf.writeUInt32LE(generation >>> 0, 8);
  buf.writeUInt32LE(crc32(buf.subarray(0, 12)), 12);
  return buf;
}

function encodeRecord(r: MapRecord): Buffer {
  let body: Buffer;
  if (r.op === MapOp.Add) {
    body = Buffer.alloc(17 + 28);
    body.writeUInt32LE(r.file!, 17);
    body.writeDoubleLE(r.offset!, 21);
    body.writeDoubleLE(r.size!, 29);
    body.writeDoubleLE(r.addedMs!, 37);
  } else if (r.op === MapOp.Ref || r.op === MapOp.Unref) {
    body = Buffer.alloc(17 + 20);
    Buffer.from(r.mailbox!, 'hex').copy(body, 17);
    body.writeUInt32LE(r.uid!, 33);
  } else {
    body = Buffer.alloc(17);
  }
  body[0] = r.op;
  Buffer.from(r.guid, 'hex').copy(body, 1);
  const frame = Buffer.alloc(RECORD_FRAME_BYTES);
  frame.writeUInt32LE(MAP_RECORD_MAGIC, 0);
  frame.writeUInt32LE(body.length, 4);
  frame.writeUInt32LE(crc32(body), 8);
  return Buffer.concat([frame, body]);
}

function decodeRecord(body: Buffer): MapRecord | undefined {
  if (body.length < 17) return undefined;
  const op = body[0] as MapOp;
  const guid = body.toString('hex', 1, 17);
  if (op === MapOp.Add && body.length === 45) return { op, guid, file: body.readUInt32LE(17), offset: body.readDoubleLE(21), size: body.readDoubleLE(29), addedMs: body.readDoubleLE(37) };
  if ((op === MapOp.Ref || op === MapOp.Unref) && body.length === 37) return { op, guid, mailbox: body.toString('hex', 17, 33), uid: body.readUInt32LE(33) };
  if (op === MapOp.Del && body.length === 17) return { op, guid };
  return undefined;
}

/** The map as replayed from the log. */
class MapState {
  readonly entries = new Map<string, MapEntry>();
  /** `<mailbox guid>:<uid>` -> message GUID. */
  readonly refs = new Map<string, string>();
  records = 0;

  apply(r: MapRecord): void {
    this.records++;
    switch (r.op) {
      case MapOp.Add: {
        const old = this.entries.get(r.guid);
        this.entries.set(r.guid, { file: r.file!, offset: r.offset!, size: r.size!, addedMs: old?.addedMs ?? r.addedMs!, refcount: old?.refcount ?? 0, referenced: old?.referenced ?? false });
        break;
      }
      case MapOp.Ref: {
        const key = `${r.mailbox!}:${r.uid!}`;
        const previous = this.refs.get(key);
        if (previous === r.guid) break;
        if (previous !== undefined) this.dropRef(previous);
        this.refs.set(key, r.guid);
        const entry = this.entries.get(r.guid);
        if (entry) {
          entry.refcount++;
          entry.referenced = true;
        }
        break;
      }
      case MapOp.Unref: {
        const key = `${r.mailbox!}:${r.uid!}`;
        if (this.refs.get(key) !== r.guid) break;
        this.refs.delete(key);
        this.dropRef(r.guid);
        break;
      }
      case MapOp.Del:
        this.entries.delete(r.guid);
        break;
    }
  }

  private dropRef(guid: string): void {
    const entry = this.entries.get(guid);
    if (entry) entry.refcount = Math.max(0, entry.refcount - 1);
  }
}

export interface MdboxStoreOptions {
  /** `<mail root>/storage`. */
  dir: string;
  rotateBytes: number;
  fsync: 'always' | 'optimized' | 'never';
  logger: StorageLogger;
  /** Every mailbox of the user, for purge and map rebuilds. */
  mailboxes: () => Promise<MailboxMembers[]>;
}

export class MdboxStore {
  readonly dir: string;
  private readonly mapPath: string;
  private readonly lock: MailboxLock;
  private state = new MapState();
  private fd = -1;
  private ino = 0;
  private scannedTo = MAP_HEADER_BYTES;

  constructor(private readonly options: MdboxStoreOptions) {
    this.dir = options.dir;
    this.mapPath = join(options.dir, 'loft.map.log');
    this.lock = new MailboxLock(options.dir, options.logger);
  }

  private get fsyncSaves(): boolean {
    return this.options.fsync !== 'never';
  }

  async init(): Promise<void> {
    await ensureRealDir(this.dir);
    const release = await this.takeLock();
    try {
      if (this.scan() === 'missing' && this.storageFiles().length === 0 && !existsNoFollow(this.mapPath)) {
        await this.replaceMap([], this.options.fsync !== 'never'); // a new user
      }
      await this.syncOrRebuild();
    } finally {
      await release();
    }
  }

  private async takeLock(): Promise<() => Promise<void>> {
    const release = await this.lock.acquire();
    if (!release) throw new LoftError('LOFT_E_STORAGE_LOCKED', `${this.dir}/loft.lock`);
    return release;
  }

  // ---- the map log ---------------------------------------------------------------------

  private openMap(): boolean {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    try {
      this.fd = openSync(this.mapPath, constants.O_RDWR | O_NOFOLLOW);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw ioError('open', this.mapPath, err);
    }
    const head = Buffer.alloc(MAP_HEADER_BYTES);
    const got = readSync(this.fd, head, 0, MAP_HEADER_BYTES, 0);
    if (got !== MAP_HEADER_BYTES || head.readUInt32LE(0) !== MAP_MAGIC || head.readUInt32LE(4) !== MAP_VERSION || head.readUInt32LE(12) !== crc32(head.subarray(0, 12))) {
      return false;
    }
    this.ino = fstatSync(this.fd).ino;
    this.state = new MapState();
    this.scannedTo = MAP_HEADER_BYTES;
    return true;
  }

  /**
   * Reads records appended since the last read. Returns 'damaged' for a record that fails
   * its checksum with more data behind it; a torn record at the end is just not read yet.
   */
  private scan(): 'ok' | 'damaged' | 'missing' {
    let replaced = this.fd < 0;
    if (!replaced) {
      try {
        replaced = lstatSync(this.mapPath).ino !== this.ino;
      } catch {
        replaced = true;
      }
    }
    if (replaced && !this.openMap()) return 'missing';
    const size = fstatSync(this.fd).size;
    if (size <= this.scannedTo) return 'ok';
    const data = Buffer.allocUnsafe(size - this.scannedTo);
    let done = 0;
    while (done < data.length) {
      const n = readSync(this.fd, data, done, data.length - done, this.scannedTo + done);
      if (n === 0) break;
      done += n;
    }
    let pos = 0;
    while (pos + RECORD_FRAME_BYTES <= done) {
      const length = data.readUInt32LE(pos + 4);
      const end = pos + RECORD_FRAME_BYTES + length;
      if (data.readUInt32LE(pos) !== MAP_RECORD_MAGIC || length > 1024) return 'damaged';
      if (end > done) break;
      const body = data.subarray(pos + RECORD_FRAME_BYTES, end);
      const record = data.readUInt32LE(pos + 8) === crc32(body) ? decodeRecord(body) : undefined;
      if (!record) return 'damaged';
      this.state.apply(record);
      pos = end;
    }
    this.scannedTo += pos;
    return 'ok';
  }

  /** Brings the map up to date, rebuilding it if it is missing or damaged. Map lock held. */
  private syncLocked(): void {
    const result = this.scan();
    if (result === 'ok') {
      // A torn record at the end (a writer killed mid-write): cut it off before appending.
      const size = fstatSync(this.fd).size;
      if (size > this.scannedTo) ftruncateSync(this.fd, this.scannedTo);
      return;
    }
    throw new MapNeedsRebuild(result === 'missing' ? 'map index is missing' : `map index is damaged after offset ${this.scannedTo}`);
  }

  /** Map lock held: up to date, rebuilt first if it has to be. */
  private async syncOrRebuild(): Promise<void> {
    try {
      this.syncLocked();
    } catch (err) {
      if (!(err instanceof MapNeedsRebuild)) throw err;
      await this.rebuildLocked(err.message);
    }
  }

  private appendRecords(records: readonly MapRecord[], fsync: boolean): void {
    if (records.length === 0) return;
    const data = Buffer.concat(records.map(encodeRecord));
    const at = fstatSync(this.fd).size;
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, at + done);
      if (fsync) fdatasyncSync(this.fd);
    } catch (err) {
      throw ioError('write', this.mapPath, err);
    }
    for (const r of records) this.state.apply(r);
    this.scannedTo = at + data.length;
  }

  /** Lockless read of the entry (re-reading the map once on a miss). */
  entry(guid: string): MapEntry | undefined {
    let entry = this.state.entries.get(guid);
    if (!entry) {
      this.scanOrThrow();
      entry = this.state.entries.get(guid);
    }
    return entry;
  }

  /** Lockless scan; a damaged map is not guessed around (repair() rebuilds it). */
  private scanOrThrow(): void {
    const result = this.scan();
    if (result !== 'ok') throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${this.mapPath}: map index is ${result}; it is rebuilt by repair()`);
  }

  /** Rebuilds the map if it is damaged (after a read failed with LOFT_E_STORAGE_CORRUPT). */
  async repair(): Promise<void> {
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
    } finally {
      await release();
    }
  }

  /** Reference count of a message GUID (0 if unknown). */
  refcount(guid: string): number {
    this.scan();
    return this.state.entries.get(guid)?.refcount ?? 0;
  }

  // ---- storage files -----------------------------------------------------------------

  private filePath(file: number): string {
    return join(this.dir, `m.${file}`);
  }

  private storageFiles(): number[] {
    return readdirSync(this.dir)
      .map((name) => /^m\.(\d+)$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /** Appends whole records to the newest file with room, or a new one. Map lock held. */
  private appendStorage(records: Buffer, fsync: boolean): { file: number; offset: number } {
    const files = this.storageFiles();
    let file = files[files.length - 1] ?? 0;
    let fd = -1;
    try {
      if (file > 0) {
        fd = openSync(this.filePath(file), constants.O_WRONLY | O_NOFOLLOW);
        if (fstatSync(fd).size + records.length > this.options.rotateBytes && fstatSync(fd).size > 0) {
          closeSync(fd);
          fd = -1;
        }
      }
      let created = false;
      if (fd < 0) {
        file++;
        fd = openSync(this.filePath(file), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
        created = true;
      }
      const offset = fstatSync(fd).size;
      let done = 0;
      while (done < records.length) done += writeSync(fd, records, done, records.length - done, offset + done);
      if (fsync) fdatasyncSync(fd);
      closeSync(fd);
      fd = -1;
      if (created && fsync) this.dirNeedsSync = true;
      return { file, offset };
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      throw ioError('write', this.filePath(file), err);
    }
  }

  private dirNeedsSync = false;

  private async syncDirIfNeeded(): Promise<void> {
    if (!this.dirNeedsSync) return;
    this.dirNeedsSync = false;
    await fsyncDir(this.dir);
  }

  /**
   * Stores a message's bytes (a save): afterwards the map has it, unreferenced. A GUID that
   * is already stored with the same bytes is stored once; with different bytes it is refused.
   */
  async store(message: Buffer, meta: DboxMeta): Promise<void> {
    const guid = meta.guid.toString('hex');
    const fsync = this.fsyncSaves;
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      const existing = this.state.entries.get(guid);
      if (existing) {
        const stored = this.readAt(guid, existing);
        if (stored && stored.equals(message)) return;
        throw new LoftError('LOFT_E_STORAGE_INVALID', `message GUID ${guid} is already stored with different content`);
      }
      const header = encodeDboxHeader({ ...meta, size: message.length });
      const at = this.appendStorage(Buffer.concat([header, message]), fsync);
      this.appendRecords([{ op: MapOp.Add, guid, file: at.file, offset: at.offset, size: message.length, addedMs: Date.now() }], fsync);
      if (fsync) await this.syncDirIfNeeded();
    } finally {
      await release();
    }
  }

  /**
   * Records that mailbox:UID refer to these GUIDs (save, copy). Called with the mailbox lock
   * held, before the mailbox log commits them. Throws EXPUNGED if a GUID is not stored (a
   * copy whose source was purged meanwhile).
   */
  async addRefs(mailboxGuid: string, refs: ReadonlyArray<{ uid: number; guid: string }>): Promise<void> {
    if (refs.length === 0) return;
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      for (const r of refs) if (!this.state.entries.has(r.guid)) throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `message ${r.guid} is no longer stored`);
      this.appendRecords(refs.map((r) => ({ op: MapOp.Ref, guid: r.guid, mailbox: mailboxGuid, uid: r.uid })), this.fsyncSaves);
    } finally {
      await release();
    }
  }

  /** Drops references (expunge); the bytes stay until purge(). */
  async dropRefs(mailboxGuid: string, refs: ReadonlyArray<{ uid: number; guid: string }>): Promise<void> {
    if (refs.length === 0) return;
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      this.appendRecords(refs.map((r) => ({ op: MapOp.Unref, guid: r.guid, mailbox: mailboxGuid, uid: r.uid })), this.options.fsync === 'always');
    } finally {
      await release();
    }
  }

  /** Drops every reference of a deleted mailbox. */
  async dropMailbox(mailboxGuid: string): Promise<void> {
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      const records: MapRecord[] = [];
      for (const [key, guid] of this.state.refs) {
        const [mailbox, uid] = key.split(':');
        if (mailbox === mailboxGuid) records.push({ op: MapOp.Unref, guid, mailbox, uid: Number(uid) });
      }
      this.appendRecords(records, this.options.fsync === 'always');
    } finally {
      await release();
    }
  }

  /** UID -> GUID of the references of one mailbox, for rebuilding its index. */
  async mailboxRefs(mailboxGuid: string): Promise<Map<number, string>> {
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
    } finally {
      await release();
    }
    const out = new Map<number, string>();
    for (const [key, guid] of this.state.refs) {
      const [mailbox, uid] = key.split(':');
      if (mailbox === mailboxGuid && this.state.entries.has(guid)) out.set(Number(uid), guid);
    }
    return out;
  }

  /** Reads the bytes of `guid` at `entry`, or undefined if they are not there (moved by a purge). */
  private readAt(guid: string, entry: MapEntry): Buffer | undefined {
    return this.readRecordAt(guid, entry)?.message;
  }

  private readRecordAt(guid: string, entry: MapEntry): { header: DboxHeader; message: Buffer } | undefined {
    let fd: number;
    try {
      fd = openSync(this.filePath(entry.file), constants.O_RDONLY | O_NOFOLLOW);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw ioError('open', this.filePath(entry.file), err);
    }
    try {
      const data = Buffer.allocUnsafe(DBOX_HEADER_BYTES + entry.size);
      let done = 0;
      while (done < data.length) {
        const n = readSync(fd, data, done, data.length - done, entry.offset + done);
        if (n === 0) break;
        done += n;
      }
      if (done < data.length) return undefined;
      const header = decodeDboxHeader(data.subarray(0, DBOX_HEADER_BYTES), data.length);
      if (typeof header === 'string' || header.guid.toString('hex') !== guid) return undefined;
      return { header, message: data.subarray(DBOX_HEADER_BYTES) };
    } finally {
      closeSync(fd);
    }
  }

  /** The message bytes and header of `guid`; EXPUNGED if the map no longer has it. */
  read(guid: string): { header: DboxHeader; message: Buffer } {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) this.scanOrThrow();
      const entry = attempt === 0 ? this.entry(guid) : this.state.entries.get(guid);
      if (!entry) break;
      const record = this.readRecordAt(guid, entry);
      if (record) return record;
    }
    throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `message ${guid} is not in ${this.dir}`);
  }

  /** A stream of the bytes of `guid`. */

  // ---- purge and rebuild -------------------------------------------------------------

  /** Makes every mailbox's references match its index (mailbox lock, then map lock). */
  private async reconcile(): Promise<number> {
    let stale = 0;
    const members = await this.options.mailboxes();
    const known = new Set(members.map((m) => m.mailboxGuid));
    for (const mailbox of members) {
      const releaseMailbox = await mailbox.lock();
      try {
        const live = await mailbox.read();
        if (!live) continue; // unreadable: keep its references (the safe direction)
        const release = await this.takeLock();
        try {
          await this.syncOrRebuild();
          const records: MapRecord[] = [];
          for (const [key, guid] of this.state.refs) {
            const [owner, uidText] = key.split(':');
            if (owner !== mailbox.mailboxGuid) continue;
            if (live.get(Number(uidText)) !== guid) records.push({ op: MapOp.Unref, guid, mailbox: owner, uid: Number(uidText) });
          }
          for (const [uid, guid] of live) {
            if (this.state.refs.get(`${mailbox.mailboxGuid}:${uid}`) !== guid && this.state.entries.has(guid)) records.push({ op: MapOp.Ref, guid, mailbox: mailbox.mailboxGuid, uid });
          }
          stale += records.filter((r) => r.op === MapOp.Unref).length;
          this.appendRecords(records, this.fsyncSaves);
        } finally {
          await release();
        }
      } finally {
        await releaseMailbox();
      }
    }
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      const records: MapRecord[] = [];
      for (const [key, guid] of this.state.refs) {
        const [owner, uidText] = key.split(':');
        if (!known.has(owner!)) records.push({ op: MapOp.Unref, guid, mailbox: owner!, uid: Number(uidText) });
      }
      stale += records.length;
      this.appendRecords(records, this.fsyncSaves);
    } finally {
      await release();
    }
    return stale;
  }

  /**
   * Reclaims the space of messages nothing refers to any more: their storage files are
   * rewritten without them (loftadm purge). Safe to run while others save and read.
   */
  async purge(now = Date.now()): Promise<PurgeResult> {
    const staleRefs = await this.reconcile();
    const release = await this.takeLock();
    try {
      await this.syncOrRebuild();
      const dead = new Set<string>();
      for (const [guid, e] of this.state.entries) {
        if (e.refcount === 0 && (e.referenced || now - e.addedMs > MDBOX_UNREFERENCED_GRACE_MS)) dead.add(guid);
      }
      const byFile = new Map<number, string[]>();
      for (const [guid, e] of this.state.entries) {
        let list = byFile.get(e.file);
        if (!list) byFile.set(e.file, (list = []));
        list.push(guid);
      }
      const fsync = this.fsyncSaves;
      const toDelete: number[] = [];
      const records: MapRecord[] = [];
      const before = this.storageFiles().reduce((sum, f) => sum + fstatSyncPath(this.filePath(f)), 0);
      let freedBytes = 0;
      for (const file of this.storageFiles()) {
        const guids = byFile.get(file) ?? [];
        const keep = guids.filter((g) => !dead.has(g));
        const size = fstatSyncPath(this.filePath(file));
        const keptBytes = keep.reduce((sum, g) => sum + DBOX_HEADER_BYTES + this.state.entries.get(g)!.size, 0);
        // Nothing to reclaim here, or only garbage younger than the grace period.
        if (keep.length === guids.length && (keptBytes === size || now - mtimeOf(this.filePath(file)) < MDBOX_UNREFERENCED_GRACE_MS)) continue;
        if (keep.length > 0) {
          const parts: Buffer[] = [];
          const moved: string[] = [];
          for (const guid of keep) {
            const bytes = this.readAt(guid, this.state.entries.get(guid)!);
            if (!bytes) {
              this.options.logger.error({ guid, file: this.filePath(file) }, 'message bytes missing from their storage file; left in the map');
              continue;
            }
            const old = this.readHeaderAt(this.state.entries.get(guid)!);
            parts.push(encodeDboxHeader({ ...(old ?? { guid: Buffer.from(guid, 'hex'), internalDate: 0, saveDate: 0 }), size: bytes.length }), bytes);
            moved.push(guid);
          }
          // Written to a new file, fsynced and mapped before the old one goes.
          const at = this.appendFresh(Buffer.concat(parts), fsync);
          let offset = at.offset;
          for (const guid of moved) {
            const size = this.state.entries.get(guid)!.size;
            records.push({ op: MapOp.Add, guid, file: at.file, offset, size, addedMs: this.state.entries.get(guid)!.addedMs });
            offset += DBOX_HEADER_BYTES + size;
          }
        }
        for (const guid of guids) if (dead.has(guid)) records.push({ op: MapOp.Del, guid });
        toDelete.push(file);
      }
      if (fsync) await this.syncDirIfNeeded();
      this.appendRecords(records, fsync);
      for (const file of toDelete) {
        try {
          unlinkSync(this.filePath(file));
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw ioError('unlink', this.filePath(file), err);
        }
      }
      freedBytes = Math.max(0, before - this.storageFiles().reduce((sum, f) => sum + fstatSyncPath(this.filePath(f)), 0));
      if (this.state.records > MAP_COMPACT_RATIO * Math.max(16, this.state.entries.size + this.state.refs.size)) await this.compactMap(fsync);
      if (toDelete.length > 0) this.options.logger.info({ dir: this.dir, removed: dead.size, files: toDelete.length }, 'mdbox purge reclaimed space');
      return { removed: dead.size, filesRewritten: toDelete.length, freedBytes, staleRefs };
    } finally {
      await release();
    }
  }

  /** The stored dbox header of `guid` (GUID, dates, size), or undefined. */
  headerOf(guid: string): DboxHeader | undefined {
    const entry = this.entry(guid);
    return entry ? this.readHeaderAt(entry) : undefined;
  }

  private readHeaderAt(entry: MapEntry): DboxHeader | undefined {
    try {
      const fd = openSync(this.filePath(entry.file), constants.O_RDONLY | O_NOFOLLOW);
      try {
        const head = Buffer.alloc(DBOX_HEADER_BYTES);
        readSync(fd, head, 0, DBOX_HEADER_BYTES, entry.offset);
        const header = decodeDboxHeader(head, DBOX_HEADER_BYTES + entry.size);
        return typeof header === 'string' ? undefined : header;
      } finally {
        closeSync(fd);
      }
    } catch {
      return undefined;
    }
  }

  /** Writes records to a brand-new storage file (purge). Map lock held. */
  private appendFresh(records: Buffer, fsync: boolean): { file: number; offset: number } {
    const files = this.storageFiles();
    const file = (files[files.length - 1] ?? 0) + 1;
    const fd = openSync(this.filePath(file), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
    try {
      let done = 0;
      while (done < records.length) done += writeSync(fd, records, done, records.length - done, done);
      if (fsync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.dirNeedsSync = true;
    return { file, offset: 0 };
  }

  /** Rewrites the map log as one record per entry and reference. Map lock held. */
  private async compactMap(fsync: boolean): Promise<void> {
    const records: MapRecord[] = [];
    for (const [guid, e] of this.state.entries) records.push({ op: MapOp.Add, guid, file: e.file, offset: e.offset, size: e.size, addedMs: e.addedMs });
    for (const [key, guid] of this.state.refs) {
      const [mailbox, uid] = key.split(':');
      records.push({ op: MapOp.Ref, guid, mailbox: mailbox!, uid: Number(uid) });
    }
    await this.replaceMap(records, fsync);
  }

  private async replaceMap(records: readonly MapRecord[], fsync: boolean): Promise<void> {
    const tmp = tempName(this.mapPath);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, Buffer.concat([encodeMapHeader(randomInt(1, 0xffffffff)), ...records.map(encodeRecord)]));
      if (fsync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.mapPath);
    if (fsync) await fsyncDir(this.dir);
    if (!this.openMap()) throw new LoftError('LOFT_E_STORAGE_IO', `${this.mapPath}: rewritten map cannot be read back`);
    const scan = this.scan();
    if (scan !== 'ok') throw new LoftError('LOFT_E_STORAGE_IO', `${this.mapPath}: rewritten map is ${scan}`);
  }

  /**
   * Rebuilds the map: entries from the storage files, references from the mailbox indexes.
   * Map lock held. References are read without the mailbox locks (taking them here would
   * invert the lock order); a save in flight re-adds its REF after this returns.
   */
  private async rebuildLocked(reason: string): Promise<void> {
    this.options.logger.error({ path: this.mapPath, reason }, 'mdbox map index cannot be trusted; rebuilding it from the storage files and mailbox indexes');
    const records: MapRecord[] = [];
    const found = new Set<string>();
    for (const file of this.storageFiles()) {
      for (const rec of scanStorageFile(this.filePath(file), this.options.logger)) {
        const guid = rec.header.guid.toString('hex');
        if (found.has(guid)) continue;
        found.add(guid);
        records.push({ op: MapOp.Add, guid, file, offset: rec.offset, size: rec.header.size, addedMs: mtimeOf(this.filePath(file)) });
      }
    }
    for (const mailbox of await this.options.mailboxes()) {
      const live = await mailbox.read().catch(() => undefined);
      if (!live) continue;
      for (const [uid, guid] of live) if (found.has(guid)) records.push({ op: MapOp.Ref, guid, mailbox: mailbox.mailboxGuid, uid });
    }
    await this.replaceMap(records, this.options.fsync !== 'never');
    this.options.logger.info({ path: this.mapPath, messages: found.size }, 'mdbox map index rebuilt');
  }

  /** Rebuilds the map now (loftadm force-resync). */
  async forceRebuild(): Promise<void> {
    const release = await this.takeLock();
    try {
      await this.rebuildLocked('force-resync requested');
    } finally {
      await release();
    }
  }

  /** GUIDs of every stored message, referenced or not (attachment purge keeps theirs). */
  storedGuids(): Set<string> {
    this.scan();
    return new Set(this.state.entries.keys());
  }

  /** Total bytes of the storage files. */
  async storageBytes(): Promise<number> {
    let total = 0;
    for (const file of this.storageFiles()) total += (await fsp.lstat(this.filePath(file))).size;
    return total;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

class MapNeedsRebuild extends Error {}

function fstatSyncPath(path: string): number {
  try {
    return lstatSync(path).size;
  } catch {
    return 0;
  }
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function mtimeOf(path: string): number {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Valid message records of a storage file; damaged stretches are skipped and logged. */
export function scanStorageFile(path: string, logger: StorageLogger): Array<{ offset: number; header: DboxHeader }> {
  let data: Buffer;
  try {
    const fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW);
    try {
      const size = fstatSync(fd).size;
      data = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, data, done, size - done, done);
        if (n === 0) break;
        done += n;
      }
      data = data.subarray(0, done);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    logger.error({ err, path }, 'storage file cannot be read');
    return [];
  }
  const out: Array<{ offset: number; header: DboxHeader }> = [];
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(DBOX_MAGIC, 0);
  let pos = 0;
  let warned = false;
  while (pos + DBOX_HEADER_BYTES <= data.length) {
    const head = data.subarray(pos, pos + DBOX_HEADER_BYTES);
    const size = head.readDoubleLE(40);
    const header = Number.isFinite(size) && size >= 0 && pos + DBOX_HEADER_BYTES + size <= data.length ? decodeDboxHeader(head, DBOX_HEADER_BYTES + size) : 'truncated';
    if (typeof header === 'string') {
      if (!warned) logger.warn({ path, offset: pos, reason: header }, 'damaged or partial record in a storage file skipped');
      warned = true;
      const next = data.indexOf(magic, pos + 1);
      if (next < 0) break;
      pos = next;
      continue;
    }
    out.push({ offset: pos, header });
    pos += DBOX_HEADER_BYTES + size;
  }
  return out;
}
