/**
 * FETCH data items (RFC 3501 §6.4.5, RFC 9051, BINARY RFC 3516, CONDSTORE RFC 7162,
 * SAVEDATE RFC 8514, OBJECTID RFC 8474, PREVIEW RFC 8970) and FETCH modifiers.
 */
import { ArgReader, describeArg, parseNumber, syntaxError } from './arg-reader.js';
import type { ImapArg } from './command-parser.js';

/** Items without a section, named as in the FETCH response. */
export type FetchAttribute =
  | 'FLAGS'
  | 'INTERNALDATE'
  | 'RFC822'
  | 'RFC822.HEADER'
  | 'RFC822.SIZE'
  | 'RFC822.TEXT'
  | 'ENVELOPE'
  | 'BODY'
  | 'BODYSTRUCTURE'
  | 'UID'
  | 'MODSEQ'
  | 'SAVEDATE'
  | 'EMAILID'
  | 'THREADID';

/** `<offset.length>`, both in bytes. */
export interface FetchPartial {
  offset: number;
  length: number;
}

/** A BODY[...] section (RFC 3501 section-spec). */
export interface BodySection {
  /** MIME part path, `1.2.3` → [1, 2, 3]; empty for the whole message. */
  part: number[];
  /** What of that part; absent for the whole part's content (`BODY[]`, `BODY[1.2]`). */
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** Field names for HEADER.FIELDS / HEADER.FIELDS.NOT, as the client wrote them. */
  fields?: string[];
}

export type FetchItem =
  | { type: 'attribute'; name: FetchAttribute }
  /** BODY[section]<partial>; `peek` for BODY.PEEK, which does not set \Seen. */
  | { type: 'body'; peek: boolean; section: BodySection; partial?: FetchPartial }
  /** BINARY[part]<partial> (RFC 3516): the part's content with its transfer encoding removed. */
  | { type: 'binary'; peek: boolean; part: number[]; partial?: FetchPartial }
  | { type: 'binary-size'; part: number[] }
  /** PREVIEW, or PREVIEW (LAZY) which lets the server omit a costly preview (RFC 8970). */
  | { type: 'preview'; lazy: boolean };

export interface FetchModifiers {
  /** CHANGEDSINCE (RFC 7162): only messages whose modseq is higher. */
  changedSince?: bigint;
  /** VANISHED (RFC 7162 QRESYNC, UID FETCH only, needs CHANGEDSINCE). */
  vanished: boolean;
}

const ATTRIBUTES = new Set<string>([
  'FLAGS', 'INTERNALDATE', 'RFC822', 'RFC822.HEADER', 'RFC822.SIZE', 'RFC822.TEXT', 'ENVELOPE', 'BODY',
  'BODYSTRUCTURE', 'UID', 'MODSEQ', 'SAVEDATE', 'EMAILID', 'THREADID',
]);

const MACROS: Record<string, FetchAttribute[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

function parsePart(text: string, whole: string): number[] {
  if (text === '') return [];
  return text.split('.').map((n) => {
    if (!/^\d+$/.test(n)) throw syntaxError(`Invalid part number in ${whole}`);
    return parseNumber(n, 'part number', true);
  });
}

/** header-list inside a section: `(FROM "To" X-Y)`, astrings separated by single spaces. */
function parseHeaderList(text: string, whole: string): string[] {
  const m = /^ \((.*)\)$/.exec(text);
  if (m === null) throw syntaxError(`Expected a header field list in parentheses in ${whole}`);
  const fields: string[] = [];
  const body = m[1]!;
  let i = 0;
  while (i < body.length) {
    if (body[i] === '"') {
      let value = '';
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        value += body[i] ?? '';
        i++;
      }
      if (i >= body.length) throw syntaxError(`Unterminated quoted field name in ${whole}`);
      fields.push(value);
      i++;
    } else {
      const end = body.indexOf(' ', i);
      const name = body.slice(i, end === -1 ? body.length : end);
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name) || /[()[\]{}%*"\\]/.test(name)) {
        throw syntaxError(`Invalid header field name in ${whole}`);
      }
      fields.push(name);
      i += name.length;
    }
    if (i < body.length) {
      if (body[i] !== ' ' || i + 1 >= body.length) throw syntaxError(`Invalid header field list in ${whole}`);
      i++;
    }
  }
  if (fields.length === 0) throw syntaxError(`Empty header field list in ${whole}`);
  return fields;
}

/** The inside of BODY[...]: part path, then HEADER / HEADER.FIELDS (..) / TEXT / MIME. */
export function parseBodySection(spec: string, whole = `[${spec}]`): BodySection {
  const partMatch = /^\d+(?:\.\d+)*/.exec(spec);
  const part = partMatch === null ? [] : parsePart(partMatch[0], whole);
  let rest = partMatch === null ? spec : spec.slice(partMatch[0].length);
  if (rest === '') return { part };
  if (partMatch !== null) {
    if (rest[0] !== '.') throw syntaxError(`Invalid section ${whole}`);
    rest = rest.slice(1);
  }
  const nameMatch = /^[A-Za-z.]+/.exec(rest);
  const textName = nameMatch === null ? '' : nameMatch[0].toUpperCase();
  const fields = rest.slice(textName.length);
  switch (textName) {
    case 'HEADER':
    case 'TEXT':
      if (fields !== '') throw syntaxError(`Invalid section ${whole}`);
      return { part, text: textName };
    case 'MIME':
      if (fields !== '' || part.length === 0) throw syntaxError(`MIME needs a part number, as in [1.MIME], in ${whole}`);
      return { part, text: 'MIME' };
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      return { part, text: textName, fields: parseHeaderList(fields, whole) };
    case '':
      throw syntaxError(`Invalid section ${whole}`);
    default:
      throw syntaxError(`Unknown section ${textName} in ${whole}`);
  }
}

/** The section as the FETCH response names it: `1.HEADER.FIELDS (FROM TO)`. */
export function formatBodySection(section: BodySection): string {
  const parts = section.part.join('.');
  if (section.text === undefined) return parts;
  const text = section.fields ? `${section.text} (${section.fields.join(' ')})` : section.text;
  return parts === '' ? text : `${parts}.${text}`;
}

function parsePartial(text: string, whole: string): FetchPartial | undefined {
  if (text === '') return undefined;
  const m = /^<(\d+)\.(\d+)>$/.exec(text);
  if (m === null) throw syntaxError(`Invalid partial range in ${whole} (expected <offset.length>)`);
  return { offset: parseNumber(m[1]!, 'partial offset'), length: parseNumber(m[2]!, 'partial length', true) };
}

function parseSectionItem(atom: string): FetchItem {
  const open = atom.indexOf('[');
  const close = atom.lastIndexOf(']');
  const name = atom.slice(0, open).toUpperCase();
  if (close < open) throw syntaxError(`Missing ']' in ${atom}`);
  const spec = atom.slice(open + 1, close);
  const after = atom.slice(close + 1);
  switch (name) {
    case 'BODY':
    case 'BODY.PEEK':
      return { type: 'body', peek: name === 'BODY.PEEK', section: parseBodySection(spec, atom), ...optionalPartial(after, atom) };
    case 'BINARY':
    case 'BINARY.PEEK':
      return { type: 'binary', peek: name === 'BINARY.PEEK', part: parsePart(spec, atom), ...optionalPartial(after, atom) };
    case 'BINARY.SIZE':
      if (after !== '') throw syntaxError(`BINARY.SIZE takes no partial range: ${atom}`);
      return { type: 'binary-size', part: parsePart(spec, atom) };
    default:
      throw syntaxError(`Unknown FETCH item ${atom.slice(0, 60)}`);
  }
}

function optionalPartial(after: string, atom: string): { partial?: FetchPartial } {
  const partial = parsePartial(after, atom);
  return partial === undefined ? {} : { partial };
}

function parseItem(reader: ArgReader): FetchItem {
  const arg = reader.next('FETCH item');
  if (arg.type !== 'atom') throw syntaxError(`Expected a FETCH item, got ${describeArg(arg)}`);
  if (arg.value.includes('[')) return parseSectionItem(arg.value);
  const name = arg.value.toUpperCase();
  if (name === 'PREVIEW') {
    const next = reader.peek();
    if (next?.type !== 'list') return { type: 'preview', lazy: false };
    reader.next('PREVIEW modifiers');
    const modifiers = new ArgReader(next.items);
    let lazy = false;
    while (!modifiers.done) {
      const modifier = modifiers.atom('PREVIEW modifier').toUpperCase();
      if (modifier !== 'LAZY') throw syntaxError(`Unknown PREVIEW modifier ${modifier}`);
      lazy = true;
    }
    return { type: 'preview', lazy };
  }
  if (!ATTRIBUTES.has(name)) throw syntaxError(`Unknown FETCH item ${arg.value.slice(0, 60)}`);
  return { type: 'attribute', name: name as FetchAttribute };
}

/**
 * The FETCH items argument: a macro (ALL, FAST, FULL), one item, or a list of items. Given
 * the array of arguments after the sequence set, the optional modifiers list that may
 * follow the items is checked too (use parseFetchArgs to get them).
 */
export function parseFetchItems(arg: ImapArg | readonly ImapArg[]): FetchItem[] {
  if (isArgArray(arg)) return parseFetchArgs(arg).items;
  if (arg.type === 'list') {
    const reader = new ArgReader(arg.items);
    const items: FetchItem[] = [];
    while (!reader.done) items.push(parseItem(reader));
    if (items.length === 0) throw syntaxError('Empty FETCH item list');
    return items;
  }
  const macro = arg.type === 'atom' ? MACROS[arg.value.toUpperCase()] : undefined;
  if (macro !== undefined) return macro.map((name) => ({ type: 'attribute', name }));
  const reader = new ArgReader([arg]);
  const item = parseItem(reader);
  if (item.type === 'preview' && item.lazy) throw syntaxError('PREVIEW (LAZY) must be inside the FETCH item list');
  return [item];
}

function isArgArray(arg: ImapArg | readonly ImapArg[]): arg is readonly ImapArg[] {
  return Array.isArray(arg);
}

/** FETCH modifiers (RFC 4466 fetch-modifier): `(CHANGEDSINCE 12345 VANISHED)`. */
export function parseFetchModifiers(arg: ImapArg | undefined): FetchModifiers {
  const modifiers: FetchModifiers = { vanished: false };
  if (arg === undefined) return modifiers;
  if (arg.type !== 'list') throw syntaxError(`Expected FETCH modifiers in parentheses, got ${describeArg(arg)}`);
  const reader = new ArgReader(arg.items);
  while (!reader.done) {
    const name = reader.atom('FETCH modifier').toUpperCase();
    if (name === 'CHANGEDSINCE') {
      if (modifiers.changedSince !== undefined) throw syntaxError('CHANGEDSINCE given twice');
      modifiers.changedSince = reader.number64('CHANGEDSINCE mod-sequence', true);
    } else if (name === 'VANISHED') {
      modifiers.vanished = true;
    } else {
      throw syntaxError(`Unknown FETCH modifier ${name.slice(0, 40)}`);
    }
  }
  if (modifiers.vanished && modifiers.changedSince === undefined) throw syntaxError('VANISHED needs CHANGEDSINCE');
  return modifiers;
}

/** A whole FETCH's arguments after the sequence set: items, then optional modifiers. */
export function parseFetchArgs(args: readonly ImapArg[]): { items: FetchItem[]; modifiers: FetchModifiers } {
  if (args.length === 0) throw syntaxError('Missing FETCH items');
  if (args.length > 2) throw syntaxError('Too many FETCH arguments');
  const items = parseFetchItems(args[0]!);
  return { items, modifiers: parseFetchModifiers(args[1]) };
}
