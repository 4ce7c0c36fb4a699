/**
 * Header blocks: finding fields, their names and raw values, without ever copying or
 * rewriting bytes, so FETCH BODY[HEADER.FIELDS (…)] can hand back the original lines.
 */
import type { MimePart } from './mime-part.js';

/** One header field as it sits in the raw message. */
export interface HeaderField {
  /** The field name as written, without the colon or trailing whitespace. */
  name: string;
  /** The raw bytes after the colon, folding (CRLF + WSP) kept, the final line end removed. */
  value: Buffer;
  /** Offset of the field's first byte in the raw message. */
  start: number;
  /** Offset just past the field's last line end (or the block's end if it has none). */
  end: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** Offset of the body: just past the blank line, or `end` when no blank line was found. */
  bodyStart: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** The offset just past the LF that ends the line at `pos`, or `end` if there is none. */
export function lineEnd(raw: Buffer, pos: number, end: number): number {
  const lf = raw.indexOf(LF, pos);
  return lf < 0 || lf >= end ? end : lf + 1;
}

/** Whether [pos, next) is an empty line (LF, CRLF, or a lone CR before EOF). */
function isBlankLine(raw: Buffer, pos: number, next: number): boolean {
  const len = next - pos;
  if (len === 1) return raw[pos] === LF || raw[pos] === CR;
  return len === 2 && raw[pos] === CR && raw[pos + 1] === LF;
}

/**
 * Parses the header block that starts at `start`. It ends at the first blank line, at the
 * first line `stopAt` accepts (a MIME boundary line: the part then has an empty body, and
 * bodyStart is placed before the line end that precedes the boundary), or at `end`. With
 * `keep`, only the fields it accepts (by their first byte's offset) are made.
 */
export function parseHeaderBlock(
  raw: Buffer,
  start: number,
  end: number,
  stopAt?: (lineStart: number, lineEnd: number) => boolean,
  keep?: (raw: Buffer, fieldStart: number) => boolean,
): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  while (pos < end) {
    const next = lineEnd(raw, pos, end);
    if (isBlankLine(raw, pos, next)) return { fields, bodyStart: next };
    if (stopAt?.(pos, next)) {
      // A boundary inside the header ends the part; the line end before it belongs to
      // the boundary, as in Dovecot, so the part's header and body stop short of it.
      let back = pos;
      if (back > start && raw[back - 1] === LF) back--;
      if (back > start && raw[back - 1] === CR) back--;
      return { fields, bodyStart: back };
    }
    // Gather continuation lines (those starting with WSP).
    let fieldEnd = next;
    while (fieldEnd < end && (raw[fieldEnd] === SP || raw[fieldEnd] === HT)) {
      const n = lineEnd(raw, fieldEnd, end);
      if (stopAt?.(fieldEnd, n)) break;
      fieldEnd = n;
    }
    if (!keep || keep(raw, pos)) fields.push(makeField(raw, pos, fieldEnd));
    pos = fieldEnd;
  }
  return { fields, bodyStart: end };
}

/** A short run of bytes as latin1 text; field names are short, and a call into Buffer's toString costs more than they do. */
function latin1(raw: Buffer, start: number, end: number): string {
  if (end - start > SHORT_NAME_MAX) return raw.toString('latin1', start, end);
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(raw[i]!);
  return text;
}
const SHORT_NAME_MAX = 32;

function makeField(raw: Buffer, start: number, end: number): HeaderField {
  let valueEnd = end;
  if (valueEnd > start && raw[valueEnd - 1] === LF) valueEnd--;
  if (valueEnd > start && raw[valueEnd - 1] === CR) valueEnd--;
  const colon = raw.indexOf(COLON, start);
  if (colon < 0 || colon >= valueEnd) {
    // Not a field at all (broken mail); keep the line so no byte is lost.
    return { name: raw.toString('latin1', start, valueEnd).trim(), value: Buffer.alloc(0), start, end };
  }
  let nameEnd = colon;
  while (nameEnd > start && (raw[nameEnd - 1] === SP || raw[nameEnd - 1] === HT)) nameEnd--;
  return { name: latin1(raw, start, nameEnd), value: raw.subarray(colon + 1, valueEnd), start, end };
}

/** The header fields of the message (or of `part`'s own MIME header), in order. */
export function readHeaders(raw: Buffer, part?: MimePart): HeaderField[] {
  if (part) return parseHeaderBlock(raw, part.headerStart, part.bodyStart).fields;
  return parseHeaderBlock(raw, 0, raw.length).fields;
}

/** Removes folding (CR/LF before whitespace, and stray CR/LF) and leading whitespace. */
export function unfold(value: string): string {
  // Most values are one line: no pass of a regular expression over them then.
  const text = value.includes('\n') || value.includes('\r') ? value.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]/g, '') : value;
  const first = text.charCodeAt(0);
  return first === SP || first === HT ? text.replace(/^[ \t]+/, '') : text;
}

/** A field value as a latin1 string (one char per byte), unfolded: for the tokenizers. */
export function rawValueString(value: Buffer): string {
  return unfold(value.toString('latin1'));
}

/**
 * The unfolded values of every field called `name` (case-insensitive), in order; the bytes
 * are read as UTF-8 (invalid sequences become U+FFFD) and not RFC 2047-decoded.
 */
export function headerValues(raw: Buffer, name: string, part?: MimePart): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  for (const field of readHeaders(raw, part)) {
    if (field.name.toLowerCase() === wanted) out.push(unfold(field.value.toString('utf8')));
  }
  return out;
}

/** The first field called `name` in a parsed list, or undefined. */
export function firstField(fields: readonly HeaderField[], name: string): HeaderField | undefined {
  const wanted = name.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === wanted);
}
