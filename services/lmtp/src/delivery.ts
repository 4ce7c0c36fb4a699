/**
 * One delivery into one user's storage, the same in both privsep modes: it runs in a fork
 * child that is the user, or in a seteuid child holding the user's effective uid. It returns
 * an outcome (never throws), and `ok` only after storage's save returned, i.e. the message
 * is on disk per mail_fsync and in the mailbox log.
 */
import { describeError, ERROR_CODES, isLoftError } from '@loft/errors';
import { MailUser, lstatOrUndefined, parseMailLocation, spaceErrorCode, type Mailbox, type StorageLogger, type StorageSettings } from '@loft/storage';
import type { MailboxOpener, OpenMailUsers } from './open-mail-users.js';

/** Everything a delivery needs; plain data, so it crosses the child_process channel. */
export interface DeliveryRequest {
  /** Userdb's name for the user. */
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** Storage settings, with userdb's `mail` override already applied to mail_location. */
  storage: StorageSettings;
  /** Target mailbox (INBOX, or the +detail folder); falls back to INBOX when it is missing. */
  mailbox: string;
  /** Create `mailbox` when it does not exist (lda_mailbox_autocreate). */
  autocreate: boolean;
  /** Header lines added in front of the message (Return-Path, Delivered-To, Received), CRLF-ended. */
  prepend: string;
}

export type DeliveryOutcome =
  | { ok: true; mailbox: string; uid: number }
  /** `temporary`: the MTA keeps the message and retries (4xx); otherwise 5xx. */
  | { ok: false; temporary: boolean; reason: string };

/**
 * The message body; `replayable` when calling it again yields the whole message again (a
 * failed save may then be tried once more).
 */
export type BodySource = (() => AsyncIterable<Uint8Array>) & { replayable?: boolean };

/**
 * Saves the message for `request.user`. With `openUsers`, the user and mailbox stay open for
 * the next delivery (open-mail-users.ts); without, they are opened and closed here.
 */
export async function deliverMessage(request: DeliveryRequest, body: BodySource, logger: StorageLogger, openUsers?: OpenMailUsers): Promise<DeliveryOutcome> {
  try {
    await checkMailRootOwner(request);
    if (openUsers) return await openUsers.with(request, logger, (user, mailbox) => saveInto(user, mailbox, request, body), body.replayable === true);
    const user = await MailUser.open({ user: request.user, home: request.home, settings: request.storage, logger });
    try {
      return await saveInto(user, (name) => user.openMailbox(name), request, body);
    } finally {
      await user.close().catch((err: unknown) => logger.warn({ err, user: request.user }, 'closing the mail user failed'));
    }
  } catch (err) {
    if (isLoftError(err, 'LOFT_E_QUOTA_EXCEEDED')) return { ok: false, temporary: false, reason: err.code };
    const space = spaceErrorCode(err);
    if (space !== undefined) {
      logger.error({ user: request.user, reason: describeError(err) }, `delivery to ${request.user} failed: ${ERROR_CODES[space]}`);
      return { ok: false, temporary: true, reason: space };
    }
    logger.error({ err, user: request.user }, `delivery to ${request.user} failed`);
    return { ok: false, temporary: true, reason: isLoftError(err) ? err.code : 'internal error' };
  }
}

async function saveInto(user: MailUser, open: MailboxOpener, request: DeliveryRequest, body: BodySource): Promise<DeliveryOutcome> {
  const { mailbox, name } = await openTarget(user, open, request);
  const saved = await mailbox.save(withPrepend(request.prepend, body), { quotaGrace: true });
  return { ok: true, mailbox: name, uid: saved.uid };
}

async function openTarget(user: MailUser, open: MailboxOpener, request: DeliveryRequest): Promise<{ mailbox: Mailbox; name: string }> {
  if (request.mailbox !== 'INBOX') {
    try {
      return { mailbox: await open(request.mailbox), name: request.mailbox };
    } catch (err) {
      if (!isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND') && !isLoftError(err, 'LOFT_E_STORAGE_INVALID')) throw err;
    }
    if (request.autocreate) {
      try {
        await user.createMailbox(request.mailbox);
        return { mailbox: await open(request.mailbox), name: request.mailbox };
      } catch (err) {
        // An invalid name, or a race with another delivery creating it: INBOX or a retry below.
        if (isLoftError(err, 'LOFT_E_STORAGE_EXISTS')) return { mailbox: await open(request.mailbox), name: request.mailbox };
        if (!isLoftError(err, 'LOFT_E_STORAGE_INVALID')) throw err;
      }
    }
  }
  return { mailbox: await open('INBOX'), name: 'INBOX' };
}

async function* withPrepend(prepend: string, body: BodySource): AsyncIterable<Uint8Array> {
  yield Buffer.from(prepend, 'utf8');
  yield* body();
}

/**
 * Defence in depth: refuse a mail directory that someone else owns (a user could point
 * their mail_location at another user's files). The kernel already stops the write, since
 * the delivery runs as the user in both modes; this turns it into a clear log line.
 */
async function checkMailRootOwner(request: DeliveryRequest): Promise<void> {
  const { root } = parseMailLocation(request.storage.mail_location, request.home);
  // Direct: an lstat of a directory is a few microseconds, a thread-pool round trip more.
  // None: not there yet (made on first delivery), or not ours to see: the kernel decides.
  const stat = lstatOrUndefined(root);
  if (stat && (stat.isSymbolicLink() || stat.uid !== request.uid)) {
    throw new Error(`mail directory ${root} is ${stat.isSymbolicLink() ? 'a symlink' : `owned by uid ${stat.uid}`}, not a directory of uid ${request.uid}; refusing to deliver`);
  }
}
