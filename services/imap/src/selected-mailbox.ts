/**
 * The selected mailbox of a session: its storage view, the responses of SELECT/EXAMINE, the
 * translation of sequence sets, and the untagged EXPUNGE/VANISHED, EXISTS, RECENT and FETCH
 * FLAGS that tell the client what changed (RFC 3501 §7.4.1: only when the client may hear
 * them, never during FETCH, STORE or SEARCH).
 */
import { isLoftError } from '@loft/errors';
import { formatSequenceSet, normalizeSequenceSet, sequenceSetMaxNumber, type SequenceSet } from '@loft/imap-proto';
import { lowerBound, type FlagIds, type Mailbox } from '@loft/storage';
import { CommandFailure, bad } from './command-failure.js';
import { fetchCommand } from './fetch-command.js';
import { removalsBeforeExpunge, reportSearchUpdates, type SearchUpdate } from './search-context.js';
import type { SessionContext } from './session-context.js';

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export interface MessageRef {
  seq: number;
  uid: number;
}

export class SelectedMailbox {
  private recentCount = 0;
  private keywordCount: number;
  /** IMAP4rev2 has no \Recent: neither the flag nor RECENT responses. */
  hideRecent = false;
  /** Searches with RETURN (UPDATE) on this mailbox; they end when it is deselected. */
  searchUpdates: SearchUpdate[] = [];
  /** UIDs this session APPENDed or COPYed here itself, not yet reported: NOTIFY fetches no attributes of them. */
  private readonly ownNew = new Set<number>();

  constructor(
    readonly mailbox: Mailbox,
    /** The storage name (UTF-8). */
    readonly name: string,
  ) {
    this.keywordCount = mailbox.keywordCount;
    this.recentCount = this.mailbox.recentCount();
  }

  get readOnly(): boolean {
    return this.mailbox.readOnly;
  }

  flagsResponse(): string {
    const all = [...SYSTEM_FLAGS, ...this.mailbox.keywords()].join(' ');
    return `* FLAGS (${all})\r\n* OK [PERMANENTFLAGS (${this.readOnly ? '' : `${all} \\*`})] Flags permitted.\r\n`;
  }

  /**
   * FLAGS and PERMANENTFLAGS again once the view knows a keyword it has not announced ('' if
   * none): other sessions' with reportChanges(), this session's own STORE before that STORE's
   * FETCH responses, as Dovecot sends them.
   */
  newKeywordsResponse(): string {
    const keywords = this.mailbox.keywordCount;
    if (keywords === this.keywordCount) return '';
    this.keywordCount = keywords;
    return this.flagsResponse();
  }

  /** The untagged part of SELECT/EXAMINE. */
  selectResponses(): string {
    const m = this.mailbox;
    let out = this.flagsResponse();
    out += `* ${m.messageCount} EXISTS\r\n`;
    if (this.hideRecent) return `${out}${this.uidResponses()}`;
    out += `* ${this.recentCount} RECENT\r\n`;
    const unseen = m.firstUnseenSeq();
    if (unseen > 0) out += `* OK [UNSEEN ${unseen}] First unseen.\r\n`;
    return `${out}${this.uidResponses()}`;
  }

  private uidResponses(): string {
    const m = this.mailbox;
    return `* OK [UIDVALIDITY ${m.uidValidity}] UIDs valid\r\n* OK [UIDNEXT ${m.uidNext}] Predicted next UID\r\n* OK [HIGHESTMODSEQ ${m.highestModseq}] Highest\r\n`;
  }

  /** Messages of a sequence set (message numbers, or UIDs with `byUid`), ascending. */
  resolve(set: SequenceSet | readonly number[], byUid: boolean): MessageRef[] {
    const m = this.mailbox;
    const out: MessageRef[] = [];
    if (isUidList(set)) {
      for (const uid of set) {
        const seq = m.seqOfUid(uid);
        if (seq > 0) out.push({ seq, uid });
      }
      return out.sort((a, b) => a.seq - b.seq);
    }
    const spans = this.slotSpans(set, byUid);
    const uids = m.uids();
    for (let k = 0; k < spans.length; k += 2) for (let slot = spans[k]!; slot < spans[k + 1]!; slot++) out.push({ seq: slot + 1, uid: uids[slot]! });
    return out;
  }

  /**
   * resolve() as sequence numbers only, ascending: one array, not an object per message,
   * for commands that go over a whole large mailbox (a UID FETCH 1:* of 100,000 messages
   * made an object per message first).
   */
  resolveSeqs(set: SequenceSet | readonly number[], byUid: boolean): Uint32Array {
    if (isUidList(set)) return Uint32Array.from(this.resolve(set, byUid), (r) => r.seq);
    const spans = this.slotSpans(set, byUid);
    let n = 0;
    for (let k = 0; k < spans.length; k += 2) n += spans[k + 1]! - spans[k]!;
    const out = new Uint32Array(n);
    let i = 0;
    for (let k = 0; k < spans.length; k += 2) for (let slot = spans[k]!; slot < spans[k + 1]!; slot++) out[i++] = slot + 1;
    return out;
  }

  /**
   * The slots a sequence set covers, as [from, to) pairs, ascending: message numbers are
   * checked against the view, UID ranges are looked up by their bounds in the UID column.
   */
  private slotSpans(set: SequenceSet, byUid: boolean): number[] {
    const count = this.mailbox.messageCount;
    const spans: number[] = [];
    if (!byUid) {
      if (count === 0 || sequenceSetMaxNumber(set) > count) throw bad('Invalid messageset');
      for (const [lo, hi] of normalizeSequenceSet(set, count)) spans.push(lo - 1, hi);
      return spans;
    }
    if (count === 0) return spans;
    const uids = this.mailbox.uids();
    for (const [lo, hi] of normalizeSequenceSet(set, uids[count - 1]!)) {
      const from = lowerBound(uids, lo);
      const to = lowerBound(uids, hi + 1);
      if (to > from) spans.push(from, to);
    }
    return spans;
  }

  /** flagList() of the message at `seq`. */
  flagListOfSeq(seq: number): string {
    return `(${this.flagTextOfSeq(seq)})`;
  }

  /** flagTextOfSeq() of each of `seqs`, in one pass, as ids into a table of texts. */
  flagIdsOfSeqs(seqs: Uint32Array): FlagIds {
    return this.mailbox.flagIdsOfSeqs(seqs, !this.hideRecent);
  }

  /** The flags of the message at `seq`, space-separated, as this view shows them (\Recent or not). */
  flagTextOfSeq(seq: number): string {
    return this.mailbox.flagTextOfSeq(seq, !this.hideRecent);
  }

  /** FLAGS of a message as a FETCH item value, `(\Seen $Label1)`. */
  flagList(uid: number): string {
    return `(${this.mailbox.flagText(uid, !this.hideRecent)})`;
  }

  /**
   * Whether reportChanges() would find nothing to say: the mailbox unchanged since the last
   * refresh, no new keyword, no updating search. Checked synchronously (one fstat), so the
   * many commands after which nothing changed skip the refresh's queue and promises.
   */
  quiet(): boolean {
    return this.searchUpdates.length === 0 && this.mailbox.keywordCount === this.keywordCount && this.mailbox.unchangedSinceRefresh();
  }

  /**
   * Refreshes the view and tells the client: expunges first (as VANISHED under QRESYNC),
   * then new keywords, EXISTS and RECENT, then flag changes of other sessions; then the
   * NOTIFY MessageNew FETCH of new messages and the updates of updating searches.
   */
  async reportChanges(ctx: SessionContext): Promise<void> {
    const m = this.mailbox;
    const changes = await m.refresh();
    let out = '';
    if (changes.expunged.length > 0 && this.searchUpdates.length > 0) {
      // expungedSeqs descends while expunged ascends: the same messages, reversed.
      const oldSeq = new Map(changes.expunged.map((uid, i) => [uid, changes.expungedSeqs[changes.expungedSeqs.length - 1 - i]!]));
      out += removalsBeforeExpunge(this, new Set(changes.expunged), oldSeq);
    }
    if (changes.expunged.length > 0) {
      if (ctx.enabled.has('QRESYNC')) out += `* VANISHED ${formatSequenceSet(changes.expunged)}\r\n`;
      else for (const seq of changes.expungedSeqs) out += `* ${seq} EXPUNGE\r\n`;
    }
    out += this.newKeywordsResponse();
    if (changes.appended.length > 0 || changes.expunged.length > 0) {
      const recent = this.mailbox.recentCount();
      if (changes.appended.length > 0) out += `* ${m.messageCount} EXISTS\r\n`;
      if (!this.hideRecent && (recent !== this.recentCount || changes.appended.length > 0)) out += `* ${recent} RECENT\r\n`;
      this.recentCount = recent;
    }
    for (const uid of changes.flagsChanged) {
      const seq = m.seqOfUid(uid);
      if (seq === 0) continue;
      out += `* ${seq} FETCH (UID ${uid} FLAGS ${this.flagList(uid)}${ctx.condstore ? ` MODSEQ (${m.modseq(uid)})` : ''})\r\n`;
    }
    if (out !== '') ctx.writer.send(out);
    if (changes.appended.length > 0) await this.fetchNew(ctx, changes.appended);
    if (this.searchUpdates.length > 0) await reportSearchUpdates(ctx, this);
  }

  /** Messages this session added itself (APPEND, COPY into the selected mailbox). */
  noteOwnNew(uids: Iterable<number>): void {
    for (const uid of uids) this.ownNew.add(uid);
  }

  /**
   * NOTIFY MessageNew with FETCH attributes (RFC 5465 §5.2): the new messages, as UID FETCH
   * would answer; not those the session added itself, whose contents it knows (SHOULD NOT).
   */
  private async fetchNew(ctx: SessionContext, appended: readonly number[]): Promise<void> {
    const items = ctx.newMessageFetch;
    const uids = appended.filter((uid) => !this.ownNew.has(uid));
    this.ownNew.clear();
    if (items === undefined || uids.length === 0) return;
    const command = { tag: '*', name: 'UID FETCH', args: [{ type: 'atom' as const, value: formatSequenceSet([...uids]) }, items] };
    try {
      await fetchCommand(ctx, command, true);
    } catch (err) {
      // Expunged meanwhile: its EXPUNGE comes with the next report.
      if (!(err instanceof CommandFailure) && !isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED')) throw err;
    }
  }
}

function isUidList(set: SequenceSet | readonly number[]): set is readonly number[] {
  return set.length > 0 && typeof set[0] === 'number';
}
