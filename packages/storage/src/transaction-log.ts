/**
 * The per-mailbox transaction log, `loft.index.log`: the change stream of a mailbox. IDLE,
 * CONDSTORE/QRESYNC and replication read it; the index (`loft.index`) is only a checkpoint
 * of the state the log produces up to some offset.
 *
 * File header, 32 bytes, little-endian:
 *    0 u32 magic 0x474c464c ("LFLG")     4 u32 version (1)
 *    8 u32 logId (random; the index names the log it checkpoints)
 *   12 u32 uidValidity                  16 f64 baseModseq (highest modseq before the first transaction)
 *   24 u32 reserved (0)                 28 u32 crc32 of bytes 0..27
 *
 * Then transactions, each written with ONE write() on an O_APPEND descriptor, so concurrent
 * writers never interleave and need no lock:
 *    0 u32 magic 0x4e58544c ("LTXN")   4 u32 body length   8 u32 crc32 of the body   12 body
 * Body: 8-byte transaction id, a keyword table (varint count, length-prefixed UTF-8 names;
 * records name keywords by their index in this table, so concurrent writers never need to
 * agree on global keyword numbers), then records, each starting with a type byte:
 *   1 append:  uid (varint, delta from the previous append in the transaction), system flags,
 *              keyword count + table indexes, 16-byte message GUID, internal date ms,
 *              save date ms, physical size (all varints)
 *   2 flags:   op (0 add, 1 remove, 2 replace), system flags, keywords, unchangedSince
 *              (0 = none; CONDSTORE), UID ranges
 *   3 expunge: UID ranges
 *   4 recent:  first UID that is still \Recent
 *   5 rotated: this log is closed; the state up to here is checkpointed at the start of a
 *              new log. Transactions after it are void: their writers see the marker when
 *              they read back and write them again to the new log.
 * UID ranges: varint count, then per range the gap from the previous range's end and
 * last - first. A flag change on one message costs about 30 bytes.
 *
 * Modseqs are not written: every reader numbers the valid transactions that change messages
 * (append, flags, expunge) in log order with nextModseq(), from baseModseq, so all processes
 * agree without a lock. A CONDSTORE condition is evaluated at replay time for the same reason.
 *
 * A torn or corrupted transaction fails its length or crc check. One that ends exactly at the
 * end of the file may still be in the middle of being written, so readers wait for it; one
 * followed by more data is skipped by scanning for the next magic, and reported.
 */
import { randomBytes } from 'node:crypto';
import { ByteReader, ByteWriter, ShortReadError, crc32, readRanges, writeRanges, type UidRange } from './binary.js';

export const LOG_MAGIC = 0x474c464c;
export const LOG_VERSION = 1;
export const LOG_HEADER_BYTES = 32;
export const TXN_MAGIC = 0x4e58544c;
export const TXN_FRAME_BYTES = 12;
export const TXN_ID_BYTES = 8;

export enum FlagOp {
  Add = 0,
  Remove = 1,
  Replace = 2,
}

export type LogRecord =
  | { type: 'append'; uid: number; flags: number; keywords: string[]; guid: Uint8Array; internalDate: number; saveDate: number; size: number }
  | { type: 'flags'; op: FlagOp; flags: number; keywords: string[]; unchangedSince: number; ranges: UidRange[] }
  | { type: 'expunge'; ranges: UidRange[] }
  | { type: 'recent'; firstRecentUid: number }
  | { type: 'rotated' };

export interface LogTransaction {
  /** 8 random bytes as hex; lets a writer find its own transaction when it reads the log back. */
  txid: string;
  records: LogRecord[];
}

export interface LogHeader {
  logId: number;
  uidValidity: number;
  baseModseq: number;
}

enum RecordType {
  Append = 1,
  Flags = 2,
  Expunge = 3,
  Recent = 4,
  Rotated = 5,
}

export function encodeLogHeader(header: LogHeader): Buffer {
  const buf = Buffer.alloc(LOG_HEADER_BYTES);
  buf.writeUInt32LE(LOG_MAGIC, 0);
  buf.writeUInt32LE(LOG_VERSION, 4);
  buf.writeUInt32LE(header.logId >>> 0, 8);
  buf.writeUInt32LE(header.uidValidity >>> 0, 12);
  buf.writeDoubleLE(header.baseModseq, 16);
  buf.writeUInt32LE(crc32(buf.subarray(0, 28)), 28);
  return buf;
}

/** The header, or a reason it is unusable. */
export function decodeLogHeader(buf: Buffer): LogHeader | string {
  if (buf.length < LOG_HEADER_BYTES) return `log is ${buf.length} bytes, shorter than its header`;
  if (buf.readUInt32LE(0) !== LOG_MAGIC) return 'log has a bad magic number';
  if (buf.readUInt32LE(4) !== LOG_VERSION) return `log version ${buf.readUInt32LE(4)} is not supported`;
  if (buf.readUInt32LE(28) !== crc32(buf.subarray(0, 28))) return 'log header checksum mismatch';
  return { logId: buf.readUInt32LE(8), uidValidity: buf.readUInt32LE(12), baseModseq: buf.readDoubleLE(16) };
}

/**
 * A transaction id unique among the log's writers: a random per-process prefix and a
 * counter (a writer only looks for its own id in what it reads back right after writing).
 * Cheaper than asking the system for random bytes on every flag change.
 */
export function newTxid(): string {
  if (txidCounter >= 0xffffffff) {
    txidPrefix = randomBytes(TXN_ID_BYTES - 4).toString('hex');
    txidCounter = 0;
  }
  txidCounter++;
  return txidPrefix + txidCounter.toString(16).padStart(8, '0');
}

let txidPrefix = randomBytes(TXN_ID_BYTES - 4).toString('hex');
let txidCounter = 0;

/** One framed transaction, ready for a single write(). */
export function encodeTransaction(txn: LogTransaction): Buffer {
  const keywordTable: string[] = [];
  const keywordIndex = new Map<string, number>();
  const kw = (names: readonly string[]): number[] =>
    names.map((name) => {
      let index = keywordIndex.get(name);
      if (index === undefined) {
        index = keywordTable.length;
        keywordTable.push(name);
        keywordIndex.set(name, index);
      }
      return index;
    });
  const records = new ByteWriter(64);
  let prevAppendUid = 0;
  for (const record of txn.records) {
    switch (record.type) {
      case 'append':
        records.u8(RecordType.Append);
        records.varint(record.uid - prevAppendUid);
        prevAppendUid = record.uid;
        records.varint(record.flags);
        writeIndexes(records, kw(record.keywords));
        records.bytes(record.guid);
        records.varint(record.internalDate);
        records.varint(record.saveDate);
        records.varint(record.size);
        break;
      case 'flags':
        records.u8(RecordType.Flags);
        records.u8(record.op);
        records.varint(record.flags);
        writeIndexes(records, kw(record.keywords));
        records.varint(record.unchangedSince);
        writeRanges(records, record.ranges);
        break;
      case 'expunge':
        records.u8(RecordType.Expunge);
        writeRanges(records, record.ranges);
        break;
      case 'recent':
        records.u8(RecordType.Recent);
        records.varint(record.firstRecentUid);
        break;
      case 'rotated':
        records.u8(RecordType.Rotated);
        break;
    }
  }
  const body = new ByteWriter(TXN_ID_BYTES + records.length + 16);
  body.bytes(Buffer.from(txn.txid, 'hex'));
  body.varint(keywordTable.length);
  for (const name of keywordTable) body.string(name);
  body.bytes(records.finish());
  const bodyBytes = body.finish();
  const frame = Buffer.allocUnsafe(TXN_FRAME_BYTES + bodyBytes.length);
  frame.writeUInt32LE(TXN_MAGIC, 0);
  frame.writeUInt32LE(bodyBytes.length, 4);
  frame.writeUInt32LE(crc32(bodyBytes), 8);
  frame.set(bodyBytes, TXN_FRAME_BYTES);
  return frame;
}

function writeIndexes(writer: ByteWriter, indexes: readonly number[]): void {
  writer.varint(indexes.length);
  for (const index of indexes) writer.varint(index);
}

function decodeBody(body: Uint8Array): LogTransaction {
  const reader = new ByteReader(body);
  const txid = Buffer.from(reader.bytes(TXN_ID_BYTES)).toString('hex');
  const tableSize = reader.varint();
  const table: string[] = [];
  for (let i = 0; i < tableSize; i++) table.push(reader.string());
  const keywords = (): string[] => {
    const count = reader.varint();
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const name = table[reader.varint()];
      if (name === undefined) throw new ShortReadError('keyword index out of range');
      out.push(name);
    }
    return out;
  };
  const records: LogRecord[] = [];
  let prevAppendUid = 0;
  while (!reader.done) {
    const type = reader.u8();
    switch (type) {
      case RecordType.Append: {
        const uid = prevAppendUid + reader.varint();
        prevAppendUid = uid;
        const flags = reader.varint();
        const kws = keywords();
        const guid = Buffer.from(reader.bytes(16));
        records.push({ type: 'append', uid, flags, keywords: kws, guid, internalDate: reader.varint(), saveDate: reader.varint(), size: reader.varint() });
        break;
      }
      case RecordType.Flags: {
        const op = reader.u8();
        if (op > FlagOp.Replace) throw new ShortReadError('bad flag op');
        const flags = reader.varint();
        const kws = keywords();
        records.push({ type: 'flags', op: op as FlagOp, flags, keywords: kws, unchangedSince: reader.varint(), ranges: readRanges(reader) });
        break;
      }
      case RecordType.Expunge:
        records.push({ type: 'expunge', ranges: readRanges(reader) });
        break;
      case RecordType.Recent:
        records.push({ type: 'recent', firstRecentUid: reader.varint() });
        break;
      case RecordType.Rotated:
        records.push({ type: 'rotated' });
        break;
      default:
        throw new ShortReadError(`unknown record type ${type}`);
    }
  }
  return { txid, records };
}

export interface ScannedTransaction {
  /** File offset just past this transaction. */
  end: number;
  txn: LogTransaction;
}

export interface LogScan {
  transactions: ScannedTransaction[];
  /** Offset up to which the file has been consumed; an incomplete tail starts here. */
  end: number;
  /** Offsets of damaged transactions that were skipped. */
  skipped: number[];
  /** The log ends in a rotation marker (the last transaction); nothing after it counts. */
  rotated?: boolean;
}

/** Parses `data`, which holds the file bytes from offset `base` on. */
export function scanLog(data: Buffer, base: number): LogScan {
  const transactions: ScannedTransaction[] = [];
  const skipped: number[] = [];
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(TXN_MAGIC, 0);
  let pos = 0;
  while (pos + TXN_FRAME_BYTES <= data.length) {
    if (data.readUInt32LE(pos) !== TXN_MAGIC) {
      const next = data.indexOf(magic, pos + 1);
      skipped.push(base + pos);
      if (next < 0) return { transactions, end: base + pos, skipped };
      pos = next;
      continue;
    }
    const length = data.readUInt32LE(pos + 4);
    const end = pos + TXN_FRAME_BYTES + length;
    if (end > data.length) {
      // Incomplete: maybe still being written. But a write in flight is always the last
      // thing in the file, so if a complete transaction follows, this one is dead.
      const next = nextValidFrame(data, pos + 1, magic);
      if (next < 0) break;
      skipped.push(base + pos);
      pos = next;
      continue;
    }
    const body = data.subarray(pos + TXN_FRAME_BYTES, end);
    let txn: LogTransaction | undefined;
    if (data.readUInt32LE(pos + 8) === crc32(body)) {
      try {
        txn = decodeBody(body);
      } catch (err) {
        if (!(err instanceof ShortReadError)) throw err;
      }
    }
    if (txn) {
      transactions.push({ end: base + end, txn });
      pos = end;
      if (txn.records.some((r) => r.type === 'rotated')) return { transactions, end: base + pos, skipped, rotated: true };
      continue;
    }
    if (end === data.length) break; // a damaged last record may be one still in flight
    skipped.push(base + pos);
    const next = data.indexOf(magic, pos + 1);
    if (next < 0) return { transactions, end: base + data.length, skipped };
    pos = next;
  }
  return { transactions, end: base + pos, skipped };
}

/** Offset of the first complete frame with a good crc at or after `from`, or -1. */
function nextValidFrame(data: Buffer, from: number, magic: Buffer): number {
  for (let at = data.indexOf(magic, from); at >= 0; at = data.indexOf(magic, at + 1)) {
    if (at + TXN_FRAME_BYTES > data.length) return -1;
    const end = at + TXN_FRAME_BYTES + data.readUInt32LE(at + 4);
    if (end <= data.length && data.readUInt32LE(at + 8) === crc32(data.subarray(at + TXN_FRAME_BYTES, end))) return at;
  }
  return -1;
}

/**
 * The modseq of the next change after `highest`. A mailbox that has never changed has 0,
 * which it reports as 1 (reportedModseq()): RFC 7162's HIGHESTMODSEQ is at least 1, and a
 * client reading 0 in STATUS takes it for a mailbox without modseqs (Horde, and so Nextcloud
 * Mail, then resynchronises an empty folder on every poll). So its first change gets 2, and a
 * client that saw 1 still finds it with CHANGEDSINCE 1.
 */
export function nextModseq(highest: number): number {
  return Math.max(highest, 1) + 1;
}

/** The HIGHESTMODSEQ a mailbox whose highest modseq is `highest` reports (see nextModseq()). */
export function reportedModseq(highest: number): number {
  return Math.max(highest, 1);
}

/** True if the transaction changes messages, i.e. gets its own modseq. */
export function bumpsModseq(txn: LogTransaction): boolean {
  return txn.records.some((r) => r.type !== 'recent' && r.type !== 'rotated');
}
