/**
 * What the query engine needs from a message. The storage engine implements it over its
 * index and cache, so SEARCH, SORT and THREAD read cached fields and parse a message only
 * when a body search needs it.
 */

export interface QueryMessage {
  seq: number;
  uid: number;
  modseq: bigint;
  /** System flags (\Seen, …) and keywords together, as stored. */
  flags: ReadonlySet<string>;
  /** INTERNALDATE. */
  internalDate: Date;
  /** When the message was saved to this mailbox (RFC 8514), or null if unknown. */
  saveDate: Date | null;
  /** RFC822.SIZE in bytes. */
  size: number;
  /** Raw unfolded values of every field with this (case-insensitive) name, in order. */
  header(name: string): string[];
  /** Decoded text of the body for BODY/TEXT; may be slow, so called only when needed. */
  bodyText(): string;
  /** Every header block decoded (the message's, its MIME parts', embedded messages'), for TEXT. */
  headerText(): string;
  /**
   * Optional: `compute()`, or the value it gave before for this message. The storage keeps
   * such values (sort keys, parsed dates, Message-IDs) between commands; `key` names the
   * computation, which may read only what never changes for a UID (headers, dates, size).
   */
  memo?<T>(key: string, compute: (msg: QueryMessage) => T): T;
}

export interface QueryContext {
  /** Messages in the mailbox: the value of `*` in a sequence set. */
  messageCount: number;
  /** Highest UID in the mailbox: the value of `*` in a UID set. */
  maxUid: number;
  /** The SEARCHRES result (`$`), as UIDs. Missing = empty. */
  savedResult?: { uids: readonly number[] };
  /** The time OLDER/YOUNGER count from. */
  now: Date;
  /** The server's zone for INTERNALDATE/SAVEDATE day comparisons, minutes east of UTC; default: the process's local zone. */
  timeZoneOffsetMinutes?: number;
}
