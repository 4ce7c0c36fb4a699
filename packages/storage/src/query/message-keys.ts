/** Values SORT and THREAD derive from a message's headers. */
import { baseSubjectInfo, decodeHeader, parseAddresses, parseDate } from '@loft/mime';
import { casemap } from './casemap.js';
import type { QueryMessage } from './query-message.js';

/** `compute()`, kept by the message's storage under `key` when it offers that. */
export function memoized<T>(msg: QueryMessage, key: string, compute: (msg: QueryMessage) => T): T {
  return msg.memo ? msg.memo(key, compute) : compute(msg);
}

/** One compute function per header name, made once (no closure per message). */
function perName(made: Map<string, (msg: QueryMessage) => string>, name: string, compute: (msg: QueryMessage, name: string) => string): (msg: QueryMessage) => string {
  let fn = made.get(name);
  if (!fn) made.set(name, (fn = (msg) => compute(msg, name)));
  return fn;
}
const addressKeyOf = new Map<string, (msg: QueryMessage) => string>();
const displayKeyOf = new Map<string, (msg: QueryMessage) => string>();

export function firstHeader(msg: QueryMessage, name: string): string | undefined {
  return msg.header(name)[0];
}

/** RFC 5256 sent date: the Date: header, or the internal date when it is missing or invalid; ms since the epoch. */
export function sortDate(msg: QueryMessage): number {
  return memoized(msg, 'q:sortDate', computeSortDate);
}

function computeSortDate(msg: QueryMessage): number {
  const value = firstHeader(msg, 'date');
  const parsed = value === undefined ? null : parseDate(value);
  return parsed ? parsed.date.getTime() : msg.internalDate.getTime();
}

/** SORT FROM/TO/CC: the addr-mailbox of the first address (a group's name for a group), casemapped. */
export function addressKey(msg: QueryMessage, name: string): string {
  return memoized(msg, `q:addressKey:${name}`, perName(addressKeyOf, name, computeAddressKey));
}

function computeAddressKey(msg: QueryMessage, name: string): string {
  const value = firstHeader(msg, name);
  if (value === undefined) return '';
  const first = parseAddresses(value)[0];
  return first?.mailbox ? casemap(first.mailbox) : '';
}

/** SORT DISPLAYFROM/DISPLAYTO (RFC 5957): the decoded display name, else mailbox@host. */
export function displayKey(msg: QueryMessage, name: string): string {
  return memoized(msg, `q:displayKey:${name}`, perName(displayKeyOf, name, computeDisplayKey));
}

function computeDisplayKey(msg: QueryMessage, name: string): string {
  const value = firstHeader(msg, name);
  if (value === undefined) return '';
  const first = parseAddresses(value)[0];
  if (!first) return '';
  if (first.name) return casemap(decodeHeader(first.name));
  if (first.mailbox !== null && first.host !== null) return casemap(`${first.mailbox}@${first.host}`);
  return first.mailbox ? casemap(first.mailbox) : '';
}

/** The casemapped base subject, and whether the subject was a reply or forward. */
export interface SubjectKey {
  readonly base: string;
  readonly isReplyOrForward: boolean;
  readonly present: boolean;
}

export function subjectKey(msg: QueryMessage): SubjectKey {
  return memoized(msg, 'q:subjectKey', computeSubjectKey);
}

function computeSubjectKey(msg: QueryMessage): SubjectKey {
  const value = firstHeader(msg, 'subject');
  if (value === undefined) return { base: '', isReplyOrForward: false, present: false };
  const info = baseSubjectInfo(value);
  return { base: casemap(info.base), isReplyOrForward: info.isReplyOrForward, present: true };
}
