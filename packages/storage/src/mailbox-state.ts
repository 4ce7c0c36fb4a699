/**
 * Replaying log transactions onto a mailbox's message table. Replay is deterministic: every
 * process that applies the same log gets the same UIDs, flags and modseqs, which is what
 * lets log appends go without a lock (see transaction-log.ts).
 */
import { FLAG_EXPUNGE_PENDING, MessageTable, SYSTEM_FLAG_MASK, type IndexHeader } from './mail-index.js';
import { FlagOp, bumpsModseq, nextModseq, type LogTransaction } from './transaction-log.js';

/** Changes not yet reported to the session by refresh(). */
export interface ChangeSink {
  flagsChanged: Set<number>;
}

export interface ApplyResult {
  modseq: number;
  /** UIDs whose flags this transaction changed. */
  updated: number[];
  /** UIDs a CONDSTORE condition refused. */
  conflicts: number[];
  /** UIDs this transaction expunged (present before it). */
  expunged: number[];
  /** Append records ignored because their UID was not above uidNext (a damaged log). */
  rejectedAppends: number;
}

export class MailboxState {
  readonly keywordIds = new Map<string, number>();
  /** Set when apply() marks a slot FLAG_EXPUNGE_PENDING; false means the table holds none (refresh() then skips its scan). */
  expungesMarked = false;
  /**
   * Mailbox.firstUnseenSeq()'s last answer and what it was worked out on. Every change of a
   * message's flags or of the slots comes with a new modseq (apply()), or moves the slots
   * (dropExpunged(), which forgets it), or brings a new table.
   */
  firstUnseen: { table: MessageTable; modseq: number; end: number; seq: number } | undefined;

  /**
   * @param deferExpunges keep expunged messages in the table, marked FLAG_EXPUNGE_PENDING,
   *   until the session's refresh() announces them (IMAP sequence numbers must not shift
   *   under a client before it is told).
   */
  constructor(public header: IndexHeader, public table: MessageTable, private readonly deferExpunges: boolean) {
    header.keywords.forEach((name, id) => this.keywordIds.set(name.toLowerCase(), id));
  }

  /** Keywords are case-insensitive (as in Dovecot); the first spelling used is kept. */
  keywordId(name: string): number {
    const key = name.toLowerCase();
    let id = this.keywordIds.get(key);
    if (id === undefined) {
      id = this.header.keywords.length;
      this.header.keywords.push(name);
      this.keywordIds.set(key, id);
      this.table.ensureKeyword(id);
    }
    return id;
  }

  /** Drops the slots apply() marked FLAG_EXPUNGE_PENDING; without a mark since the last drop there is nothing to look for. */
  dropExpunged(): void {
    if (!this.expungesMarked) return;
    this.table.dropExpungePending();
    this.expungesMarked = false;
    this.firstUnseen = undefined;
  }

  /** True if `slot` is a message the log still has (not expunged, even if not yet announced). */
  live(slot: number): boolean {
    return (this.table.flags[slot]! & FLAG_EXPUNGE_PENDING) === 0;
  }

  apply(txn: LogTransaction, sink: ChangeSink | undefined): ApplyResult {
    const h = this.header;
    const t = this.table;
    if (bumpsModseq(txn)) h.highestModseq = nextModseq(h.highestModseq);
    const modseq = h.highestModseq;
    const result: ApplyResult = { modseq, updated: [], conflicts: [], expunged: [], rejectedAppends: 0 };
    let dropped = false;
    for (const record of txn.records) {
      switch (record.type) {
        case 'append': {
          if (record.uid < h.uidNext) {
            result.rejectedAppends++;
            break;
          }
          const slot = t.push(record.uid, record.flags & SYSTEM_FLAG_MASK, modseq, record.guid, record.size, record.internalDate, record.saveDate);
          for (const name of record.keywords) t.setKeyword(slot, this.keywordId(name), true);
          h.uidNext = record.uid + 1;
          break;
        }
        case 'flags': {
          const ids = record.keywords.map((name) => this.keywordId(name));
          for (const [first, last] of record.ranges) {
            for (let slot = t.lowerBound(first); slot < t.count && t.uids[slot]! <= last; slot++) {
              if (!this.live(slot)) continue;
              const uid = t.uids[slot]!;
              if (record.unchangedSince > 0 && t.modseqs[slot]! > record.unchangedSince) {
                result.conflicts.push(uid);
                continue;
              }
              if (this.updateSlot(slot, record.op, record.flags, ids)) {
                t.modseqs[slot] = modseq;
                result.updated.push(uid);
                sink?.flagsChanged.add(uid);
              }
            }
          }
          break;
        }
        case 'expunge':
          for (const [first, last] of record.ranges) {
            for (let slot = t.lowerBound(first); slot < t.count && t.uids[slot]! <= last; slot++) {
              if (!this.live(slot)) continue;
              t.flags[slot] = t.flags[slot]! | FLAG_EXPUNGE_PENDING;
              this.expungesMarked = true;
              result.expunged.push(t.uids[slot]!);
              dropped = true;
            }
          }
          break;
        case 'recent':
          h.firstRecentUid = Math.max(h.firstRecentUid, record.firstRecentUid);
          break;
        case 'rotated':
          break;
      }
    }
    if (dropped && !this.deferExpunges) this.dropExpunged();
    return result;
  }

  /** Applies one flag change to a slot; true if anything changed. */
  private updateSlot(slot: number, op: FlagOp, flags: number, keywordIds: readonly number[]): boolean {
    const t = this.table;
    const before = t.flags[slot]!;
    const system = before & SYSTEM_FLAG_MASK;
    const next = op === FlagOp.Add ? system | flags : op === FlagOp.Remove ? system & ~flags : flags & SYSTEM_FLAG_MASK;
    let changed = next !== system;
    t.flags[slot] = (before & ~SYSTEM_FLAG_MASK) | next;
    if (op === FlagOp.Replace) {
      const wanted = new Set(keywordIds);
      for (const id of t.keywordIndexes(slot)) {
        if (!wanted.has(id)) {
          t.setKeyword(slot, id, false);
          changed = true;
        }
      }
    }
    if (op !== FlagOp.Remove) {
      for (const id of keywordIds) {
        if (!t.hasKeyword(slot, id)) {
          t.setKeyword(slot, id, true);
          changed = true;
        }
      }
    } else {
      for (const id of keywordIds) {
        if (t.hasKeyword(slot, id)) {
          t.setKeyword(slot, id, false);
          changed = true;
        }
      }
    }
    return changed;
  }
}
