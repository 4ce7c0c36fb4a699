/**
 * The one registry of Loft's coded errors. Modules throw a LoftError at their boundary with
 * the cause attached; inside a module plain return values are used. A code never changes
 * meaning once released, so logs and scripts can match on it.
 */

export const ERROR_CODES = {
  // ipc
  LOFT_E_IPC_FRAME_TOO_LARGE: 'IPC frame larger than the allowed maximum',
  LOFT_E_IPC_BAD_FRAME: 'IPC frame could not be decoded',
  LOFT_E_IPC_TIMEOUT: 'IPC request timed out',
  LOFT_E_IPC_CLOSED: 'IPC connection closed',
  LOFT_E_IPC_REMOTE: 'IPC request failed on the remote side',
  LOFT_E_IPC_NO_METHOD: 'IPC method not known to the server',
  LOFT_E_IPC_CALL_STYLE: 'IPC method called with request() but answers with a stream, or the reverse',
  // settings
  LOFT_E_CONF_SYNTAX: 'configuration syntax error',
  LOFT_E_CONF_INCLUDE: 'configuration include failed',
  LOFT_E_CONF_UNKNOWN_SETTING: 'unknown setting',
  LOFT_E_CONF_BAD_VALUE: 'invalid setting value',
  LOFT_E_CONF_INVALID: 'configuration is invalid',
  LOFT_E_CONF_SCHEMA: 'settings schema is invalid',
  // master
  LOFT_E_MASTER_RUNNING: 'another loftd is running on this base directory',
  LOFT_E_MASTER_NOT_RUNNING: 'loftd is not running',
  LOFT_E_MASTER_USER: 'service user or group does not exist',
  LOFT_E_MASTER_LISTEN: 'could not create a listener',
  LOFT_E_MASTER_CONFIG: 'the config service failed',
  LOFT_E_MASTER_UNKNOWN_SERVICE: 'no such service',
  // plugins (config sandbox)
  LOFT_E_PLUGIN_NOT_FOUND: 'plugin not found',
  LOFT_E_PLUGIN_TIMEOUT: 'plugin did not report its manifest in time',
  LOFT_E_PLUGIN_CRASHED: 'plugin sandbox exited without a manifest',
  LOFT_E_PLUGIN_FORBIDDEN: 'plugin tried something its sandbox forbids',
  LOFT_E_PLUGIN_BAD_OUTPUT: 'plugin sandbox sent something that is not a manifest',
  LOFT_E_PLUGIN_MANIFEST: 'plugin manifest is invalid',
  LOFT_E_PLUGIN_SCHEMA: 'plugin settings schema is not allowed',
  LOFT_E_PLUGIN_DEFAULTS: 'plugin defaults do not validate against its own schema',
  LOFT_E_PLUGIN_VERSION: 'plugin does not support this Loft version',
  LOFT_E_PLUGIN_DEPENDENCY: 'plugin dependency is missing',
  // imap-proto (add more below, in this section only)
  LOFT_E_IMAP_SYNTAX: 'IMAP syntax error',
  LOFT_E_IMAP_LINE_TOO_LONG: 'IMAP command line too long',
  LOFT_E_IMAP_LITERAL_TOO_LARGE: 'IMAP literal too large',
  LOFT_E_IMAP_BAD_CHARSET: 'IMAP charset not supported',
  LOFT_E_IMAP_BAD_MAILBOX_NAME: 'IMAP mailbox name is not valid modified UTF-7',
  // auth (add more below, in this section only)
  LOFT_E_AUTH_SCHEME: 'unknown or malformed password scheme',
  LOFT_E_AUTH_DRIVER: 'passdb/userdb driver failed',
  LOFT_E_AUTH_TEMPFAIL: 'authentication temporarily failed',
  // mime (add more below, in this section only)
  LOFT_E_MIME_PARSE: 'message could not be parsed',
  LOFT_E_MIME_UNKNOWN_CTE: 'unknown Content-Transfer-Encoding',
  // storage (add more below, in this section only)
  LOFT_E_STORAGE_NOT_FOUND: 'mailbox or message not found',
  LOFT_E_STORAGE_EXISTS: 'mailbox already exists',
  LOFT_E_STORAGE_CORRUPT: 'storage file is corrupted',
  LOFT_E_STORAGE_LOCKED: 'storage lock could not be taken',
  LOFT_E_STORAGE_IO: 'storage I/O failed',
  LOFT_E_STORAGE_INVALID: 'invalid storage request',
  LOFT_E_STORAGE_HAS_CHILDREN: 'mailbox has children, delete them first',
  LOFT_E_STORAGE_UNSAFE_PATH: 'refused a symlink or a path outside the mail directory',
  LOFT_E_STORAGE_READ_ONLY: 'mailbox is open read-only',
  LOFT_E_STORAGE_EXPUNGED: 'message has been expunged',
  LOFT_E_STORAGE_NO_PARSER: 'no message parser for this cached field',
  LOFT_E_STORAGE_NO_SPACE: 'not enough disk space',
  LOFT_E_STORAGE_OVER_QUOTA: 'disk quota exceeded',
  LOFT_E_QUOTA_EXCEEDED: 'the user\'s quota (quota_rule) would be exceeded',
  // adm
  LOFT_E_ADM_QUERY: 'search query is not valid',
  LOFT_E_ADM_ARGS: 'invalid mail command arguments',
  LOFT_E_ADM_USER: 'user cannot be served by the adm service',
  LOFT_E_ADM_WORKER: 'the per-user mail worker failed',
  LOFT_E_ADM_IMPORT: 'import source could not be read',
  // lmtp
  LOFT_E_LMTP_PRIVSEP: 'delivery could not run with the recipient\'s identity',
  LOFT_E_LMTP_SPOOL: 'the spool file for an incoming message could not be created',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LoftError extends Error {
  readonly code: ErrorCode;
  /** The specific part of the message, without the code's generic text. */
  readonly detail: string;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ERROR_CODES[code]}: ${detail}` : ERROR_CODES[code], options);
    this.name = 'LoftError';
    this.code = code;
    this.detail = detail ?? ERROR_CODES[code];
  }
}

export function isLoftError(err: unknown, code?: ErrorCode): err is LoftError {
  return err instanceof LoftError && (code === undefined || err.code === code);
}

/** A one-line description of any thrown value, for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
