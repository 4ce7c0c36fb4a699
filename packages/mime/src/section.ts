/** FETCH BODY[section] (RFC 3501 §6.4.5): byte-exact slices of the raw message. */
import { parseHeaderBlock } from './header.js';
import type { MimePart } from './mime-part.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers, e.g. [1, 2] for `1.2`; empty or missing for the whole message. */
  part?: number[];
  text?: SectionText;
  /** Field names for HEADER.FIELDS / HEADER.FIELDS.NOT, matched case-insensitively. */
  fields?: string[];
}

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * The part a section path points at, or null. In a non-multipart body, part 1 is the body
 * itself, at any depth (BODY[2.1] of a leaf part 2 is part 2, as Dovecot answers); a number
 * after a message/rfc822 part indexes into its embedded message.
 */
export function findPart(root: MimePart, path: readonly number[]): MimePart | null {
  let container = root;
  for (let i = 0; i < path.length; i++) {
    const n = path[i];
    let next: MimePart | undefined;
    if (container.parts.length > 0) next = container.parts[n - 1];
    else if (n === 1 && container.contentType.type !== 'multipart') next = container;
    if (!next) return null;
    if (i === path.length - 1) return next;
    container = next.message ?? next;
  }
  return container;
}

/** The header fields of `target` kept (or dropped, with `not`) by name, then a blank line. */
function headerFields(raw: Buffer, target: MimePart, names: readonly string[], not: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const out: Buffer[] = [];
  for (const f of parseHeaderBlock(raw, target.headerStart, target.bodyStart).fields) {
    if (wanted.has(f.name.toLowerCase()) === not) continue;
    const bytes = raw.subarray(f.start, f.end);
    out.push(bytes);
    if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) out.push(CRLF);
  }
  out.push(CRLF);
  return Buffer.concat(out);
}

/** The bytes FETCH BODY[section] returns; an empty Buffer for a section that does not exist. */
export function section(raw: Buffer, root: MimePart, spec: SectionSpec): Buffer {
  const path = spec.part ?? [];
  const part = path.length === 0 ? root : findPart(root, path);
  if (!part) return EMPTY;
  if (spec.text === undefined) {
    return path.length === 0 ? raw : raw.subarray(part.bodyStart, part.end);
  }
  if (spec.text === 'MIME') {
    return path.length === 0 ? EMPTY : raw.subarray(part.headerStart, part.bodyStart);
  }
  // HEADER, HEADER.FIELDS, TEXT address a message: the root, or a message/rfc822 part.
  const message = path.length === 0 ? root : part.message;
  if (!message) return EMPTY;
  switch (spec.text) {
    case 'HEADER':
      return raw.subarray(message.headerStart, message.bodyStart);
    case 'TEXT':
      return raw.subarray(message.bodyStart, message.end);
    case 'HEADER.FIELDS':
      return headerFields(raw, message, spec.fields ?? [], false);
    case 'HEADER.FIELDS.NOT':
      return headerFields(raw, message, spec.fields ?? [], true);
  }
  return EMPTY;
}
