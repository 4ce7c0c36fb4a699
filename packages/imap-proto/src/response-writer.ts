/**
 * Formatting server responses (RFC 3501 §7, RFC 9051 §7): strings as atoms, quoted strings
 * or literals, nested lists, and tagged / untagged status lines. Every function returns the
 * bytes to send; text that came from elsewhere can never smuggle a CRLF into a response.
 */
import { isPrintableAsciiExcept } from './arg-reader.js';

/** Longest string sent quoted; longer ones go as literals, which need no escaping. */
export const QUOTED_MAX_BYTES = 1024;

export interface FormatOptions {
  /** UTF8=ACCEPT is enabled (RFC 6855): 8-bit text may be quoted; otherwise it goes as a literal. */
  utf8?: boolean;
}

/** Marks text to be sent as it is (an atom, number-like token or flag such as `\Seen`). */
export interface ImapAtom {
  readonly atom: string;
}

/** Bytes already formatted (a literal8 from literal8(), a cached BODYSTRUCTURE), inserted as they are. */
export interface ImapRaw {
  readonly raw: Buffer;
}

/** A value of a response: strings become quoted strings or literals, arrays become lists, null is NIL. */
export type ImapValue = null | number | bigint | string | Buffer | ImapAtom | ImapRaw | readonly ImapValue[];

export function atom(text: string): ImapAtom {
  return { atom: text };
}

export function raw(bytes: Buffer): ImapRaw {
  return { raw: bytes };
}

const CRLF = Buffer.from('\r\n');

function toBytes(s: string | Buffer): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
}

/** Whether these bytes may be sent as a quoted string. */
export function isQuotable(bytes: Buffer, options: FormatOptions = {}): boolean {
  if (bytes.length > QUOTED_MAX_BYTES) return false;
  for (const b of bytes) {
    if (b === 0 || b === 0x0a || b === 0x0d) return false;
    if (b >= 0x80 && !options.utf8) return false;
  }
  return true;
}

/** `"…"` with `\` and `"` escaped. Throws for text that cannot be quoted (use string()). */
export function quoted(s: string | Buffer): Buffer {
  const bytes = toBytes(s);
  if (bytes.includes(0) || bytes.includes(0x0a) || bytes.includes(0x0d)) throw new Error('quoted(): NUL, CR or LF cannot be quoted; use string() or literal()');
  const parts: number[] = [0x22];
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) parts.push(0x5c);
    parts.push(b);
  }
  parts.push(0x22);
  return Buffer.from(parts);
}

/** What goes before a literal's `length` bytes: `{n}\r\n`, or `~{n}\r\n` for a literal8 (RFC 3516). */
export function literalPrefix(length: number, literal8 = false): string {
  return `${literal8 ? '~' : ''}{${length}}\r\n`;
}

/** `{n}\r\n` followed by the bytes. */
export function literal(s: string | Buffer): Buffer {
  const bytes = toBytes(s);
  return Buffer.concat([Buffer.from(literalPrefix(bytes.length)), bytes]);
}

/** `~{n}\r\n` followed by the bytes: a literal8 (RFC 3516), which may hold NUL; for BINARY[] responses. */
export function literal8(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(literalPrefix(bytes.length, true)), bytes]);
}

/** A string: quoted when it can be, otherwise a literal. */
export function string(s: string | Buffer, options: FormatOptions = {}): Buffer {
  const bytes = toBytes(s);
  return isQuotable(bytes, options) ? quoted(bytes) : literal(bytes);
}

/** NIL for null, else string(). */
export function nstring(s: string | Buffer | null | undefined, options: FormatOptions = {}): Buffer {
  return s == null ? Buffer.from('NIL') : string(s, options);
}


/** An atom when the text is one (and is not NIL), else string(). */
export function astring(s: string | Buffer, options: FormatOptions = {}): Buffer {
  const text = typeof s === 'string' ? s : s.toString('latin1');
  if (isPrintableAsciiExcept(text, '(){%*"\\') && text.toUpperCase() !== 'NIL') return Buffer.from(text, 'latin1');
  return string(s, options);
}

function isAtom(v: ImapValue): v is ImapAtom {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v) && typeof (v as ImapAtom).atom === 'string';
}

function isRaw(v: ImapValue): v is ImapRaw {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v) && Buffer.isBuffer((v as ImapRaw).raw);
}

/** Format one value; arrays as parenthesised lists, nested as deep as given. */
export function formatValue(v: ImapValue, options: FormatOptions = {}): Buffer {
  const out: Buffer[] = [];
  appendValue(out, v, options);
  return Buffer.concat(out);
}

function appendValue(out: Buffer[], v: ImapValue, options: FormatOptions): void {
  if (v === null) out.push(Buffer.from('NIL'));
  else if (typeof v === 'number' || typeof v === 'bigint') out.push(Buffer.from(String(v)));
  else if (typeof v === 'string' || Buffer.isBuffer(v)) out.push(string(v, options));
  else if (isAtom(v)) out.push(Buffer.from(safeText(v.atom), 'utf8'));
  else if (isRaw(v)) out.push(v.raw);
  else {
    out.push(Buffer.from('('));
    v.forEach((item, i) => {
      if (i > 0) out.push(Buffer.from(' '));
      appendValue(out, item, options);
    });
    out.push(Buffer.from(')'));
  }
}

/** Free text on a status line: CR, LF and NUL become spaces so no text can end the line early. */
function safeText(text: string): string {
  return text.replace(/[\r\n\0]/g, ' ');
}

export type TaggedStatus = 'OK' | 'NO' | 'BAD';
export type UntaggedStatus = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

function statusLine(prefix: string, status: string, text: string, code?: string): Buffer {
  const codePart = code === undefined ? '' : `[${safeText(code)}] `;
  return Buffer.from(`${prefix} ${status} ${codePart}${safeText(text) || status}\r\n`, 'utf8');
}

/** `<tag> OK [code] text\r\n`; code without brackets, e.g. `APPENDUID 38505 3955`. */
export function tagged(tag: string, status: TaggedStatus, text: string, code?: string): Buffer {
  return statusLine(safeText(tag), status, text, code);
}

/** `* OK [code] text\r\n` (also NO, BAD, BYE, PREAUTH). */
export function untagged(status: UntaggedStatus, text: string, code?: string): Buffer {
  return statusLine('*', status, text, code);
}

/**
 * `* <values…>\r\n`, the values separated by spaces: untaggedData(23, atom('EXISTS')),
 * untaggedData(12, atom('FETCH'), [atom('UID'), 7, atom('FLAGS'), [atom('\\Seen')]]).
 */
export function untaggedData(values: readonly ImapValue[], options: FormatOptions = {}): Buffer {
  const out: Buffer[] = [Buffer.from('*')];
  for (const v of values) {
    out.push(Buffer.from(' '));
    appendValue(out, v, options);
  }
  out.push(CRLF);
  return Buffer.concat(out);
}

/** `+ text\r\n`, the continuation request (RFC 3501 §7.5). */
export function continuationRequest(text: string): Buffer {
  return Buffer.from(`+ ${safeText(text)}\r\n`, 'utf8');
}
