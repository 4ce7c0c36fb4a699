/**
 * Updating search contexts (CONTEXT=SEARCH / CONTEXT=SORT, RFC 5267 §4.3): a SEARCH or SORT
 * with RETURN (UPDATE) keeps its result, and whenever the session reports the selected
 * mailbox's changes it tells the client how the result moved, as ESEARCH ADDTO / REMOVEFROM.
 * REMOVEFROM for expunged messages goes before the EXPUNGE responses (their numbers are still
 * valid then), everything else after EXISTS and FETCH. CANCELUPDATE ends a context.
 */
import { isLoftError } from '@loft/errors';
import { ArgReader, formatSequenceSet, type ImapArg, type ImapCommand, type SearchKey, type SortCriterion } from '@loft/imap-proto';
import { CommandFailure, bad, no } from './command-failure.js';
import { requireSelected } from './command-support.js';
import { fetchCommand } from './fetch-command.js';
import { matchingUids, sortUids } from './search-command.js';
import type { SelectedMailbox } from './selected-mailbox.js';
import type { SessionContext } from './session-context.js';

export interface SearchUpdate {
  /** The searching command's tag, the correlator of every update. */
  tag: string;
  /** UID SEARCH / UID SORT: updates carry UIDs, else message numbers. */
  byUid: boolean;
  key: SearchKey;
  /** SORT's order; absent for SEARCH, whose result is kept in mailbox order. */
  criteria?: SortCriterion[];
  /** The result as the client holds it, as UIDs: ascending for SEARCH, in sort order for SORT. */
  uids: number[];
  /** Messages whose modseq is above this have not been looked at again since. */
  modseq: bigint;
  /** RETURN (UPDATE (fetch-atts)) (RFC 5465 §7): FETCH these for messages added, before the ADDTO. */
  fetch?: ImapArg;
}

function correlator(update: SearchUpdate): string {
  return `* ESEARCH (TAG "${update.tag.replace(/["\\]/g, '')}")${update.byUid ? ' UID' : ''}`;
}

/**
 * REMOVEFROM for members that are about to be reported expunged; `oldSeq` gives the message
 * numbers they had, which the client still uses until it reads the EXPUNGE responses.
 */
export function removalsBeforeExpunge(sel: SelectedMailbox, expunged: ReadonlySet<number>, oldSeq: ReadonlyMap<number, number>): string {
  let out = '';
  for (const update of sel.searchUpdates) {
    const gone = update.uids.filter((uid) => expunged.has(uid));
    if (gone.length === 0) continue;
    const number = (uid: number): number => (update.byUid ? uid : oldSeq.get(uid) ?? 0);
    out += `${correlator(update)} REMOVEFROM (${removalPairs(update, new Set(gone), number)})\r\n`;
  }
  return out;
}

/**
 * Takes `gone` out of the context and formats the REMOVEFROM payload: position 0 and a set
 * for SEARCH; for SORT one `position number` pair per message, each position counted after
 * the pairs before it were applied (RFC 5267 §4.3.4).
 */
function removalPairs(update: SearchUpdate, gone: ReadonlySet<number>, number: (uid: number) => number): string {
  if (update.criteria === undefined) {
    update.uids = update.uids.filter((uid) => !gone.has(uid));
    return `0 ${formatSequenceSet([...gone].map(number).sort((a, b) => a - b))}`;
  }
  const pairs: string[] = [];
  for (let i = 0; i < update.uids.length; ) {
    const uid = update.uids[i]!;
    if (!gone.has(uid)) {
      i++;
      continue;
    }
    pairs.push(`${i + 1} ${number(uid)}`);
    update.uids.splice(i, 1);
  }
  return pairs.join(' ');
}

/**
 * Re-evaluates the messages changed since each context last looked (new ones included, as
 * their modseq is newer) and sends the differences. Runs after EXISTS and FETCH were sent.
 */
export async function reportSearchUpdates(ctx: SessionContext, sel: SelectedMailbox): Promise<void> {
  const m = sel.mailbox;
  for (const update of sel.searchUpdates) {
    const highest = m.highestModseq;
    const members = new Set(update.uids);
    // Members the view no longer has (expunged without an EXPUNGE the context saw).
    const vanished = new Set(update.uids.filter((uid) => m.seqOfUid(uid) === 0));
    const changed: number[] = [];
    if (highest > update.modseq) for (const uid of m.uids()) if (m.modseq(uid) > update.modseq && !m.isExpunged(uid)) changed.push(uid);
    update.modseq = highest;
    if (changed.length === 0 && vanished.size === 0) continue;
    const matches = await matchingUids(ctx, sel, update.key, changed);
    const removed = new Set([...vanished, ...changed.filter((uid) => members.has(uid) && !matches.has(uid))]);
    const added = changed.filter((uid) => !members.has(uid) && matches.has(uid));
    const number = (uid: number): number => (update.byUid ? uid : m.seqOfUid(uid));
    if (added.length > 0 && update.fetch !== undefined) await fetchAdded(ctx, update.fetch, added);
    let out = '';
    if (removed.size > 0) out += ` REMOVEFROM (${removalPairs(update, removed, number)})`;
    if (added.length > 0) out += ` ADDTO (${additionPairs(sel, update, added, number)})`;
    if (out !== '') ctx.writer.send(`${correlator(update)}${out}\r\n`);
  }
}

/** The FETCH of UPDATE (fetch-atts): sent before the ADDTO naming the messages (RFC 5465 §7). */
async function fetchAdded(ctx: SessionContext, items: ImapArg, uids: readonly number[]): Promise<void> {
  const command = { tag: '*', name: 'UID FETCH', args: [{ type: 'atom' as const, value: formatSequenceSet([...uids].sort((a, b) => a - b)) }, items] };
  try {
    await fetchCommand(ctx, command, true);
  } catch (err) {
    // Expunged meanwhile: the REMOVEFROM and EXPUNGE come with the next report.
    if (!(err instanceof CommandFailure) && !isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED')) throw err;
  }
}

/** Puts `added` into the context; position 0 for SEARCH, `position number` pairs in sort order for SORT (§4.3.3). */
function additionPairs(sel: SelectedMailbox, update: SearchUpdate, added: readonly number[], number: (uid: number) => number): string {
  if (update.criteria === undefined) {
    update.uids = [...update.uids, ...added].sort((a, b) => a - b);
    return `0 ${formatSequenceSet(added.map(number).sort((a, b) => a - b))}`;
  }
  // Sort keys do not change with flags, so the old members keep their relative order and
  // inserting the new ones in ascending final position yields the final list.
  const sorted = sortUids(sel, [...update.uids, ...added], update.criteria);
  const isNew = new Set(added);
  const pairs: string[] = [];
  sorted.forEach((uid, i) => {
    if (isNew.has(uid)) pairs.push(`${i + 1} ${number(uid)}`);
  });
  update.uids = sorted;
  return pairs.join(' ');
}

/** CANCELUPDATE "tag" … (RFC 5267 §4.3.5). */
export function cancelUpdateCommand(ctx: SessionContext, command: ImapCommand): string {
  const sel = requireSelected(ctx);
  if (command.args.length === 0) throw bad('CANCELUPDATE needs the tags of updating searches');
  const reader = new ArgReader(command.args);
  const tags: string[] = [];
  while (!reader.done) tags.push(reader.string('search tag').toString('latin1'));
  for (const tag of tags) if (!sel.searchUpdates.some((u) => u.tag === tag)) throw no(`Unknown tag ${tag.slice(0, 40)}: no updating search has it`);
  sel.searchUpdates = sel.searchUpdates.filter((u) => !tags.includes(u.tag));
  return 'Updates cancelled.';
}
