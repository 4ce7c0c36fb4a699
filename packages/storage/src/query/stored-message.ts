/**
 * The QueryMessage a Mailbox gives the query engine (Mailbox.messageView): a small object
 * whose methods live on the prototype, so a SEARCH, SORT or THREAD over 100,000 messages
 * allocates one object per message, not a dozen closures. What it reads comes from its
 * mailbox's MessageSource.
 */
import type { QueryMessage } from './query-message.js';

/** The index columns a view reads (a MessageTable's). */
export interface MessageColumns {
  modseqs: ArrayLike<number>;
  internalDates: ArrayLike<number>;
  saveDates: ArrayLike<number>;
}

/** What the views of one mailbox read through: one object per mailbox. */
export interface MessageSource {
  /** Raw unfolded values of the field `name` (lower-cased), from the field cache. */
  header(view: StoredMessage, name: string): string[];
  headerText(view: StoredMessage): string;
  bodyText(view: StoredMessage): string;
  flags(slot: number): Set<string>;
  memo<T>(view: StoredMessage, key: string, compute: (msg: QueryMessage) => T): T;
}

const sources = new WeakMap<object, MessageSource>();

/** The source of `owner` (a Mailbox), made once. */
export function messageSource(owner: object, make: () => MessageSource): MessageSource {
  let source = sources.get(owner);
  if (!source) {
    source = make();
    sources.set(owner, source);
  }
  return source;
}

export class StoredMessage implements QueryMessage {

  constructor(
    private readonly source: MessageSource,
    private readonly columns: MessageColumns,
    readonly seq: number,
    readonly uid: number,
    /** The message's row in the columns. */
    readonly slot: number,
    readonly size: number,
  ) {}

  // Getters: a SORT (SIZE) or SEARCH SUBJECT over 100,000 messages must not build a flag
  // set, a BigInt and two Dates per message that it never looks at.
  get modseq(): bigint {
    return BigInt(this.columns.modseqs[this.slot]!);
  }

  get flags(): ReadonlySet<string> {
    return this.source.flags(this.slot);
  }

  get internalDate(): Date {
    return new Date(this.columns.internalDates[this.slot]!);
  }

  get saveDate(): Date {
    return new Date(this.columns.saveDates[this.slot]!);
  }

  header(name: string): string[] {
    return this.source.header(this, name.toLowerCase());
  }

  headerText(): string {
    return this.source.headerText(this);
  }

  bodyText(): string {
    return this.source.bodyText(this);
  }

  memo<T>(key: string, compute: (msg: QueryMessage) => T): T {
    return this.source.memo(this, key, compute);
  }
}
