/**
 * The mail commands, run inside a worker as the user: one handler per command, each opening
 * the user's mail through the storage API and writing doveadm's columns and rows.
 */
import type { Logger } from '@loft/log';
import type { AdmCommand } from '@loft/master-protocol';
import { MailUser } from '@loft/storage';
import type { CommandContext, CommandHandler } from './command-context.js';
import { Output, type Emit } from './command-output.js';
import { importMail } from './mail-import.js';
import { forceResync, indexMailboxes, mailboxCreate, mailboxDelete, mailboxList, mailboxRename, mailboxStatus, mailboxSubscribe, purge, quotaGet } from './mailbox-commands.js';
import { expunge, fetch, flags, save, search } from './message-commands.js';
import type { WorkerJob } from './worker-protocol.js';

const HANDLERS: { [K in AdmCommand['cmd']]: CommandHandler<K> } = {
  'mailbox-list': mailboxList,
  'mailbox-create': mailboxCreate,
  'mailbox-delete': mailboxDelete,
  'mailbox-rename': mailboxRename,
  'mailbox-status': mailboxStatus,
  'mailbox-subscribe': mailboxSubscribe,
  save,
  fetch,
  search,
  expunge,
  flags,
  index: indexMailboxes,
  'force-resync': forceResync,
  purge,
  import: importMail,
  'quota-get': quotaGet,
};

function dispatch<K extends AdmCommand['cmd']>(command: Extract<AdmCommand, { cmd: K }>, ctx: CommandContext): Promise<void> {
  return (HANDLERS[command.cmd as K] as CommandHandler<K>)(command, ctx);
}

/** Opens the user's mail as the (already unprivileged) worker and runs one command. */
export async function runMailCommand(job: WorkerJob, emit: Emit, logger: Logger): Promise<void> {
  const mail = await MailUser.open({ user: job.user, home: job.home, settings: job.settings, logger });
  try {
    await dispatch(job.command, { user: job.user, home: job.home, mail, out: new Output(emit), logger });
  } finally {
    await mail.close();
  }
}
