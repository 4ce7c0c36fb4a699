/** Charset conversion and RFC 2047 header decoding, through libmime and iconv-lite. */
import libmime from 'libmime';
import { decode as decodeWithLibmime } from 'libmime/lib/charset.js';
import iconv from 'iconv-lite';
import { unfold } from './header.js';

/**
 * Decodes `bytes` from `charset` to a string. Unknown charsets are read as UTF-8 and
 * invalid sequences become U+FFFD, so broken mail never makes a search fail.
 */
export function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const name = (charset ?? '').trim().toLowerCase();
  if (name === '' || name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || name === 'ascii') {
    return bytes.toString('utf8');
  }
  if (iconv.encodingExists(name) || /2022|shift|jis/.test(name)) {
    try {
      return decodeWithLibmime(bytes, name);
    } catch {
      return bytes.toString('utf8');
    }
  }
  return bytes.toString('utf8');
}

/**
 * Decodes a header value for humans: unfolds it, reads raw bytes as UTF-8 and decodes
 * RFC 2047 encoded-words in any charset iconv-lite knows (invalid bytes → U+FFFD).
 */
export function decodeHeader(value: string | Buffer): string {
  const text = unfold(typeof value === 'string' ? value : value.toString('utf8'));
  if (!text.includes('=?')) return text;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}
