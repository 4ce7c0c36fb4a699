/**
 * FETCH BODY / BODYSTRUCTURE (RFC 3501 §7.4.2) as Dovecot 2.3 writes them: type and
 * subtype as the sender wrote them, parameters with RFC 2231 continuations joined but
 * extended values left encoded under `name*`, `"charset" "us-ascii"` added to text parts
 * that lack one, message/rfc822 always spelled in lower case, and an empty text/plain child
 * for a multipart that has no parts.
 */
import { parseHeaderBlock } from './header.js';
import type { RawParam } from './content-type.js';
import { readContentHeaders, type ContentHeaders } from './content-headers.js';
import { envelopeFromFields } from './envelope.js';
import { fromBinary, type ImapNString, type ImapValue } from './imap-value.js';
import type { MimePart } from './mime-part.js';

/** A body: `[type, subtype, params, id, description, encoding, size, …]` or, for a multipart, `[...children, subtype, …]`. */
export type BodyStructure = ImapValue[];

export interface BodyStructureOptions {
  /**
   * Count each bare LF as CRLF in body sizes, as Dovecot does (its sizes are those of the
   * CRLF form it sends). Leave false when FETCH sends the raw bytes unchanged, so a size
   * always equals the length of the BODY[part] the client gets.
   */
  virtualSizes?: boolean;
}

const DEFAULT_CHARSET: ImapValue[] = ['charset', 'us-ascii'];
const EMPTY_ENVELOPE: ImapValue[] = [null, null, null, null, null, null, null, null, null, null];

function emptyBody(extended: boolean): BodyStructure {
  const body: BodyStructure = ['text', 'plain', DEFAULT_CHARSET.slice(), null, null, '7bit', 0, 0];
  if (extended) body.push(null, null, null, null);
  return body;
}

function paramList(params: readonly RawParam[], defaultCharset: boolean): ImapValue[] | null {
  const out: ImapValue[] = [];
  for (const p of params) out.push(fromBinary(p.name), fromBinary(p.value));
  if (defaultCharset && !params.some((p) => p.name.toLowerCase() === 'charset')) out.push(...DEFAULT_CHARSET);
  return out.length === 0 ? null : out;
}

function nstring(value: string | undefined): ImapNString {
  return value === undefined ? null : fromBinary(value);
}

/** The extension data common to every body: disposition, language, location. */
function dispositionLanguageLocation(h: ContentHeaders): ImapValue[] {
  const disposition = h.disposition ? [fromBinary(h.disposition.value), paramList(h.disposition.params, false)] : null;
  const language = h.language ? h.language.map(fromBinary) : null;
  return [disposition, language, nstring(h.location)];
}

function bodySize(raw: Buffer, part: MimePart, opts: BodyStructureOptions): number {
  let size = part.end - part.bodyStart;
  if (opts.virtualSizes) {
    for (let i = raw.indexOf(0x0a, part.bodyStart); i >= 0 && i < part.end; i = raw.indexOf(0x0a, i + 1)) {
      if (i === part.bodyStart || raw[i - 1] !== 0x0d) size++;
    }
  }
  return size;
}

function multipart(raw: Buffer, part: MimePart, extended: boolean, h: ContentHeaders, opts: BodyStructureOptions): BodyStructure {
  const out: BodyStructure =
    part.parts.length === 0 ? [emptyBody(extended)] : part.parts.map((child) => write(raw, child, true, extended, opts));
  out.push(fromBinary(h.subtype ?? part.contentType.subtype));
  if (extended) out.push(paramList(h.params, false), ...dispositionLanguageLocation(h));
  return out;
}

function leaf(raw: Buffer, part: MimePart, extended: boolean, h: ContentHeaders, opts: BodyStructureOptions): BodyStructure {
  const inner = part.message;
  const { type: t, subtype: s } = part.contentType;
  const isMessage = t === 'message' && (s === 'rfc822' || s === 'global');
  let type: ImapNString;
  let subtype: ImapNString;
  if (isMessage) {
    [type, subtype] = ['message', s];
  } else if (h.type === undefined || h.subtype === undefined) {
    [type, subtype] = [part.contentType.type, part.contentType.subtype];
  } else {
    [type, subtype] = [fromBinary(h.type), fromBinary(h.subtype)];
  }
  const isText = !isMessage && t === 'text';
  const out: BodyStructure = [
    type,
    subtype,
    paramList(h.params, isText),
    nstring(h.id),
    nstring(h.description),
    h.transferEncoding === undefined ? '7bit' : fromBinary(h.transferEncoding),
    bodySize(raw, part, opts),
  ];
  if (isText) {
    out.push(part.lines);
  } else if (isMessage) {
    if (inner) {
      const innerFields = parseHeaderBlock(raw, inner.headerStart, inner.bodyStart).fields;
      out.push(envelopeFromFields(innerFields), write(raw, inner, false, extended, opts), part.lines);
    } else {
      // Nesting limit reached: keep the answer well-formed.
      out.push(EMPTY_ENVELOPE.slice(), emptyBody(extended), part.lines);
    }
  }
  if (extended) out.push(nstring(h.md5), ...dispositionLanguageLocation(h));
  return out;
}

function write(raw: Buffer, part: MimePart, mimeChild: boolean, extended: boolean, opts: BodyStructureOptions): BodyStructure {
  const h = readContentHeaders(parseHeaderBlock(raw, part.headerStart, part.bodyStart).fields, mimeChild);
  return part.contentType.type === 'multipart'
    ? multipart(raw, part, extended, h, opts)
    : leaf(raw, part, extended, h, opts);
}

/** BODY (extended = false) or BODYSTRUCTURE (extended = true) of a message (the root, or an embedded one). */
export function bodyStructure(raw: Buffer, root: MimePart, extended: boolean, opts: BodyStructureOptions = {}): BodyStructure {
  return write(raw, root, false, extended, opts);
}
