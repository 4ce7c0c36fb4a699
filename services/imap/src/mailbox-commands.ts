/**
 * Commands on mailboxes as a whole: LIST (LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154,
 * LIST-STATUS RFC 5819), LSUB, NAMESPACE, STATUS (STATUS=SIZE RFC 8438), CREATE, DELETE,
 * RENAME, SUBSCRIBE and UNSUBSCRIBE, and QUOTA's GETQUOTAROOT, GETQUOTA and SETQUOTA
 * (RFC 9208). Names and STATUS counters come from the storage's list index, so LIST opens no
 * mailbox.
 */
import { ArgReader, decodeMailboxName, parseListCommand, parseStatusItems, type ImapCommand, type StatusItem } from '@loft/imap-proto';
import { QUOTA_ROOT, SPECIAL_USES, hasQuota, type MailboxInfo, type MailboxStatus } from '@loft/storage';
import { bad, no } from './command-failure.js';
import { mailboxArg, normalizeInbox, utf8Enabled, wireName, type SessionContext } from './session-context.js';

/** A STATUS item's value (also NOTIFY's unsolicited STATUS). */
export function statusValue(item: StatusItem, s: MailboxStatus, appendLimit: number): string {
  switch (item) {
    case 'MESSAGES':
      return String(s.messages);
    case 'RECENT':
      return String(s.recent);
    case 'UIDNEXT':
      return String(s.uidNext);
    case 'UIDVALIDITY':
      return String(s.uidValidity);
    case 'UNSEEN':
      return String(s.unseen);
    case 'HIGHESTMODSEQ':
      return String(s.highestModseq);
    case 'SIZE':
      return String(s.size);
    case 'DELETED':
      return String(s.deleted);
    case 'APPENDLIMIT':
      return String(appendLimit);
  }
}

async function statusResponse(ctx: SessionContext, name: string, items: readonly StatusItem[]): Promise<Buffer> {
  // The selected mailbox's own view is newer than the list index's counters.
  const status = ctx.selected?.name === name ? ctx.selected.mailbox.status() : await ctx.user.status(name);
  if (items.includes('HIGHESTMODSEQ')) ctx.condstore = true;
  // A loop, not map().join(): see "Holey arrays" in docs/benchmark-notes.md
  let values = '';
  for (const item of items) values += `${values === '' ? '' : ' '}${item} ${statusValue(item, status, ctx.settings.imap_append_limit)}`;
  return Buffer.concat([Buffer.from('* STATUS '), wireName(ctx, name), Buffer.from(` (${values})\r\n`)]);
}

export async function statusCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const name = mailboxArg(ctx, command.args[0]);
  const items = parseStatusItems(command.args[1]);
  if (command.args.length > 2) throw bad('Too many STATUS arguments');
  ctx.writer.send(await statusResponse(ctx, name, items));
  return 'Status completed.';
}

/** A LIST pattern or reference on the wire → storage names (wildcards pass through). */
function patternText(ctx: SessionContext, text: string): string {
  return utf8Enabled(ctx) ? text : decodeMailboxName(text);
}

function listLine(ctx: SessionContext, kind: 'LIST' | 'LSUB', attributes: readonly string[], name: string, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`* ${kind} (${attributes.join(' ')}) "/" `), wireName(ctx, name), Buffer.from(`${extra}\r\n`)]);
}

export async function listCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const list = parseListCommand(command.args);
  const reference = patternText(ctx, list.reference);
  if (list.patterns.length === 1 && list.patterns[0] === '' && !list.extended) {
    ctx.writer.send('* LIST (\\Noselect) "/" ""\r\n');
    return 'List completed.';
  }
  const { selection, returnOptions } = list;
  const seen = new Set<string>();
  const results: MailboxInfo[] = [];
  for (const raw of list.patterns) {
    const pattern = patternText(ctx, raw);
    for (const info of await ctx.user.listMailboxes(reference, pattern, { subscribedOnly: selection.subscribed })) {
      if (seen.has(info.name)) continue;
      seen.add(info.name);
      results.push(info);
    }
  }
  const showSubscribed = selection.subscribed || returnOptions.subscribed;
  for (const info of results) {
    let extra = '';
    if (selection.specialUse && info.specialUse === undefined) continue;
    if (selection.subscribed && !info.subscribed) {
      if (!selection.recursiveMatch) continue;
      extra = ' ("CHILDINFO" ("SUBSCRIBED"))';
    }
    let attributes = info.attributes.filter((a) => showSubscribed || a !== '\\Subscribed');
    if (selection.subscribed && !info.subscribed) attributes = attributes.filter((a) => a !== '\\NonExistent');
    if (!info.guid && !attributes.includes('\\Noselect') && !attributes.includes('\\NonExistent')) attributes.push('\\NonExistent');
    ctx.writer.send(listLine(ctx, 'LIST', attributes, info.name, extra));
    if (returnOptions.status !== undefined && info.guid !== '') ctx.writer.send(await statusResponse(ctx, info.name, returnOptions.status));
  }
  return 'List completed.';
}

export async function lsubCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const reader = new ArgReader(command.args);
  const reference = patternText(ctx, reader.astring('LSUB reference'));
  const pattern = patternText(ctx, reader.astring('LSUB pattern'));
  reader.end('LSUB');
  for (const info of await ctx.user.listMailboxes(reference, pattern, { subscribedOnly: true })) {
    const attributes = info.subscribed ? info.attributes.filter((a) => a === '\\Noselect' || a === '\\NonExistent') : ['\\Noselect'];
    ctx.writer.send(listLine(ctx, 'LSUB', attributes.map((a) => (a === '\\NonExistent' ? '\\Noselect' : a)), info.name));
  }
  return 'Lsub completed.';
}

export function namespaceCommand(ctx: SessionContext): string {
  ctx.writer.send('* NAMESPACE (("" "/")) NIL NIL\r\n');
  return 'Namespace completed.';
}

/**
 * `* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)`: the limits quota_rule sets,
 * STORAGE in KiB (RFC 9208 §5.1), the usage what the user's mailboxes hold.
 */
async function quotaLine(ctx: SessionContext): Promise<string> {
  const limits = ctx.user.quotaLimits;
  const used = await ctx.user.quotaUsage();
  const resources: string[] = [];
  if (limits.storage > 0) resources.push(`STORAGE ${Math.ceil(used.storage / 1024)} ${Math.floor(limits.storage / 1024)}`);
  if (limits.messages > 0) resources.push(`MESSAGE ${used.messages} ${limits.messages}`);
  return `* QUOTA "${QUOTA_ROOT}" (${resources.join(' ')})\r\n`;
}

/** GETQUOTAROOT mailbox: every mailbox of a user with a quota is in the one root. */
export async function getQuotaRootCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const name = mailboxArg(ctx, command.args[0]);
  if (command.args.length > 1) throw bad('Too many GETQUOTAROOT arguments');
  if (!(await ctx.user.listMailboxes('', name)).some((m) => m.name === name && m.guid !== '')) throw no(`Mailbox doesn't exist: ${name}`, 'NONEXISTENT');
  const quota = hasQuota(ctx.user.quotaLimits);
  ctx.writer.send(Buffer.concat([Buffer.from('* QUOTAROOT '), wireName(ctx, name), Buffer.from(quota ? ` "${QUOTA_ROOT}"\r\n` : '\r\n')]));
  if (quota) ctx.writer.send(await quotaLine(ctx));
  return 'Getquotaroot completed.';
}

export async function getQuotaCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const reader = new ArgReader(command.args);
  const root = reader.astring('quota root');
  reader.end('GETQUOTA');
  if (root !== QUOTA_ROOT || !hasQuota(ctx.user.quotaLimits)) throw no('Quota root does not exist', 'NONEXISTENT');
  ctx.writer.send(await quotaLine(ctx));
  return 'Getquota completed.';
}

/** Limits come from quota_rule and userdb; a user cannot change their own. */
export function setQuotaCommand(): never {
  throw no('Quota limits are set by the administrator', 'NOPERM');
}

/** CREATE name [(USE (\Sent))] (RFC 6154 §5). */
export async function createCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const name = mailboxArg(ctx, command.args[0]);
  let specialUse: string | undefined;
  const params = command.args[1];
  if (params !== undefined) {
    if (params.type !== 'list') throw bad('Expected CREATE parameters in parentheses');
    const reader = new ArgReader(params.items);
    while (!reader.done) {
      if (reader.atom('CREATE parameter').toUpperCase() !== 'USE') throw bad('Unknown CREATE parameter');
      for (const use of reader.list('USE attributes')) {
        if (use.type !== 'atom') throw bad('Expected a special-use attribute');
        const known = SPECIAL_USES.find((s) => s.toLowerCase() === use.value.toLowerCase());
        if (known === undefined) throw no(`Unknown special use ${use.value.slice(0, 40)}`, 'USEATTR');
        specialUse = known;
      }
    }
  }
  if (name === 'INBOX') throw no('Mailbox already exists', 'ALREADYEXISTS');
  await ctx.user.createMailbox(name, specialUse === undefined ? {} : { specialUse });
  return 'Create completed.';
}

export async function deleteCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const name = mailboxArg(ctx, command.args[0]);
  if (ctx.selected?.name === name) {
    const selected = ctx.selected;
    ctx.selected = undefined;
    await selected.mailbox.close();
    ctx.writer.send('* OK [CLOSED] Previous mailbox closed.\r\n');
  }
  await ctx.user.deleteMailbox(name);
  return 'Delete completed.';
}

export async function renameCommand(ctx: SessionContext, command: ImapCommand): Promise<string> {
  const from = mailboxArg(ctx, command.args[0]);
  const to = mailboxArg(ctx, command.args[1]);
  if (command.args.length > 2) throw bad('Too many RENAME arguments');
  await ctx.user.renameMailbox(from, to);
  return 'Rename completed.';
}

export async function subscribeCommand(ctx: SessionContext, command: ImapCommand, on: boolean): Promise<string> {
  const name = normalizeInbox(mailboxArg(ctx, command.args[0]));
  await ctx.user.subscribe(name, on);
  return on ? 'Subscribe completed.' : 'Unsubscribe completed.';
}
