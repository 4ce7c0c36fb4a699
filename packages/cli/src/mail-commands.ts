/**
 * loftadm's mail commands, with doveadm's syntax: `mailbox list|create|delete|rename|status|
 * subscribe|unsubscribe`, `save`, `fetch`, `search`, `expunge`, `flags add|remove|replace`,
 * `index`, `force-resync`, `purge`, `import`, `quota get`. Each runs as the user (-u) in the adm service.
 * `-A` (every user) is not offered: userdb iteration is not exposed by the auth service.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { describeError } from '@loft/errors';
import { IpcRemoteError } from '@loft/ipc';
import { ADM_SAVE_MAX_BYTES, type AdmCommand } from '@loft/master-protocol';
import { runAdmCommand } from './adm-client.js';
import { findBaseDir, NotRunningError } from './master-client.js';
import { createRowSink, MAIL_OUTPUT_FORMATS, type MailOutputFormat } from './mail-output.js';

const EXIT_FAILED = 1;
const EXIT_NOT_RUNNING = 2;

interface MailArgs {
  format?: string;
  'base-dir'?: string;
  user: string;
}

/** Whether -f/--format was given; the global option's default would hide it otherwise. */
function formatGiven(): boolean {
  return process.argv.slice(2).some((a) => a === '-f' || a === '--format' || a.startsWith('--format=') || /^-f\w/.test(a));
}

async function runMail(args: MailArgs, command: AdmCommand, defaultFormat: MailOutputFormat = 'table'): Promise<void> {
  const format = (formatGiven() ? args.format : defaultFormat) as MailOutputFormat;
  try {
    const sink = createRowSink(format, (data) => process.stdout.write(data));
    await runAdmCommand(findBaseDir(args['base-dir']), { user: args.user, command }, sink);
  } catch (err) {
    // The command's own failure ("mailbox or message not found: Work"), not the transport's wrapper.
    process.stderr.write(`loftadm: ${err instanceof IpcRemoteError ? err.detail : describeError(err)}\n`);
    process.exitCode = err instanceof NotRunningError ? EXIT_NOT_RUNNING : EXIT_FAILED;
  }
}

/** -u and the extra output styles, on every mail command. */
function mailOptions<T>(y: Argv<T>): Argv<T & { user: string }> {
  return y
    .option('user', { alias: 'u', type: 'string', demandOption: true, describe: 'Run as this user (userdb name)' })
    // yargs appends choices: the global table|tab|json gain doveadm's flow and pager here.
    .option('format', { choices: MAIL_OUTPUT_FORMATS.filter((f) => !['table', 'tab', 'json'].includes(f)), describe: 'Output format (doveadm\'s formatters; fetch defaults to pager)' }) as Argv<T & { user: string }>;
}

function words(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)];
}

function mailboxCommands(y: Argv): Argv {
  return y
    .command('list [patterns..]', 'List mailboxes (patterns with * and %)', (z) => mailOptions(z)
      .positional('patterns', { type: 'string', array: true })
      .option('s', { type: 'boolean', describe: 'Only subscribed mailboxes' }), (a) =>
      runMail(a, { cmd: 'mailbox-list', patterns: words(a.patterns), subscribedOnly: a.s === true }))
    .command('create <names..>', 'Create mailboxes', (z) => mailOptions(z)
      .positional('names', { type: 'string', array: true, demandOption: true })
      .option('s', { type: 'boolean', describe: 'Also subscribe' })
      .option('special-use', { type: 'string', describe: 'Special use, e.g. \\Archive' }), (a) =>
      runMail(a, { cmd: 'mailbox-create', names: words(a.names), subscribe: a.s === true, ...(a['special-use'] ? { specialUse: a['special-use'] } : {}) }))
    .command('delete <names..>', 'Delete mailboxes', (z) => mailOptions(z)
      .positional('names', { type: 'string', array: true, demandOption: true })
      .option('r', { type: 'boolean', describe: 'With all children' })
      .option('s', { type: 'boolean', describe: 'Also unsubscribe' })
      .option('e', { type: 'boolean', describe: 'Only if empty' }), (a) =>
      runMail(a, { cmd: 'mailbox-delete', names: words(a.names), recursive: a.r === true, unsubscribe: a.s === true, emptyOnly: a.e === true }))
    .command('rename <from> <to>', 'Rename a mailbox with its children', (z) => mailOptions(z)
      .positional('from', { type: 'string', demandOption: true })
      .positional('to', { type: 'string', demandOption: true })
      .option('s', { type: 'boolean', describe: 'Move the subscription too' }), (a) =>
      runMail(a, { cmd: 'mailbox-rename', from: a.from, to: a.to, subscribe: a.s === true }))
    .command('status <fields> [patterns..]', 'Mailbox counters: "messages recent uidnext uidvalidity unseen highestmodseq guid deleted size" or all', (z) => mailOptions(z)
      .positional('fields', { type: 'string', demandOption: true })
      .positional('patterns', { type: 'string', array: true })
      .option('t', { type: 'boolean', describe: 'Totals over all the mailboxes' }), (a) =>
      runMail(a, { cmd: 'mailbox-status', fields: [a.fields], patterns: words(a.patterns), total: a.t === true }))
    .command('subscribe <names..>', 'Subscribe to mailboxes', (z) => mailOptions(z).positional('names', { type: 'string', array: true, demandOption: true }), (a) =>
      runMail(a, { cmd: 'mailbox-subscribe', names: words(a.names), subscribe: true }))
    .command('unsubscribe <names..>', 'Unsubscribe from mailboxes', (z) => mailOptions(z).positional('names', { type: 'string', array: true, demandOption: true }), (a) =>
      runMail(a, { cmd: 'mailbox-subscribe', names: words(a.names), subscribe: false }))
    .demandCommand(1, 'loftadm mailbox: name a subcommand (list, create, delete, rename, status, subscribe, unsubscribe)');
}

function flagCommands(y: Argv): Argv {
  for (const op of ['add', 'remove', 'replace'] as const) {
    y = y.command(`${op} <flags> <query..>`, `${op[0]!.toUpperCase()}${op.slice(1)} flags ("\\Seen $Label1") on the messages the query matches`, (z) => mailOptions(z)
      .positional('flags', { type: 'string', demandOption: true })
      .positional('query', { type: 'string', array: true, demandOption: true }), (a) =>
      runMail(a, { cmd: 'flags', op, flags: a.flags.split(/\s+/).filter(Boolean), query: words(a.query) }));
  }
  return y.demandCommand(1, 'loftadm flags: name a subcommand (add, remove, replace)');
}

async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`the message is larger than ${limit} bytes; import it from an mbox file instead`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** `mbox:relative/file` means relative to where loftadm runs; the worker needs it absolute. */
function absoluteSource(source: string): string {
  const m = /^(mbox|maildir):(.+)$/.exec(source);
  if (!m || m[2]!.startsWith('~') || path.isAbsolute(m[2]!)) return source;
  return `${m[1]}:${path.resolve(m[2]!)}`;
}

function mailCommand<U>(command: string, describe: string, builder: (y: Argv) => Argv<U>, handler: (args: ArgumentsCamelCase<U>) => Promise<void>): CommandModule<object, U> {
  return { command, describe, builder, handler };
}

export const mailboxCommand: CommandModule = {
  command: 'mailbox',
  describe: 'Mailboxes of a user: list, create, delete, rename, status, subscribe, unsubscribe',
  builder: mailboxCommands,
  handler: () => undefined,
};

export const quotaCommand: CommandModule = {
  command: 'quota',
  describe: 'Quota of a user: get',
  builder: (y) => y
    .command('get', 'Usage and limits of the user\'s quota (quota_rule), STORAGE in KiB', (z) => mailOptions(z), (a) =>
      runMail(a, { cmd: 'quota-get' }))
    .demandCommand(1, 'loftadm quota: name a subcommand (get)'),
  handler: () => undefined,
};

export const flagsCommand: CommandModule = {
  command: 'flags',
  describe: 'Change flags of matching messages: add, remove, replace',
  builder: flagCommands,
  handler: () => undefined,
};

export const saveCommand = mailCommand('save', 'Save a message read from standard input', (z) => mailOptions(z)
  .option('m', { type: 'string', default: 'INBOX', describe: 'Mailbox' })
  .option('flags', { type: 'string', describe: 'Flags, e.g. "\\Seen $Label1"' })
  .option('received', { type: 'number', describe: 'Received date, UNIX time (default: now)' }), async (a) => {
  let message: Buffer;
  try {
    message = await readStdin(ADM_SAVE_MAX_BYTES);
  } catch (err) {
    process.stderr.write(`loftadm: ${describeError(err)}\n`);
    process.exitCode = EXIT_FAILED;
    return;
  }
  await runMail(a, { cmd: 'save', mailbox: a.m, message, flags: (a.flags ?? '').split(/\s+/).filter(Boolean), ...(a.received !== undefined ? { receivedMs: a.received * 1000 } : {}) });
});

export const fetchCommand = mailCommand('fetch <fields> <query..>', 'Print fields ("uid flags date.received size.physical hdr.subject text") of matching messages', (z) => mailOptions(z)
  .positional('fields', { type: 'string', demandOption: true })
  .positional('query', { type: 'string', array: true, demandOption: true }), (a) =>
  runMail(a, { cmd: 'fetch', fields: a.fields.split(/\s+/).filter(Boolean), query: words(a.query) }, 'pager'));

export const searchCommand = mailCommand('search <query..>', 'Print mailbox GUID and UID of matching messages', (z) => mailOptions(z)
  .positional('query', { type: 'string', array: true, demandOption: true }), (a) =>
  runMail(a, { cmd: 'search', query: words(a.query) }));

export const expungeCommand = mailCommand('expunge <query..>', 'Expunge matching messages (the query must name a mailbox)', (z) => mailOptions(z)
  .positional('query', { type: 'string', array: true, demandOption: true })
  .option('d', { type: 'boolean', describe: 'Delete mailboxes left empty' }), (a) =>
  runMail(a, { cmd: 'expunge', query: words(a.query), deleteEmptyMailbox: a.d === true }));

export const indexCommand = mailCommand('index <patterns..>', 'Fill the cache of the mailboxes (envelope, bodystructure, headers)', (z) => mailOptions(z)
  .positional('patterns', { type: 'string', array: true, demandOption: true }), (a) =>
  runMail(a, { cmd: 'index', patterns: words(a.patterns) }));

export const forceResyncCommand = mailCommand('force-resync <patterns..>', 'Rebuild the index of the mailboxes from the message files', (z) => mailOptions(z)
  .positional('patterns', { type: 'string', array: true, demandOption: true }), (a) =>
  runMail(a, { cmd: 'force-resync', patterns: words(a.patterns) }));

export const purgeCommand = mailCommand('purge', 'Reclaim space of expunged messages (mdbox)', (z) => mailOptions(z), (a) =>
  runMail(a, { cmd: 'purge' }));

export const importCommand = mailCommand('import <source> <parent> [query..]', 'Import mail from mbox:<file or dir> or maildir:<dir> under a parent mailbox ("" = top)', (z) => mailOptions(z)
  .positional('source', { type: 'string', demandOption: true })
  .positional('parent', { type: 'string', demandOption: true })
  .positional('query', { type: 'string', array: true })
  .option('s', { type: 'boolean', describe: 'Subscribe to the mailboxes created' }), (a) => {
  const source = absoluteSource(a.source);
  const local = /^(?:mbox|maildir):(\/.*)$/.exec(source)?.[1];
  if (local && !fs.existsSync(local)) {
    process.stderr.write(`loftadm: import source ${local} does not exist\n`);
    process.exitCode = EXIT_FAILED;
    return Promise.resolve();
  }
  return runMail(a, { cmd: 'import', source, destParent: a.parent, subscribe: a.s === true, query: words(a.query) });
});
