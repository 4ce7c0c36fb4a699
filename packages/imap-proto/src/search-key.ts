/**
 * The parsed form of an IMAP SEARCH program (RFC 3501 §6.4.4, RFC 9051 §6.4.4, CONDSTORE,
 * WITHIN, SEARCHRES, SAVEDATE). imap-proto produces it; the storage's query engine
 * evaluates it. Header-ish keys (FROM, TO, CC, BCC, SUBJECT) become `header` keys; flag
 * keys (SEEN/UNSEEN, KEYWORD/UNKEYWORD, …) become `flag` keys; NEW is
 * and(flag \Recent, not flag \Seen) and OLD is not(flag \Recent).
 */

/** One range of a sequence set; `'*'` is the largest number in use (RFC 3501 §9 seq-number). */
export interface SequenceRange {
  from: number | '*';
  to: number | '*';
}

/** `1:3,5,*`; order and overlaps are kept as written. `$` (SEARCHRES) is a `saved` key, not a set. */
export type SequenceSet = readonly SequenceRange[];

export type SearchKey =
  | { type: 'all' }
  | { type: 'seq'; set: SequenceSet }
  | { type: 'uid'; set: SequenceSet }
  /** The result saved by SEARCH RETURN (SAVE) (`$`), as message sequence numbers or UIDs. */
  | { type: 'saved'; uid: boolean }
  /** System flag (`\\Seen`…) or keyword; `set: false` for UNSEEN, UNKEYWORD, … */
  | { type: 'flag'; flag: string; set: boolean }
  /** Substring match, case-insensitive, on the decoded header value; empty value = the field exists. */
  | { type: 'header'; field: string; value: string }
  | { type: 'body'; value: string }
  | { type: 'text'; value: string }
  /** Dates compare by day in the message's own or the server's zone as RFC 3501 says; `date` is YYYY-MM-DD. */
  | { type: 'date'; field: 'internal' | 'sent' | 'saved'; op: 'before' | 'on' | 'since'; date: string }
  | { type: 'size'; op: 'larger' | 'smaller'; bytes: number }
  /** CONDSTORE: modseq >= value. */
  | { type: 'modseq'; modseq: bigint; entry?: { name: string; kind: 'priv' | 'shared' | 'all' } }
  /** WITHIN: OLDER/YOUNGER by internal date, in seconds. */
  | { type: 'age'; op: 'older' | 'younger'; seconds: number }
  /** SAVEDATESUPPORTED: true in every mailbox that keeps save dates (all of Loft's). */
  | { type: 'savedatesupported' }
  | { type: 'not'; key: SearchKey }
  | { type: 'or'; left: SearchKey; right: SearchKey }
  | { type: 'and'; keys: SearchKey[] };
