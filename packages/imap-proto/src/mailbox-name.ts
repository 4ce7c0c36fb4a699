/**
 * Modified UTF-7 mailbox names (RFC 3501 §5.1.3): printable US-ASCII stands for itself, `&-`
 * is `&`, and other characters are UTF-16BE in modified base64 (`,` for `/`) between `&`
 * and `-`. Decoding accepts only the one canonical encoding of each name, as Dovecot does,
 * so two spellings can never name the same mailbox.
 */
import { LoftError } from '@loft/errors';

const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const BASE64_VALUES = new Map([...BASE64_CHARS].map((ch, i) => [ch, i]));

function isDirect(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

function encodeRun(units: number[]): string {
  const bytes = Buffer.alloc(units.length * 2);
  units.forEach((u, i) => bytes.writeUInt16BE(u, i * 2));
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += BASE64_CHARS[(value >> bits) & 0x3f];
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE64_CHARS[(value << (6 - bits)) & 0x3f];
  return `&${out}-`;
}

/** A UTF-8 (JS) mailbox name in modified UTF-7. */
export function encodeMailboxName(name: string): string {
  let out = '';
  let run: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (isDirect(code)) {
      if (run.length > 0) {
        out += encodeRun(run);
        run = [];
      }
      out += code === 0x26 ? '&-' : name[i];
    } else {
      run.push(code);
    }
  }
  if (run.length > 0) out += encodeRun(run);
  return out;
}

function invalid(name: string, why: string): LoftError {
  const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
  return new LoftError('LOFT_E_IMAP_BAD_MAILBOX_NAME', `${shown}: ${why}`);
}

function decodeRun(name: string, run: string): string {
  const units: number[] = [];
  let value = 0;
  let bits = 0;
  for (const ch of run) {
    const v = BASE64_VALUES.get(ch);
    if (v === undefined) throw invalid(name, `'${ch}' is not a modified base64 character`);
    value = ((value << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 16) {
      bits -= 16;
      units.push((value >> bits) & 0xffff);
    }
  }
  if (bits >= 6 || (value & ((1 << bits) - 1)) !== 0) throw invalid(name, 'base64 run has leftover bits');
  for (let i = 0; i < units.length; i++) {
    const u = units[i]!;
    if (isDirect(u)) throw invalid(name, 'printable US-ASCII must not be base64-encoded');
    if (u >= 0xd800 && u <= 0xdbff) {
      const low = units[i + 1];
      if (low === undefined || low < 0xdc00 || low > 0xdfff) throw invalid(name, 'unpaired UTF-16 surrogate');
      i++;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      throw invalid(name, 'unpaired UTF-16 surrogate');
    }
  }
  let text = '';
  for (const u of units) text += String.fromCharCode(u);
  return text;
}

/** A modified UTF-7 mailbox name as UTF-8 (JS); throws LOFT_E_IMAP_BAD_MAILBOX_NAME unless canonical. */
export function decodeMailboxName(encoded: string): string {
  let out = '';
  let i = 0;
  let lastRunEnd = -1;
  while (i < encoded.length) {
    const code = encoded.charCodeAt(i);
    if (!isDirect(code)) throw invalid(encoded, 'contains a character that must be encoded');
    if (code !== 0x26) {
      out += encoded[i];
      i++;
      continue;
    }
    const end = encoded.indexOf('-', i + 1);
    if (end === -1) throw invalid(encoded, "unterminated '&' sequence");
    if (end === i + 1) {
      out += '&';
    } else {
      if (lastRunEnd === i) throw invalid(encoded, 'adjacent encoded runs must be one run');
      out += decodeRun(encoded, encoded.slice(i + 1, end));
      lastRunEnd = end + 1;
    }
    i = end + 1;
  }
  return out;
}

/** Whether a name is canonical modified UTF-7 (what decodeMailboxName accepts). */
export function isValidMailboxName(encoded: string): boolean {
  try {
    decodeMailboxName(encoded);
    return true;
  } catch {
    return false;
  }
}
