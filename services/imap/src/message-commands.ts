/**
 * Commands that change messages: STORE (CONDSTORE UNCHANGEDSINCE → MODIFIED), COPY and MOVE
 * (UIDPLUS COPYUID, RFC 6851), EXPUNGE / UID EXPUNGE, and APPEND (MULTIAPPEND RFC 3502,
 * UIDPLUS APPENDUID, APPENDLIMIT). Every write goes through the storage API, which has it on
 * disk before the tagged OK is sent.
 */
import { isLoftError } from '@loft/errors';
import { formatSequenceSet, parseAppendArgs, parseSequenceSetOrSaved, parseStoreAction, type ImapCommand } from '@loft/imap-proto';
import type { Mailbox } from '@loft/storage';
import { catenate } from './catenate.js';
import { bad, no } from './command-failure.js';
import { requireSelected, sequenceArg } from './command-support.js';
import { reportSearchUpdates } from './search-context.js';
import type { MessageRef, SelectedMailbox } from './selected-mailbox.js';
import { mailboxArg, type SessionContext } from './session-context.js';

/** What a handler answers with its tagged OK. */
export interface Completion {
  text: string;
  code?: string;
}

function writable(sel: SelectedMailbox): SelectedMailbox {
  if (sel.readOnly) throw no('Mailbox is read-only.', 'CANNOT');
  return sel;
}

function refsOf(ctx: SessionContext, sel: SelectedMailbox, command: ImapCommand, byUid: boolean): MessageRef[] {
  const set = parseSequenceSetOrSaved(sequenceArg(command));
  if (set === '$') return sel.resolve(ctx.savedUids, true);
  return sel.resolve(set, byUid);
}

export async function storeCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<Completion> {
  const sel = writable(requireSelected(ctx));
  const refs = refsOf(ctx, sel, command, byUid);
  const action = parseStoreAction(command.args.slice(1));
  if (action.unchangedSince !== undefined) ctx.condstore = true;
  const m = sel.mailbox;
  const live = refs.filter((r) => !m.isExpunged(r.uid));
  let failed: number[] = [];
  if (action.unchangedSince === 0n) {
    // No message has modseq 0, so every one fails the test (RFC 7162 §3.1.3).
    failed = live.map((r) => r.uid);
  } else if (live.length > 0) {
    const change = { op: action.mode, flags: action.flags, ...(action.unchangedSince !== undefined ? { unchangedSince: action.unchangedSince } : {}) };
    failed = (await m.updateFlags(live.map((r) => r.uid), change)).failed;
  }
  const failedSet = new Set(failed);
  let out = sel.newKeywordsResponse();
  // With QRESYNC a client keeps its cache by UID, so the flag changes carry it (as Dovecot sends them).
  const withUid = byUid || ctx.enabled.has('QRESYNC');
  for (const ref of live) {
    if (failedSet.has(ref.uid)) continue;
    const uidPart = withUid ? ` UID ${ref.uid}` : '';
    const modseq = ctx.condstore ? ` MODSEQ (${m.modseq(ref.uid)})` : '';
    if (!action.silent) out += `* ${ref.seq} FETCH (FLAGS ${sel.flagList(ref.uid)}${uidPart}${modseq})\r\n`;
    else if (ctx.condstore) out += `* ${ref.seq} FETCH (${withUid ? `UID ${ref.uid} ` : ''}MODSEQ (${m.modseq(ref.uid)}))\r\n`;
  }
  if (out !== '') ctx.writer.send(out);
  // Updating searches hear of this session's own flag changes at once (RFC 5267 §4.3.2).
  if (sel.searchUpdates.length > 0) await reportSearchUpdates(ctx, sel);
  const expunged = refs.length !== live.length;
  if (failed.length > 0) {
    const numbers = byUid ? failed : failed.map((uid) => m.seqOfUid(uid));
    return { text: 'Conditional store failed', code: `MODIFIED ${formatSequenceSet(numbers)}` };
  }
  if (expunged) throw no('Some of the requested messages no longer exist', 'EXPUNGEISSUED');
  return { text: 'Store completed.' };
}

/** Opens a COPY/MOVE/APPEND target; a missing one is NO [TRYCREATE] (RFC 3501 §6.4.7). */
async function openTarget(ctx: SessionContext, name: string): Promise<Mailbox> {
  try {
    return await ctx.user.openMailbox(name, { logger: ctx.storageLog });
  } catch (err) {
    if (isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND')) throw no(`Mailbox doesn't exist: ${name}`, 'TRYCREATE');
    throw err;
  }
}

export async function copyCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean, move: boolean): Promise<Completion> {
  const sel = requireSelected(ctx);
  if (move) writable(sel);
  const refs = refsOf(ctx, sel, command, byUid);
  const targetName = mailboxArg(ctx, command.args[1]);
  if (command.args.length > 2) throw bad('Too many arguments');
  const target = await openTarget(ctx, targetName);
  let map: Map<number, number>;
  let uidValidity: number;
  try {
    const uids = refs.filter((r) => !sel.mailbox.isExpunged(r.uid)).map((r) => r.uid);
    map = move ? await sel.mailbox.move(uids, target) : await sel.mailbox.copy(uids, target);
    uidValidity = target.uidValidity;
  } finally {
    await target.close();
  }
  const verb = move ? 'Move' : 'Copy';
  if (map.size === 0) {
    if (refs.length > 0) throw no('Some of the requested messages no longer exist', 'EXPUNGEISSUED');
    return { text: `No messages found.` };
  }
  const sources = [...map.keys()].sort((a, b) => a - b);
  if (targetName === sel.name) sel.noteOwnNew(map.values());
  const code = `COPYUID ${uidValidity} ${formatSequenceSet(sources)} ${formatSequenceSet(sources.map((uid) => map.get(uid)!))}`;
  if (!move) return { text: `${verb} completed.`, code };
  ctx.writer.send(`* OK [${code}] Moved UIDs.\r\n`);
  await sel.reportChanges(ctx);
  return { text: 'Move completed.' };
}

export async function expungeCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<Completion> {
  const sel = writable(requireSelected(ctx));
  const uids = byUid ? refsOf(ctx, sel, command, true).map((r) => r.uid) : undefined;
  if (!byUid && command.args.length > 0) throw bad('EXPUNGE takes no arguments');
  await sel.mailbox.expungeDeleted(uids);
  await sel.reportChanges(ctx);
  // VANISHED carries no modseq: under QRESYNC the tagged OK says where the expunge left it.
  return ctx.enabled.has('QRESYNC') ? { text: 'Expunge completed.', code: `HIGHESTMODSEQ ${sel.mailbox.highestModseq}` } : { text: 'Expunge completed.' };
}

export async function appendCommand(ctx: SessionContext, command: ImapCommand): Promise<Completion> {
  const { messages } = parseAppendArgs(command.args);
  const name = mailboxArg(ctx, command.args[0]);
  const limit = ctx.settings.imap_append_limit;
  for (const message of messages) {
    if (message.catenate !== undefined) message.message = await catenate(ctx, message.catenate, limit);
    const size = message.message?.length ?? 0;
    if (size > limit) throw no(`Message is larger than imap_append_limit (${limit} bytes)`, 'TOOBIG');
    if (size === 0) throw no('Cannot save an empty message');
  }
  // Into the selected mailbox, save through its open view: opening (and closing) a second
  // view of the same mailbox costs more than the save itself.
  const selected = ctx.selected?.name === name && !ctx.selected.readOnly ? ctx.selected.mailbox : undefined;
  const target = selected ?? (await openTarget(ctx, name));
  try {
    const tx = target.transaction();
    try {
      for (const message of messages) {
        await tx.save(message.message!, { flags: message.flags, ...(message.internalDate ? { internalDate: message.internalDate } : {}) });
      }
    } catch (err) {
      await tx.rollback();
      throw err;
    }
    const result = await tx.commit();
    // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
    const uids: number[] = [];
    for (const s of result.saved) uids.push(s.uid);
    if (ctx.selected?.name === name) ctx.selected.noteOwnNew(uids);
    return { text: 'Append completed.', code: `APPENDUID ${target.uidValidity} ${formatSequenceSet(uids)}` };
  } finally {
    if (target !== selected) await target.close();
  }
}
