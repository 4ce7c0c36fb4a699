/**
 * Rebuilding a mailbox's index and log from its message files (force-resync), run under the
 * mailbox lock whenever the index or log cannot be trusted.
 *
 * The message files are the truth about WHICH messages exist; whatever valid transactions
 * the old checkpoint and log still hold supply flags, keywords and modseqs. A file the log
 * expunged is garbage from an interrupted expunge and is removed; a file with a UID below
 * uidNext that the log does not know gets a new UID (clients may have seen that UID as
 * expunged, and UIDs must not be reused); any other unknown file is adopted. Nothing with a
 * valid message file is ever dropped.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { UidRange } from './binary.js';
import { LOG_HEADER_BYTES, decodeLogHeader, encodeLogHeader, scanLog } from './transaction-log.js';

type UidRangeList = UidRange[];
import { messageSizeOf, readDboxHeader, messagePath, type DboxHeader } from './dbox-file.js';
import { decodeIndex, encodeIndex, MessageTable, type IndexHeader } from './mail-index.js';
import { MailboxState } from './mailbox-state.js';
import { newLogId, newUidValidity, readMeta, type MailboxPaths } from './mailbox-disk.js';
import { atomicWriteFile, ensureRealDir, isErrno, readFileNoFollow } from './safe-fs.js';
import type { StorageLogger } from './storage-logger.js';
import type { MdboxStore } from './mdbox-store.js';

export interface FoundFile {
  uid: number;
  /** sdbox: the message file; mdbox: '' (the bytes are in the shared storage). */
  path: string;
  header: DboxHeader;
}

/** Where a rebuild finds a mailbox's messages when they are not u.<uid> files (mdbox). */
export interface RebuildSource {
  list(): Promise<FoundFile[]>;
  /** The log expunged it: drop it. */
  remove(file: FoundFile): Promise<void>;
  /** It gets UID `uid` instead of file.uid. */
  renumber(file: FoundFile, uid: number): Promise<void>;
}

export interface RebuildOptions {
  hashLevels: number;
  fsync: boolean;
  logger: StorageLogger;
  reason: string;
  source?: RebuildSource;
}

/** mdbox: a mailbox's messages are the map's references to it. */
export function mdboxRebuildSource(store: MdboxStore, mailboxGuid: string): RebuildSource {
  return {
    async list() {
      const out: FoundFile[] = [];
      for (const [uid, guid] of await store.mailboxRefs(mailboxGuid)) {
        const header = store.headerOf(guid);
        if (header) out.push({ uid, path: '', header });
      }
      return out;
    },
    remove: (file) => store.dropRefs(mailboxGuid, [{ uid: file.uid, guid: file.header.guid.toString('hex') }]),
    async renumber(file, uid) {
      const guid = file.header.guid.toString('hex');
      await store.addRefs(mailboxGuid, [{ uid, guid }]);
      await store.dropRefs(mailboxGuid, [{ uid: file.uid, guid }]);
    },
  };
}

/** Every u.<uid> below `dir`, including hashed subdirectories of any depth up to 2. */
async function findMessageFiles(dir: string, depth: number, logger: StorageLogger, out: FoundFile[]): Promise<void> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && depth < 2 && /^[0-9a-f]{2}$/.test(entry.name)) {
      await findMessageFiles(path, depth + 1, logger, out);
      continue;
    }
    const match = /^u\.(\d+)$/.exec(entry.name);
    if (!match) continue;
    if (!entry.isFile()) {
      // Something planted where a message belongs (a symlink, say): never follow it, and
      // move it out of the way so it cannot block UID allocation.
      logger.error({ path }, 'not a regular file where a message file belongs; moved aside as .broken');
      await fsp.rename(path, `${path}.broken`).catch(() => undefined);
      continue;
    }
    const uid = Number(match[1]);
    if (!Number.isInteger(uid) || uid < 1 || uid > 0xffffffff) continue;
    const header = await readDboxHeader(path).catch((err: unknown) => String(err));
    if (typeof header === 'string') {
      logger.error({ path, reason: header }, 'message file is damaged; moved aside as .broken, not indexed');
      await fsp.rename(path, `${path}.broken`).catch(() => undefined);
      continue;
    }
    out.push({ uid, path, header });
  }
}

/** The best state the old files give, plus every UID the whole log ever expunged. */
async function salvage(paths: MailboxPaths, logger: StorageLogger): Promise<{ state?: MailboxState; expunged: UidRangeList; uidValidity?: number }> {
  const expunged: UidRangeList = [];
  const logBuf = await readFileNoFollow(paths.log).catch(() => undefined);
  const logHeader = logBuf ? decodeLogHeader(logBuf) : 'missing';
  if (!logBuf || typeof logHeader === 'string') {
    logger.warn({ path: paths.log, reason: logHeader }, 'transaction log unusable; flags of messages are lost');
    return { expunged };
  }
  const scan = scanLog(logBuf.subarray(LOG_HEADER_BYTES), LOG_HEADER_BYTES);
  for (const { txn } of scan.transactions) for (const r of txn.records) if (r.type === 'expunge') expunged.push(...r.ranges);
  const indexBuf = await readFileNoFollow(paths.index).catch(() => undefined);
  const decoded = indexBuf ? decodeIndex(indexBuf) : 'missing';
  let header: IndexHeader;
  let table: MessageTable;
  if (typeof decoded !== 'string' && decoded.header.logId === logHeader.logId && decoded.header.logOffset <= logBuf.length) {
    ({ header, table } = decoded);
  } else {
    header = { uidValidity: logHeader.uidValidity, uidNext: 1, firstRecentUid: 1, highestModseq: logHeader.baseModseq, keywords: [], logId: logHeader.logId, logOffset: LOG_HEADER_BYTES };
    table = new MessageTable();
  }
  const state = new MailboxState(header, table, false);
  for (const { txn, end } of scan.transactions) {
    if (end <= header.logOffset) continue;
    state.apply(txn, undefined);
  }
  return { state, expunged, uidValidity: logHeader.uidValidity };
}

function inRanges(ranges: UidRangeList, uid: number): boolean {
  return ranges.some(([first, last]) => uid >= first && uid <= last);
}

/**
 * Rebuilds loft.index and loft.index.log of the mailbox at `paths`. The caller holds the
 * mailbox lock. Returns the number of messages in the rebuilt mailbox.
 */
export async function rebuildMailbox(paths: MailboxPaths, options: RebuildOptions): Promise<number> {
  const { logger } = options;
  logger.warn({ dir: paths.dir, reason: options.reason }, 'rebuilding mailbox index from its message files (force-resync)');
  await ensureRealDir(paths.tmp);
  await removeStaleTmp(paths.tmp, logger);
  const meta = await readMeta(paths);
  const old = await salvage(paths, logger);
  const files: FoundFile[] = [];
  if (options.source) files.push(...(await options.source.list()));
  else await findMessageFiles(paths.dir, 0, logger, files);
  files.sort((a, b) => a.uid - b.uid);

  const oldState = old.state;
  const oldTable = oldState?.table ?? new MessageTable();
  const uidValidity = old.uidValidity ?? meta?.uidValidity ?? newUidValidity();
  const highestModseq = (oldState?.header.highestModseq ?? 0) + 1;
  let uidNext = Math.max(oldState?.header.uidNext ?? 1, (files[files.length - 1]?.uid ?? 0) + 1);
  const header: IndexHeader = {
    uidValidity,
    uidNext,
    firstRecentUid: oldState?.header.firstRecentUid ?? 1,
    highestModseq,
    keywords: [...(oldState?.header.keywords ?? [])],
    logId: newLogId(),
    logOffset: LOG_HEADER_BYTES,
  };
  const table = new MessageTable();
  table.ensureKeyword(Math.max(0, header.keywords.length - 1));
  const renumber: FoundFile[] = [];
  const oldUidNext = oldState?.header.uidNext ?? 1;
  for (const file of files) {
    const slot = oldTable.slotOf(file.uid);
    if (slot >= 0 && Buffer.compare(Buffer.from(oldTable.guids.subarray(slot * 16, slot * 16 + 16)), file.header.guid) === 0) {
      const to = table.push(file.uid, oldTable.flags[slot]!, oldTable.modseqs[slot]!, file.header.guid, messageSizeOf(file.header), file.header.internalDate, oldTable.saveDates[slot]!);
      for (const id of oldTable.keywordIndexes(slot)) table.setKeyword(to, id, true);
    } else if (slot < 0 && inRanges(old.expunged, file.uid)) {
      if (options.source) await options.source.remove(file);
      else await fsp.rm(file.path, { force: true });
    } else if (file.uid < oldUidNext) {
      renumber.push(file);
    } else {
      table.push(file.uid, 0, highestModseq, file.header.guid, messageSizeOf(file.header), file.header.internalDate, file.header.saveDate);
    }
  }
  for (const file of renumber) {
    const uid = uidNext++;
    if (options.source) {
      await options.source.renumber(file, uid);
    } else {
      const target = messagePath(paths.dir, uid, options.hashLevels);
      await ensureParents(paths.dir, target);
      await fsp.rename(file.path, target);
    }
    logger.warn({ dir: paths.dir, from: file.uid, to: uid }, 'message file unknown to the index got a new UID');
    table.push(uid, 0, highestModseq, file.header.guid, messageSizeOf(file.header), file.header.internalDate, file.header.saveDate);
  }
  header.uidNext = uidNext;
  // Index first, then the log: an opener that sees one without the other finds their
  // logIds differ and waits for our lock.
  await atomicWriteFile(paths.index, encodeIndex(header, table), options.fsync);
  await atomicWriteFile(paths.log, encodeLogHeader({ logId: header.logId, uidValidity, baseModseq: highestModseq }), options.fsync);
  logger.info({ dir: paths.dir, messages: table.count, uidValidity, uidNext }, 'mailbox rebuilt');
  return table.count;
}

/** Saves that died before their commit leave files in tmp/; a live save takes seconds. */
const TMP_STALE_MS = 60 * 60 * 1000;

async function removeStaleTmp(dir: string, logger: StorageLogger): Promise<void> {
  const now = Date.now();
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const stat = await fsp.lstat(path).catch(() => undefined);
    if (stat && now - stat.mtimeMs > TMP_STALE_MS) {
      await fsp.rm(path, { force: true, recursive: true });
      logger.info({ path }, 'removed a stale file of an interrupted save');
    }
  }
}

async function ensureParents(root: string, file: string): Promise<void> {
  const rel = file.slice(root.length + 1).split('/');
  let dir = root;
  for (const part of rel.slice(0, -1)) {
    dir = join(dir, part);
    await ensureRealDir(dir);
  }
}
