/**
 * Argument grammars of the commands other than FETCH and SEARCH: STATUS, STORE, LIST
 * (LIST-EXTENDED, RFC 5258; SPECIAL-USE, RFC 6154; LIST-STATUS, RFC 5819), APPEND
 * (MULTIAPPEND RFC 3502, CATENATE RFC 4469, UTF8 RFC 6855), SELECT/EXAMINE parameters
 * (CONDSTORE / QRESYNC, RFC 7162), ENABLE (RFC 5161), ID (RFC 2971) and NOTIFY (RFC 5465).
 * Each throws LoftError LOFT_E_IMAP_SYNTAX, whose detail the caller sends as `BAD`.
 */
import { ArgReader, decodeUtf8, describeArg, isPrintableAsciiExcept, syntaxError } from './arg-reader.js';
import type { ImapArg } from './command-parser.js';
import { parseDateTime } from './date-time.js';
import { parseFetchItems, type FetchItem } from './fetch-items.js';
import { normalizeFlag } from './search-program.js';
import { parseSequenceSet } from './sequence-set.js';
import type { SequenceSet } from './search-key.js';

// ---- flags ---------------------------------------------------------------------------

const STORABLE_SYSTEM_FLAGS = new Set(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft']);

/** One flag of a flag-list: a storable system flag (canonical case) or a keyword. */
export function parseFlag(text: string): string {
  if (text.startsWith('\\')) {
    const flag = normalizeFlag(text);
    if (!STORABLE_SYSTEM_FLAGS.has(flag)) throw syntaxError(`Invalid system flag ${text.slice(0, 40)}`);
    return flag;
  }
  if (!isPrintableAsciiExcept(text, '(){%*"\\]')) throw syntaxError(`Invalid keyword ${text.slice(0, 40)}`);
  return text;
}

/** flag-list items, duplicates (case-insensitively) removed. */
export function parseFlagList(items: readonly ImapArg[]): string[] {
  const flags: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (item.type !== 'atom') throw syntaxError(`Expected a flag, got ${describeArg(item)}`);
    const flag = parseFlag(item.value);
    const key = flag.toUpperCase();
    if (!seen.has(key)) {
      seen.add(key);
      flags.push(flag);
    }
  }
  return flags;
}

// ---- STATUS --------------------------------------------------------------------------

export type StatusItem =
  | 'MESSAGES'
  | 'RECENT'
  | 'UIDNEXT'
  | 'UIDVALIDITY'
  | 'UNSEEN'
  | 'HIGHESTMODSEQ'
  | 'SIZE'
  | 'DELETED'
  | 'APPENDLIMIT';
const STATUS_ITEMS = new Set<string>(['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE', 'DELETED', 'APPENDLIMIT']);

/** STATUS's item list `(MESSAGES UNSEEN)`, upper-cased, each once, in the order given. */
export function parseStatusItems(arg: ImapArg | undefined): StatusItem[] {
  if (arg?.type !== 'list') throw syntaxError('Expected STATUS items in parentheses, e.g. (MESSAGES UNSEEN)');
  const items: StatusItem[] = [];
  for (const item of arg.items) {
    if (item.type !== 'atom') throw syntaxError(`Expected a STATUS item, got ${describeArg(item)}`);
    const name = item.value.toUpperCase();
    if (!STATUS_ITEMS.has(name)) throw syntaxError(`Unknown STATUS item ${item.value.slice(0, 40)}`);
    if (!items.includes(name as StatusItem)) items.push(name as StatusItem);
  }
  if (items.length === 0) throw syntaxError('Empty STATUS item list');
  return items;
}

// ---- STORE ---------------------------------------------------------------------------

export interface StoreAction {
  /** FLAGS replaces, +FLAGS adds, -FLAGS removes. */
  mode: 'replace' | 'add' | 'remove';
  /** .SILENT: no untagged FETCH for the change (CONDSTORE may still send MODSEQ). */
  silent: boolean;
  flags: string[];
  /** CONDSTORE (UNCHANGEDSINCE n): only change messages whose modseq is at most n. */
  unchangedSince?: bigint;
}

/** STORE's arguments after the sequence set: `[(UNCHANGEDSINCE n)] +FLAGS.SILENT (\Seen)`. */
export function parseStoreAction(args: readonly ImapArg[]): StoreAction {
  const reader = new ArgReader(args);
  let unchangedSince: bigint | undefined;
  if (reader.peek()?.type === 'list') {
    const modifiers = new ArgReader(reader.list('STORE modifiers'));
    while (!modifiers.done) {
      const name = modifiers.atom('STORE modifier').toUpperCase();
      if (name !== 'UNCHANGEDSINCE') throw syntaxError(`Unknown STORE modifier ${name.slice(0, 40)}`);
      if (unchangedSince !== undefined) throw syntaxError('UNCHANGEDSINCE given twice');
      unchangedSince = modifiers.number64('UNCHANGEDSINCE mod-sequence');
    }
  }
  const item = reader.atom('STORE data item (FLAGS, +FLAGS or -FLAGS)').toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
  if (m === null) throw syntaxError(`Unknown STORE data item ${item.slice(0, 40)} (expected FLAGS, +FLAGS or -FLAGS)`);
  const rest = reader.peek()?.type === 'list' ? reader.list('flag list') : drain(reader);
  reader.end('STORE');
  const flags = parseFlagList(rest);
  if (flags.length === 0 && m[1] !== '') throw syntaxError(`${item} needs at least one flag`);
  const action: StoreAction = { mode: m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'replace', silent: m[2] !== undefined, flags };
  if (unchangedSince !== undefined) action.unchangedSince = unchangedSince;
  return action;
}

function drain(reader: ArgReader): ImapArg[] {
  const rest: ImapArg[] = [];
  while (!reader.done) rest.push(reader.next('flag'));
  return rest;
}

// ---- LIST ----------------------------------------------------------------------------

export interface ListCommand {
  selection: { subscribed: boolean; remote: boolean; recursiveMatch: boolean; specialUse: boolean };
  /** The reference name, UTF-8 (or still modified UTF-7, as the client sent it). */
  reference: string;
  /** One or more patterns with `*` and `%` wildcards. */
  patterns: string[];
  returnOptions: { subscribed: boolean; children: boolean; specialUse: boolean; myRights: boolean; status?: StatusItem[] };
  /** LIST-EXTENDED syntax was used (selection or RETURN options, or several patterns). */
  extended: boolean;
}

/** LIST's arguments: `[(selection)] reference (pattern / (patterns)) [RETURN (options)]`. */
export function parseListCommand(args: readonly ImapArg[]): ListCommand {
  const reader = new ArgReader(args);
  const result: ListCommand = {
    selection: { subscribed: false, remote: false, recursiveMatch: false, specialUse: false },
    reference: '',
    patterns: [],
    returnOptions: { subscribed: false, children: false, specialUse: false, myRights: false },
    extended: false,
  };
  if (reader.peek()?.type === 'list') {
    result.extended = true;
    for (const option of reader.list('LIST selection options')) {
      if (option.type !== 'atom') throw syntaxError(`Expected a LIST selection option, got ${describeArg(option)}`);
      const name = option.value.toUpperCase();
      if (name === 'SUBSCRIBED') result.selection.subscribed = true;
      else if (name === 'REMOTE') result.selection.remote = true;
      else if (name === 'RECURSIVEMATCH') result.selection.recursiveMatch = true;
      else if (name === 'SPECIAL-USE') result.selection.specialUse = true;
      else throw syntaxError(`Unknown LIST selection option ${option.value.slice(0, 40)}`);
    }
    if (result.selection.recursiveMatch && !result.selection.subscribed && !result.selection.specialUse) {
      throw syntaxError('RECURSIVEMATCH needs another selection option such as SUBSCRIBED');
    }
  }
  result.reference = reader.astring('LIST reference');
  const patterns = reader.peek();
  if (patterns?.type === 'list') {
    reader.next('LIST patterns');
    result.extended = true;
    for (const pattern of patterns.items) result.patterns.push(listMailbox(pattern));
    if (result.patterns.length === 0) throw syntaxError('Empty LIST pattern list');
  } else {
    result.patterns.push(listMailbox(reader.next('LIST mailbox pattern')));
  }
  if (!reader.done) {
    if (reader.atom('RETURN').toUpperCase() !== 'RETURN') throw syntaxError('Expected RETURN after the LIST patterns');
    result.extended = true;
    const options = new ArgReader(reader.list('LIST RETURN options'));
    while (!options.done) {
      const name = options.atom('LIST RETURN option').toUpperCase();
      if (name === 'SUBSCRIBED') result.returnOptions.subscribed = true;
      else if (name === 'CHILDREN') result.returnOptions.children = true;
      else if (name === 'SPECIAL-USE') result.returnOptions.specialUse = true;
      else if (name === 'MYRIGHTS') result.returnOptions.myRights = true;
      else if (name === 'STATUS') result.returnOptions.status = parseStatusItems(options.next('STATUS items'));
      else throw syntaxError(`Unknown LIST RETURN option ${name.slice(0, 40)}`);
    }
  }
  reader.end('LIST');
  return result;
}

/** list-mailbox: an atom with wildcards, or a string. */
function listMailbox(arg: ImapArg): string {
  if (arg.type === 'atom') return arg.value;
  if (arg.type === 'string') return decodeUtf8(arg.value, 'mailbox pattern');
  if (arg.type === 'nil') return 'NIL';
  throw syntaxError(`Expected a mailbox pattern, got ${describeArg(arg)}`);
}

// ---- APPEND --------------------------------------------------------------------------

export type CatenatePart = { type: 'url'; url: string } | { type: 'text'; data: Buffer };

export interface AppendMessage {
  flags: string[];
  /** The INTERNALDATE to set; absent for "now". */
  internalDate?: Date;
  /** The message itself; absent when `catenate` gives its parts. */
  message?: Buffer;
  /** The message came as literal8 (`~{n}`, RFC 3516) or inside UTF8 (…) (RFC 6855). */
  binary: boolean;
  /** CATENATE (RFC 4469): the message is these parts joined. */
  catenate?: CatenatePart[];
}

/** APPEND's arguments: `mailbox 1*([flags] [date-time] message)`, message being a literal, CATENATE (…) or UTF8 (…). */
export function parseAppendArgs(args: readonly ImapArg[]): { mailbox: string; messages: AppendMessage[] } {
  const reader = new ArgReader(args);
  const mailbox = reader.astring('APPEND mailbox name');
  const messages: AppendMessage[] = [];
  do {
    const message: AppendMessage = { flags: [], binary: false };
    if (reader.peek()?.type === 'list') message.flags = parseFlagList(reader.list('APPEND flags'));
    const maybeDate = reader.peek();
    if (maybeDate?.type === 'string' && !maybeDate.literal) {
      reader.next('APPEND date-time');
      message.internalDate = parseDateTime(maybeDate.value.toString('latin1'));
    }
    const data = reader.next('APPEND message literal');
    if (data.type === 'string' && data.literal) {
      message.message = data.value;
      message.binary = data.binary;
    } else if (data.type === 'atom' && data.value.toUpperCase() === 'CATENATE') {
      message.catenate = parseCatenate(reader.list('CATENATE parts'));
    } else if (data.type === 'atom' && data.value.toUpperCase() === 'UTF8') {
      const inner = reader.list('UTF8 message');
      const literal = inner[0];
      if (inner.length !== 1 || literal?.type !== 'string' || !literal.literal) throw syntaxError('UTF8 needs one literal8 in parentheses');
      message.message = literal.value;
      message.binary = true;
    } else {
      throw syntaxError(`Expected the message as a literal, got ${describeArg(data)}`);
    }
    messages.push(message);
  } while (!reader.done);
  return { mailbox, messages };
}

function parseCatenate(items: readonly ImapArg[]): CatenatePart[] {
  const reader = new ArgReader(items);
  const parts: CatenatePart[] = [];
  while (!reader.done) {
    const kind = reader.atom('CATENATE part (URL or TEXT)').toUpperCase();
    if (kind === 'URL') {
      parts.push({ type: 'url', url: reader.astring('CATENATE URL') });
    } else if (kind === 'TEXT') {
      const text = reader.next('CATENATE TEXT literal');
      if (text.type !== 'string' || !text.literal) throw syntaxError('CATENATE TEXT needs a literal');
      parts.push({ type: 'text', data: text.value });
    } else {
      throw syntaxError(`Unknown CATENATE part ${kind.slice(0, 40)}`);
    }
  }
  if (parts.length === 0) throw syntaxError('Empty CATENATE part list');
  return parts;
}

// ---- SELECT / EXAMINE ----------------------------------------------------------------

export interface QresyncParams {
  uidValidity: number;
  modseq: bigint;
  /** UIDs the client knows of; no `*`. */
  knownUids?: SequenceSet;
  /** Pairs of message sequence numbers and the UIDs the client believes they have. */
  seqMatch?: { sequences: SequenceSet; uids: SequenceSet };
}

export interface SelectParams {
  condstore: boolean;
  qresync?: QresyncParams;
}

function setWithoutStar(text: string, what: string): SequenceSet {
  const set = parseSequenceSet(text);
  if (set.some((r) => r.from === '*' || r.to === '*')) throw syntaxError(`${what} must not contain '*'`);
  return set;
}

/** SELECT / EXAMINE parameters after the mailbox name: `(CONDSTORE)`, `(QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]))`. */
export function parseSelectParams(args: readonly ImapArg[]): SelectParams {
  const params: SelectParams = { condstore: false };
  const [list] = args;
  if (list === undefined) return params;
  if (args.length > 1 || list.type !== 'list') throw syntaxError('Expected SELECT parameters in parentheses, e.g. (CONDSTORE)');
  const reader = new ArgReader(list.items);
  while (!reader.done) {
    const name = reader.atom('SELECT parameter').toUpperCase();
    if (name === 'CONDSTORE') {
      params.condstore = true;
    } else if (name === 'QRESYNC') {
      if (params.qresync !== undefined) throw syntaxError('QRESYNC given twice');
      const q = new ArgReader(reader.list('QRESYNC parameters'));
      const qresync: QresyncParams = { uidValidity: q.number('QRESYNC UIDVALIDITY', true), modseq: q.number64('QRESYNC mod-sequence', true) };
      if (q.peek()?.type === 'atom') qresync.knownUids = setWithoutStar(q.atom('known UIDs'), 'known UIDs');
      if (!q.done) {
        const match = new ArgReader(q.list('sequence match data'));
        const sequences = setWithoutStar(match.atom('known sequence set'), 'known sequence set');
        const uids = setWithoutStar(match.atom('known UID set'), 'known UID set');
        match.end('sequence match data');
        qresync.seqMatch = { sequences, uids };
      }
      q.end('QRESYNC parameters');
      params.qresync = qresync;
    } else {
      throw syntaxError(`Unknown SELECT parameter ${name.slice(0, 40)}`);
    }
  }
  return params;
}

// ---- ENABLE, ID ----------------------------------------------------------------------

/** ENABLE's capability names, upper-cased, each once. */
export function parseEnable(args: readonly ImapArg[]): string[] {
  if (args.length === 0) throw syntaxError('ENABLE needs at least one capability');
  const names: string[] = [];
  for (const arg of args) {
    if (arg.type !== 'atom') throw syntaxError(`Expected a capability name, got ${describeArg(arg)}`);
    const name = arg.value.toUpperCase();
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** RFC 2971 §3.3 limits: fields of at most 30 bytes, values of at most 1024, at most 30 pairs. */
export const ID_FIELD_MAX_BYTES = 30;
export const ID_VALUE_MAX_BYTES = 1024;
export const ID_PAIRS_MAX = 30;

/** ID's parameter list: NIL (null) or field/value pairs (values may be NIL). */
export function parseIdParams(args: readonly ImapArg[]): Map<string, string | null> | null {
  const reader = new ArgReader(args);
  const first = reader.next('ID parameter list');
  reader.end('ID');
  if (first.type === 'nil') return null;
  if (first.type !== 'list') throw syntaxError('Expected the ID parameters in parentheses, or NIL');
  if (first.items.length % 2 !== 0) throw syntaxError('ID parameters must come in field/value pairs');
  if (first.items.length / 2 > ID_PAIRS_MAX) throw syntaxError(`More than ${ID_PAIRS_MAX} ID fields`);
  const pairs = new ArgReader(first.items);
  const params = new Map<string, string | null>();
  while (!pairs.done) {
    const field = pairs.astringBytes('ID field');
    const value = pairs.nstring('ID value');
    if (field.length > ID_FIELD_MAX_BYTES) throw syntaxError(`ID field longer than ${ID_FIELD_MAX_BYTES} bytes`);
    if (value !== null && value.length > ID_VALUE_MAX_BYTES) throw syntaxError(`ID value longer than ${ID_VALUE_MAX_BYTES} bytes`);
    params.set(decodeUtf8(field, 'ID field'), value === null ? null : decodeUtf8(value, 'ID value'));
  }
  return params;
}

// ---- NOTIFY --------------------------------------------------------------------------

export type NotifyFilter =
  | { kind: 'selected' | 'selected-delayed' | 'inboxes' | 'personal' | 'subscribed' }
  | { kind: 'subtree' | 'mailboxes'; mailboxes: string[] };

export interface NotifyEvent {
  /** The event name as registered (MessageNew, MessageExpunge, FlagChange, MailboxName, …), in canonical case. */
  name: string;
  /** MessageNew's FETCH items. */
  fetch?: FetchItem[];
  /** The same items as the client sent them, a list, for running them as a UID FETCH. */
  fetchArgs?: ImapArg;
}

export interface NotifyGroup {
  filter: NotifyFilter;
  /** Empty for NONE: no events for these mailboxes. */
  events: NotifyEvent[];
}

export type NotifyCommand = { type: 'none' } | { type: 'set'; status: boolean; groups: NotifyGroup[] };

const NOTIFY_EVENTS = new Map(
  ['MessageNew', 'MessageExpunge', 'FlagChange', 'AnnotationChange', 'MailboxName', 'SubscriptionChange', 'MailboxMetadataChange', 'ServerMetadataChange'].map(
    (e) => [e.toUpperCase(), e],
  ),
);

/** NOTIFY's arguments (RFC 5465 §8): `NONE` or `SET [STATUS] (filter events)…`. */
export function parseNotify(args: readonly ImapArg[]): NotifyCommand {
  const reader = new ArgReader(args);
  const verb = reader.atom('NOTIFY SET or NONE').toUpperCase();
  if (verb === 'NONE') {
    reader.end('NOTIFY');
    return { type: 'none' };
  }
  if (verb !== 'SET') throw syntaxError('Expected NOTIFY SET or NOTIFY NONE');
  let status = false;
  if (reader.peekAtom() === 'STATUS') {
    reader.next('STATUS');
    status = true;
  }
  const groups: NotifyGroup[] = [];
  do groups.push(parseNotifyGroup(reader.list('NOTIFY event group')));
  while (!reader.done);
  return { type: 'set', status, groups };
}

function parseNotifyGroup(items: readonly ImapArg[]): NotifyGroup {
  const reader = new ArgReader(items);
  const kind = reader.atom('NOTIFY mailbox filter').toLowerCase();
  let filter: NotifyFilter;
  if (kind === 'selected' || kind === 'selected-delayed' || kind === 'inboxes' || kind === 'personal' || kind === 'subscribed') {
    filter = { kind };
  } else if (kind === 'subtree' || kind === 'mailboxes') {
    const next = reader.peek();
    const mailboxes =
      next?.type === 'list' ? new ArgReader(reader.list('mailboxes')) : undefined;
    const names: string[] = [];
    if (mailboxes === undefined) names.push(reader.astring('mailbox'));
    else while (!mailboxes.done) names.push(mailboxes.astring('mailbox'));
    if (names.length === 0) throw syntaxError(`${kind} needs at least one mailbox`);
    filter = { kind, mailboxes: names };
  } else {
    throw syntaxError(`Unknown NOTIFY mailbox filter ${kind.slice(0, 40)}`);
  }
  const eventsArg = reader.next('NOTIFY events');
  reader.end('NOTIFY event group');
  if (eventsArg.type === 'atom' && eventsArg.value.toUpperCase() === 'NONE') return { filter, events: [] };
  if (eventsArg.type !== 'list') throw syntaxError('Expected NOTIFY events in parentheses, or NONE');
  const events: NotifyEvent[] = [];
  const eventReader = new ArgReader(eventsArg.items);
  while (!eventReader.done) {
    const raw = eventReader.atom('NOTIFY event');
    const name = NOTIFY_EVENTS.get(raw.toUpperCase());
    if (name === undefined) throw syntaxError(`Unknown NOTIFY event ${raw.slice(0, 40)}`);
    const event: NotifyEvent = { name };
    if (name === 'MessageNew' && eventReader.peek()?.type === 'list') {
      const fetchArgs = eventReader.next('MessageNew FETCH items');
      event.fetch = parseFetchItems(fetchArgs);
      event.fetchArgs = fetchArgs;
    }
    events.push(event);
  }
  if (events.length === 0) throw syntaxError('Empty NOTIFY event list (use NONE)');
  return { filter, events };
}
