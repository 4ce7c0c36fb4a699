/**
 * loftadm import: brings mail in from an mbox file or a Maildir (doveadm import). Source
 * messages are filtered by the query (mailbox keys name source mailboxes), saved under the
 * destination parent in transactions of IMPORT_BATCH_MESSAGES, keeping flags and received
 * dates. Prints one row per destination mailbox with the number imported.
 */
import path from 'node:path';
import { LoftError } from '@loft/errors';
import { allHeaderText, bodyText, headerValues, parseMessage } from '@loft/mime';
import { compileSearch, searchMatches, type CompiledSearch, type MailUser, type Mailbox, type MailboxTransaction, type QueryMessage } from '@loft/storage';
import { strings, type CommandHandler } from './command-context.js';
import { maildirSource, mboxSource, type SourceMessage } from './mail-sources.js';
import { mailboxVerdict, parseQuery, resolveQuery, type QueryNode } from './search-query.js';

/** Messages saved per transaction: one fsync of the log for the batch. */
const IMPORT_BATCH_MESSAGES = 200;

function sourceMessages(source: string, home: string): AsyncGenerator<SourceMessage> {
  const m = /^(mbox|maildir):(.+)$/.exec(source);
  if (!m) throw new LoftError('LOFT_E_ADM_ARGS', `import source '${source}' must be mbox:<file or directory> or maildir:<directory>`);
  let location = m[2]!;
  if (location === '~' || location.startsWith('~/')) location = path.join(home, location.slice(1));
  if (!path.isAbsolute(location)) throw new LoftError('LOFT_E_ADM_ARGS', `import source path '${location}' must be absolute or start with ~/`);
  return m[1] === 'mbox' ? mboxSource(location) : maildirSource(location);
}

function queryMessage(message: SourceMessage, n: number): QueryMessage {
  const received = message.received ?? new Date();
  let root: ReturnType<typeof parseMessage> | undefined;
  const tree = (): ReturnType<typeof parseMessage> => (root ??= parseMessage(message.raw));
  return {
    seq: n,
    uid: n,
    modseq: 0n,
    flags: new Set(message.flags),
    internalDate: received,
    saveDate: null,
    size: message.raw.length,
    header: (name) => headerValues(message.raw, name),
    bodyText: () => bodyText(message.raw, tree()),
    headerText: () => allHeaderText(message.raw, tree()),
  };
}

interface Target {
  mailbox: Mailbox;
  transaction: MailboxTransaction;
  pending: number;
  imported: number;
}

export const importMail: CommandHandler<'import'> = async (command, { mail: user, home, out, logger }) => {
  const words = strings(command.query ?? [], 'query');
  const query: QueryNode = parseQuery(words.length > 0 ? words : ['all']);
  const parent = typeof command.destParent === 'string' ? command.destParent.replace(/\/+$/, '') : '';
  const programs = new Map<string, CompiledSearch | null>();
  const targets = new Map<string, Target>();
  const now = new Date();
  let n = 0;
  try {
    for await (const message of sourceMessages(String(command.source), home)) {
      n++;
      let program = programs.get(message.mailbox);
      if (program === undefined) {
        // Source mailboxes have no GUID; only mailbox names and message keys apply.
        program = mailboxVerdict(query, message.mailbox, '') === false ? null : compileSearch(resolveQuery(query, { name: message.mailbox, guid: '', uidsWhere: () => [] }));
        programs.set(message.mailbox, program);
      }
      if (program === null || !searchMatches(program, queryMessage(message, n), { messageCount: Number.MAX_SAFE_INTEGER, maxUid: Number.MAX_SAFE_INTEGER, now })) continue;
      const target = await targetFor(user, targets, parent ? `${parent}/${message.mailbox}` : message.mailbox, command.subscribe === true);
      await target.transaction.save(message.raw, { flags: message.flags, ...(message.received ? { internalDate: message.received } : {}) });
      target.pending++;
      target.imported++;
      if (target.pending >= IMPORT_BATCH_MESSAGES) {
        await target.transaction.commit();
        target.transaction = target.mailbox.transaction();
        target.pending = 0;
      }
    }
    for (const target of targets.values()) if (target.pending > 0) await target.transaction.commit();
  } catch (err) {
    for (const target of targets.values()) await target.transaction.rollback().catch(() => undefined);
    throw err;
  } finally {
    for (const target of targets.values()) await target.mailbox.close();
  }
  await out.header(['mailbox', 'imported']);
  for (const [name, target] of targets) {
    logger.info({ mailbox: name, count: target.imported }, `imported ${target.imported} message(s) into ${name}`);
    await out.row([name, String(target.imported)]);
  }
};

async function targetFor(user: MailUser, targets: Map<string, Target>, name: string, subscribe: boolean): Promise<Target> {
  let target = targets.get(name);
  if (target) return target;
  await user.createMailbox(name).catch((err: unknown) => {
    if ((err as { code?: string }).code !== 'LOFT_E_STORAGE_EXISTS') throw err;
  });
  if (subscribe) await user.subscribe(name, true);
  const mailbox = await user.openMailbox(name);
  target = { mailbox, transaction: mailbox.transaction(), pending: 0, imported: 0 };
  targets.set(name, target);
  return target;
}
