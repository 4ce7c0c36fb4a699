/** What every mail command gets, and the checks of its untrusted arguments. */
import { LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';
import type { AdmCommand } from '@loft/master-protocol';
import type { MailboxInfo, MailUser } from '@loft/storage';
import type { Output } from './command-output.js';

export interface CommandContext {
  /** The userdb name the command runs for. */
  user: string;
  home: string;
  mail: MailUser;
  out: Output;
  logger: Logger;
}

/** One command's implementation, typed by its request. */
export type CommandHandler<K extends AdmCommand['cmd']> = (command: Extract<AdmCommand, { cmd: K }>, ctx: CommandContext) => Promise<void>;

export function argsError(detail: string): LoftError {
  return new LoftError('LOFT_E_ADM_ARGS', detail);
}

/** The request came over a socket: a list of strings is checked, not assumed. */
export function strings(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw argsError(`${what} must be a list of strings`);
  return value as string[];
}

/** Existing mailboxes matching any of the patterns (all when there are none), INBOX first. */
export async function mailboxesMatching(mail: MailUser, patterns: readonly string[], subscribedOnly = false): Promise<MailboxInfo[]> {
  const seen = new Map<string, MailboxInfo>();
  for (const pattern of patterns.length > 0 ? patterns : ['*']) {
    for (const info of await mail.listMailboxes('', pattern, { subscribedOnly })) {
      // LSUB also returns unsubscribed parents of subscribed names; doveadm's -s does not.
      if (subscribedOnly && !info.subscribed) continue;
      if (!seen.has(info.name)) seen.set(info.name, info);
    }
  }
  return [...seen.values()];
}
