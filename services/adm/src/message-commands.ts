/**
 * doveadm's message commands: save, and fetch, search, flags and expunge over the messages a
 * search query matches. Mailboxes the query's `mailbox` keys rule out are never opened.
 */
import type { AdmValue } from '@loft/master-protocol';
import { compileSearch, searchMatches, type Mailbox, type MailUser } from '@loft/storage';
import { argsError, mailboxesMatching, strings, type CommandHandler } from './command-context.js';
import { checkFetchFields, MessageFields } from './fetch-fields.js';
import { mailboxVerdict, namesMailboxEverywhere, parseQuery, resolveQuery, type QueryNode } from './search-query.js';

interface Hit {
  seq: number;
  uid: number;
}

/** The query's SearchKey for this open mailbox, compiled. */
function programFor(query: QueryNode, mailbox: Mailbox): ReturnType<typeof compileSearch> {
  return compileSearch(resolveQuery(query, {
    name: mailbox.name,
    guid: mailbox.guid,
    uidsWhere: (test) => {
      const out: number[] = [];
      for (let seq = 1; seq <= mailbox.messageCount; seq++) {
        const view = mailbox.messageView(seq);
        if (test({ saveDate: view.saveDate, guid: mailbox.messageGuid(view.uid) })) out.push(view.uid);
      }
      return out;
    },
  }));
}

/** Calls `each` for every mailbox with messages the query matches, with those messages. */
async function forEachMatch(mail: MailUser, query: QueryNode, readOnly: boolean, each: (mailbox: Mailbox, hits: Hit[]) => Promise<void>): Promise<void> {
  const now = new Date();
  for (const info of await mailboxesMatching(mail, [])) {
    if (info.guid === '' || mailboxVerdict(query, info.name, info.guid) === false) continue;
    const mailbox = await mail.openMailbox(info.name, { readOnly });
    try {
      const program = programFor(query, mailbox);
      const uids = mailbox.uids();
      const ctx = { messageCount: mailbox.messageCount, maxUid: uids.length > 0 ? uids[uids.length - 1]! : 0, now };
      const hits: Hit[] = [];
      for (let seq = 1; seq <= mailbox.messageCount; seq++) {
        const view = mailbox.messageView(seq);
        if (searchMatches(program, view, ctx)) hits.push({ seq, uid: view.uid });
      }
      if (hits.length > 0) await each(mailbox, hits);
    } finally {
      await mailbox.close();
    }
  }
}

export const save: CommandHandler<'save'> = async (command, { mail, out }) => {
  if (!(command.message instanceof Uint8Array)) throw argsError('save needs the message bytes');
  const flags = strings(command.flags ?? [], 'flags');
  const mailbox = await mail.openMailbox(typeof command.mailbox === 'string' && command.mailbox !== '' ? command.mailbox : 'INBOX');
  try {
    const message = Buffer.from(command.message.buffer, command.message.byteOffset, command.message.byteLength);
    const saved = await mailbox.save(message, { flags, ...(typeof command.receivedMs === 'number' ? { internalDate: new Date(command.receivedMs) } : {}) });
    await out.header(['mailbox', 'uid', 'guid']);
    await out.row([mailbox.name, String(saved.uid), saved.guid]);
  } finally {
    await mailbox.close();
  }
};

export const fetch: CommandHandler<'fetch'> = async (command, { user, mail, out }) => {
  const fields = strings(command.fields, 'fields');
  checkFetchFields(fields);
  const query = parseQuery(strings(command.query, 'query'));
  await out.header(fields);
  await forEachMatch(mail, query, true, async (mailbox, hits) => {
    for (const hit of hits) {
      const message = new MessageFields(user, mailbox, hit.seq, hit.uid);
      const values: AdmValue[] = [];
      try {
        for (const field of fields) values.push(await message.get(field));
      } catch (err) {
        // Expunged by another session since the search: doveadm skips it too.
        if ((err as { code?: string }).code === 'LOFT_E_STORAGE_EXPUNGED') continue;
        throw err;
      }
      await out.row(values);
    }
  });
};

export const search: CommandHandler<'search'> = async (command, { mail, out }) => {
  const query = parseQuery(strings(command.query, 'query'));
  await out.header(['mailbox-guid', 'uid']);
  await forEachMatch(mail, query, true, async (mailbox, hits) => {
    for (const hit of hits) await out.row([mailbox.guid, String(hit.uid)]);
  });
};

export const flags: CommandHandler<'flags'> = async (command, { mail }) => {
  const { op } = command;
  if (op !== 'add' && op !== 'remove' && op !== 'replace') throw argsError('flags takes add, remove or replace');
  const names = strings(command.flags, 'flags');
  const query = parseQuery(strings(command.query, 'query'));
  await forEachMatch(mail, query, false, async (mailbox, hits) => {
    await mailbox.updateFlags(hits.map((h) => h.uid), { op, flags: names });
  });
};

/** Refuses a query that does not name a mailbox everywhere (doveadm's guard); -d deletes mailboxes it empties. */
export const expunge: CommandHandler<'expunge'> = async (command, { mail, logger }) => {
  const query = parseQuery(strings(command.query, 'query'));
  if (!namesMailboxEverywhere(query)) throw argsError('to avoid accidents, the expunge query must name a mailbox in every branch (e.g. mailbox INBOX …)');
  const emptied: string[] = [];
  await forEachMatch(mail, query, false, async (mailbox, hits) => {
    const expunged = await mailbox.expunge(hits.map((h) => h.uid));
    logger.info({ mailbox: mailbox.name, count: expunged.length }, `expunged ${expunged.length} message(s) from ${mailbox.name}`);
    if (command.deleteEmptyMailbox && mailbox.name !== 'INBOX' && mailbox.status().messages === 0) emptied.push(mailbox.name);
  });
  // Checked again after closing: a delivery may have arrived meanwhile.
  for (const name of emptied) if ((await mail.status(name)).messages === 0) await mail.deleteMailbox(name);
};
