/**
 * SEARCH programs (RFC 3501 §6.4.4, RFC 9051 §6.4.4) into the SearchKey tree of
 * search-key.ts, with CONDSTORE MODSEQ (RFC 7162), WITHIN (RFC 5032), SAVEDATE (RFC 8514),
 * SEARCHRES `$` (RFC 5182), ESEARCH RETURN options (RFC 4731, PARTIAL from RFC 9394), and
 * SORT / THREAD arguments (RFC 5256, SORT=DISPLAY RFC 5957).
 */
import { LoftError } from '@loft/errors';
import { decodeCharset, knownCharset } from '@loft/mime';
import { ArgReader, decodeUtf8, describeArg, isPrintableAsciiExcept, parseNumber, syntaxError } from './arg-reader.js';
import type { ImapArg } from './command-parser.js';
import { parseSearchDate } from './date-time.js';
import { parseFetchItems } from './fetch-items.js';
import { isSequenceSet, parseSequenceSet } from './sequence-set.js';
import type { SearchKey } from './search-key.js';

/**
 * The charsets named in `NO [BADCHARSET (…)]`. SEARCH, SORT and THREAD also take any other
 * charset @loft/mime converts (ISO-8859-1, KOI8-R, Windows-1252, …: iconv-lite's, loaded only
 * then), as Dovecot takes any that iconv knows; their strings are decoded from it.
 */
export const SEARCH_CHARSETS = ['US-ASCII', 'UTF-8'] as const;
/** How deep NOT / OR / parentheses may nest; deeper programs are refused, not recursed into. */
export const SEARCH_DEPTH_MAX = 100;

/** ESEARCH result options (RFC 4731, RFC 5182 SAVE, RFC 9394 PARTIAL). */
export interface SearchReturn {
  min: boolean;
  max: boolean;
  all: boolean;
  count: boolean;
  save: boolean;
  /** PARTIAL: 1-based positions in the result, both positive (`1:100`) or both negative, counting from the end (`-1:-100`). */
  partial?: { from: number; to: number };
  /** CONTEXT=SEARCH UPDATE (RFC 5267 §4.3): keep the result up to date with ADDTO/REMOVEFROM; set only when given. */
  update?: true;
  /** UPDATE (fetch-atts) (RFC 5465 §7): FETCH these (a list, as sent) for messages added to the result. */
  updateFetch?: ImapArg;
  /** CONTEXT (RFC 5267 §4.2): a hint that the criteria will be used again; set only when given. */
  context?: true;
}

export interface SearchOptions {
  /** ESEARCH (or ESORT for SORT) is advertised, so `RETURN (…)` is allowed; default true. */
  esearch?: boolean;
}

export interface ParsedSearch {
  /** The CHARSET given, upper-cased; undefined when none was. */
  charset?: string;
  key: SearchKey;
  /** Present when the command had RETURN (…): the caller answers with ESEARCH. */
  returnOptions?: SearchReturn;
}

const SYSTEM_FLAGS = new Map(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'].map((f) => [f.toUpperCase(), f]));

const FLAG_KEYS: Record<string, { flag: string; set: boolean }> = {
  ANSWERED: { flag: '\\Answered', set: true },
  DELETED: { flag: '\\Deleted', set: true },
  DRAFT: { flag: '\\Draft', set: true },
  FLAGGED: { flag: '\\Flagged', set: true },
  RECENT: { flag: '\\Recent', set: true },
  SEEN: { flag: '\\Seen', set: true },
  UNANSWERED: { flag: '\\Answered', set: false },
  UNDELETED: { flag: '\\Deleted', set: false },
  UNDRAFT: { flag: '\\Draft', set: false },
  UNFLAGGED: { flag: '\\Flagged', set: false },
  UNSEEN: { flag: '\\Seen', set: false },
};

const HEADER_KEYS: Record<string, string> = { FROM: 'From', TO: 'To', CC: 'Cc', BCC: 'Bcc', SUBJECT: 'Subject' };

const DATE_KEYS: Record<string, { field: 'internal' | 'sent' | 'saved'; op: 'before' | 'on' | 'since' }> = {
  BEFORE: { field: 'internal', op: 'before' },
  ON: { field: 'internal', op: 'on' },
  SINCE: { field: 'internal', op: 'since' },
  SENTBEFORE: { field: 'sent', op: 'before' },
  SENTON: { field: 'sent', op: 'on' },
  SENTSINCE: { field: 'sent', op: 'since' },
  SAVEDBEFORE: { field: 'saved', op: 'before' },
  SAVEDON: { field: 'saved', op: 'on' },
  SAVEDSINCE: { field: 'saved', op: 'since' },
};

/** A keyword or system flag as stored: system flags in their canonical case. */
export function normalizeFlag(text: string): string {
  if (text.startsWith('\\')) return SYSTEM_FLAGS.get(text.toUpperCase()) ?? text;
  return text;
}

/** flag-keyword (RFC 3501 §9): an atom; no backslash. */
function parseKeyword(text: string): string {
  if (text === '' || text.startsWith('\\')) throw syntaxError(`Invalid keyword ${text.slice(0, 40)} (system flags use their own search keys)`);
  return text;
}

class SearchParser {
  readonly #reader: ArgReader;
  /** The CHARSET given, when it is neither US-ASCII nor UTF-8. */
  readonly #charset: string | undefined;

  constructor(reader: ArgReader, charset?: string) {
    this.#reader = reader;
    this.#charset = charset === undefined || (SEARCH_CHARSETS as readonly string[]).includes(charset) ? undefined : charset;
  }

  #text(what: string): string {
    const bytes = this.#reader.astringBytes(what);
    return this.#charset === undefined ? decodeUtf8(bytes, what) : decodeCharset(bytes, this.#charset);
  }

  #atomText(what: string): string {
    const arg = this.#reader.next(what);
    if (arg.type === 'atom') return arg.value;
    if (arg.type === 'string') return arg.value.toString('latin1');
    throw syntaxError(`Expected ${what}, got ${describeArg(arg)}`);
  }

  /** One search-key; `depth` counts enclosing NOT / OR / parentheses. */
  key(depth: number): SearchKey {
    if (depth > SEARCH_DEPTH_MAX) throw syntaxError(`Search program nested deeper than ${SEARCH_DEPTH_MAX} levels`);
    const reader = this.#reader;
    const arg = reader.next('search key');
    if (arg.type === 'list') {
      const inner = new SearchParser(new ArgReader(arg.items), this.#charset);
      const keys: SearchKey[] = [];
      while (!inner.#reader.done) keys.push(inner.key(depth + 1));
      if (keys.length === 0) throw syntaxError('Empty parenthesised search key list');
      return keys.length === 1 ? keys[0]! : { type: 'and', keys };
    }
    if (arg.type !== 'atom') throw syntaxError(`Expected a search key, got ${describeArg(arg)}`);
    const name = arg.value.toUpperCase();
    const flag = FLAG_KEYS[name];
    if (flag !== undefined) return { type: 'flag', flag: flag.flag, set: flag.set };
    const header = HEADER_KEYS[name];
    if (header !== undefined) return { type: 'header', field: header, value: this.#text(`${name} string`) };
    const date = DATE_KEYS[name];
    if (date !== undefined) return { type: 'date', field: date.field, op: date.op, date: parseSearchDate(this.#atomText(`${name} date`)) };
    switch (name) {
      case 'ALL':
        return { type: 'all' };
      case 'NEW':
        return { type: 'and', keys: [{ type: 'flag', flag: '\\Recent', set: true }, { type: 'flag', flag: '\\Seen', set: false }] };
      case 'OLD':
        return { type: 'not', key: { type: 'flag', flag: '\\Recent', set: true } };
      case 'KEYWORD':
      case 'UNKEYWORD':
        return { type: 'flag', flag: parseKeyword(reader.atom(`${name} flag`)), set: name === 'KEYWORD' };
      case 'HEADER': {
        const field = this.#text('HEADER field name');
        if (!isPrintableAsciiExcept(field, ':')) throw syntaxError(`Invalid header field name ${field.slice(0, 40)}`);
        return { type: 'header', field, value: this.#text('HEADER string') };
      }
      case 'BODY':
      case 'TEXT':
        return { type: name === 'BODY' ? 'body' : 'text', value: this.#text(`${name} string`) };
      case 'LARGER':
      case 'SMALLER': {
        const text = reader.atom(`${name} size`);
        if (!/^\d{1,15}$/.test(text) || Number(text) > Number.MAX_SAFE_INTEGER) throw syntaxError(`Invalid ${name} size ${text.slice(0, 40)}`);
        return { type: 'size', op: name === 'LARGER' ? 'larger' : 'smaller', bytes: Number(text) };
      }
      case 'NOT':
        return { type: 'not', key: this.key(depth + 1) };
      case 'OR': {
        const left = this.key(depth + 1);
        return { type: 'or', left, right: this.key(depth + 1) };
      }
      case 'UID': {
        const text = reader.atom('UID sequence set');
        if (text === '$') return { type: 'saved', uid: true };
        return { type: 'uid', set: parseSequenceSet(text) };
      }
      case '$':
        return { type: 'saved', uid: false };
      case 'MODSEQ':
        return this.#modseq();
      case 'OLDER':
      case 'YOUNGER':
        return { type: 'age', op: name === 'OLDER' ? 'older' : 'younger', seconds: reader.number(`${name} interval`, true) };
      case 'SAVEDATESUPPORTED':
        return { type: 'savedatesupported' };
      default:
        if (isSequenceSet(arg.value)) return { type: 'seq', set: parseSequenceSet(arg.value) };
        throw syntaxError(`Unknown search key ${arg.value.slice(0, 40)}`);
    }
  }

  /** MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.1.5). */
  #modseq(): SearchKey {
    const reader = this.#reader;
    const first = reader.peek();
    let entry: { name: string; kind: 'priv' | 'shared' | 'all' } | undefined;
    if (first?.type === 'string') {
      const name = decodeUtf8(reader.string('MODSEQ entry name'), 'MODSEQ entry name');
      if (!name.startsWith('/flags/')) throw syntaxError(`MODSEQ entry name must be "/flags/<flag>", not ${name.slice(0, 40)}`);
      const kind = reader.atom('MODSEQ entry type').toLowerCase();
      if (kind !== 'priv' && kind !== 'shared' && kind !== 'all') throw syntaxError('MODSEQ entry type must be priv, shared or all');
      entry = { name, kind };
    }
    const modseq = reader.number64('MODSEQ value');
    return entry === undefined ? { type: 'modseq', modseq } : { type: 'modseq', modseq, entry };
  }

  /** The rest of the program: one key or several (an implicit AND). */
  program(): SearchKey {
    const keys: SearchKey[] = [];
    while (!this.#reader.done) keys.push(this.key(0));
    if (keys.length === 0) throw syntaxError('Missing search criteria');
    return keys.length === 1 ? keys[0]! : { type: 'and', keys };
  }
}

/** RETURN (…) of ESEARCH; `RETURN ()` means ALL (RFC 4731 §3.1). */
export function parseSearchReturn(items: readonly ImapArg[]): SearchReturn {
  const options: SearchReturn = { min: false, max: false, all: false, count: false, save: false };
  const reader = new ArgReader(items);
  if (reader.done) options.all = true;
  while (!reader.done) {
    const name = reader.atom('RETURN option').toUpperCase();
    switch (name) {
      case 'MIN':
      case 'MAX':
      case 'ALL':
      case 'COUNT':
      case 'SAVE':
        options[name.toLowerCase() as 'min' | 'max' | 'all' | 'count' | 'save'] = true;
        break;
      case 'UPDATE':
        options.update = true;
        if (reader.peek()?.type === 'list') {
          const fetch = reader.next('UPDATE FETCH attributes');
          parseFetchItems(fetch);
          options.updateFetch = fetch;
        }
        break;
      case 'CONTEXT':
        options.context = true;
        break;
      case 'PARTIAL': {
        if (options.partial !== undefined) throw syntaxError('PARTIAL given twice');
        const text = reader.atom('PARTIAL range');
        const m = /^(-?)(\d+):(-?)(\d+)$/.exec(text);
        if (m === null || m[1] !== m[3]) throw syntaxError('PARTIAL needs a range like 1:100 or -1:-100');
        const sign = m[1] === '-' ? -1 : 1;
        const a = parseNumber(m[2]!, 'PARTIAL position', true);
        const b = parseNumber(m[4]!, 'PARTIAL position', true);
        options.partial = { from: sign * Math.min(a, b), to: sign * Math.max(a, b) };
        break;
      }
      default:
        throw syntaxError(`Unknown SEARCH RETURN option ${name.slice(0, 40)}`);
    }
  }
  // RFC 5267 §4.4: one PARTIAL or one ALL, not both.
  if (options.partial !== undefined && options.all) throw syntaxError('RETURN cannot have both PARTIAL and ALL');
  // Only hints and UPDATE: the result itself is still wanted, as with RETURN () (RFC 4731 §3.1).
  if (!options.min && !options.max && !options.all && !options.count && !options.save && options.partial === undefined) options.all = true;
  return options;
}

function readCharset(reader: ArgReader): string {
  const charset = reader.astring('charset').toUpperCase();
  if (!knownCharset(charset)) {
    throw new LoftError('LOFT_E_IMAP_BAD_CHARSET', `${charset.slice(0, 40)} is not supported; use US-ASCII or UTF-8`);
  }
  return charset;
}

function readReturn(reader: ArgReader, options: SearchOptions): SearchReturn | undefined {
  if (reader.peekAtom() !== 'RETURN') return undefined;
  if (options.esearch === false) throw syntaxError('RETURN needs the ESEARCH extension, which this server does not offer');
  reader.next('RETURN');
  return parseSearchReturn(reader.list('RETURN options'));
}

/**
 * SEARCH's arguments: `[RETURN (…)] [CHARSET x] key…`. Throws LOFT_E_IMAP_SYNTAX (answer
 * BAD) or LOFT_E_IMAP_BAD_CHARSET (answer `NO [BADCHARSET (US-ASCII UTF-8)]`).
 */
export function parseSearch(args: readonly ImapArg[], options: SearchOptions = {}): ParsedSearch {
  const reader = new ArgReader(args);
  const returnOptions = readReturn(reader, options);
  let charset: string | undefined;
  if (reader.peekAtom() === 'CHARSET') {
    reader.next('CHARSET');
    charset = readCharset(reader);
  }
  const key = new SearchParser(reader, charset).program();
  const result: ParsedSearch = { key };
  if (charset !== undefined) result.charset = charset;
  if (returnOptions !== undefined) result.returnOptions = returnOptions;
  return result;
}

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}
const SORT_KEYS = new Set<string>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

/** SORT criteria (RFC 5256 §3, SORT=DISPLAY RFC 5957): `(REVERSE DATE SUBJECT)`. */
export function parseSortCriteria(arg: ImapArg | undefined): SortCriterion[] {
  if (arg?.type !== 'list') throw syntaxError('Expected SORT criteria in parentheses, e.g. (REVERSE DATE)');
  const reader = new ArgReader(arg.items);
  const criteria: SortCriterion[] = [];
  while (!reader.done) {
    let key = reader.atom('sort key').toUpperCase();
    let reverse = false;
    if (key === 'REVERSE') {
      reverse = true;
      key = reader.atom('sort key after REVERSE').toUpperCase();
    }
    if (!SORT_KEYS.has(key)) throw syntaxError(`Unknown sort key ${key.slice(0, 40)}`);
    criteria.push({ key: key as SortKey, reverse });
  }
  if (criteria.length === 0) throw syntaxError('Empty SORT criteria');
  return criteria;
}

/** SORT's arguments: `[RETURN (…)] (criteria) charset key…` (the charset is required). */
export function parseSortCommand(args: readonly ImapArg[], options: SearchOptions = {}): ParsedSearch & { criteria: SortCriterion[] } {
  const reader = new ArgReader(args);
  const returnOptions = readReturn(reader, options);
  const criteria = parseSortCriteria(reader.next('SORT criteria'));
  const charset = readCharset(reader);
  const key = new SearchParser(reader, charset).program();
  return returnOptions === undefined ? { criteria, charset, key } : { criteria, charset, key, returnOptions };
}

export type ThreadAlgorithm = 'REFERENCES' | 'REFS' | 'ORDEREDSUBJECT' | 'X-REFERENCES2';
const THREAD_ALGORITHMS = new Set<string>(['REFERENCES', 'REFS', 'ORDEREDSUBJECT', 'X-REFERENCES2']);

/** THREAD's algorithm name (RFC 5256 §3, REFS RFC 5256bis, Dovecot's X-REFERENCES2). */
export function parseThreadAlgorithm(text: string): ThreadAlgorithm {
  const name = text.toUpperCase();
  if (!THREAD_ALGORITHMS.has(name)) throw syntaxError(`Unknown THREAD algorithm ${text.slice(0, 40)}`);
  return name as ThreadAlgorithm;
}

/** THREAD's arguments: `algorithm charset key…`. */
export function parseThreadCommand(args: readonly ImapArg[]): { algorithm: ThreadAlgorithm; charset: string; key: SearchKey } {
  const reader = new ArgReader(args);
  const algorithm = parseThreadAlgorithm(reader.atom('THREAD algorithm'));
  const charset = readCharset(reader);
  return { algorithm, charset, key: new SearchParser(reader, charset).program() };
}
