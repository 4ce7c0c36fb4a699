/** Transfer-decoded bodies (FETCH BINARY[]), searchable text and RFC 8970 previews. */
import libqp from 'libqp';
import { LoftError } from '@loft/errors';
import { parseHeaderBlock, unfold } from './header.js';
import { decodeCharset, decodeHeader } from './charset.js';
import type { MimePart } from './mime-part.js';

const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary', '']);

/** Whether decodedBody() can decode this part (else IMAP answers [UNKNOWN-CTE]). */
export function knownTransferEncoding(part: MimePart): boolean {
  const cte = part.transferEncoding;
  return IDENTITY_ENCODINGS.has(cte) || cte === 'base64' || cte === 'quoted-printable';
}

/**
 * The body of `part` with its Content-Transfer-Encoding undone. Throws
 * LOFT_E_MIME_UNKNOWN_CTE for an encoding it does not know, so FETCH BINARY can answer
 * NO [UNKNOWN-CTE].
 */
export function decodedBody(raw: Buffer, part: MimePart): Buffer {
  const body = raw.subarray(part.bodyStart, part.end);
  const cte = part.transferEncoding;
  if (IDENTITY_ENCODINGS.has(cte)) return body;
  if (cte === 'base64') return Buffer.from(body.toString('latin1'), 'base64');
  if (cte === 'quoted-printable') return libqp.decode(body.toString('latin1'));
  throw new LoftError('LOFT_E_MIME_UNKNOWN_CTE', `${cte} in part ${part.partNumber || '1'}`);
}

/** The part's body decoded to text; undecodable transfer encodings are read as they are. */
function partText(raw: Buffer, part: MimePart): string {
  const bytes = knownTransferEncoding(part) ? decodedBody(raw, part) : raw.subarray(part.bodyStart, part.end);
  const text = decodeCharset(bytes, part.contentType.params.charset);
  return part.contentType.subtype === 'html' ? htmlToText(text) : text;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Loose HTML to text: drops scripts, styles and tags, decodes common entities. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(br|p|div|tr|li|h[1-6])\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, ent: string) => {
      if (ent[0] === '#') {
        const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
      }
      return ENTITIES[ent.toLowerCase()] ?? m;
    });
}

/** Every part in document order (iteratively; trees may be deep). */
function walk(root: MimePart, visit: (part: MimePart) => boolean | void): void {
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const part = stack.pop()!;
    if (visit(part) === true) return;
    if (part.message) stack.push(part.message);
    for (let i = part.parts.length - 1; i >= 0; i--) stack.push(part.parts[i]);
  }
}

/**
 * The text SEARCH BODY looks in: every text/* part, embedded messages' included, decoded to
 * UTF-8 (HTML loosely stripped) and joined by newlines. Headers are not part of it, as in
 * Dovecot's BODY search.
 */
export function bodyText(raw: Buffer, root: MimePart): string {
  const out: string[] = [];
  walk(root, (part) => {
    if (part.parts.length === 0 && !part.message && part.contentType.type === 'text') out.push(partText(raw, part));
  });
  return out.join('\n');
}

/** All header fields of `part` (the message when omitted), unfolded and RFC 2047-decoded. */
export function decodedHeaderText(raw: Buffer, part?: MimePart): string {
  const { fields } = parseHeaderBlock(raw, part?.headerStart ?? 0, part?.bodyStart ?? raw.length);
  return fields.map((f) => `${f.name}: ${decodeHeader(unfold(f.value.toString('utf8')))}`).join('\n');
}

/**
 * Every header block of the message decoded as decodedHeaderText() does: its own, each MIME
 * part's (an attachment's file name is there) and each embedded message's. SEARCH TEXT looks
 * in these, as Dovecot's does: RFC 3501's "header or body", where a part's header is body.
 */
export function allHeaderText(raw: Buffer, root: MimePart): string {
  const out: string[] = [];
  walk(root, (part) => {
    out.push(decodedHeaderText(raw, part));
  });
  return out.join('\n');
}

/** RFC 8970 PREVIEW: the first text part, quoted lines dropped, whitespace collapsed, cut to maxChars. */
export function preview(raw: Buffer, root: MimePart, maxChars = 200): string {
  let text = '';
  walk(root, (part) => {
    if (part.parts.length > 0 || part.message || part.contentType.type !== 'text') return false;
    if (part.disposition?.value === 'attachment') return false;
    const sub = part.contentType.subtype;
    if (sub !== 'plain' && sub !== 'html') return false;
    text = partText(raw, part);
    return true;
  });
  const normalized = text
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('>'))
    .join(' ')
    .replace(/\s+/gu, ' ')
    .trim();
  return Array.from(normalized).slice(0, maxChars).join('');
}
