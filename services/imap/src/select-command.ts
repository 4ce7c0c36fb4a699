/**
 * SELECT / EXAMINE (CONDSTORE and QRESYNC parameters, RFC 7162 §3.2.5), CLOSE and
 * UNSELECT (RFC 3691).
 */
import { formatSequenceSet, parseSelectParams, type ImapCommand } from '@loft/imap-proto';
import { bad } from './command-failure.js';
import { rangeUidsOf, requireSelected } from './command-support.js';
import type { Completion } from './message-commands.js';
import { SelectedMailbox } from './selected-mailbox.js';
import { mailboxArg, rev2Enabled, type SessionContext } from './session-context.js';

/** Leaves the selected mailbox; `expunge` for CLOSE, which removes \Deleted messages silently. */
/** Closes the selected mailbox (expunging first for CLOSE); its HIGHESTMODSEQ as it closed. */
export async function deselect(ctx: SessionContext, expunge: boolean): Promise<bigint | undefined> {
  const sel = ctx.selected;
  if (sel === undefined) return undefined;
  ctx.selected = undefined;
  ctx.savedUids = [];
  try {
    if (expunge && !sel.readOnly) await sel.mailbox.expungeDeleted();
    return sel.mailbox.highestModseq;
  } finally {
    await sel.mailbox.close();
  }
}

export async function selectCommand(ctx: SessionContext, command: ImapCommand, readOnly: boolean): Promise<Completion> {
  const name = mailboxArg(ctx, command.args[0]);
  const params = parseSelectParams(command.args.slice(1));
  if (params.qresync !== undefined && !ctx.enabled.has('QRESYNC')) throw bad('QRESYNC must be ENABLEd first');
  if (params.condstore) ctx.condstore = true;
  if (ctx.selected !== undefined) {
    await deselect(ctx, false);
    ctx.writer.send('* OK [CLOSED] Previous mailbox closed.\r\n');
  }
  const mailbox = await ctx.user.openMailbox(name, { readOnly, recent: true, logger: ctx.storageLog });
  const sel = new SelectedMailbox(mailbox, name);
  sel.hideRecent = rev2Enabled(ctx);
  ctx.selected = sel;
  ctx.writer.send(sel.selectResponses());
  const q = params.qresync;
  if (q !== undefined && q.uidValidity === mailbox.uidValidity) {
    const { changed, vanished } = await mailbox.changesSince(q.modseq);
    const gone = q.knownUids === undefined ? vanished.map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(',') : formatSequenceSet(rangeUidsOf(vanished, q.knownUids));
    if (gone !== '') ctx.writer.send(`* VANISHED (EARLIER) ${gone}\r\n`);
    let out = '';
    for (const uid of changed) {
      const seq = mailbox.seqOfUid(uid);
      if (seq > 0) out += `* ${seq} FETCH (UID ${uid} FLAGS ${sel.flagList(uid)} MODSEQ (${mailbox.modseq(uid)}))\r\n`;
    }
    if (out !== '') ctx.writer.send(out);
  }
  return { text: `${readOnly ? 'Examine' : 'Select'} completed.`, code: readOnly ? 'READ-ONLY' : 'READ-WRITE' };
}

export async function closeCommand(ctx: SessionContext, expunge: boolean): Promise<Completion> {
  requireSelected(ctx);
  const highest = await deselect(ctx, expunge);
  // Under QRESYNC the client learns the modseq its CLOSE's expunges reached, which it cannot
  // ask once the mailbox is closed (as Dovecot sends it).
  if (expunge && highest !== undefined && ctx.enabled.has('QRESYNC')) return { text: 'Close completed.', code: `HIGHESTMODSEQ ${highest}` };
  return { text: expunge ? 'Close completed.' : 'Unselect completed.' };
}
