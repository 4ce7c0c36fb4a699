/** FETCH ENVELOPE (RFC 3501 §7.4.2), field for field as Dovecot builds it. */
import { parseHeaderBlock, rawValueString, type HeaderField } from './header.js';
import { parseRawAddresses } from './address.js';
import { fromBinary, type ImapNString } from './imap-value.js';
import type { MimePart } from './mime-part.js';

/** (name adl mailbox host); group start (NIL NIL name NIL), group end (NIL NIL NIL NIL). */
export type EnvelopeAddress = [ImapNString, ImapNString, ImapNString, ImapNString];

/** date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. */
export type ImapEnvelope = [
  ImapNString,
  ImapNString,
  EnvelopeAddress[] | null,
  EnvelopeAddress[] | null,
  EnvelopeAddress[] | null,
  EnvelopeAddress[] | null,
  EnvelopeAddress[] | null,
  EnvelopeAddress[] | null,
  ImapNString,
  ImapNString,
];

const nstr = (s: string | null): ImapNString => (s === null ? null : fromBinary(s));

function addressList(value: string | undefined): EnvelopeAddress[] | null {
  if (value === undefined) return null;
  const list = parseRawAddresses(value);
  if (list.length === 0) return null;
  // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
  const out: EnvelopeAddress[] = [];
  for (const a of list) out.push([nstr(a.name), nstr(a.adl), nstr(a.mailbox), nstr(a.host)]);
  return out;
}

/**
 * The envelope built from a list of header fields. When a field repeats, the last one
 * counts, as in Dovecot (message_part_envelope_parse_from_header overwrites).
 */
export function envelopeFromFields(fields: readonly HeaderField[]): ImapEnvelope {
  const last = new Map<string, string>();
  for (const f of fields) last.set(f.name.toLowerCase(), rawValueString(f.value));
  const text = (name: string): ImapNString => {
    const v = last.get(name);
    return v === undefined ? null : fromBinary(v);
  };
  const from = addressList(last.get('from'));
  // RFC 3501: Sender and Reply-To default to From when absent or empty.
  const sender = addressList(last.get('sender')) ?? from;
  const replyTo = addressList(last.get('reply-to')) ?? from;
  return [
    text('date'),
    text('subject'),
    from,
    sender,
    replyTo,
    addressList(last.get('to')),
    addressList(last.get('cc')),
    addressList(last.get('bcc')),
    text('in-reply-to'),
    text('message-id'),
  ];
}

/**
 * The ENVELOPE of the message, or of the embedded message `part` (a MimePart returned as
 * some part's `message`, or a message/rfc822 part itself).
 */
export function envelope(raw: Buffer, part?: MimePart): ImapEnvelope {
  const target = part?.message ?? part;
  const start = target ? target.headerStart : 0;
  const end = target ? target.bodyStart : raw.length;
  return envelopeFromFields(parseHeaderBlock(raw, start, end).fields);
}
