/**
 * Which parsed fields the cache can hold, and who computes them. ENVELOPE and BODYSTRUCTURE
 * need a MIME parser; that is @loft/mime's job, plugged in through MessageFieldParser
 * (mimeFieldParser in mime-fields.ts, the default of MailUser.open). headerFieldParser below
 * answers the header-level fields when the parser in use does not.
 */

/**
 * envelope: ENVELOPE; bodystructure / body: BODYSTRUCTURE / BODY; sentDate: the Date: header,
 * ms since the epoch, or null; preview: RFC 8970 PREVIEW text; headerText: the raw header
 * block; headers:<name>: raw unfolded values of the fields called <name>.
 */
export type CachedFieldName = 'envelope' | 'bodystructure' | 'body' | 'sentDate' | 'preview' | 'headerText' | `headers:${string}`;

export interface MessageFieldParser {
  /**
   * The field's value (JSON-serialisable; Buffers allowed inside arrays), or undefined if
   * this parser does not compute it.
   */
  parse(field: CachedFieldName, message: Buffer): unknown;
  /** Decoded text of the body for SEARCH BODY (all text parts, charset-decoded). */
  bodyText?(message: Buffer): string;
  /** Every header block (the message's, its parts', embedded messages') unfolded and RFC 2047-decoded, for SEARCH TEXT. */
  decodedHeaderText?(message: Buffer): string;
}

/** Offset of the blank line ending the header block (message length if there is none). */
export function headerEnd(message: Buffer): { end: number; bodyStart: number } {
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf + 2, bodyStart: crlf + 4 };
  if (lf >= 0) return { end: lf + 1, bodyStart: lf + 2 };
  return { end: message.length, bodyStart: message.length };
}

/** Raw, unfolded values of every header field named `name` (case-insensitive). */
export function headerValues(headerText: string, name: string): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  const unfolded = headerText.replace(/\r?\n(?=[ \t])/g, '');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (line.slice(0, colon).trim().toLowerCase() === wanted) out.push(line.slice(colon + 1).replace(/^[ \t]+/, ''));
  }
  return out;
}

/** Header-level fields that need no MIME parsing. */
export const headerFieldParser: MessageFieldParser = {
  parse(field, message) {
    const text = message.subarray(0, headerEnd(message).end).toString('latin1');
    if (field === 'headerText') return text;
    if (field === 'sentDate') {
      const value = headerValues(text, 'date')[0];
      const ms = value === undefined ? NaN : Date.parse(value.replace(/\([^)]*\)/g, '').trim());
      return Number.isNaN(ms) ? null : ms;
    }
    if (field.startsWith('headers:')) return headerValues(text, field.slice('headers:'.length));
    return undefined;
  },
};
