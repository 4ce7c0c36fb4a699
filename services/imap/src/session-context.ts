/**
 * What every command handler gets from the session: the user's storage, the writer, the
 * selected mailbox and the session's enabled extensions, plus mailbox-name conversion
 * between the wire (modified UTF-7, or UTF-8 after ENABLE UTF8=ACCEPT) and the storage.
 */
import { decodeMailboxName, decodeUtf8, encodeMailboxName, string, type ImapArg, type ImapWriter } from '@loft/imap-proto';
import type { Logger } from '@loft/log';
import type { MailUser, StorageLogger } from '@loft/storage';
import { bad } from './command-failure.js';
import type { SelectedMailbox } from './selected-mailbox.js';
import type { ImapSettings } from './settings.js';

export interface SessionContext {
  readonly user: MailUser;
  readonly writer: ImapWriter;
  readonly logger: Logger;
  /** The session's log for the views it opens (the user's MailUser is shared by their sessions). */
  readonly storageLog: StorageLogger;
  readonly settings: ImapSettings;
  selected: SelectedMailbox | undefined;
  /** ENABLEd extensions, upper-cased (CONDSTORE, QRESYNC, UTF8=ACCEPT). */
  readonly enabled: Set<string>;
  /** CONDSTORE is in effect: enabled, or implied by a CONDSTORE command (RFC 7162 §3.1). */
  condstore: boolean;
  /** The SEARCHRES result (`$`), as UIDs of the selected mailbox. */
  savedUids: number[];
  /** The connection is gone: long commands stop. */
  readonly closed: boolean;
  /** NOTIFY's MessageNew FETCH attributes for the selected mailbox (a list), if any were asked for. */
  readonly newMessageFetch: ImapArg | undefined;
}

/** IMAP4rev2 (RFC 9051) is ENABLEd: UTF-8 names, no \Recent, SEARCH answers with ESEARCH. */
export function rev2Enabled(ctx: SessionContext): boolean {
  return ctx.enabled.has('IMAP4REV2');
}

export function utf8Enabled(ctx: SessionContext): boolean {
  return ctx.enabled.has('UTF8=ACCEPT') || rev2Enabled(ctx);
}

/** A mailbox name argument as the storage names it (UTF-8, INBOX upper-cased). */
export function mailboxArg(ctx: SessionContext, arg: ImapArg | undefined): string {
  if (arg === undefined) throw bad('Missing mailbox name');
  let text: string;
  if (arg.type === 'atom') text = arg.value;
  else if (arg.type === 'string') text = utf8Enabled(ctx) ? decodeUtf8(arg.value, 'mailbox name') : arg.value.toString('latin1');
  else if (arg.type === 'nil') text = 'NIL';
  else throw bad('Expected a mailbox name');
  const name = utf8Enabled(ctx) ? text : decodeMailboxName(text);
  return normalizeInbox(name.endsWith('/') && name.length > 1 ? name.slice(0, -1) : name);
}

export function normalizeInbox(name: string): string {
  if (name.length >= 5 && name.slice(0, 5).toUpperCase() === 'INBOX' && (name.length === 5 || name[5] === '/')) return `INBOX${name.slice(5)}`;
  return name;
}

/** A storage mailbox name as the client expects it on the wire. */
export function wireName(ctx: SessionContext, name: string): Buffer {
  const utf8 = utf8Enabled(ctx);
  return string(utf8 ? name : encodeMailboxName(name), { utf8 });
}
