// ---------------------------------------------------------------------------------------
// loftadm <-> adm over run/adm.sock (root only): doveadm's mail commands, run as the user.
// One streaming method; the adm service forks a worker per call that drops to the user's
// uid/gid before it opens any mail, and relays the worker's rows as they come.
// ---------------------------------------------------------------------------------------

/** File name of the adm listener inside `<base_dir>/run`. */
export const ADM_SOCKET_FILE = 'adm.sock';

/** A cell: text, or raw message bytes (hdr, body, text) that must reach the terminal unchanged. */
export type AdmValue = string | Uint8Array;

/** doveadm's search query, one shell word per element (`mailbox INBOX seen since 2d`). */
export type AdmQueryArgs = string[];

export type AdmCommand =
  /** mailbox list [-s] [pattern…]: names matching any pattern (`*`, `%`); all when none. */
  | { cmd: 'mailbox-list'; patterns: string[]; subscribedOnly: boolean }
  | { cmd: 'mailbox-create'; names: string[]; subscribe: boolean; specialUse?: string }
  /** recursive: children first; emptyOnly: refuse a mailbox that holds messages. */
  | { cmd: 'mailbox-delete'; names: string[]; recursive: boolean; unsubscribe: boolean; emptyOnly: boolean }
  | { cmd: 'mailbox-rename'; from: string; to: string; subscribe: boolean }
  /** fields: messages recent uidnext uidvalidity unseen highestmodseq guid deleted size, or all. */
  | { cmd: 'mailbox-status'; fields: string[]; patterns: string[]; total: boolean }
  | { cmd: 'mailbox-subscribe'; names: string[]; subscribe: boolean }
  /** The whole message (at most ADM_SAVE_MAX_BYTES); receivedMs defaults to now. */
  | { cmd: 'save'; mailbox: string; message: Uint8Array; flags: string[]; receivedMs?: number }
  /** fields as doveadm fetch names them (uid flags hdr.subject text …). */
  | { cmd: 'fetch'; fields: string[]; query: AdmQueryArgs }
  | { cmd: 'search'; query: AdmQueryArgs }
  /** The query must name a mailbox in every branch (doveadm's guard against accidents). */
  | { cmd: 'expunge'; query: AdmQueryArgs; deleteEmptyMailbox: boolean }
  | { cmd: 'flags'; op: 'add' | 'remove' | 'replace'; flags: string[]; query: AdmQueryArgs }
  /** Fills the cache (envelope, bodystructure, headers) of every message in the mailboxes. */
  | { cmd: 'index'; patterns: string[] }
  | { cmd: 'force-resync'; patterns: string[] }
  | { cmd: 'purge' }
  /** doveadm quota get: usage and limits of the user's quota root. */
  | { cmd: 'quota-get' }
  /**
   * source: `mbox:<file or directory>` or `maildir:<directory>` (absolute, or `~/` for the
   * user's home), read as the user. Mailboxes land under destParent ('' = top level).
   */
  | { cmd: 'import'; source: string; destParent: string; subscribe: boolean; query: AdmQueryArgs };

export interface AdmRequest {
  /** The userdb name; the worker runs as its uid/gid. */
  user: string;
  command: AdmCommand;
}

/**
 * A command's output, streamed: one `header` first (the column names, doveadm's field
 * names), then rows. A value too large for one frame arrives cut: its first part in the
 * row, the rest in `append` chunks for that column of the last row.
 */
export type AdmChunk =
  | { kind: 'header'; columns: string[] }
  | { kind: 'row'; values: AdmValue[] }
  | { kind: 'append'; column: number; data: Uint8Array };

export interface AdmProtocol {
  'mail-command': { params: AdmRequest; result: AdmChunk };
}

/** Largest message `save` takes over the socket, bytes (a frame holds 16 MiB). */
export const ADM_SAVE_MAX_BYTES = 15 * 1024 * 1024;
/** A value is cut into parts of at most this many bytes (well under the frame limit). */
export const ADM_VALUE_PART_BYTES = 4 * 1024 * 1024;
