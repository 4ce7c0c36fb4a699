/**
 * How a failed command reaches the client: a CommandFailure the command handlers throw for
 * the protocol's own answers, and the mapping of storage and parser errors to NO/BAD with
 * the response codes clients act on (TRYCREATE, NONEXISTENT, EXPUNGEISSUED…).
 */
import { describeError, ERROR_CODES, isLoftError } from '@loft/errors';
import type { TaggedStatus } from '@loft/imap-proto';
import type { Logger } from '@loft/log';
import { spaceErrorCode } from '@loft/storage';

export class CommandFailure extends Error {
  constructor(
    readonly status: Exclude<TaggedStatus, 'OK'>,
    text: string,
    /** Response code without brackets, e.g. `TRYCREATE`. */
    readonly code?: string,
  ) {
    super(text);
    this.name = 'CommandFailure';
  }
}

export function no(text: string, code?: string): CommandFailure {
  return new CommandFailure('NO', text, code);
}

export function bad(text: string, code?: string): CommandFailure {
  return new CommandFailure('BAD', text, code);
}

export interface FailureAnswer {
  status: Exclude<TaggedStatus, 'OK'>;
  text: string;
  code?: string;
}

/** The tagged answer for an error thrown while running a command; unexpected ones are logged. */
export function failureAnswer(err: unknown, logger: Logger, command: string): FailureAnswer {
  if (err instanceof CommandFailure) return withCode(err.status, err.message, err.code);
  // A full file system or quota is the client's answer too (RFC 5530 OVERQUOTA, as Dovecot
  // answers), and the administrator's to fix: logged as an error, without a stack.
  const space = spaceErrorCode(err);
  if (space !== undefined) {
    logger.error({ command, reason: describeError(err) }, `${command} failed: ${ERROR_CODES[space]}`);
    return { status: 'NO', text: space === 'LOFT_E_STORAGE_NO_SPACE' ? 'Not enough disk space' : 'Disk quota exceeded', code: 'OVERQUOTA' };
  }
  if (isLoftError(err)) {
    switch (err.code) {
      case 'LOFT_E_IMAP_SYNTAX':
        return { status: 'BAD', text: `Error in IMAP command ${command}: ${err.detail}` };
      case 'LOFT_E_IMAP_BAD_CHARSET':
        return { status: 'NO', text: err.detail, code: 'BADCHARSET (US-ASCII UTF-8)' };
      case 'LOFT_E_IMAP_BAD_MAILBOX_NAME':
        return { status: 'NO', text: `Invalid mailbox name: ${err.detail}`, code: 'CANNOT' };
      case 'LOFT_E_STORAGE_NOT_FOUND':
        return { status: 'NO', text: `Mailbox doesn't exist: ${err.detail}`, code: 'NONEXISTENT' };
      case 'LOFT_E_STORAGE_EXISTS':
        return { status: 'NO', text: 'Mailbox already exists', code: 'ALREADYEXISTS' };
      case 'LOFT_E_STORAGE_INVALID':
        return { status: 'NO', text: err.detail, code: 'CANNOT' };
      case 'LOFT_E_STORAGE_HAS_CHILDREN':
        return { status: 'NO', text: 'Mailbox has children, delete them first', code: 'CANNOT' };
      case 'LOFT_E_STORAGE_READ_ONLY':
        return { status: 'NO', text: 'Mailbox is read-only', code: 'CANNOT' };
      case 'LOFT_E_STORAGE_EXPUNGED':
        return { status: 'NO', text: 'Some of the requested messages no longer exist', code: 'EXPUNGEISSUED' };
      case 'LOFT_E_QUOTA_EXCEEDED':
        return { status: 'NO', text: 'Quota exceeded (mailbox for user is full)', code: 'OVERQUOTA' };
      case 'LOFT_E_STORAGE_LOCKED':
        return { status: 'NO', text: 'Mailbox is locked, try again later', code: 'INUSE' };
      default:
        break;
    }
  }
  logger.error({ err, command }, `${command} failed`);
  return { status: 'NO', text: `Internal error occurred. Refer to server log for more information. [${new Date().toISOString()}]`, code: 'SERVERBUG' };
}

function withCode(status: Exclude<TaggedStatus, 'OK'>, text: string, code: string | undefined): FailureAnswer {
  return code === undefined ? { status, text } : { status, text, code };
}
