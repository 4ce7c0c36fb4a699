/**
 * SEARCH, SORT and THREAD with their UID forms (RFC 3501 §6.4.4, SORT/THREAD RFC 5256,
 * ESEARCH RFC 4731, ESORT RFC 5267, SEARCHRES RFC 5182, CONDSTORE's MODSEQ key). The query
 * engine in @loft/storage evaluates the program over the view's messages.
 */
import { isLoftError } from '@loft/errors';
import { formatSequenceSet, parseSearch, parseSortCommand, parseThreadCommand, type ImapCommand, type SearchKey, type SearchReturn, type SortCriterion } from '@loft/imap-proto';
import { allHeaderText, bodyText, parseMessage, type MimePart } from '@loft/mime';
import { compileSearch, formatThread, needsBody, searchMatches, sortMessages, sortOrder, threadMessages, type Mailbox, type QueryContext, type QueryMessage } from '@loft/storage';
import { bad } from './command-failure.js';
import { requireSelected, writeDecimal } from './command-support.js';
import type { SelectedMailbox } from './selected-mailbox.js';
import { rev2Enabled, type SessionContext } from './session-context.js';

function usesModseq(key: SearchKey): boolean {
  switch (key.type) {
    case 'modseq':
      return true;
    case 'not':
      return usesModseq(key.key);
    case 'or':
      return usesModseq(key.left) || usesModseq(key.right);
    case 'and':
      return key.keys.some(usesModseq);
    default:
      return false;
  }
}

/**
 * BODY and TEXT search the decoded text (transfer encoding and charset undone, HTML as text).
 * The storage's view gives it for messages it reads synchronously; a large message is read
 * here through the thread pool, so it does not block the process's other sessions.
 */
async function withDecodedText(m: Mailbox, view: QueryMessage): Promise<QueryMessage> {
  const raw = await m.openMessage(view.uid);
  let root: MimePart | undefined;
  const parsed = (): MimePart => (root ??= parseMessage(raw));
  // The view's own methods and getters (on its prototype) are kept by delegating to it.
  const decoded: QueryMessage = {
    seq: view.seq,
    uid: view.uid,
    size: view.size,
    get modseq() {
      return view.modseq;
    },
    get flags() {
      return view.flags;
    },
    get internalDate() {
      return view.internalDate;
    },
    get saveDate() {
      return view.saveDate;
    },
    header: (name) => view.header(name),
    bodyText: () => bodyText(raw, parsed()),
    headerText: () => allHeaderText(raw, parsed()),
  };
  if (view.memo) decoded.memo = (key, compute) => view.memo!(key, () => compute(decoded));
  return decoded;
}

/** Messages larger than this are read asynchronously for BODY and TEXT (as Mailbox.openMessage does). */
const SYNC_BODY_MAX_BYTES = 1024 * 1024;

/** Updating searches (RETURN (UPDATE)) one session may keep; RFC 5267 §4.3.1 asks for at least one. */
export const SEARCH_UPDATE_CONTEXTS_MAX = 10;

/** Messages examined between yields to the event loop, so one big SEARCH does not stall the process's other sessions. */
const SEARCH_YIELD_EVERY = 512;

/**
 * A compiled program and what its keys refer to (`*`, `$`, now), for one pass over the view.
 * test() answers synchronously unless it has to read a large message (a promise then), so a
 * pass over 100,000 messages does not await each of them.
 */
interface Evaluator {
  test(seq: number): QueryMessage | undefined | Promise<QueryMessage | undefined>;
}

function isExpectedMiss(err: unknown): boolean {
  // Expunged by another session while we looked: it simply does not match.
  return isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED') || isLoftError(err, 'LOFT_E_STORAGE_IO');
}

function evaluator(ctx: SessionContext, sel: SelectedMailbox, key: SearchKey): Evaluator {
  const m = sel.mailbox;
  const compiled = compileSearch(key);
  const count = m.messageCount;
  const query: QueryContext = { messageCount: count, maxUid: count > 0 ? m.uidOfSeq(count) : 0, savedResult: { uids: ctx.savedUids }, now: new Date() };
  const withBody = needsBody(compiled);
  const slow = async (view: QueryMessage): Promise<QueryMessage | undefined> => {
    try {
      const decoded = await withDecodedText(m, view);
      return searchMatches(compiled, decoded, query) ? view : undefined;
    } catch (err) {
      if (!isExpectedMiss(err)) throw err;
      return undefined;
    }
  };
  return {
    test(seq) {
      const uid = m.uidOfSeq(seq);
      if (uid === 0 || m.isExpunged(uid)) return undefined;
      const view: QueryMessage = m.messageView(seq);
      if (withBody && view.size > SYNC_BODY_MAX_BYTES) return slow(view);
      try {
        return searchMatches(compiled, view, query) ? view : undefined;
      } catch (err) {
        if (!isExpectedMiss(err)) throw err;
        return undefined;
      }
    },
  };
}

/** The messages of the view that match `key`, in sequence order. */
async function matching(ctx: SessionContext, sel: SelectedMailbox, key: SearchKey): Promise<QueryMessage[]> {
  const count = sel.mailbox.messageCount;
  const test = evaluator(ctx, sel, key);
  const out: QueryMessage[] = [];
  for (let seq = 1; seq <= count; seq++) {
    if (seq % SEARCH_YIELD_EVERY === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      if (ctx.closed) break;
    }
    const result = test.test(seq);
    const view = result instanceof Promise ? await result : result;
    if (view !== undefined) out.push(view);
  }
  return out;
}

/** Which of `uids` (in the view) match `key` now; for updating a search context. */
export async function matchingUids(ctx: SessionContext, sel: SelectedMailbox, key: SearchKey, uids: readonly number[]): Promise<Set<number>> {
  const test = evaluator(ctx, sel, key);
  const out = new Set<number>();
  for (const uid of uids) {
    const seq = sel.mailbox.seqOfUid(uid);
    if (seq === 0) continue;
    const result = test.test(seq);
    if ((result instanceof Promise ? await result : result) !== undefined) out.add(uid);
  }
  return out;
}

/** `uids` (in the view) in the order of `criteria`. */
export function sortUids(sel: SelectedMailbox, uids: readonly number[], criteria: readonly SortCriterion[]): number[] {
  const m = sel.mailbox;
  const views = uids.map((uid) => m.seqOfUid(uid)).filter((seq) => seq > 0).map((seq) => m.messageView(seq));
  return sortMessages(views, criteria).map((v) => v.uid);
}

/** PARTIAL's window of the results (RFC 5267 §4.4; negative ranges count from the end, RFC 9394). */
function partialWindow(numbers: readonly number[], range: { from: number; to: number }): readonly number[] {
  if (range.from > 0) return numbers.slice(range.from - 1, range.to);
  const n = numbers.length;
  return numbers.slice(Math.max(0, n + range.to), Math.max(0, n + range.from + 1));
}

/** ESEARCH response (RFC 4731) for results in the order given. */
function esearch(tag: string, byUid: boolean, numbers: readonly number[], options: SearchReturn, highestModseq: bigint | undefined, sorted: boolean): string {
  const set = (list: readonly number[]): string => (sorted ? list.join(',') : formatSequenceSet([...list]));
  let out = `* ESEARCH (TAG "${tag.replace(/["\\]/g, '')}")${byUid ? ' UID' : ''}`;
  if (numbers.length > 0) {
    // SEARCH results ascend; for ESORT, MIN and MAX are the first and last in sort order.
    if (options.min) out += ` MIN ${numbers[0]}`;
    if (options.max) out += ` MAX ${numbers[numbers.length - 1]}`;
  }
  if (options.count) out += ` COUNT ${numbers.length}`;
  if (options.all && numbers.length > 0) out += ` ALL ${set(numbers)}`;
  if (options.partial !== undefined) {
    const { from, to } = options.partial;
    const window = partialWindow(numbers, options.partial);
    out += ` PARTIAL (${from}:${to} ${window.length > 0 ? set(window) : 'NIL'})`;
  }
  if (highestModseq !== undefined && numbers.length > 0) out += ` MODSEQ ${highestModseq}`;
  return `${out}\r\n`;
}

function highestModseqOf(msgs: readonly QueryMessage[]): bigint {
  let max = 0n;
  for (const msg of msgs) if (msg.modseq > max) max = msg.modseq;
  return max;
}

function onlySave(options: SearchReturn): boolean {
  return options.save && !options.min && !options.max && !options.all && !options.count && options.partial === undefined;
}

/**
 * RETURN (UPDATE): the result becomes a context kept up to date by ADDTO/REMOVEFROM (RFC
 * 5267 §4.3). A tag already naming a context is BAD; past the limit the search still
 * answers, with an untagged NO [NOUPDATE] saying no updates will come (§4.3.1).
 */
function checkUpdateTag(sel: SelectedMailbox, tag: string, options: SearchReturn | undefined): void {
  if (options?.update && sel.searchUpdates.some((u) => u.tag === tag)) throw bad('Tag reuse: an updating search already has this tag');
}

function registerUpdate(ctx: SessionContext, sel: SelectedMailbox, tag: string, options: SearchReturn, byUid: boolean, key: SearchKey, uids: number[], criteria?: SortCriterion[]): void {
  if (sel.searchUpdates.length >= SEARCH_UPDATE_CONTEXTS_MAX) {
    ctx.writer.send(`* NO [NOUPDATE "${tag.replace(/["\\]/g, '')}"] Too many updating searches (at most ${SEARCH_UPDATE_CONTEXTS_MAX})\r\n`);
    return;
  }
  sel.searchUpdates.push({
    tag, byUid, key, uids, modseq: sel.mailbox.highestModseq,
    ...(criteria === undefined ? {} : { criteria }),
    ...(options.updateFetch === undefined ? {} : { fetch: options.updateFetch }),
  });
}

export async function searchCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<string> {
  const sel = requireSelected(ctx);
  const parsed = parseSearch(command.args);
  checkUpdateTag(sel, command.tag, parsed.returnOptions);
  const modseq = usesModseq(parsed.key);
  if (modseq) ctx.condstore = true;
  const found = await matching(ctx, sel, parsed.key);
  const numbers = found.map((msg) => (byUid ? msg.uid : msg.seq));
  const highest = modseq ? highestModseqOf(found) : undefined;
  // IMAP4rev2 has no SEARCH response: a plain SEARCH is RETURN (ALL) (RFC 9051 §6.4.4).
  const options = parsed.returnOptions ?? (rev2Enabled(ctx) ? { min: false, max: false, all: true, count: false, save: false } : undefined);
  if (options === undefined) {
    const suffix = highest !== undefined && found.length > 0 ? ` (MODSEQ ${highest})` : '';
    ctx.writer.send(`* SEARCH${numbers.length > 0 ? ` ${numbers.join(' ')}` : ''}${suffix}\r\n`);
    return 'Search completed.';
  }
  if (options.save) ctx.savedUids = found.map((msg) => msg.uid);
  if (!onlySave(options)) ctx.writer.send(esearch(command.tag, byUid, numbers, options, highest, false));
  if (options.update) registerUpdate(ctx, sel, command.tag, options, byUid, parsed.key, found.map((msg) => msg.uid));
  return 'Search completed.';
}

/** The messages of the view that match a key, in sequence order, for SORT and THREAD. */
interface MatchedSet {
  seqs: Uint32Array;
  uids: Uint32Array;
  /** Their views, made on first use. */
  views(): readonly QueryMessage[];
}

/**
 * matching() as numbers. ALL (what a webmail sorts and threads by) looks at no message, so
 * its set is taken from the index without a view per message; the views are made only if
 * the mailbox has no answer kept for the set.
 */
async function matchingSet(ctx: SessionContext, sel: SelectedMailbox, key: SearchKey): Promise<MatchedSet> {
  const m = sel.mailbox;
  if (key.type !== 'all') {
    const found = await matching(ctx, sel, key);
    return { seqs: Uint32Array.from(found, (msg) => msg.seq), uids: Uint32Array.from(found, (msg) => msg.uid), views: () => found };
  }
  const count = m.messageCount;
  const seqs = new Uint32Array(count);
  const uids = new Uint32Array(count);
  let n = 0;
  for (let seq = 1; seq <= count; seq++) {
    const uid = m.uidOfSeq(seq);
    if (uid === 0 || m.isExpunged(uid)) continue;
    seqs[n] = seq;
    uids[n] = uid;
    n++;
  }
  let views: QueryMessage[] | undefined;
  const matched = seqs.subarray(0, n);
  return { seqs: matched, uids: uids.subarray(0, n), views: () => (views ??= Array.from(matched, (seq) => m.messageView(seq))) };
}

/**
 * SORT's order as positions in `set`, kept by the mailbox while the same messages are sorted
 * the same way (a webmail sorts the folder again for every page it shows); positions stand
 * for UIDs and sequence numbers alike.
 */
function keptSortOrder(m: Mailbox, set: MatchedSet, criteria: readonly SortCriterion[]): Uint32Array {
  const views = { length: set.seqs.length, at: (i: number) => m.messageView(set.seqs[i]!) };
  return m.overMessages(sortKey(criteria), set.uids, () => sortOrder(views, criteria), (positions) => positions.byteLength);
}

function sortKey(criteria: readonly SortCriterion[]): string {
  return `SORT ${criteria.map((c) => `${c.reverse ? 'REVERSE ' : ''}${c.key}`).join(' ')}`;
}

/**
 * `shown[order[i]]` for each i, space-separated, written as bytes in one loop: a first SORT
 * of 100,000 messages made an array of the numbers and joined it, ~50 ms of a fresh
 * process's ~350 (cpuprofile), much of it before V8 had optimised the callback.
 */
function numberText(order: Uint32Array, shown: Uint32Array): string {
  const buf = Buffer.allocUnsafe(order.length * (MAX_UINT32_DIGITS + 1));
  let at = 0;
  for (let i = 0; i < order.length; i++) {
    if (i > 0) buf[at++] = 0x20;
    at = writeDecimal(buf, at, shown[order[i]!]!);
  }
  return buf.toString('latin1', 0, at);
}
const MAX_UINT32_DIGITS = 10;

/**
 * What names the set an answer in UIDs or sequence numbers is kept for: its UIDs, and for
 * sequence numbers the numbers too (an expunge renumbers the messages after it).
 */
function shownIdentity(set: MatchedSet, byUid: boolean): Uint32Array {
  if (byUid) return set.uids;
  const identity = new Uint32Array(2 * set.uids.length);
  identity.set(set.uids);
  identity.set(set.seqs, set.uids.length);
  return identity;
}

export async function sortCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<string> {
  const sel = requireSelected(ctx);
  const parsed = parseSortCommand(command.args);
  checkUpdateTag(sel, command.tag, parsed.returnOptions);
  const modseq = usesModseq(parsed.key);
  if (modseq) ctx.condstore = true;
  const m = sel.mailbox;
  const set = await matchingSet(ctx, sel, parsed.key);
  // Only when the answer's text is not kept, or for RETURN options: a kept text needs no order.
  let order: Uint32Array | undefined;
  const sorted = (): Uint32Array => (order ??= keptSortOrder(m, set, parsed.criteria));
  const shown = byUid ? set.uids : set.seqs;
  const numbers = (): number[] => Array.from(sorted(), (i) => shown[i]!);
  const sortedUids = (): number[] => Array.from(sorted(), (i) => set.uids[i]!);
  let highest: bigint | undefined;
  if (modseq) {
    highest = 0n;
    for (const uid of set.uids) {
      const modseq = m.modseq(uid);
      if (modseq > highest) highest = modseq;
    }
  }
  const options = parsed.returnOptions;
  if (options === undefined) {
    // The answer's text is kept too, as THREAD's is: for 100,000 messages making it again
    // (an array of the numbers, then the string) took three times what the rest did.
    const body = m.overMessages(`${sortKey(parsed.criteria)} text${byUid ? ' UID' : ''}`, shownIdentity(set, byUid), () => numberText(sorted(), shown), (text) => 2 * text.length);
    const suffix = highest !== undefined && body !== '' ? ` (MODSEQ ${highest})` : '';
    ctx.writer.send(`* SORT${body === '' ? '' : ` ${body}`}${suffix}\r\n`);
    return 'Sort completed.';
  }
  if (options.save) ctx.savedUids = sortedUids();
  if (!onlySave(options)) ctx.writer.send(esearch(command.tag, byUid, numbers(), options, highest, true));
  if (options.update) registerUpdate(ctx, sel, command.tag, options, byUid, parsed.key, sortedUids(), parsed.criteria);
  return 'Sort completed.';
}

export async function threadCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<string> {
  const sel = requireSelected(ctx);
  const parsed = parseThreadCommand(command.args);
  const set = await matchingSet(ctx, sel, parsed.key);
  const key = `THREAD ${parsed.algorithm}${byUid ? ' UID' : ''}`;
  const body = sel.mailbox.overMessages(key, shownIdentity(set, byUid), () => formatThread(threadMessages(set.views(), parsed.algorithm), byUid), (text) => 2 * text.length);
  ctx.writer.send(`* THREAD${body === '' ? '' : ` ${body}`}\r\n`);
  return 'Thread completed.';
}
