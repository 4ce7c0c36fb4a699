/**
 * The MIME parser: one pass over the lines of the raw message, keeping a stack of the
 * parts that are open, the way Dovecot's message-parser does. A boundary line closes every
 * part opened inside the multipart it belongs to (so a missing inner end boundary is
 * harmless), and boundaries match by prefix (longest, then innermost). Hostile nesting is cut off at
 * MAX_PART_DEPTH / MAX_PART_COUNT: deeper parts are kept as opaque leaves.
 */
import { lineEnd, parseHeaderBlock, type HeaderField } from './header.js';
import { decodeParams } from './content-type.js';
import { readContentHeaders } from './content-headers.js';
import type { MimePart } from './mime-part.js';

/** Deepest nesting of multiparts / embedded messages that is interpreted (Dovecot's default). */
export const MAX_PART_DEPTH = 100;
/** Most parts created for one message (Dovecot's default); the rest stays inside its parent. */
export const MAX_PART_COUNT = 10_000;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

interface OpenPart {
  part: MimePart;
  depth: number;
  /** The multipart boundary as bytes, when this part is a multipart being parsed. */
  boundary: Buffer | null;
  /** Set once the close delimiter (`--boundary--`) was seen. */
  closed: boolean;
  digest: boolean;
}

class Parser {
  readonly open: OpenPart[] = [];
  count = 1;

  constructor(readonly raw: Buffer) {}

  /**
   * Index in `open` of the multipart whose boundary starts the line, or -1. Only a prefix
   * has to match; when several do, the longest wins, then the innermost (Dovecot's rule).
   */
  matchBoundary(ls: number, le: number): number {
    const raw = this.raw;
    if (le - ls < 3 || raw[ls] !== DASH || raw[ls + 1] !== DASH) return -1;
    let best = -1;
    let bestLength = -1;
    for (let i = this.open.length - 1; i >= 0; i--) {
      const o = this.open[i];
      if (!o.boundary || o.closed || o.boundary.length <= bestLength) continue;
      const b = o.boundary;
      if (ls + 2 + b.length <= le && raw.compare(b, 0, b.length, ls + 2, ls + 2 + b.length) === 0) {
        best = i;
        bestLength = b.length;
      }
    }
    return best;
  }

  /** Parses the header of `part` at `headerStart`, fills it in and opens it; returns the scan position. */
  openPart(part: MimePart, depth: number, mimeChild: boolean, defaultMessage: boolean): number {
    const { raw } = this;
    const block = parseHeaderBlock(raw, part.headerStart, raw.length, (ls, le) => this.matchBoundary(ls, le) >= 0);
    part.bodyStart = block.bodyStart;
    const rawBoundary = fillPart(part, block.fields, mimeChild, defaultMessage);
    const entry: OpenPart = { part, depth, boundary: null, closed: false, digest: false };
    this.open.push(entry);
    const { type, subtype } = part.contentType;
    const canNest = depth < MAX_PART_DEPTH && this.count < MAX_PART_COUNT;
    if (type === 'multipart' && canNest) {
      if (rawBoundary) {
        entry.boundary = Buffer.from(rawBoundary, 'latin1');
        entry.digest = subtype === 'digest';
      }
    } else if (type === 'message' && (subtype === 'rfc822' || subtype === 'global') && canNest) {
      const inner = newPart(part.bodyStart);
      part.message = inner;
      this.count++;
      return this.openPart(inner, depth + 1, false, false);
    }
    return part.bodyStart;
  }

  /** Handles a boundary line of open[idx]; returns the scan position after it. */
  onBoundary(idx: number, ls: number, le: number): number {
    const { raw } = this;
    let endAt = ls;
    if (endAt > 0 && raw[endAt - 1] === LF) endAt--;
    if (endAt > 0 && raw[endAt - 1] === CR) endAt--;
    for (let j = this.open.length - 1; j > idx; j--) closePart(this.open[j].part, endAt);
    this.open.length = idx + 1;
    const owner = this.open[idx];
    const after = ls + 2 + owner.boundary!.length;
    if (raw[after] === DASH && raw[after + 1] === DASH) {
      owner.closed = true;
      return le;
    }
    if (this.count >= MAX_PART_COUNT) return le;
    const child = newPart(le);
    owner.part.parts.push(child);
    this.count++;
    return this.openPart(child, owner.depth + 1, true, owner.digest);
  }

  run(): MimePart {
    const { raw } = this;
    const root = newPart(0);
    let pos = this.openPart(root, 0, false, false);
    while (pos < raw.length) {
      const next = lineEnd(raw, pos, raw.length);
      const idx = raw[pos] === DASH ? this.matchBoundary(pos, next) : -1;
      pos = idx >= 0 ? this.onBoundary(idx, pos, next) : next;
    }
    for (const o of this.open) closePart(o.part, raw.length);
    finish(raw, root);
    return root;
  }
}

function newPart(headerStart: number): MimePart {
  return {
    headerStart,
    bodyStart: headerStart,
    end: headerStart,
    contentType: { type: 'text', subtype: 'plain', params: { charset: 'us-ascii' } },
    transferEncoding: '7bit',
    lines: 0,
    parts: [],
    partNumber: '',
  };
}

function closePart(part: MimePart, end: number): void {
  part.end = Math.max(end, part.bodyStart);
}

/** Fills in the part from its header; returns the raw multipart boundary, if any. */
function fillPart(part: MimePart, fields: readonly HeaderField[], mimeChild: boolean, defaultMessage: boolean): string | undefined {
  const h = readContentHeaders(fields, mimeChild);
  if (h.type !== undefined && h.subtype !== undefined) {
    part.contentType = { type: h.type.toLowerCase(), subtype: h.subtype.toLowerCase(), params: decodeParams(h.params) };
  } else if (defaultMessage) {
    part.contentType = { type: 'message', subtype: 'rfc822', params: {} };
  }
  if (h.disposition) part.disposition = { value: h.disposition.value.toLowerCase(), params: decodeParams(h.disposition.params) };
  if (h.transferEncoding !== undefined) part.transferEncoding = h.transferEncoding.toLowerCase();
  const text = (s: string | undefined): string | undefined =>
    s === undefined ? undefined : Buffer.from(s, 'latin1').toString('utf8').trim();
  const id = text(h.id);
  if (id !== undefined) part.id = id;
  const description = text(h.description);
  if (description !== undefined) part.description = description;
  const md5 = text(h.md5);
  if (md5 !== undefined) part.md5 = md5;
  if (h.language) part.language = h.language.map((l) => text(l)!);
  const location = text(h.location);
  if (location !== undefined) part.location = location;
  return h.params.find((p) => p.name.toLowerCase() === 'boundary')?.value;
}

function countLines(raw: Buffer, start: number, end: number): number {
  let n = 0;
  let i = raw.indexOf(LF, start);
  while (i >= 0 && i < end) {
    n++;
    i = raw.indexOf(LF, i + 1);
  }
  return n;
}

/** Line counts and IMAP part numbers, iteratively (the tree may be deep). */
function finish(raw: Buffer, root: MimePart): void {
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const part = stack.pop()!;
    part.lines = countLines(raw, part.bodyStart, part.end);
    const prefix = part.partNumber === '' ? '' : part.partNumber + '.';
    part.parts.forEach((child, i) => {
      child.partNumber = prefix + String(i + 1);
      stack.push(child);
    });
    if (part.message) {
      // A top-level message/rfc822 body is part 1, so its message's parts are 1.1, 1.2…
      part.message.partNumber = part.partNumber || '1';
      stack.push(part.message);
    }
  }
}

/** Parses the MIME structure of a raw message; never throws on malformed input. */
export function parseMessage(raw: Buffer): MimePart {
  return new Parser(raw).run();
}

const LOWER = 0x20;
/**
 * Whether the field at `at` may be one fillPart() reads (Content-*, MIME-Version): the others
 * (From, Subject, Received…) need not be made at all.
 */
function contentField(raw: Buffer, at: number): boolean {
  const first = raw[at]! | LOWER;
  return first === 0x63 /* c */ || first === 0x6d; /* m */
}

/**
 * The message's own part when it has no inner structure (not multipart, not an embedded
 * message), read from its header alone, or undefined: then parseMessage() is needed. Its
 * `lines` is not counted (0); what reads only the body's bytes and types (SEARCH BODY's
 * text) saves the scan of every line for multipart boundaries.
 */
export function parseLeafMessage(raw: Buffer): MimePart | undefined {
  const root = newPart(0);
  const block = parseHeaderBlock(raw, 0, raw.length, undefined, contentField);
  root.bodyStart = block.bodyStart;
  fillPart(root, block.fields, false, false);
  const { type } = root.contentType;
  if (type === 'multipart' || type === 'message') return undefined;
  closePart(root, raw.length);
  return root;
}
