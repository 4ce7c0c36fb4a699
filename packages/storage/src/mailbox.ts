/**
 * An open mailbox: one IMAP session's view of the messages, their flags and modseqs.
 *
 * The view changes only in refresh() (and at open). Changes that other processes log, and
 * this session's own commits, are applied to the table at once, but expunged messages stay
 * in the view (marked) and new ones stay beyond `messageCount` until refresh() reports them,
 * so sequence numbers never shift under a client before it is told (RFC 9051 7.5.1).
 *
 * Writes: a save writes its message file to tmp/, then under the mailbox lock takes the next
 * UIDs, links the files to u.<uid> and appends ONE log transaction; flag changes and
 * expunges append a transaction without any lock. Every commit then reads the log back up to
 * its own transaction, which gives it the modseq and the outcome that all readers agree on.
 */
import type { QueryMessage } from './query/index.js';
import { StoredMessage, messageSource, type MessageSource } from './query/stored-message.js';
import { closeSync, constants, fstatSync, linkSync, openSync, promises as fsp, readSync, unlinkSync, watch as fsWatch, writeSync, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { LoftError, isLoftError } from '@loft/errors';
import { rangeUids, toRanges, type UidRange } from './binary.js';
import { DBOX_FLAG_ATTACHMENT_STUB, DBOX_HEADER_BYTES, decodeDboxHeader, messagePath, messageSizeOf, readDboxMessage, writeDboxFile, type DboxHeader, type DboxMeta } from './dbox-file.js';
import { MailCache } from './mail-cache.js';
import type { MdboxStore } from './mdbox-store.js';
import type { AttachmentStore } from './attachment-store.js';
import { FLAG_EXPUNGE_PENDING, MessageTable, SYSTEM_FLAGS, SYSTEM_FLAG_MASK, encodeIndex, INDEX_HEADER_BYTES } from './mail-index.js';
import { newLogId, readDiskState, readTailSync, readMeta, type DiskState, type MailboxPaths } from './mailbox-disk.js';
import { MailboxLock, type ReleaseLock } from './mailbox-lock.js';
import { mdboxRebuildSource, rebuildMailbox, type RebuildOptions } from './mailbox-rebuild.js';
import type { ApplyResult, MailboxState } from './mailbox-state.js';
import { headerEnd, headerFieldParser, type CachedFieldName, type MessageFieldParser } from './message-fields.js';
import { THREAD_FIELDS, companionFields, decodeFieldJson, encodeFieldJson, isQueryField, mimeFieldParser } from './mime-fields.js';
import { pooledRandomBytes } from './random-pool.js';
import { fdatasyncFile, unlinkFile } from './io-mode.js';
import { O_NOFOLLOW, atomicWriteFile, ensureRealDir, fsyncDir, ioError, isErrno, lstatOrUndefined, openNoFollow, SyncFile, tempName } from './safe-fs.js';
import type { StorageSettings } from './settings.js';
import type { StorageLogger } from './storage-logger.js';
import { FlagOp, LOG_HEADER_BYTES, bumpsModseq, encodeLogHeader, encodeTransaction, newTxid, nextModseq, reportedModseq, scanLog, type LogHeader, type LogRecord } from './transaction-log.js';

/** Log bytes past the checkpoint before a new checkpoint is written: at least this… */
export const CHECKPOINT_MIN_LOG_BYTES = 64 * 1024;
/** A log longer than this is closed and a new one started at the next checkpoint. */
export const LOG_ROTATE_BYTES = 1024 * 1024;
/** …and at least this fraction of the index size, so rewrites stay amortised… */
const CHECKPOINT_INDEX_FRACTION = 4;
/**
 * …but never more than this, since a process that opens the mailbox replays every log byte
 * past the checkpoint: at 100,000 messages (a 4.9 MB index) the fraction alone allowed 1.2
 * MB, ~17,000 saves, and a first SELECT took 7 to 19 ms by where the last checkpoint fell
 * (Dovecot rewrites its index after at most 128 KiB of log).
 */
const CHECKPOINT_MAX_LOG_BYTES = 256 * 1024;
/** Message files unlinked at once by an expunge (the thread pool has four threads). */
const UNLINK_BATCH = 16;
/** Messages up to this size are read synchronously (a few system calls, no thread pool). */
const SYNC_READ_MAX_BYTES = 1024 * 1024;
/**
 * fs.watch events arriving within this window are reported once. A commit is one write to
 * the log, so this only gathers bursts; it is most of what IDLE adds to a delivery.
 */
const WATCH_DEBOUNCE_MS = 5;
/** How long the watch of the log outlives its last listener (see watchLog()). */
const WATCH_LINGER_MS = 10_000;
const KEYWORD_MAX_BYTES = 128;
const MAX_UID = 0xffffffff;
/** The cache is compacted at log rotation once it is at least this large. */
const CACHE_COMPACT_MIN_BYTES = 64 * 1024;
/** Rewrites of a lockless transaction voided by log rotations before giving up. */
const COMMIT_ATTEMPTS = 5;

export interface MailboxContext {
  /** The mailbox's directory and files (mailboxPaths). */
  paths: MailboxPaths;
  name: string;
  settings: StorageSettings;
  logger: StorageLogger;
  readOnly: boolean;
  /**
   * This is an IMAP SELECT or EXAMINE: show \Recent, and unless read-only (EXAMINE must not
   * change it), take it for the messages no session has seen (RFC 3501).
   */
  claimRecent?: boolean;
  /** Computes cached fields and search text; default: mimeFieldParser (@loft/mime). */
  parser?: MessageFieldParser;
  /** Called once when the mailbox is closed (the owner refreshes its STATUS counters). */
  onClose?: (mailbox: Mailbox) => Promise<void>;
  tuning?: StorageTuning;
  /** mdbox: the user's shared storage; message bytes live there, not in this directory. */
  store?: MdboxStore;
  /** Single-instance attachment storage (mail_attachment_dir), if configured. */
  attachments?: AttachmentStore;
  /** Where closed views of this owner (a MailUser) leave their state for the next open. */
  snapshots?: SnapshotStore;
  /**
   * The owner's quota: throws LOFT_E_QUOTA_EXCEEDED when saving `bytes` in `messages` would
   * pass it (`grace`: a delivery, which may go a little past). Absent: no quota.
   */
  quota?: (bytes: number, messages: number, grace: boolean) => Promise<void>;
}

/** How saves count against the owner's quota. */
export interface QuotaMode {
  /** A MOVE within the user: what it adds, the expunge takes away (Dovecot does not check it either). */
  exempt?: boolean;
  /** A delivery: may take the user a little past a limit (quota.ts, QUOTA_GRACE_RATIO). */
  grace?: boolean;
}

/** Internal thresholds; tests and benchmarks lower them to exercise the rare paths. */
export interface StorageTuning {
  checkpointMinLogBytes?: number;
  checkpointMaxLogBytes?: number;
  logRotateBytes?: number;
  cacheCompactMinBytes?: number;
}

export interface MailboxChanges {
  /** UIDs expunged since the last refresh that this session had seen. */
  expunged: number[];
  /** Their sequence numbers, descending: send EXPUNGE responses in this order as they are. */
  expungedSeqs: number[];
  /** UIDs now visible that were not (send EXISTS with the new messageCount). */
  appended: number[];
  /** UIDs still visible whose flags or modseq changed. */
  flagsChanged: number[];
  highestModseq: bigint;
}

export interface MailboxStatus {
  messages: number;
  unseen: number;
  recent: number;
  uidNext: number;
  uidValidity: number;
  highestModseq: bigint;
  /** Sum of message sizes, bytes. */
  size: number;
  /** Messages with \Deleted. */
  deleted: number;
}

export interface SaveOptions {
  /** System flags and keywords, as IMAP names (\Seen, $Forwarded…). \Recent is ignored. */
  flags?: readonly string[];
  keywords?: readonly string[];
  internalDate?: Date;
  /** Message GUID (32 hex digits); new if absent. Replication and COPY keep it. */
  guid?: string;
  /** A delivery (LMTP): the quota's grace applies. */
  quotaGrace?: boolean;
}

export interface FlagChange {
  op: 'add' | 'remove' | 'replace';
  flags: readonly string[];
  /** CONDSTORE UNCHANGEDSINCE: only messages whose modseq is <= this are changed. */
  unchangedSince?: bigint;
}

export interface FlagUpdateResult {
  updated: Array<{ uid: number; flags: string[]; modseq: bigint }>;
  /** UIDs refused by unchangedSince (CONDSTORE MODIFIED). */
  failed: number[];
}

export interface CommitResult extends FlagUpdateResult {
  saved: Array<{ uid: number; guid: string }>;
  expunged: number[];
  modseq: bigint;
}

/** What the query engine (SEARCH/SORT/THREAD) reads of one message: its own contract. */
export type MessageView = QueryMessage;

interface PreparedSave {
  /** sdbox: the message file in tmp/; mdbox: '' (the bytes are already in the storage). */
  tmpPath: string;
  guid: Buffer;
  flags: number;
  keywords: string[];
  internalDate: number;
  saveDate: number;
  size: number;
  /** The header fields SEARCH, SORT and THREAD read (as cache records), parsed while saving. */
  fields?: ReadonlyArray<readonly [string, string]>;
}

interface ParsedFlags {
  system: number;
  keywords: string[];
}

const DELETED_BIT = SYSTEM_FLAGS.find(([name]) => name === '\\Deleted')![1];
const SEEN_BIT = SYSTEM_FLAGS.find(([name]) => name === '\\Seen')![1];
const SYSTEM_BY_NAME = new Map(SYSTEM_FLAGS.map(([name, bit]) => [name.toLowerCase(), bit]));

/**
 * Where a save writes its message before the commit links it in: by GUID, pid and a random
 * suffix, since a COPY into the same mailbox twice saves the same GUID twice.
 */
function saveTmpPath(paths: MailboxPaths, guid: Buffer): string {
  return join(paths.tmp, `${guid.toString('hex')}.${process.pid}.${pooledRandomBytes(3).toString('hex')}`);
}

/** Splits IMAP flag names into system-flag bits and keywords; refuses what IMAP refuses. */
export function parseFlags(names: readonly string[]): ParsedFlags {
  let system = 0;
  const keywords: string[] = [];
  for (const name of names) {
    if (name.startsWith('\\')) {
      const bit = SYSTEM_BY_NAME.get(name.toLowerCase());
      if (bit !== undefined) system |= bit;
      else if (name.toLowerCase() !== '\\recent') throw new LoftError('LOFT_E_STORAGE_INVALID', `unknown system flag ${name}`);
      continue;
    }
    // eslint-disable-next-line no-control-regex
    if (name === '' || Buffer.byteLength(name) > KEYWORD_MAX_BYTES || /[\s(){%*"\\\]\x00-\x1f\x7f]/.test(name)) {
      throw new LoftError('LOFT_E_STORAGE_INVALID', `invalid keyword ${JSON.stringify(name)}`);
    }
    if (!keywords.some((k) => k.toLowerCase() === name.toLowerCase())) keywords.push(name);
  }
  return { system, keywords };
}

export class Mailbox {
  readonly name: string;
  readonly readOnly: boolean;
  /** An IMAP session's view: \\Recent is shown (SELECT and EXAMINE alike, RFC 3501 §6.3.2). */
  private readonly showsRecent: boolean;
  /** A read-write IMAP view: it also takes \\Recent for the messages it shows so. */
  private readonly claimsRecent: boolean;
  private readonly paths: MailboxPaths;
  private readonly lock: MailboxLock;
  private readonly logger: StorageLogger;
  private readonly settings: StorageSettings;
  private readonly parser: MessageFieldParser;
  private readonly onClose: MailboxContext['onClose'];
  private readonly quota: MailboxContext['quota'];
  private readonly checkpointMinLogBytes: number;
  private readonly checkpointMaxLogBytes: number;
  private readonly logRotateBytes: number;
  private readonly cacheCompactMinBytes: number;
  private readonly store: MdboxStore | undefined;
  private readonly attachments: AttachmentStore | undefined;
  private guidValue = '';
  private state!: MailboxState;
  private log!: SyncFile;
  private appendFd = -1;
  private logHeader!: LogHeader;
  private logIno = 0;
  private readOffset = 0;
  private indexOffset = 0;
  private indexBytes = 0;
  private announced = 0;
  private recentFrom = 0;
  private readonly pendingFlags = new Set<number>();
  private cache!: MailCache;
  private tail: Promise<unknown> = Promise.resolve();
  /** Operations queued on `tail` that have not finished. */
  private inFlight = 0;
  /** Stop functions of active watch() calls. */
  private readonly watchers = new Set<() => void>();
  /** watch()'s listeners, and the one watch of the log they share (see watchLog()). */
  private readonly watchListeners = new Set<() => void>();
  private logWatcher: FSWatcher | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly knownDirs = new Set<string>();
  private closed = false;
  private readonly snapshots: SnapshotStore | undefined;

  private constructor(ctx: MailboxContext) {
    this.name = ctx.name;
    this.readOnly = ctx.readOnly;
    this.showsRecent = ctx.claimRecent ?? false;
    this.claimsRecent = this.showsRecent && !ctx.readOnly;
    this.paths = ctx.paths;
    this.logger = ctx.logger;
    this.settings = ctx.settings;
    this.parser = ctx.parser ?? mimeFieldParser;
    this.onClose = ctx.onClose;
    this.quota = ctx.quota;
    this.checkpointMinLogBytes = ctx.tuning?.checkpointMinLogBytes ?? CHECKPOINT_MIN_LOG_BYTES;
    this.checkpointMaxLogBytes = ctx.tuning?.checkpointMaxLogBytes ?? CHECKPOINT_MAX_LOG_BYTES;
    this.logRotateBytes = ctx.tuning?.logRotateBytes ?? LOG_ROTATE_BYTES;
    this.cacheCompactMinBytes = ctx.tuning?.cacheCompactMinBytes ?? CACHE_COMPACT_MIN_BYTES;
    this.lock = new MailboxLock(ctx.paths.dir, ctx.logger, ctx.paths.lock);
    this.store = ctx.store;
    this.attachments = ctx.attachments;
    this.snapshots = ctx.snapshots;
  }

  static async open(ctx: MailboxContext): Promise<Mailbox> {
    const mailbox = new Mailbox(ctx);
    await mailbox.load();
    return mailbox;
  }

  // ---- the view ------------------------------------------------------------------------

  /** Mailbox GUID (32 hex digits); stays the same across renames. */
  get guid(): string {
    return this.guidValue;
  }

  get uidValidity(): number {
    return this.state.header.uidValidity;
  }

  get uidNext(): number {
    return this.state.header.uidNext;
  }

  get highestModseq(): bigint {
    return BigInt(reportedModseq(this.state.header.highestModseq));
  }

  /** Messages in this session's view (EXISTS). */
  get messageCount(): number {
    return this.announced;
  }

  /** The sorted UIDs of the view (seq = index + 1). Read-only; valid until the next refresh(). */
  uids(): Uint32Array {
    return this.state.table.uids.subarray(0, this.announced);
  }

  /** Sequence number of `uid`, 0 if it is not in the view. */
  seqOfUid(uid: number): number {
    const slot = this.state.table.slotOf(uid);
    return slot >= 0 && slot < this.announced ? slot + 1 : 0;
  }

  uidOfSeq(seq: number): number {
    return seq >= 1 && seq <= this.announced ? this.state.table.uids[seq - 1]! : 0;
  }

  private slotOf(uid: number): number {
    const slot = this.state.table.slotOf(uid);
    if (slot < 0 || slot >= this.announced) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', `UID ${uid} is not in ${this.name}`);
    return slot;
  }

  /** Whether `uid` is in the view but already expunged by someone (not yet announced). */
  isExpunged(uid: number): boolean {
    const slot = this.state.table.slotOf(uid);
    return slot >= 0 && (this.state.table.flags[slot]! & FLAG_EXPUNGE_PENDING) !== 0;
  }

  flags(uid: number): ReadonlySet<string> {
    const slot = this.slotOf(uid);
    const t = this.state.table;
    const out = new Set<string>();
    const bits = t.flags[slot]!;
    for (const [name, bit] of SYSTEM_FLAGS) if (bits & bit) out.add(name);
    if (uid >= this.recentFrom && this.showsRecent) out.add('\\Recent');
    for (const id of t.keywordIndexes(slot)) out.add(this.state.header.keywords[id]!);
    return out;
  }

  /**
   * Sequence number of the view's first message without \\Seen that is not expunged, 0 if
   * none (SELECT's [UNSEEN]): one pass over the flag words, which in a mailbox where all is
   * read is the whole table. The answer is kept with the state (which the next view of the
   * mailbox in this process takes over) until the table changes: a SELECT of an unchanged
   * mailbox of 100,000 read messages then does not walk them again (as Dovecot keeps its
   * first-unseen low-water mark in the index).
   */
  firstUnseenSeq(): number {
    const state = this.state;
    const t = state.table;
    const memo = state.firstUnseen;
    const modseq = state.header.highestModseq;
    if (memo && memo.table === t && memo.modseq === modseq && memo.end === this.announced) return memo.seq;
    const flags = t.flags;
    const mask = SEEN_BIT | FLAG_EXPUNGE_PENDING;
    let seq = 0;
    for (let slot = 0; slot < this.announced; slot++) {
      if ((flags[slot]! & mask) === 0) {
        seq = slot + 1;
        break;
      }
    }
    state.firstUnseen = { table: t, modseq, end: this.announced, seq };
    return seq;
  }

  /** Messages of the view that are \\Recent to it and not expunged (the RECENT count). */
  recentCount(): number {
    return this.showsRecent ? this.liveFrom(this.recentFrom, this.announced) : 0;
  }

  /** Messages of the table's slots below `end` with a UID from `uid` on that are not expunged. */
  private liveFrom(uid: number, end: number): number {
    const t = this.state.table;
    let n = 0;
    for (let slot = t.lowerBound(uid); slot < end; slot++) if ((t.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0) n++;
    return n;
  }

  /** The flags of `uid` as IMAP writes them, space-separated: what flags() holds, without a Set. */
  flagText(uid: number, withRecent = true): string {
    return this.flagTextOfSlot(this.slotOf(uid), withRecent);
  }

  /**
   * flagText() of the message at `seq` of the view (no UID lookup, nothing allocated but the
   * text), for FETCH 1:* (FLAGS) over a large mailbox.
   */
  flagTextOfSeq(seq: number, withRecent = true): string {
    if (seq < 1 || seq > this.announced) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', `sequence ${seq} of ${this.name}`);
    return this.flagTextOfSlot(seq - 1, withRecent);
  }

  /**
   * flagTextOfSeq() of each of `seqs`, for a FETCH 1:* (FLAGS) of a large mailbox, as an id
   * per message into a table of the texts. Without keywords the id is the system flag bits
   * and \\Recent, and the table holds every combination: one pass over the index, no call
   * and no string per message (a first FETCH in a process runs before V8 has optimised
   * anything: a list of 100,000 texts took 12.6-13.6 ms there, the ids take 5.4-6.2). With
   * keywords, each distinct text is made once.
   */
  flagIdsOfSeqs(seqs: Uint32Array, withRecent = true): FlagIds {
    const t = this.state.table;
    const ids = new Uint32Array(seqs.length);
    if (t.kwWords > 0) {
      const texts: string[] = [];
      const idOf = new Map<string, number>();
      for (let i = 0; i < seqs.length; i++) {
        const text = this.flagTextOfSeq(seqs[i]!, withRecent);
        let id = idOf.get(text);
        if (id === undefined) {
          id = texts.length;
          texts.push(text);
          idOf.set(text, id);
        }
        ids[i] = id;
      }
      return { ids, texts };
    }
    const claims = withRecent && this.showsRecent;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      if (seq < 1 || seq > this.announced) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', `sequence ${seq} of ${this.name}`);
      ids[i] = systemFlagKey(t.flags[seq - 1]!, claims && t.uids[seq - 1]! >= this.recentFrom);
    }
    return { ids, texts: SYSTEM_FLAG_TEXTS };
  }

  private flagTextOfSlot(slot: number, withRecent: boolean): string {
    const t = this.state.table;
    const recent = withRecent && t.uids[slot]! >= this.recentFrom && this.showsRecent;
    let out = systemFlagText(t.flags[slot]!, recent);
    const words = t.kwWords;
    for (let w = 0; w < words; w++) {
      if (t.keywordBits[slot * words + w] === 0) continue;
      for (const id of t.keywordIndexes(slot)) out = out === '' ? this.state.header.keywords[id]! : `${out} ${this.state.header.keywords[id]!}`;
      break;
    }
    return out;
  }

  /** Whether `uid` has a system flag (\\Seen, \\Deleted, …) or, for '\\Recent', is recent to this view. */
  hasFlag(uid: number, flag: string): boolean {
    if (flag === '\\Recent') return this.slotOf(uid) >= 0 && uid >= this.recentFrom && this.showsRecent;
    const bit = SYSTEM_BY_NAME.get(flag.toLowerCase());
    if (bit !== undefined) return (this.state.table.flags[this.slotOf(uid)]! & bit) !== 0;
    return this.flags(uid).has(flag);
  }

  modseq(uid: number): bigint {
    return BigInt(this.state.table.modseqs[this.slotOf(uid)]!);
  }

  /** Keywords ever used in this mailbox (for PERMANENTFLAGS and FLAGS). */
  keywords(): string[] {
    return [...this.state.header.keywords];
  }

  /** keywords().length, without the copy (checked after every command). */
  get keywordCount(): number {
    return this.state.header.keywords.length;
  }

  messageSize(uid: number): number {
    return this.state.table.sizes[this.slotOf(uid)]!;
  }

  internalDate(uid: number): Date {
    return new Date(this.state.table.internalDates[this.slotOf(uid)]!);
  }

  saveDate(uid: number): Date {
    return new Date(this.state.table.saveDates[this.slotOf(uid)]!);
  }

  messageGuid(uid: number): string {
    return this.state.table.guidHex(this.slotOf(uid));
  }

  /**
   * status(), given the counters of an earlier point of this log (`known`). When no modseq
   * came since, nothing but \\Recent records did (every save, flag change and expunge brings
   * one), so only RECENT is counted, from the first recent UID on: a SELECT of 100,000 read
   * messages then does not cost a pass over all of them when it is closed.
   */
  statusSince(known: Omit<MailboxStatus, 'highestModseq' | 'recent'> & { highestModseq: string }): MailboxStatus {
    const h = this.state.header;
    const highestModseq = BigInt(reportedModseq(h.highestModseq));
    if (known.highestModseq !== highestModseq.toString() || known.uidNext !== h.uidNext || known.uidValidity !== h.uidValidity) return this.status();
    const recent = this.liveFrom(h.firstRecentUid, this.state.table.count);
    const { messages, unseen, size, deleted, uidNext, uidValidity } = known;
    return { messages, unseen, recent, uidNext, uidValidity, highestModseq, size, deleted };
  }

  /** STATUS counters of the mailbox as the log has it (not just this view). */
  status(): MailboxStatus {
    const t = this.state.table;
    const h = this.state.header;
    let messages = 0;
    let unseen = 0;
    let recent = 0;
    let size = 0;
    let deleted = 0;
    for (let slot = 0; slot < t.count; slot++) {
      const bits = t.flags[slot]!;
      if (bits & FLAG_EXPUNGE_PENDING) continue;
      messages++;
      if (!(bits & 1)) unseen++;
      if (bits & 8) deleted++;
      if (t.uids[slot]! >= h.firstRecentUid) recent++;
      size += t.sizes[slot]!;
    }
    return { messages, unseen, recent, uidNext: h.uidNext, uidValidity: h.uidValidity, highestModseq: BigInt(reportedModseq(h.highestModseq)), size, deleted };
  }

  /** Log identity and length, so a cached STATUS can tell it is still current. */
  logStamp(): { logId: number; offset: number } {
    return { logId: this.logHeader.logId, offset: this.readOffset };
  }

  // ---- loading and syncing -------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    const run = this.tail.then(fn, fn);
    this.tail = run.then(this.settled, this.settled);
    return run;
  }

  private readonly settled = (): void => {
    this.inFlight--;
  };

  private fsyncFor(kind: 'save' | 'change'): boolean {
    const mode = this.settings.mail_fsync;
    return mode === 'always' || (mode === 'optimized' && kind === 'save');
  }

  private async load(): Promise<void> {
    await ensureRealDir(this.paths.dir);
    if (!this.readOnly) await ensureRealDir(this.paths.tmp);
    // A snapshot's log is still the file at the log's path (checked by inode), so the
    // mailbox is the one whose loft.mailbox the snapshot's view read.
    const kept = this.takeSnapshot();
    if (kept) this.guidValue = kept.guid;
    else {
      const meta = await readMeta(this.paths);
      if (!meta) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${this.paths.meta} is missing or damaged`);
      this.guidValue = meta.guid;
    }
    this.install(kept ?? (await this.readTrusted()));
    // From a snapshot, what other processes logged since it was taken is applied now.
    if (kept) {
      await this.syncLog(false);
      this.state.dropExpunged();
      this.pendingFlags.clear();
    }
    this.announced = this.state.table.count;
    // The snapshot's cache has the file scanned and its descriptor open (so the inode it
    // scanned is still the one it reads); records appended since are read on the next miss.
    this.cache = kept?.cache?.uidValidity === this.state.header.uidValidity ? kept.cache : new MailCache(this.paths.cache, this.state.header.uidValidity, this.logger);
    if (kept?.cache && kept.cache !== this.cache) kept.cache.close();
    this.recentFrom = this.state.header.firstRecentUid;
    if (this.claimsRecent && this.state.header.uidNext > this.state.header.firstRecentUid) await this.claimRecent();
  }

  /** Disk state that adds up, rebuilding from the message files if it does not. */
  private async readTrusted(lockHeld = false): Promise<Extract<DiskState, { kind: 'ok' }>> {
    let disk = await readDiskState(this.paths, true);
    if (disk.kind === 'ok') return disk;
    const release = lockHeld ? undefined : await this.lock.acquire();
    try {
      // Whoever held the lock may have just fixed it.
      disk = await readDiskState(this.paths, true);
      if (disk.kind === 'ok') return disk;
      this.logger.error({ dir: this.paths.dir, reason: disk.reason }, 'mailbox index or log cannot be trusted');
      await rebuildMailbox(this.paths, this.rebuildOptions(disk.reason));
      disk = await readDiskState(this.paths, true);
      if (disk.kind !== 'ok') throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${this.paths.dir}: still inconsistent after a rebuild: ${disk.reason}`);
      return disk;
    } finally {
      await release?.();
    }
  }

  private rebuildOptions(reason: string): RebuildOptions {
    const options: RebuildOptions = { hashLevels: this.settings.mail_dir_hash, fsync: this.settings.mail_fsync !== 'never', logger: this.logger, reason };
    const store = this.store;
    if (store) options.source = mdboxRebuildSource(store, this.guidValue);
    return options;
  }

  private install(disk: Extract<DiskState, { kind: 'ok' }>): void {
    this.state = disk.state;
    this.log = disk.log;
    this.logHeader = disk.logHeader;
    const logMoved = disk.logIno !== this.logIno;
    this.logIno = disk.logIno;
    this.readOffset = disk.offset;
    this.indexOffset = disk.indexOffset;
    this.indexBytes = disk.indexBytes;
    // The watch follows the log to its new file; a lingering one (no listener) just ends.
    if (this.logWatcher && logMoved) {
      this.unwatchLog();
      if (this.watchListeners.size > 0) this.watchLog();
    }
  }

  /** Re-reads everything after the log was replaced (a rebuild); keeps the view's promises. */
  private async reload(lockHeld: boolean): Promise<void> {
    const oldTable = this.state.table;
    const oldKeywords = this.state.header.keywords;
    const oldAnnounced = this.announced;
    const lastAnnouncedUid = oldAnnounced > 0 ? oldTable.uids[oldAnnounced - 1]! : 0;
    await this.log.close().catch(() => undefined);
    this.closeAppendFd();
    const disk = await this.readTrusted(lockHeld);
    const fresh = disk.state.table;
    const merged = new MessageTable();
    const copyRow = (from: MessageTable, slot: number, names: readonly string[], extra: number): void => {
      const to = merged.push(from.uids[slot]!, from.flags[slot]! | extra, from.modseqs[slot]!, from.guids.subarray(slot * 16, slot * 16 + 16), from.sizes[slot]!, from.internalDates[slot]!, from.saveDates[slot]!);
      for (const id of from.keywordIndexes(slot)) merged.setKeyword(to, disk.state.keywordId(names[id]!), true);
    };
    let i = 0;
    let j = 0;
    while (i < oldAnnounced || j < fresh.count) {
      const a = i < oldAnnounced ? oldTable.uids[i]! : Infinity;
      const b = j < fresh.count ? fresh.uids[j]! : Infinity;
      if (a === b) {
        if (oldTable.modseqs[i] !== fresh.modseqs[j] || (oldTable.flags[i]! & SYSTEM_FLAG_MASK) !== (fresh.flags[j]! & SYSTEM_FLAG_MASK)) this.pendingFlags.add(a);
        copyRow(fresh, j, disk.state.header.keywords, 0);
        i++;
        j++;
      } else if (a < b) {
        copyRow(oldTable, i, oldKeywords, FLAG_EXPUNGE_PENDING);
        disk.state.expungesMarked = true;
        i++;
      } else {
        copyRow(fresh, j, disk.state.header.keywords, 0);
        j++;
      }
    }
    disk.state.table = merged;
    this.install(disk);
    this.announced = merged.lowerBound(lastAnnouncedUid + 1);
    this.logger.info({ dir: this.paths.dir }, 'transaction log was replaced (rotation or force-resync); view reloaded');
  }

  /**
   * Applies log transactions written since the last read. Returns the outcome of the
   * transaction `waitTxid` if it was among them.
   */
  private async syncLog(lockHeld: boolean, waitTxid?: string): Promise<ApplyResult | undefined> {
    // A log replaced by a rotation or a rebuild is renamed over ours, which leaves the file
    // we hold open with no name: fstat of our descriptor tells, without a path lookup.
    const stat = fstatSync(this.log.fd);
    if (stat.nlink === 0) {
      await this.reload(lockHeld);
      return undefined;
    }
    const scan = scanLog(readTailSync(this.log.fd, this.readOffset, stat.size), this.readOffset);
    let found: ApplyResult | undefined;
    let problem = scan.skipped.length > 0 ? `transaction log is damaged at offset ${scan.skipped[0]}` : undefined;
    for (const { txn } of scan.transactions) {
      const result = this.state.apply(txn, { flagsChanged: this.pendingFlags });
      if (result.rejectedAppends > 0) problem = 'transaction log appends a UID below uidNext';
      if (txn.txid === waitTxid) found = result;
    }
    this.readOffset = scan.end;
    if (problem) await this.resync(problem, lockHeld);
    else if (scan.rotated) await this.reload(lockHeld);
    return found;
  }

  private async resync(reason: string, lockHeld: boolean): Promise<void> {
    const release = lockHeld ? undefined : await this.lock.acquire();
    try {
      await rebuildMailbox(this.paths, this.rebuildOptions(reason));
      await this.reload(true);
    } finally {
      await release?.();
    }
  }

  /** Rebuilds index and log from the message files now (loftadm force-resync). */
  forceResync(): Promise<void> {
    return this.exclusive(() => this.resync('force-resync requested', false));
  }

  /** Brings the view up to date and says what changed since the last refresh. */
  refresh(): Promise<MailboxChanges> {
    if (this.unchangedSinceRefresh()) {
      return Promise.resolve({ expunged: [], expungedSeqs: [], appended: [], flagsChanged: [], highestModseq: this.highestModseq });
    }
    return this.exclusive(async () => {
      this.assertOpen();
      await this.syncLog(false);
      const t = this.state.table;
      const expunged: number[] = [];
      const expungedSeqs: number[] = [];
      let keptAnnounced = this.announced;
      // Without expunges logged, nothing moved: no pass over every message per NOOP.
      if (this.state.expungesMarked) {
        keptAnnounced = 0;
        for (let slot = 0; slot < this.announced; slot++) {
          if ((t.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0) keptAnnounced++;
          else {
            expunged.push(t.uids[slot]!);
            expungedSeqs.push(slot + 1);
          }
        }
        this.state.dropExpunged();
      }
      const appended = Array.from(t.uids.subarray(keptAnnounced, t.count));
      this.announced = t.count;
      for (const uid of expunged) this.pendingFlags.delete(uid);
      for (const uid of appended) this.pendingFlags.delete(uid);
      const flagsChanged = [...this.pendingFlags].filter((uid) => t.slotOf(uid) >= 0).sort((a, b) => a - b);
      this.pendingFlags.clear();
      if (appended.length > 0 && this.claimsRecent && this.state.header.firstRecentUid <= appended[0]!) await this.claimRecent();
      return { expunged, expungedSeqs: expungedSeqs.reverse(), appended, flagsChanged, highestModseq: this.highestModseq };
    });
  }

  /**
   * Whether a refresh now would find nothing: no operation of this view under way, nothing
   * left to report from the last sync, and the log, still ours (linked), no longer than what
   * was read. Most commands end with a refresh that finds nothing; this answers it with one
   * fstat, as syncLog would begin, without queueing, scanning or building the changes.
   */
  unchangedSinceRefresh(): boolean {
    if (this.inFlight > 0 || this.closed || this.pendingFlags.size > 0 || this.state.expungesMarked || this.announced !== this.state.table.count) return false;
    const stat = fstatSync(this.log.fd);
    return stat.nlink > 0 && stat.size === this.readOffset;
  }

  /** This session takes \Recent for the messages no session has seen yet. */
  private async claimRecent(): Promise<void> {
    const upTo = this.state.header.uidNext;
    if (upTo <= this.state.header.firstRecentUid) return;
    try {
      await this.appendLog(encodeTransaction({ txid: newTxid(), records: [{ type: 'recent', firstRecentUid: upTo }] }), false);
      await this.syncLog(false);
    } catch (err) {
      this.logger.warn({ err, dir: this.paths.dir }, 'could not record \\Recent; other sessions may also see these messages as recent');
    }
  }

  // ---- writing -----------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new LoftError('LOFT_E_STORAGE_INVALID', `mailbox ${this.name} is closed`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new LoftError('LOFT_E_STORAGE_READ_ONLY', this.name);
  }

  /**
   * Writes one transaction; with `fsync`, syncs it and the directories in `dirs` (where its
   * saves' files were just linked) together: one journal commit on ext4 rather than two.
   * Nothing is acknowledged before both are done.
   */
  private async appendLog(frame: Buffer, fsync: boolean, dirs: readonly string[] = []): Promise<void> {
    if (this.appendFd < 0) {
      let fd: number;
      try {
        fd = openSync(this.paths.log, constants.O_WRONLY | constants.O_APPEND | O_NOFOLLOW);
      } catch (err) {
        throw ioError('open', this.paths.log, err);
      }
      if (fstatSync(fd).ino !== this.logIno) {
        closeSync(fd);
        throw new LoftError('LOFT_E_STORAGE_IO', `${this.paths.log} was replaced; retry`);
      }
      this.appendFd = fd;
    }
    // One write() on O_APPEND: other writers' transactions land before or after, never
    // inside. Synchronous, because a small write to the page cache is cheaper than a trip
    // through the thread pool.
    let written: number;
    try {
      written = writeSync(this.appendFd, frame, 0, frame.length);
    } catch (err) {
      throw ioError('write', this.paths.log, err);
    }
    if (written !== frame.length) {
      throw new LoftError('LOFT_E_STORAGE_IO', `short write to ${this.paths.log} (${written} of ${frame.length} bytes); the partial transaction will be ignored`);
    }
    if (!fsync) return;
    if (dirs.length === 0) await fdatasyncFile(this.appendFd);
    else {
      // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
      const syncs = [fdatasyncFile(this.appendFd)];
      for (const dir of dirs) syncs.push(fsyncDir(dir));
      await Promise.all(syncs);
    }
  }

  private closeAppendFd(): void {
    if (this.appendFd >= 0) closeSync(this.appendFd);
    this.appendFd = -1;
  }

  /** Writes a message to tmp/; it becomes visible only when its transaction commits. */
  async prepareSave(message: Buffer | AsyncIterable<Uint8Array>, options: SaveOptions): Promise<PreparedSave> {
    this.assertWritable();
    const { system, keywords } = parseFlags([...(options.flags ?? []), ...(options.keywords ?? [])]);
    const guid = options.guid ? Buffer.from(options.guid, 'hex') : pooledRandomBytes(16);
    if (guid.length !== 16) throw new LoftError('LOFT_E_STORAGE_INVALID', `message GUID must be 32 hex digits: ${options.guid}`);
    const internalDate = options.internalDate?.getTime() ?? Date.now();
    if (!Number.isFinite(internalDate) || internalDate < 0) throw new LoftError('LOFT_E_STORAGE_INVALID', 'internal date is out of range');
    const saveDate = Date.now();
    let meta: DboxMeta = { guid, internalDate, saveDate };
    let linkAttachments: ((guid: string) => Promise<void>) | undefined;
    if (this.store || this.attachments) {
      // Both need the whole message in memory: mdbox to append it under the map lock, the
      // attachment split to parse it.
      let bytes = Buffer.isBuffer(message) ? message : await collect(message);
      if (bytes.length > 0xffffffff) throw new LoftError('LOFT_E_STORAGE_INVALID', 'message is larger than 4 GiB');
      const split = this.attachments?.split(bytes);
      if (split) {
        meta = { ...meta, flags: DBOX_FLAG_ATTACHMENT_STUB, messageSize: bytes.length };
        linkAttachments = split.link;
        bytes = split.stub;
      }
      message = bytes;
    }
    if (this.store) {
      const stored = message as Buffer;
      await this.store.store(stored, meta);
      await linkAttachments?.(guid.toString('hex'));
      return { tmpPath: '', guid, flags: system, keywords, internalDate, saveDate, size: meta.messageSize ?? stored.length, fields: this.queryFields(stored) };
    }
    const tmpPath = saveTmpPath(this.paths, guid);
    let head: Buffer | undefined;
    if (Buffer.isBuffer(message)) head = message;
    else message = withHead(message, (bytes) => (head = bytes));
    const header = await writeDboxFile(tmpPath, message, meta, this.fsyncFor('save'));
    // The stub is in tmp/ before its attachments are linked (purge relies on this order).
    await linkAttachments?.(guid.toString('hex')).catch(async (err: unknown) => {
      await fsp.rm(tmpPath, { force: true });
      throw err;
    });
    if (header.size > 0xffffffff) {
      await fsp.rm(tmpPath, { force: true });
      throw new LoftError('LOFT_E_STORAGE_INVALID', 'message is larger than 4 GiB');
    }
    return { tmpPath, guid, flags: system, keywords, internalDate, saveDate, size: messageSizeOf(header), fields: head && this.queryFields(head) };
  }

  /**
   * The header fields SEARCH, SORT and THREAD read, as cache records, from a message's
   * header: kept at commit, so the first SORT or THREAD of a large mailbox reads the cache
   * instead of every message file (Dovecot caches what its clients asked for at delivery
   * the same way, once they have asked). A field that does not parse is left to the query.
   */
  private queryFields(head: Buffer): Array<readonly [string, string]> | undefined {
    try {
      return this.fieldRecords(THREAD_FIELDS, head);
    } catch (err) {
      this.logger.debug({ err }, 'header fields of a saved message not cached');
      return undefined;
    }
  }

  /** `fields` of `message` as cache records (field, JSON); those the parser does not compute are left out. */
  private fieldRecords(fields: readonly CachedFieldName[], message: Buffer): Array<readonly [string, string]> {
    const records: Array<readonly [string, string]> = [];
    for (const field of fields) {
      try {
        records.push([field, encodeFieldJson(this.parseField(field, message))]);
      } catch (err) {
        if (!isLoftError(err, 'LOFT_E_STORAGE_NO_PARSER')) throw err;
      }
    }
    return records;
  }

  /**
   * Gives prepared saves their UIDs and links their files into place. Lock held. Returns the
   * log records and the directories to sync with the log (see appendLog()).
   */
  private async placeSaves(saves: readonly PreparedSave[]): Promise<{ records: LogRecord[]; dirs: string[] }> {
    if (this.store) return { records: await this.placeMdboxSaves(this.store, saves), dirs: [] };
    for (let round = 0; round < 2; round++) {
      const records: LogRecord[] = [];
      const placed: string[] = [];
      let collision: string | undefined;
      let uid = this.state.header.uidNext;
      if (uid + saves.length - 1 > MAX_UID) throw new LoftError('LOFT_E_STORAGE_INVALID', `${this.name}: UIDs are exhausted; the mailbox needs a new UIDVALIDITY`);
      for (const save of saves) {
        const target = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
        await this.ensureHashDirs(target);
        try {
          // link(), not rename(): it refuses to replace a file already at this UID.
          linkSync(save.tmpPath, target);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw ioError('link', target, err);
          collision = target;
          break;
        }
        placed.push(target);
        records.push({ type: 'append', uid, flags: save.flags, keywords: save.keywords, guid: save.guid, internalDate: save.internalDate, saveDate: save.saveDate, size: save.size });
        uid++;
      }
      if (collision === undefined) {
        for (const save of saves) unlinkQuietly(save.tmpPath);
        return { records, dirs: [...new Set(placed.map((p) => dirname(p)))] };
      }
      // A file the log does not know holds this UID: a save that died before logging, or a
      // log that lost records. Adopt it through a rebuild rather than overwrite it.
      for (const path of placed) unlinkQuietly(path);
      await this.resync(`message file ${collision} exists but the log does not have its UID`, true);
    }
    throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${this.paths.dir}: UID allocation keeps colliding with existing files`);
  }

  /** mdbox: the next UIDs refer to the stored messages (map REFs before the log commit). Lock held. */
  private async placeMdboxSaves(store: MdboxStore, saves: readonly PreparedSave[]): Promise<LogRecord[]> {
    const first = this.state.header.uidNext;
    if (first + saves.length - 1 > MAX_UID) throw new LoftError('LOFT_E_STORAGE_INVALID', `${this.name}: UIDs are exhausted; the mailbox needs a new UIDVALIDITY`);
    const records: LogRecord[] = saves.map((save, i) => ({ type: 'append', uid: first + i, flags: save.flags, keywords: save.keywords, guid: save.guid, internalDate: save.internalDate, saveDate: save.saveDate, size: save.size }));
    await store.addRefs(this.guidValue, saves.map((save, i) => ({ uid: first + i, guid: save.guid.toString('hex') })));
    return records;
  }

  private async ensureHashDirs(target: string): Promise<void> {
    if (this.settings.mail_dir_hash === 0) return;
    const dir = dirname(target);
    if (this.knownDirs.has(dir)) return;
    let at = this.paths.dir;
    for (const part of dir.slice(at.length + 1).split('/')) {
      at = join(at, part);
      await ensureRealDir(at);
    }
    this.knownDirs.add(dir);
  }

  /** Commits saves and changes as one log transaction. */
  async commitPrepared(saves: readonly PreparedSave[], records: readonly LogRecord[], quotaMode: QuotaMode = {}): Promise<CommitResult> {
    this.assertWritable();
    // Checked before the lock, as Dovecot's count quota does: two saves at once may both pass.
    if (this.quota && saves.length > 0 && !quotaMode.exempt) await this.quota(saves.reduce((sum, save) => sum + save.size, 0), saves.length, quotaMode.grace ?? false);
    return this.exclusive(async () => {
      for (let attempt = 0; ; attempt++) {
        const txid = newTxid();
        let appends: LogRecord[] = [];
        let dirs: string[] = [];
        let release: ReleaseLock | undefined;
        try {
          if (saves.length > 0) {
            release = await this.lock.acquire();
            await this.syncLog(true);
            ({ records: appends, dirs } = await this.placeSaves(saves));
          } else if (attempt > 0) {
            await this.syncLog(false);
          }
          // A SELECTed view saving into itself takes \\Recent for its own saves in the same
          // transaction, rather than in a second log write at its next refresh.
          const last = appends[appends.length - 1];
          const claim: LogRecord[] = this.claimsRecent && last?.type === 'append' ? [{ type: 'recent', firstRecentUid: last.uid + 1 }] : [];
          await this.appendLog(encodeTransaction({ txid, records: [...appends, ...records, ...claim] }), this.fsyncFor(saves.length > 0 ? 'save' : 'change'), dirs);
        } catch (err) {
          if (!(isLoftError(err, 'LOFT_E_STORAGE_IO') && attempt < COMMIT_ATTEMPTS && saves.length === 0 && err.message.includes('replaced'))) throw err;
          continue;
        } finally {
          await release?.();
        }
        const result = await this.syncLog(false, txid);
        if (!result && saves.length === 0) {
          // The log was rotated or rebuilt under us and our transaction is void: write again.
          if (attempt < COMMIT_ATTEMPTS) continue;
          throw new LoftError('LOFT_E_STORAGE_IO', `${this.paths.log} was replaced ${COMMIT_ATTEMPTS} times during one commit`);
        }
        if (!result && saves.length > 0) {
          // A rebuild ran between our write and the read-back; it kept what it found.
          for (const append of appends) if (append.type === 'append' && this.state.table.slotOf(append.uid) < 0) throw new LoftError('LOFT_E_STORAGE_IO', `saved UID ${append.uid} vanished in a concurrent rebuild`);
        }
        saves.forEach((save, i) => {
          const append = appends[i];
          if (save.fields && append?.type === 'append') this.cache.putMany(append.uid, save.fields, true);
        });
        await this.maybeCheckpoint();
        const outcome = this.commitResult(appends, result);
        // The caller reports its own flag changes; refresh() need not repeat them.
        for (const { uid } of outcome.updated) this.pendingFlags.delete(uid);
        return outcome;
      }
    });
  }

  private commitResult(appends: readonly LogRecord[], result: ApplyResult | undefined): CommitResult {
    const t = this.state.table;
    const saved = appends.flatMap((r) => (r.type === 'append' ? [{ uid: r.uid, guid: Buffer.from(r.guid).toString('hex') }] : []));
    const updated = (result?.updated ?? []).flatMap((uid) => {
      const slot = t.slotOf(uid);
      return slot < 0 ? [] : [{ uid, flags: [...this.flagsOfSlot(slot)], modseq: BigInt(t.modseqs[slot]!) }];
    });
    return { saved, updated, failed: result?.conflicts ?? [], expunged: result?.expunged ?? [], modseq: BigInt(result?.modseq ?? this.state.header.highestModseq) };
  }

  private flagsOfSlot(slot: number): Set<string> {
    const t = this.state.table;
    const out = new Set<string>();
    for (const [name, bit] of SYSTEM_FLAGS) if (t.flags[slot]! & bit) out.add(name);
    for (const id of t.keywordIndexes(slot)) out.add(this.state.header.keywords[id]!);
    if (t.uids[slot]! >= this.recentFrom && this.showsRecent) out.add('\\Recent');
    return out;
  }

  private async maybeCheckpoint(): Promise<void> {
    const threshold = Math.max(this.checkpointMinLogBytes, Math.min(this.indexBytes / CHECKPOINT_INDEX_FRACTION, this.checkpointMaxLogBytes));
    if (this.readOffset - this.indexOffset < threshold) return;
    const release = await this.lock.acquire(0).catch(() => undefined);
    if (!release) return;
    try {
      if (this.readOffset > this.logRotateBytes) await this.rotateLog();
      else await this.writeCheckpoint();
    } catch (err) {
      this.logger.warn({ err, path: this.paths.index }, 'writing the index checkpoint failed; the log still has everything');
    } finally {
      await release();
    }
  }

  /**
   * Closes the log with a rotation marker and starts a new one whose checkpoint is the state
   * at the marker. Lock held, so no save is in flight; a lockless flag change or expunge that
   * lands after the marker is void, and its writer writes it again to the new log.
   */
  private async rotateLog(): Promise<void> {
    const fsync = this.settings.mail_fsync !== 'never';
    await this.syncLog(true);
    await this.appendLog(encodeTransaction({ txid: newTxid(), records: [{ type: 'rotated' }] }), fsync);
    const scan = scanLog(readTailSync(this.log.fd, this.readOffset), this.readOffset);
    if (!scan.rotated || scan.skipped.length > 0) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${this.paths.log}: rotation marker not found where it was written`);
    for (const { txn } of scan.transactions) this.state.apply(txn, { flagsChanged: this.pendingFlags });
    this.readOffset = scan.end;
    const h = this.state.header;
    const logId = newLogId();
    const tmp = tempName(this.paths.log);
    await atomicWriteFile(tmp, encodeLogHeader({ logId, uidValidity: h.uidValidity, baseModseq: h.highestModseq }), fsync);
    // Index first: an opener that pairs it with the old log sees different logIds and waits
    // for our lock; one that pairs the old index with the closed log does the same.
    await atomicWriteFile(this.paths.index, encodeIndex({ ...h, logId, logOffset: LOG_HEADER_BYTES }, this.state.table), fsync);
    await fsp.rename(tmp, this.paths.log);
    if (fsync) await fsyncDir(this.paths.dir);
    this.logger.debug({ path: this.paths.log, logId }, 'transaction log rotated');
    await this.reload(true);
    if (this.cache.size() > this.cacheCompactMinBytes) {
      try {
        this.cache.compact((uid) => this.isLive(uid));
      } catch (err) {
        this.logger.warn({ err, path: this.paths.cache }, 'compacting the cache failed; it keeps growing until the next rotation');
      }
    }
  }

  /** Replaces loft.index with the state at readOffset, unless a newer one is there. Lock held. */
  private async writeCheckpoint(): Promise<void> {
    const head = await readHead(this.paths.index, INDEX_HEADER_BYTES);
    if (head && head.length >= INDEX_HEADER_BYTES && head.readUInt32LE(32) === this.logHeader.logId && head.readDoubleLE(48) >= this.readOffset) return;
    const buf = encodeIndex({ ...this.state.header, logId: this.logHeader.logId, logOffset: this.readOffset }, this.state.table);
    await atomicWriteFile(this.paths.index, buf, this.settings.mail_fsync !== 'never');
    this.indexBytes = buf.length;
    this.indexOffset = this.readOffset;
  }

  transaction(): MailboxTransaction {
    this.assertWritable();
    return new MailboxTransaction(this);
  }

  /** Saves one message; when this returns, it is on disk per mail_fsync and in the log. */
  async save(message: Buffer | AsyncIterable<Uint8Array>, options: SaveOptions = {}): Promise<{ uid: number; guid: string }> {
    const prepared = await this.prepareSave(message, options);
    const result = await this.commitPrepared([prepared], [], { grace: options.quotaGrace ?? false }).catch(async (err: unknown) => {
      await discardPrepared(prepared);
      throw err;
    });
    return result.saved[0]!;
  }

  /** UIDs of `uids` that are in the view and not expunged, as ranges. */
  private liveRanges(uids: readonly number[]): UidRange[] {
    const t = this.state.table;
    return toRanges(
      uids.filter((uid) => {
        const slot = t.slotOf(uid);
        return slot >= 0 && (t.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0;
      }),
    );
  }

  /** @internal builds the log record of a flag change. */
  flagRecord(uids: readonly number[], change: FlagChange): LogRecord | undefined {
    const { system, keywords } = parseFlags(change.flags);
    const ranges = this.liveRanges(uids);
    if (ranges.length === 0) return undefined;
    const op = change.op === 'add' ? FlagOp.Add : change.op === 'remove' ? FlagOp.Remove : FlagOp.Replace;
    const unchangedSince = change.unchangedSince === undefined ? 0 : Number(change.unchangedSince);
    if (change.unchangedSince !== undefined && unchangedSince < 1) throw new LoftError('LOFT_E_STORAGE_INVALID', 'UNCHANGEDSINCE must be at least 1');
    return { type: 'flags', op, flags: system, keywords, unchangedSince, ranges };
  }

  /** @internal builds the log record of an expunge. */
  expungeRecord(uids: readonly number[]): LogRecord | undefined {
    const ranges = this.liveRanges(uids);
    return ranges.length === 0 ? undefined : { type: 'expunge', ranges };
  }

  async updateFlags(uids: readonly number[], change: FlagChange): Promise<FlagUpdateResult> {
    this.assertWritable();
    const record = this.flagRecord(uids, change);
    if (!record) return { updated: [], failed: [] };
    const { updated, failed } = await this.commitPrepared([], [record]);
    return { updated, failed };
  }

  /** Expunges `uids`; returns those this call expunged (others may have been first). */
  async expunge(uids: readonly number[]): Promise<number[]> {
    this.assertWritable();
    const record = this.expungeRecord(uids);
    if (!record) return [];
    const { expunged } = await this.commitPrepared([], [record]);
    await this.removeFiles(expunged);
    return expunged;
  }

  /** IMAP EXPUNGE (or UID EXPUNGE with `uids`): expunges the messages marked \Deleted. */
  async expungeDeleted(uids?: readonly number[]): Promise<number[]> {
    this.assertWritable();
    const t = this.state.table;
    const marked: number[] = [];
    if (uids === undefined) {
      // One pass over the view's flags: no list of every UID, no lookup per UID (an EXPUNGE
      // in a large mailbox otherwise costs as much as the mailbox is big, per command).
      for (let slot = 0; slot < this.announced; slot++) if ((t.flags[slot]! & DELETED_BIT) !== 0) marked.push(t.uids[slot]!);
    } else {
      for (const uid of uids) {
        const slot = t.slotOf(uid);
        if (slot >= 0 && slot < this.announced && (t.flags[slot]! & DELETED_BIT) !== 0) marked.push(uid);
      }
    }
    return this.expunge(marked);
  }

  /** @internal unlinks the files of messages the log now has as expunged. */
  async removeFiles(uids: readonly number[]): Promise<void> {
    if (this.store) {
      // The rows stay in the table (marked expunged) until refresh(), so their GUIDs are known.
      const t = this.state.table;
      const refs = uids.flatMap((uid) => {
        const slot = t.slotOf(uid);
        return slot < 0 ? [] : [{ uid, guid: t.guidHex(slot) }];
      });
      await this.store.dropRefs(this.guidValue, refs);
      return;
    }
    // Through the thread pool (unless setBlockingIo): freeing a file's inode and blocks is
    // slow on a journaling file system, and other sessions of this process must not wait for it.
    for (let i = 0; i < uids.length; i += UNLINK_BATCH) {
      await Promise.all(uids.slice(i, i + UNLINK_BATCH).map(async (uid) => {
        const path = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
        await unlinkFile(path).catch((err: unknown) => {
          if (!isErrno(err, 'ENOENT')) throw ioError('unlink', path, err);
        });
      }));
    }
  }

  /** Copies messages into `target` keeping their GUIDs (UIDPLUS: source UID -> new UID). */
  async copy(uids: readonly number[], target: Mailbox, quotaMode: QuotaMode = {}): Promise<Map<number, number>> {
    this.assertOpen();
    target.assertWritable();
    const t = this.state.table;
    const sources = [...new Set(uids)].sort((a, b) => a - b).filter((uid) => {
      const slot = t.slotOf(uid);
      return slot >= 0 && slot < this.announced && (t.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0;
    });
    const saves: PreparedSave[] = [];
    try {
      for (const uid of sources) saves.push(await this.prepareCopy(uid, target));
      const result = await target.commitPrepared(saves, [], quotaMode);
      return new Map(sources.map((uid, i) => [uid, result.saved[i]!.uid]));
    } catch (err) {
      for (const save of saves) await discardPrepared(save);
      throw err;
    }
  }

  private async prepareCopy(uid: number, target: Mailbox): Promise<PreparedSave> {
    const t = this.state.table;
    const slot = this.slotOf(uid);
    const source = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
    const guid = Buffer.from(t.guids.subarray(slot * 16, slot * 16 + 16));
    const keywordNames = t.keywordIndexes(slot).map((id) => this.state.header.keywords[id]!);
    if (target.store) {
      // mdbox: a COPY is one more reference to the same stored bytes.
      if (this.store !== target.store) await target.store.store((await this.readVerified(uid)).message, { guid, internalDate: t.internalDates[slot]!, saveDate: Date.now() });
      return { tmpPath: '', guid, flags: t.flags[slot]! & SYSTEM_FLAG_MASK, keywords: keywordNames, internalDate: t.internalDates[slot]!, saveDate: Date.now(), size: t.sizes[slot]! };
    }
    const tmpPath = saveTmpPath(target.paths, guid);
    if (this.store || this.attachments !== target.attachments) {
      // mdbox into sdbox, or another user's attachment links: there is no file to share.
      const { message } = await this.readVerified(uid);
      await writeDboxFile(tmpPath, message, { guid, internalDate: t.internalDates[slot]!, saveDate: Date.now() }, target.fsyncFor('save'));
    } else {
      try {
        // sdbox copy is a hard link: the file has no UID in it, so both mailboxes share it.
        await fsp.link(source, tmpPath);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `UID ${uid} of ${this.name}`, { cause: err });
        const { message } = await this.readVerified(uid);
        await writeDboxFile(tmpPath, message, { guid, internalDate: t.internalDates[slot]!, saveDate: Date.now() }, target.fsyncFor('save'));
      }
    }
    return { tmpPath, guid, flags: t.flags[slot]! & SYSTEM_FLAG_MASK, keywords: keywordNames, internalDate: t.internalDates[slot]!, saveDate: Date.now(), size: t.sizes[slot]! };
  }

  /** COPY then expunge from here. A crash in between leaves a copy in both, never in neither. */
  async move(uids: readonly number[], target: Mailbox): Promise<Map<number, number>> {
    this.assertWritable();
    const map = await this.copy(uids, target, { exempt: true });
    await this.expunge([...map.keys()]);
    return map;
  }

  // ---- reading messages --------------------------------------------------------------

  private async readVerified(uid: number): Promise<{ message: Buffer }> {
    const slot = this.slotOf(uid);
    if (this.store) {
      try {
        return { message: this.readStored(this.store, uid, slot) };
      } catch (err) {
        if (!isLoftError(err, 'LOFT_E_STORAGE_CORRUPT')) throw err;
        // The map was damaged under us: rebuild it (storage files + indexes) and read again.
        await this.store.repair();
        return { message: this.readStored(this.store, uid, slot) };
      }
    }
    const path = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
    let read;
    try {
      read = await readDboxMessage(path);
    } catch (err) {
      if (isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND')) throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `UID ${uid} of ${this.name}`, { cause: err });
      throw err;
    }
    this.checkGuid(uid, slot, read.header.guid, path);
    return { message: this.expand(read.header, read.message) };
  }

  /** The message itself from what a file holds (an attachment stub is filled in). */
  private expand(header: DboxHeader, stored: Buffer): Buffer {
    if (!((header.flags ?? 0) & DBOX_FLAG_ATTACHMENT_STUB)) return stored;
    if (!this.attachments) {
      throw new LoftError('LOFT_E_STORAGE_INVALID', `message ${header.guid.toString('hex')} keeps attachments in mail_attachment_dir, which is not set`);
    }
    return this.attachments.expand(stored, header.guid.toString('hex'));
  }

  private checkGuid(uid: number, slot: number, guid: Buffer, path: string): void {
    if (Buffer.compare(guid, Buffer.from(this.state.table.guids.subarray(slot * 16, slot * 16 + 16))) !== 0) {
      // Never serve a message that is not the one the index says is at this UID.
      this.logger.error({ path, uid }, 'message file GUID differs from the index; run force-resync');
      throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: GUID differs from the index`);
    }
  }

  /** The raw message (RFC 5322 bytes as received). */
  async openMessage(uid: number): Promise<Buffer> {
    this.assertOpen();
    if (!this.store && this.messageSize(uid) <= SYNC_READ_MAX_BYTES) {
      // A small file is read with direct system calls: cheaper than four thread-pool trips.
      try {
        return this.readSync(uid);
      } catch (err) {
        if (isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND')) throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `UID ${uid} of ${this.name}`, { cause: err });
        throw err;
      }
    }
    return (await this.readVerified(uid)).message;
  }

  /** The raw message as a stream, for large messages. */
  async openMessageStream(uid: number): Promise<{ size: number; stream: Readable }> {
    this.assertOpen();
    const slot = this.slotOf(uid);
    if (this.store) {
      const { message } = await this.readVerified(uid);
      return { size: message.length, stream: Readable.from([message]) };
    }
    const path = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
    const handle = await openNoFollow(path, constants.O_RDONLY).catch((err: unknown) => {
      throw isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND') ? new LoftError('LOFT_E_STORAGE_EXPUNGED', `UID ${uid} of ${this.name}`, { cause: err }) : err;
    });
    try {
      const stat = await handle.stat();
      const head = Buffer.alloc(DBOX_HEADER_BYTES);
      await handle.read(head, 0, DBOX_HEADER_BYTES, 0);
      const header = decodeDboxHeader(head, stat.size);
      if (typeof header === 'string') throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: ${header}`);
      this.checkGuid(uid, slot, header.guid, path);
      if ((header.flags ?? 0) & DBOX_FLAG_ATTACHMENT_STUB) {
        const stored = Buffer.alloc(header.size);
        await handle.read(stored, 0, header.size, DBOX_HEADER_BYTES);
        await handle.close();
        const message = this.expand(header, stored);
        return { size: message.length, stream: Readable.from([message]) };
      }
      return { size: header.size, stream: handle.createReadStream({ start: DBOX_HEADER_BYTES, autoClose: true }) };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** mdbox: the stored bytes of the message at `slot` (their GUID is checked on read). */
  private readStored(store: MdboxStore, uid: number, slot: number): Buffer {
    try {
      const { header, message } = store.read(this.state.table.guidHex(slot));
      return this.expand(header, message);
    } catch (err) {
      if (isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED')) throw new LoftError('LOFT_E_STORAGE_EXPUNGED', `UID ${uid} of ${this.name}`, { cause: err });
      throw err;
    }
  }

  private readSync(uid: number): Buffer {
    const slot = this.slotOf(uid);
    if (this.store) return this.readStored(this.store, uid, slot);
    const path = messagePath(this.paths.dir, uid, this.settings.mail_dir_hash);
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted in the mailbox must not block the process in open().
      fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw ioError('open', path, err);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new LoftError('LOFT_E_STORAGE_UNSAFE_PATH', `${path} is not a regular file`);
      const size = stat.size;
      const data = Buffer.alloc(size);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, data, done, size - done, done);
        if (n === 0) break;
        done += n;
      }
      const header = decodeDboxHeader(data.subarray(0, DBOX_HEADER_BYTES), done);
      if (typeof header === 'string') throw new LoftError('LOFT_E_STORAGE_CORRUPT', `${path}: ${header}`);
      this.checkGuid(uid, slot, header.guid, path);
      return this.expand(header, data.subarray(DBOX_HEADER_BYTES));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * readSync() for the query engine, one system call fewer per message: a small sdbox file
   * is read in one call of the size the index gives (no fstat). Anything unexpected (another
   * size, not a regular file, an attachment stub, mdbox) goes the careful way, readSync().
   */
  private readForQuery(uid: number): Buffer {
    if (this.store) return this.readSync(uid);
    const slot = this.slotOf(uid);
    const expected = DBOX_HEADER_BYTES + this.state.table.sizes[slot]!;
    if (expected > SYNC_READ_MAX_BYTES) return this.readSync(uid);
    const dir = this.paths.dir;
    // messagePath() without path.join's normalising, for the common unhashed layout.
    const path = this.settings.mail_dir_hash === 0 ? `${dir}${dir.endsWith('/') ? '' : '/'}u.${uid}` : messagePath(dir, uid, this.settings.mail_dir_hash);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw ioError('open', path, err);
    }
    // One byte more than expected: a longer file shows itself.
    const data = Buffer.allocUnsafe(expected + 1);
    let got = -1;
    try {
      got = readSync(fd, data, 0, expected + 1, 0);
    } catch {
      // A directory or FIFO: readSync() reports it properly.
    } finally {
      closeSync(fd);
    }
    if (got !== expected) return this.readSync(uid);
    const header = decodeDboxHeader(data.subarray(0, DBOX_HEADER_BYTES), got);
    if (typeof header === 'string' || (header.flags ?? 0) & DBOX_FLAG_ATTACHMENT_STUB) return this.readSync(uid);
    // checkGuid() without copying the index's GUID; it reports a mismatch.
    const guids = this.state.table.guids;
    for (let i = 0; i < 16; i++) {
      if (header.guid[i] !== guids[slot * 16 + i]) {
        this.checkGuid(uid, slot, header.guid, path);
        break;
      }
    }
    return data.subarray(DBOX_HEADER_BYTES, got);
  }

  private parseField(field: CachedFieldName, message: Buffer): unknown {
    let value = this.parser.parse(field, message);
    if (value === undefined) value = headerFieldParser.parse(field, message);
    if (value === undefined) throw new LoftError('LOFT_E_STORAGE_NO_PARSER', `${field} (the MessageFieldParser passed to MailUser.open does not compute it)`);
    return value;
  }

  private fieldSync(uid: number, field: CachedFieldName, read: () => Buffer = () => this.readSync(uid), defer = false): unknown {
    // The query engine's small fields stay decoded in memory: a SORT after a SEARCH, or the
    // next SEARCH, does not read and parse them again.
    const memo = isQueryField(field);
    const cachedValue = memo ? this.cache.value(uid, field, decodeFieldJson) : undefined;
    if (cachedValue !== undefined) return cachedValue;
    if (!memo) {
      const cached = this.cache.get(uid, field);
      if (cached !== undefined) return decodeFieldJson(cached);
    }
    const message = read();
    const value = this.parseField(field, message);
    if (memo) this.cache.remember(uid, field, value);
    // What FETCH (or SORT, THREAD) asks for together is read once and sits together in the cache.
    const others = companionFields(field).filter((other) => other !== field && !this.cache.has(uid, other));
    this.cache.putMany(uid, [[field, encodeFieldJson(value)], ...this.fieldRecords(others, message)], defer);
    return value;
  }

  /**
   * A parsed field of a message, from the cache or parsed (and cached) on a miss:
   * 'envelope', 'bodystructure' and 'body' are @loft/mime ImapValues (write them with
   * writeImapValue); 'headers:<name>' gives the raw unfolded values; 'sentDate' ms since the
   * epoch or null; 'preview' the RFC 8970 preview; 'headerText' the raw header block.
   */
  async cachedField(uid: number, field: CachedFieldName): Promise<unknown> {
    this.assertOpen();
    return this.fieldSync(uid, field);
  }

  /**
   * cachedField() in a form the caller makes of it (`key` names that form: IMAP's wire
   * bytes, say), made once per message and kept with the decoded fields of the process.
   */
  cachedFieldBytes(uid: number, field: CachedFieldName, key: string, make: (value: unknown) => Buffer): Buffer {
    this.assertOpen();
    return this.cache.derivedBytes(uid, key, field, (f) => make(this.fieldSync(uid, f)));
  }

  /**
   * What `compute` makes of a set of the mailbox's messages (SORT's order, THREAD's answer),
   * kept with the decoded fields (so shared by the process's sessions on this mailbox) and
   * given again while it is asked for over the same set: `identity` holds the set's UIDs and
   * whatever else the value shows (sequence numbers, say). `compute` must read only what
   * never changes for a UID (headers, size, dates); `bytes` is the value's size in memory.
   */
  overMessages<T>(key: string, identity: Uint32Array, compute: () => T, bytes: (value: T) => number): T {
    this.assertOpen();
    return this.cache.overMessages(key, identity, compute, bytes);
  }

  /** The query engine's accessor of the message at `seq` (synchronous reads). */
  messageView(seq: number): MessageView {
    const uid = this.uidOfSeq(seq);
    if (uid === 0) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', `sequence ${seq} of ${this.name}`);
    const t = this.state.table;
    const slot = seq - 1;
    return new StoredMessage(this.viewSource(), t, seq, uid, slot, t.sizes[slot]!);
  }

  /** What the views of messageView() read through, made once per mailbox. */
  private viewSource(): MessageSource {
    return messageSource(this, () => {
      // A SEARCH TEXT reads header and body text of the same message: read the file once.
      // Only the last message read is kept, and only until the running task ends: the views
      // of a SORT or THREAD over 100,000 messages stay alive until it answers, and an idle
      // session must not hold a message either.
      let last: StoredMessage | undefined;
      let lastBytes: Buffer | undefined;
      let forgetting = false;
      const forget = (): void => {
        last = undefined;
        lastBytes = undefined;
        forgetting = false;
      };
      const read = (view: StoredMessage): Buffer => {
        if (view !== last || lastBytes === undefined) {
          lastBytes = this.readForQuery(view.uid);
          last = view;
          if (!forgetting) {
            forgetting = true;
            queueMicrotask(forget);
          }
        }
        return lastBytes;
      };
      return {
        header: (view, name) => this.fieldSync(view.uid, `headers:${name}`, () => read(view), true) as string[],
        headerText: (view) => {
          const raw = read(view);
          return this.parser.decodedHeaderText?.(raw) ?? (headerFieldParser.parse('headerText', raw) as string);
        },
        bodyText: (view) => {
          const raw = read(view);
          return this.parser.bodyText?.(raw) ?? raw.subarray(headerEnd(raw).bodyStart).toString('utf8');
        },
        flags: (slot) => this.flagsOfSlot(slot),
        memo: (view, key, compute) => this.cache.derived(view.uid, key, view, compute),
      };
    });
  }

  // ---- change notification and CONDSTORE ----------------------------------------------

  /**
   * Calls `listener` when the log changes (another process or session wrote to it), within
   * a second; the listener should then refresh(). Returns a function that stops watching.
   * The watch does not keep the process alive by itself (the IMAP connection does).
   */
  watch(listener: () => void): () => void {
    this.assertOpen();
    let timer: NodeJS.Timeout | undefined;
    const notify = (): void => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        listener();
      }, WATCH_DEBOUNCE_MS);
    };
    const stop = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      this.watchers.delete(stop);
      this.watchListeners.delete(notify);
      if (this.watchListeners.size === 0) this.lingerWatch();
    };
    this.watchers.add(stop);
    this.watchListeners.add(notify);
    this.watchLog();
    return stop;
  }

  /**
   * One inotify watch of the log file for all of the view's listeners. Not of the mailbox
   * directory: adding a watch to a directory makes the kernel walk every name the directory
   * has had (deleted ones stay cached), which in a mailbox that has received and expunged
   * mail for years is a long walk at every IDLE; and the directory reports every message
   * file that comes and goes, where only the log matters. A log replaced by a rotation or a
   * rebuild loses a link, which the watch reports too; install() then moves the watch to the
   * new log. The watch stays a little after the last listener stops: a client that ends IDLE
   * for a command and starts it again does not make a watch each time.
   */
  private watchLog(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (!this.logWatcher) {
      let watcher: FSWatcher;
      try {
        watcher = fsWatch(this.paths.log, { persistent: false }, () => this.notifyWatchers());
      } catch (err) {
        this.logger.warn({ err, path: this.paths.log }, 'watching the mailbox log failed; IDLE falls back to polling');
        return;
      }
      watcher.on('error', (err) => this.logger.warn({ err, path: this.paths.log }, 'watching the mailbox log failed; IDLE falls back to polling'));
      this.logWatcher = watcher;
    }
    // A rotation may have renamed a new log over ours since the view last read it (and
    // while a lingering watch had no listener to tell): the listeners' refresh reloads the
    // view, and install() moves the watch.
    if (lstatOrUndefined(this.paths.log)?.ino !== this.logIno) this.notifyWatchers();
  }

  private notifyWatchers(): void {
    for (const notify of this.watchListeners) notify();
  }

  private lingerWatch(): void {
    if (this.lingerTimer || !this.logWatcher) return;
    this.lingerTimer = setTimeout(() => this.unwatchLog(), WATCH_LINGER_MS);
    this.lingerTimer.unref();
  }

  private unwatchLog(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.logWatcher?.close();
    this.logWatcher = undefined;
  }

  /**
   * CONDSTORE/QRESYNC: UIDs of the view changed after `modseq`, and UID ranges expunged after
   * it. When the log no longer reaches back that far (after a force-resync), every UID below
   * uidNext that is not in the mailbox is reported as vanished, as RFC 7162 allows.
   */
  async changesSince(modseq: bigint): Promise<{ changed: number[]; vanished: UidRange[] }> {
    this.assertOpen();
    const since = Number(modseq);
    const t = this.state.table;
    const changed: number[] = [];
    for (let slot = 0; slot < this.announced; slot++) if (t.modseqs[slot]! > since && !(t.flags[slot]! & FLAG_EXPUNGE_PENDING)) changed.push(t.uids[slot]!);
    const vanished: number[] = [];
    if (since >= this.logHeader.baseModseq) {
      const scan = scanLog(readTailSync(this.log.fd, LOG_HEADER_BYTES), LOG_HEADER_BYTES);
      let counter = this.logHeader.baseModseq;
      for (const { txn, end } of scan.transactions) {
        if (end > this.readOffset) break;
        if (bumpsModseq(txn)) counter = nextModseq(counter);
        if (counter <= since) continue;
        for (const r of txn.records) if (r.type === 'expunge') vanished.push(...rangeUids(r.ranges));
      }
      return { changed, vanished: toRanges(vanished.filter((uid) => !this.isLive(uid))) };
    }
    const gaps: UidRange[] = [];
    let next = 1;
    for (let slot = 0; slot < t.count; slot++) {
      if (t.flags[slot]! & FLAG_EXPUNGE_PENDING) continue;
      if (t.uids[slot]! > next) gaps.push([next, t.uids[slot]! - 1]);
      next = t.uids[slot]! + 1;
    }
    if (next < this.state.header.uidNext) gaps.push([next, this.state.header.uidNext - 1]);
    return { changed, vanished: gaps };
  }

  private isLive(uid: number): boolean {
    const slot = this.state.table.slotOf(uid);
    return slot >= 0 && (this.state.table.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      for (const stop of [...this.watchers]) stop();
      this.unwatchLog();
      if (!this.readOnly) {
        await this.syncLog(false).catch(() => undefined);
        await this.maybeCheckpoint();
      }
      this.closeAppendFd();
      if (!this.keepSnapshot()) {
        this.cache.close();
        await this.log.close().catch(() => undefined);
      }
    });
    await this.onClose?.(this);
  }

  /**
   * Hands this closed view's state to the next open of the same mailbox in this process, so
   * a SELECT after a SELECT reads only the log written since, not the checkpoint and the
   * whole log tail again (Dovecot keeps its index mapped for the same reason). The state
   * is the log replayed up to readOffset; expunges this view had not yet announced are
   * dropped, as a fresh read would.
   */
  private keepSnapshot(): boolean {
    const t = this.state.table;
    if (!this.snapshots || t.count > SNAPSHOT_MAX_MESSAGES) return false;
    this.state.dropExpunged();
    this.snapshots.keep(this.paths.dir, { guid: this.guidValue, state: this.state, log: this.log, logHeader: this.logHeader, logIno: this.logIno, offset: this.readOffset, indexOffset: this.indexOffset, indexBytes: this.indexBytes, cache: this.cache });
    return true;
  }

  /**
   * The snapshot of this mailbox, taken over (one view owns a state), if its log is still
   * the file at the log's path: same inode (so the open descriptor the snapshot kept reads
   * it), at least as long as what the snapshot read.
   */
  private takeSnapshot(): (Extract<DiskState, { kind: 'ok' }> & Snapshot) | undefined {
    const kept = this.snapshots?.take(this.paths.dir);
    if (!kept) return undefined;
    const stat = lstatOrUndefined(this.paths.log);
    if (!stat?.isFile() || stat.ino !== kept.logIno || stat.size < kept.offset) {
      discardSnapshot(kept);
      return undefined;
    }
    return { kind: 'ok', ...kept };
  }
}

/**
 * What a disk read gives, the log's descriptor and the view's cache of parsed fields still
 * open, and the mailbox's GUID (from loft.mailbox, read when the state was).
 */
type Snapshot = Omit<Extract<DiskState, { kind: 'ok' }>, 'kind'> & { cache: MailCache; guid: string };

/** Closes what a snapshot holds open. */
function discardSnapshot(snapshot: Snapshot): void {
  snapshot.cache.close();
  snapshot.log.close().catch(() => undefined);
}

/**
 * The system flags (and \\Recent) of a flags word as IMAP writes them: one string per
 * combination, made when the module loads, by (system flag bits) * 2 + recent.
 */
const SYSTEM_FLAG_TEXTS: readonly string[] = Array.from({ length: (SYSTEM_FLAG_MASK + 1) * 2 }, (_, key) => {
  const bits = key >> 1;
  const names = SYSTEM_FLAGS.filter(([, bit]) => bits & bit).map(([name]) => name);
  if (key & 1) names.push('\\Recent');
  return names.join(' ');
});

function systemFlagKey(bits: number, recent: boolean): number {
  return (bits & SYSTEM_FLAG_MASK) * 2 + (recent ? 1 : 0);
}

function systemFlagText(bits: number, recent: boolean): string {
  return SYSTEM_FLAG_TEXTS[systemFlagKey(bits, recent)]!;
}

/** Flags of many messages as ids into a table of their texts (Mailbox.flagIdsOfSeqs). */
export interface FlagIds {
  ids: Uint32Array;
  texts: readonly string[];
}

const SNAPSHOT_MAX_MAILBOXES = 16;
const SNAPSHOT_MAX_MESSAGES = 250_000;

/**
 * Closed views' states by mailbox directory, oldest first, bounded in mailboxes and messages
 * (see Mailbox.keepSnapshot). By default one per MailUser: a session reuses what it read
 * itself, and a new MailUser (another session, a loftadm command) reads from disk and
 * validates it all. A long-lived service passes MailUser.open `shareSnapshots`, and its
 * users share processSnapshots: the next login of a user finds the state the last session
 * left, as Dovecot's next process finds its index mapped (see processSnapshots).
 */
export class SnapshotStore {
  private readonly kept = new Map<string, Snapshot>();

  constructor(private readonly maxMailboxes = SNAPSHOT_MAX_MAILBOXES, private readonly maxMessages = SNAPSHOT_MAX_MESSAGES) {}

  keep(dir: string, snapshot: Snapshot): void {
    const older = this.kept.get(dir);
    if (older && older.cache !== snapshot.cache) older.cache.close();
    if (older && older.log !== snapshot.log) older.log.close().catch(() => undefined);
    this.kept.delete(dir);
    this.kept.set(dir, snapshot);
    let total = 0;
    for (const s of this.kept.values()) total += s.state.table.count;
    for (const [key, s] of this.kept) {
      if (this.kept.size <= this.maxMailboxes && total <= this.maxMessages) break;
      this.kept.delete(key);
      discardSnapshot(s);
      total -= s.state.table.count;
    }
  }

  /** The snapshot of `dir`, removed from the store: one view owns a state. */
  take(dir: string): Snapshot | undefined {
    const snapshot = this.kept.get(dir);
    this.kept.delete(dir);
    return snapshot;
  }

  clear(): void {
    for (const s of this.kept.values()) discardSnapshot(s);
    this.kept.clear();
  }
}

/**
 * The store MailUsers opened with `shareSnapshots` share, for the whole process. Keyed by
 * mailbox directory: a user's session can only take a state of a directory it reached
 * itself (load() checks the directory and looks the log up by its path with the process's
 * own credentials first), and the state is brought up to date from the log, whose inode
 * and length are checked, before anything is answered from it.
 */
export const processSnapshots = new SnapshotStore(64, 500_000);

/** Removes what a prepared save left in tmp/ (nothing for mdbox: purge reclaims its bytes). */
async function discardPrepared(save: PreparedSave): Promise<void> {
  if (save.tmpPath !== '') await fsp.rm(save.tmpPath, { force: true });
}

async function collect(message: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of message) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw ioError('unlink', path, err);
  }
}


/** The first `bytes` bytes of a file, or undefined if it cannot be read. */
async function readHead(path: string, bytes: number): Promise<Buffer | undefined> {
  try {
    const handle = await openNoFollow(path, constants.O_RDONLY);
    try {
      const buf = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buf, 0, bytes, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** Headers longer than this are not captured while saving (the queries parse them later). */
const HEAD_CAPTURE_MAX = 64 * 1024;

/**
 * The message's bytes, passed on as they are, with a copy of its whole header given to
 * `got` once seen (the message, if it is all header); nothing if the header is longer than
 * HEAD_CAPTURE_MAX, as a cut one would be cached as if it were whole.
 */
async function* withHead(message: AsyncIterable<Uint8Array>, got: (head: Buffer) => void): AsyncIterable<Uint8Array> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of message) {
    if (head) {
      head = Buffer.concat([head, chunk]);
      const { bodyStart } = headerEnd(head);
      if (bodyStart < head.length) {
        got(head.subarray(0, bodyStart));
        head = undefined;
      } else if (head.length > HEAD_CAPTURE_MAX) {
        head = undefined;
      }
    }
    yield chunk;
  }
  if (head) got(head);
}

/** A batch of saves, flag changes and expunges committed as one log transaction. */
export class MailboxTransaction {
  private readonly saves: PreparedSave[] = [];
  private readonly records: LogRecord[] = [];
  private done = false;

  constructor(private readonly mailbox: Mailbox) {}

  /** Writes the message file now; it gets its UID and becomes visible at commit(). */
  async save(message: Buffer | AsyncIterable<Uint8Array>, options: SaveOptions = {}): Promise<void> {
    this.assertActive();
    this.saves.push(await this.mailbox.prepareSave(message, options));
  }

  updateFlags(uids: readonly number[], change: FlagChange): void {
    this.assertActive();
    const record = this.mailbox.flagRecord(uids, change);
    if (record) this.records.push(record);
  }

  expunge(uids: readonly number[]): void {
    this.assertActive();
    const record = this.mailbox.expungeRecord(uids);
    if (record) this.records.push(record);
  }

  async commit(): Promise<CommitResult> {
    this.assertActive();
    this.done = true;
    try {
      const result = await this.mailbox.commitPrepared(this.saves, this.records);
      await this.mailbox.removeFiles(result.expunged);
      return result;
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  async rollback(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.discard();
  }

  private async discard(): Promise<void> {
    for (const save of this.saves) await discardPrepared(save);
  }

  private assertActive(): void {
    if (this.done) throw new LoftError('LOFT_E_STORAGE_INVALID', 'transaction already committed or rolled back');
  }
}
