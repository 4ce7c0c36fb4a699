/**
 * The values ENVELOPE and BODYSTRUCTURE are made of, and how they are written on the wire.
 * A string whose raw bytes are not valid UTF-8 stays a Buffer so its bytes reach the client
 * unchanged, as Dovecot sends them.
 */
import { isUtf8 } from 'node:buffer';

export type ImapNString = string | Buffer | null;
/** A nested IMAP value: lists are arrays; see writeImapValue for the multipart rule. */
export type ImapValue = ImapNString | number | ImapValue[];

/** A "binary" string (one char per raw byte) as a UTF-8 string, or a Buffer if not UTF-8. */
export function fromBinary(binary: string): string | Buffer {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(binary)) return binary;
  const bytes = Buffer.from(binary, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes;
}

/** A value with no byte that needs a literal (8-bit, CR, LF, NUL) and short enough to quote. */
function quotable(bytes: Buffer): boolean {
  if (bytes.length > 1024) return false;
  for (const b of bytes) {
    if (b >= 0x80 || b === 0x0d || b === 0x0a || b === 0) return false;
  }
  return true;
}

function writeString(value: string | Buffer, out: Buffer[]): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (quotable(bytes)) {
    out.push(Buffer.from('"' + bytes.toString('latin1').replace(/["\\]/g, '\\$&') + '"', 'latin1'));
  } else {
    out.push(Buffer.from(`{${bytes.length}}\r\n`), bytes);
  }
}

/**
 * Serialises an ENVELOPE or BODYSTRUCTURE value. Lists are space-separated, except that the
 * leading sub-lists of a list that starts with a list (a multipart body: `1*body SP
 * media-subtype`) are written back to back, as RFC 3501's grammar and Dovecot have it.
 */
export function writeImapValue(value: ImapValue): Buffer {
  const out: Buffer[] = [];
  write(value, out);
  return Buffer.concat(out);
}

function write(value: ImapValue, out: Buffer[]): void {
  if (value === null) {
    out.push(Buffer.from('NIL'));
  } else if (typeof value === 'number') {
    out.push(Buffer.from(String(value)));
  } else if (Array.isArray(value)) {
    out.push(Buffer.from('('));
    const multipart = Array.isArray(value[0]);
    value.forEach((item, i) => {
      if (i > 0 && !(multipart && Array.isArray(item) && Array.isArray(value[i - 1]))) out.push(Buffer.from(' '));
      write(item, out);
    });
    out.push(Buffer.from(')'));
  } else {
    writeString(value, out);
  }
}
