/**
 * doveadm's mailbox commands (list, create, delete, rename, status, subscribe) and the
 * maintenance ones (index, force-resync, purge). They change names and counters only;
 * mutating ones print nothing, as doveadm's do.
 */
import { QUOTA_ROOT, type MailboxStatus, type MailUser } from '@loft/storage';
import { argsError, mailboxesMatching, strings, type CommandHandler } from './command-context.js';

const STATUS_FIELDS = ['messages', 'recent', 'uidnext', 'uidvalidity', 'unseen', 'highestmodseq', 'guid', 'deleted', 'size'] as const;
type StatusField = (typeof STATUS_FIELDS)[number];
/** `all` means doveadm's set; deleted and size are Loft's additions. */
const ALL_STATUS_FIELDS: readonly StatusField[] = ['messages', 'recent', 'uidnext', 'uidvalidity', 'unseen', 'highestmodseq', 'guid'];
/** Fields `-t` adds up across mailboxes. */
const SUMMED_FIELDS: ReadonlySet<StatusField> = new Set(['messages', 'recent', 'unseen', 'deleted', 'size']);
/** Cached fields `index` fills for every message. */
const INDEXED_FIELDS = ['envelope', 'bodystructure', 'body', 'sentDate', 'preview'] as const;

function statusValue(field: StatusField, status: MailboxStatus, guid: string): string {
  switch (field) {
    case 'messages': return String(status.messages);
    case 'recent': return String(status.recent);
    case 'uidnext': return String(status.uidNext);
    case 'uidvalidity': return String(status.uidValidity);
    case 'unseen': return String(status.unseen);
    case 'highestmodseq': return status.highestModseq.toString();
    case 'guid': return guid;
    case 'deleted': return String(status.deleted);
    case 'size': return String(status.size);
  }
}

function statusFields(asked: readonly string[]): StatusField[] {
  const fields: StatusField[] = [];
  for (const f of asked.flatMap((a) => a.toLowerCase().split(/\s+/)).filter(Boolean)) {
    if (f === 'all') fields.push(...ALL_STATUS_FIELDS);
    else if ((STATUS_FIELDS as readonly string[]).includes(f)) fields.push(f as StatusField);
    else throw argsError(`unknown status field '${f}'; known: all ${STATUS_FIELDS.join(' ')}`);
  }
  if (fields.length === 0) throw argsError('mailbox status needs fields (e.g. "messages unseen", or all)');
  return fields;
}

export const mailboxList: CommandHandler<'mailbox-list'> = async (command, { mail, out }) => {
  await out.header(['mailbox']);
  for (const info of await mailboxesMatching(mail, strings(command.patterns, 'patterns'), command.subscribedOnly === true)) await out.row([info.name]);
};

export const mailboxCreate: CommandHandler<'mailbox-create'> = async (command, { mail }) => {
  for (const name of strings(command.names, 'mailbox names')) {
    await mail.createMailbox(name, command.specialUse ? { specialUse: command.specialUse } : {});
    if (command.subscribe) await mail.subscribe(name, true);
  }
};

/** -r deletes children first (deepest first); -e refuses a mailbox holding messages. */
export const mailboxDelete: CommandHandler<'mailbox-delete'> = async (command, { mail }) => {
  for (const name of strings(command.names, 'mailbox names')) {
    const names = [name];
    if (command.recursive) {
      const children = (await mail.listMailboxes('', `${name}/*`)).filter((m) => m.guid !== '').map((m) => m.name);
      names.unshift(...children.sort((a, b) => b.split('/').length - a.split('/').length));
    }
    for (const target of names) {
      if (command.emptyOnly && (await mail.status(target)).messages > 0) throw argsError(`mailbox ${target} is not empty (-e)`);
      await mail.deleteMailbox(target);
      if (command.unsubscribe) await mail.subscribe(target, false);
    }
  }
};

export const mailboxRename: CommandHandler<'mailbox-rename'> = async (command, { mail }) => {
  const [from, to] = strings([command.from, command.to], 'mailbox names') as [string, string];
  await mail.renameMailbox(from, to);
  if (command.subscribe) {
    await mail.subscribe(from, false);
    await mail.subscribe(to, true);
  }
};

export const mailboxSubscribe: CommandHandler<'mailbox-subscribe'> = async (command, { mail }) => {
  for (const name of strings(command.names, 'mailbox names')) await mail.subscribe(name, command.subscribe !== false);
};

/** One row per mailbox, or with -t one row of totals. Uses the list index's counters where it can. */
export const mailboxStatus: CommandHandler<'mailbox-status'> = async (command, { mail, out }) => {
  const fields = statusFields(strings(command.fields, 'fields'));
  const summed = fields.filter((f) => SUMMED_FIELDS.has(f));
  const totals = new Map<StatusField, number>();
  await out.header(command.total ? summed : ['mailbox', ...fields]);
  for (const info of await mailboxesMatching(mail, strings(command.patterns, 'patterns'))) {
    if (info.guid === '') continue;
    const status = await mail.status(info.name);
    if (!command.total) await out.row([info.name, ...fields.map((f) => statusValue(f, status, info.guid))]);
    else for (const f of summed) totals.set(f, (totals.get(f) ?? 0) + Number(statusValue(f, status, info.guid)));
  }
  if (command.total) await out.row(summed.map((f) => String(totals.get(f) ?? 0)));
};

/** Fills the cache, so later FETCH/SEARCH/SORT parse nothing. Opened read-write: writing the cache is the point. */
export const indexMailboxes: CommandHandler<'index'> = async (command, { mail }) => {
  for (const info of await mailboxesMatching(mail, strings(command.patterns, 'patterns'))) {
    if (info.guid === '') continue;
    const mailbox = await mail.openMailbox(info.name);
    try {
      for (const uid of mailbox.uids()) {
        // A message expunged meanwhile, or one that will not parse, is simply not cached.
        for (const field of INDEXED_FIELDS) await mailbox.cachedField(uid, field).catch(() => undefined);
      }
    } finally {
      await mailbox.close();
    }
  }
};

export const forceResync: CommandHandler<'force-resync'> = async (command, { mail }) => {
  for (const info of await mailboxesMatching(mail, strings(command.patterns, 'patterns'))) {
    if (info.guid === '') continue;
    const mailbox = await mail.openMailbox(info.name);
    try {
      await mailbox.forceResync();
    } finally {
      await mailbox.close();
    }
  }
};

/** MailUser.purge arrives with mdbox; sdbox frees a message's space when it is expunged. */
function purger(mail: MailUser): (() => Promise<unknown>) | undefined {
  const candidate = (mail as unknown as { purge?: unknown }).purge;
  return typeof candidate === 'function' ? () => (candidate as () => Promise<unknown>).call(mail) : undefined;
}

/**
 * doveadm quota get's rows: the root, STORAGE in KiB and MESSAGE, each with its limit ('-'
 * when none) and how much of it is used. A user without a limit gets no rows, as in Dovecot.
 */
export const quotaGet: CommandHandler<'quota-get'> = async (_command, { mail, out }) => {
  await out.header(['quota name', 'type', 'value', 'limit', '%']);
  const { storage, messages } = mail.quotaLimits;
  if (storage === 0 && messages === 0) return;
  const used = await mail.quotaUsage();
  const percent = (value: number, limit: number): string => (limit === 0 ? '0' : String(Math.floor((value * 100) / limit)));
  await out.row([QUOTA_ROOT, 'STORAGE', String(Math.ceil(used.storage / 1024)), storage === 0 ? '-' : String(Math.floor(storage / 1024)), percent(used.storage, storage)]);
  await out.row([QUOTA_ROOT, 'MESSAGE', String(used.messages), messages === 0 ? '-' : String(messages), percent(used.messages, messages)]);
};

export const purge: CommandHandler<'purge'> = async (_command, { mail, out }) => {
  const run = purger(mail);
  await out.header(['result']);
  if (!run) {
    await out.row(['not supported by sdbox, nothing to purge']);
    return;
  }
  await run();
  await out.row(['purged']);
};
