/** Charset conversion and RFC 2047 header decoding, through libmime and iconv-lite. */
import { createRequire } from 'node:module';
import type Libmime from 'libmime';
import type { decode as LibmimeDecode } from 'libmime/lib/charset.js';
import type Iconv from 'iconv-lite';
import { unfold } from './header.js';

interface Converters {
  libmime: typeof Libmime;
  decode: typeof LibmimeDecode;
  iconv: typeof Iconv;
}

let converters: Converters | undefined;

/**
 * libmime and iconv-lite, loaded on the first text that needs them. With their charset
 * tables they add ~3 MiB of PSS to a process, which most imap processes (and every spare,
 * lmtp delivery child and adm) never use: UTF-8 and ASCII, nearly all mail, are decoded
 * without them.
 */
function load(): Converters {
  if (!converters) {
    const require = createRequire(import.meta.url);
    converters = {
      libmime: require('libmime') as typeof Libmime,
      decode: (require('libmime/lib/charset.js') as { decode: typeof LibmimeDecode }).decode,
      iconv: require('iconv-lite') as typeof Iconv,
    };
  }
  return converters;
}

function isUtf8(name: string): boolean {
  return name === '' || name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || name === 'ascii';
}

/** Whether libmime's decoder converts from `name` (lower case), loading the converters. */
function convertible(name: string): boolean {
  return load().iconv.encodingExists(name) || /2022|shift|jis/.test(name);
}

/**
 * Whether `charset` names UTF-8, ASCII or a charset decodeCharset() converts from (an empty
 * name is none). The converters are loaded only for a charset other than UTF-8 and ASCII.
 */
export function knownCharset(charset: string): boolean {
  const name = charset.trim().toLowerCase();
  return name !== '' && (isUtf8(name) || convertible(name));
}

/**
 * Decodes `bytes` from `charset` to a string. Unknown charsets are read as UTF-8 and
 * invalid sequences become U+FFFD, so broken mail never makes a search fail.
 */
export function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const name = (charset ?? '').trim().toLowerCase();
  if (isUtf8(name) || !convertible(name)) return bytes.toString('utf8');
  try {
    return load().decode(bytes, name);
  } catch {
    return bytes.toString('utf8');
  }
}

/**
 * Decodes a header value for humans: unfolds it, reads raw bytes as UTF-8 and decodes
 * RFC 2047 encoded-words in any charset iconv-lite knows (invalid bytes → U+FFFD).
 */
export function decodeHeader(value: string | Buffer): string {
  const text = unfold(typeof value === 'string' ? value : value.toString('utf8'));
  if (!text.includes('=?')) return text;
  try {
    return load().libmime.decodeWords(text);
  } catch {
    return text;
  }
}
