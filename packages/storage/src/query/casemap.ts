/**
 * i;unicode-casemap (RFC 5051), the comparator SEARCH, SORT and THREAD use: each character
 * to its (single-character) titlecase, then NFKD. Titlecase mostly equals uppercase, which
 * is also what puts `_` after letters in sort order, as in Dovecot.
 */

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

export function casemap(text: string): string {
  if (ASCII.test(text)) return text.toUpperCase();
  let out = '';
  for (const ch of text) {
    const upper = ch.toUpperCase();
    // Only simple (one-character) mappings, as the comparator defines: ß stays ß.
    out += upper.length === ch.length || [...upper].length === 1 ? upper : ch;
  }
  return out.normalize('NFKD');
}
