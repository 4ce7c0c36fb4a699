/** Values SORT and THREAD derive from a message's headers. */
import { baseSubjectInfo, decodeHeader, parseAddresses, parseDate } from '@loft/mime';
import { casemap } from './casemap.js';
import type { QueryMessage } from './query-message.js';

export function firstHeader(msg: QueryMessage, name: string): string | undefined {
  return msg.header(name)[0];
}

/** RFC 5256 sent date: the Date: header, or the internal date when it is missing or invalid; ms since the epoch. */
export function sortDate(msg: QueryMessage): number {
  const value = firstHeader(msg, 'date');
  const parsed = value === undefined ? null : parseDate(value);
  return parsed ? parsed.date.getTime() : msg.internalDate.getTime();
}

/** SORT FROM/TO/CC: the addr-mailbox of the first address (a group's name for a group), casemapped. */
export function addressKey(msg: QueryMessage, name: string): string {
  const value = firstHeader(msg, name);
  if (value === undefined) return '';
  const first = parseAddresses(value)[0];
  return first?.mailbox ? casemap(first.mailbox) : '';
}

/** SORT DISPLAYFROM/DISPLAYTO (RFC 5957): the decoded display name, else mailbox@host. */
export function displayKey(msg: QueryMessage, name: string): string {
  const value = firstHeader(msg, name);
  if (value === undefined) return '';
  const first = parseAddresses(value)[0];
  if (!first) return '';
  if (first.name) return casemap(decodeHeader(first.name));
  if (first.mailbox !== null && first.host !== null) return casemap(`${first.mailbox}@${first.host}`);
  return first.mailbox ? casemap(first.mailbox) : '';
}

/** The casemapped base subject, and whether the subject was a reply or forward. */
export function subjectKey(msg: QueryMessage): { base: string; isReplyOrForward: boolean; present: boolean } {
  const value = firstHeader(msg, 'subject');
  if (value === undefined) return { base: '', isReplyOrForward: false, present: false };
  const info = baseSubjectInfo(value);
  return { base: casemap(info.base), isReplyOrForward: info.isReplyOrForward, present: true };
}
