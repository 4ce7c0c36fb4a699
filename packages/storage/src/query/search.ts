/**
 * SEARCH evaluation (RFC 3501 §6.4.4, RFC 9051, CONDSTORE, WITHIN, SEARCHRES, SAVEDATE).
 * compileSearch() checks the program once and orders every AND so that cheap tests (flags,
 * numbers, dates) run before header tests, and those before body tests.
 */
import type { SearchKey, SequenceSet } from '@loft/imap-proto';
import { LoftError } from '@loft/errors';
import { decodeHeader, parseAddresses, parseDate } from '@loft/mime';
import { casemap } from './casemap.js';
import { memoized } from './message-keys.js';
import type { QueryContext, QueryMessage } from './query-message.js';

const DAY_MS = 86_400_000;

/** Per-message memo, so BODY a BODY b decodes the body once. */
interface Evaluation {
  msg: QueryMessage;
  ctx: QueryContext;
  body?: string;
  headers?: string;
}

type Test = (ev: Evaluation) => boolean;

interface Node {
  test: Test;
  /** 0 = index data only, 1 = headers, 2 = body. */
  cost: number;
}

export interface CompiledSearch {
  readonly root: Node;
  readonly needsBody: boolean;
  readonly headers: ReadonlySet<string> | 'all';
}

function invalid(detail: string): LoftError {
  return new LoftError('LOFT_E_STORAGE_INVALID', detail);
}

/** `YYYY-MM-DD` → days since the epoch. */
function dayNumber(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw invalid(`search date "${date}" is not YYYY-MM-DD`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (new Date(ms).getUTCDate() !== Number(m[3])) throw invalid(`search date "${date}" does not exist`);
  return ms / DAY_MS;
}

/** The day an instant falls on in the server's zone. */
function localDay(instant: Date, ctx: QueryContext): number {
  const offset = ctx.timeZoneOffsetMinutes ?? -instant.getTimezoneOffset();
  return Math.floor((instant.getTime() + offset * 60_000) / DAY_MS);
}

/**
 * The day the Date: header names, in its own zone (RFC 3501: "disregarding time and
 * timezone"). Like Dovecot, a missing or invalid header counts as 1970-01-01.
 */
function sentDay(msg: QueryMessage): number {
  return memoized(msg, 'q:sentDay', computeSentDay);
}

function computeSentDay(msg: QueryMessage): number {
  const value = msg.header('date')[0];
  const parsed = value === undefined ? null : parseDate(value);
  return parsed ? Date.UTC(parsed.year, parsed.month - 1, parsed.day) / DAY_MS : 0;
}

function checkSet(set: SequenceSet): void {
  for (const r of set) {
    for (const n of [r.from, r.to]) {
      if (n !== '*' && (!Number.isInteger(n) || n < 1)) throw invalid(`sequence number ${n} is not a positive integer`);
    }
  }
}

function inSet(set: SequenceSet, n: number, star: number): boolean {
  for (const r of set) {
    const a = r.from === '*' ? star : r.from;
    const b = r.to === '*' ? star : r.to;
    if (a <= b ? n >= a && n <= b : n >= b && n <= a) return true;
  }
  return false;
}

const savedSets = new WeakMap<object, Set<number>>();

function savedUids(ctx: QueryContext): Set<number> {
  const saved = ctx.savedResult;
  if (!saved) return new Set();
  let set = savedSets.get(saved);
  if (!set) {
    set = new Set(saved.uids);
    savedSets.set(saved, set);
  }
  return set;
}

function hasFlag(flags: ReadonlySet<string>, flag: string, folded: string): boolean {
  if (flags.has(flag)) return true;
  for (const f of flags) if (f.toLowerCase() === folded) return true;
  return false;
}

function bodyOf(ev: Evaluation): string {
  ev.body ??= casemap(ev.msg.bodyText());
  return ev.body;
}

function headersOf(ev: Evaluation): string {
  ev.headers ??= casemap(ev.msg.headerText());
  return ev.headers;
}

const ADDRESS_FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'sender', 'reply-to']);

/** An address list written the way Dovecot normalises it for searching (message_address_write). */
function normalizedAddresses(value: string): string {
  let str = '';
  let first = true;
  let inGroup = false;
  for (const a of parseAddresses(value)) {
    if (first) first = false;
    else str += ', ';
    if (a.host === null) {
      if (!inGroup) {
        str += `${a.mailbox ?? ''}: `;
        first = true;
      } else {
        // Drops the ", " (or an empty group's ": ") before the end, as Dovecot does.
        str = str.slice(0, -2) + ';';
      }
      inGroup = !inGroup;
    } else if (!a.name && a.adl === null) {
      str += `${a.mailbox ?? ''}@${a.host}`;
    } else {
      str += `${a.name ? a.name + ' ' : ''}<${a.adl !== null ? a.adl + ':' : ''}${a.mailbox ?? ''}@${a.host}>`;
    }
  }
  return str;
}

/** The decoded, casemapped forms a header value is matched against. */
function headerForms(field: string, value: string): string[] {
  const decoded = decodeHeader(value);
  // SUBJECT compares with runs of whitespace as one space (Dovecot's COMPRESS_LWSP).
  const forms = [casemap(field === 'subject' ? decoded.replace(/[ \t]+/g, ' ') : decoded)];
  if (ADDRESS_FIELDS.has(field)) forms.push(casemap(decodeHeader(normalizedAddresses(value))));
  return forms;
}

/** headerForms() of every value of the field. */
function allHeaderForms(msg: QueryMessage, field: string): readonly string[] {
  const values = msg.header(field);
  if (values.length === 1) return headerForms(field, values[0]!);
  const out: string[] = [];
  for (const v of values) out.push(...headerForms(field, v));
  return out;
}

function compileDate(key: Extract<SearchKey, { type: 'date' }>): Node {
  const day = dayNumber(key.date);
  const cmp =
    key.op === 'before' ? (d: number) => d < day : key.op === 'on' ? (d: number) => d === day : (d: number) => d >= day;
  switch (key.field) {
    case 'internal':
      return { cost: 0, test: (ev) => cmp(localDay(ev.msg.internalDate, ev.ctx)) };
    case 'saved':
      return { cost: 0, test: (ev) => cmp(localDay(ev.msg.saveDate ?? ev.msg.internalDate, ev.ctx)) };
    case 'sent':
      return { cost: 1, test: (ev) => cmp(sentDay(ev.msg)) };
  }
  throw invalid(`unknown date field ${String((key as { field: unknown }).field)}`);
}

function compile(key: SearchKey, needs: { body: boolean; headers: Set<string> | 'all' }): Node {
  const addHeader = (name: string): void => {
    if (needs.headers !== 'all') needs.headers.add(name);
  };
  switch (key.type) {
    case 'all':
    case 'savedatesupported':
      return { cost: 0, test: () => true };
    case 'seq':
      checkSet(key.set);
      return { cost: 0, test: (ev) => inSet(key.set, ev.msg.seq, ev.ctx.messageCount) };
    case 'uid':
      checkSet(key.set);
      return { cost: 0, test: (ev) => inSet(key.set, ev.msg.uid, ev.ctx.maxUid) };
    case 'saved':
      return { cost: 0, test: (ev) => savedUids(ev.ctx).has(ev.msg.uid) };
    case 'flag': {
      const folded = key.flag.toLowerCase();
      return { cost: 0, test: (ev) => hasFlag(ev.msg.flags, key.flag, folded) === key.set };
    }
    case 'size':
      if (!Number.isSafeInteger(key.bytes) || key.bytes < 0) throw invalid(`size ${key.bytes} is not a byte count`);
      return key.op === 'larger'
        ? { cost: 0, test: (ev) => ev.msg.size > key.bytes }
        : { cost: 0, test: (ev) => ev.msg.size < key.bytes };
    case 'modseq':
      return { cost: 0, test: (ev) => ev.msg.modseq >= key.modseq };
    case 'age': {
      if (!Number.isSafeInteger(key.seconds) || key.seconds < 0) throw invalid(`interval ${key.seconds} is not seconds`);
      // Whole seconds, both ends inclusive, as Dovecot compares them.
      const limit = (ev: Evaluation): number => Math.floor(ev.ctx.now.getTime() / 1000) - key.seconds;
      const secs = (ev: Evaluation): number => Math.floor(ev.msg.internalDate.getTime() / 1000);
      return key.op === 'older'
        ? { cost: 0, test: (ev) => secs(ev) <= limit(ev) }
        : { cost: 0, test: (ev) => secs(ev) >= limit(ev) };
    }
    case 'date':
      if (key.field === 'sent') addHeader('date');
      return compileDate(key);
    case 'header': {
      const field = key.field.toLowerCase();
      if (field === '') throw invalid('empty header field name');
      addHeader(field);
      if (key.value === '') return { cost: 1, test: (ev) => ev.msg.header(field).length > 0 };
      const needle = casemap(key.value);
      // The forms are kept by the message's storage between searches.
      const memoKey = `q:headerForms:${field}`;
      const forms = (msg: QueryMessage): readonly string[] => allHeaderForms(msg, field);
      return {
        cost: 1,
        test: (ev) => memoized(ev.msg, memoKey, forms).some((form) => form.includes(needle)),
      };
    }
    case 'body': {
      needs.body = true;
      const needle = casemap(key.value);
      return { cost: 2, test: (ev) => bodyOf(ev).includes(needle) };
    }
    case 'text': {
      needs.body = true;
      needs.headers = 'all';
      const needle = casemap(key.value);
      return { cost: 2, test: (ev) => headersOf(ev).includes(needle) || bodyOf(ev).includes(needle) };
    }
    case 'not': {
      const inner = compile(key.key, needs);
      return { cost: inner.cost, test: (ev) => !inner.test(ev) };
    }
    case 'or': {
      const pair = [compile(key.left, needs), compile(key.right, needs)].sort((a, b) => a.cost - b.cost);
      const [a, b] = pair;
      return { cost: b.cost, test: (ev) => a.test(ev) || b.test(ev) };
    }
    case 'and': {
      const parts = key.keys.map((k) => compile(k, needs)).sort((a, b) => a.cost - b.cost);
      const cost = parts.reduce((m, p) => Math.max(m, p.cost), 0);
      return { cost, test: (ev) => parts.every((p) => p.test(ev)) };
    }
  }
  throw invalid(`unknown search key ${String((key as { type: unknown }).type)}`);
}

/** Checks a search program and orders it for evaluation; throws LOFT_E_STORAGE_INVALID. */
export function compileSearch(key: SearchKey): CompiledSearch {
  const needs: { body: boolean; headers: Set<string> | 'all' } = { body: false, headers: new Set() };
  const root = compile(key, needs);
  return { root, needsBody: needs.body, headers: needs.headers };
}

export function searchMatches(compiled: CompiledSearch, msg: QueryMessage, ctx: QueryContext): boolean {
  return compiled.root.test({ msg, ctx });
}

/** Whether evaluating the program may call bodyText(). */
export function needsBody(compiled: CompiledSearch): boolean {
  return compiled.needsBody;
}

/** The header fields (lower-cased) the program reads, or 'all' when TEXT needs every header. */
export function needsHeaders(compiled: CompiledSearch): string[] | 'all' {
  return compiled.headers === 'all' ? 'all' : [...compiled.headers].sort();
}
