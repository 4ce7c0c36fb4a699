/**
 * A small RFC 5322 / RFC 2045 lexer over "binary" strings (one char per raw byte, latin1),
 * shared by the address, parameter and Message-ID parsers. It is lenient the way Dovecot's
 * rfc822-parser is: 8-bit bytes count as atom text.
 */

/** RFC 5322 specials; atoms are everything else except controls and space. */
const SPECIALS = '()<>[]:;@\\,."';
/** RFC 2045 tspecials; MIME tokens are everything else except controls and space. */
const TSPECIALS = '()<>@,;:\\"/[]?=';

export function isAtext(c: string): boolean {
  const code = c.charCodeAt(0);
  if (code <= 0x20 || code === 0x7f) return false;
  return code >= 0x80 || !SPECIALS.includes(c);
}

function isTokenChar(c: string): boolean {
  const code = c.charCodeAt(0);
  if (code <= 0x20 || code === 0x7f) return false;
  return code >= 0x80 || !TSPECIALS.includes(c);
}

export class Lexer {
  pos = 0;
  /** The text of the last comment skipped by skipCfws(). */
  lastComment = '';

  constructor(readonly s: string) {}

  get atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  /** Skips whitespace and (nested) comments; returns false at the end of input. */
  skipCfws(): boolean {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
        this.pos++;
      } else if (c === '(') {
        this.lastComment = this.readComment();
      } else {
        break;
      }
    }
    return this.pos < s.length;
  }

  private readComment(): string {
    const s = this.s;
    let depth = 0;
    let text = '';
    while (this.pos < s.length) {
      const c = s[this.pos++];
      if (c === '\\' && this.pos < s.length) {
        text += s[this.pos++];
      } else if (c === '(') {
        if (depth > 0) text += c;
        depth++;
      } else if (c === ')') {
        depth--;
        if (depth === 0) return text;
        text += c;
      } else if (c !== '\r' && c !== '\n') {
        text += c;
      }
    }
    return text;
  }

  /** A quoted string at pos (which must be `"`), unquoted; an unterminated one runs to the end. */
  readQuoted(): string {
    const s = this.s;
    let out = '';
    this.pos++;
    while (this.pos < s.length) {
      const c = s[this.pos++];
      if (c === '"') return out;
      if (c === '\\' && this.pos < s.length) out += s[this.pos++];
      else if (c !== '\r' && c !== '\n') out += c;
    }
    return out;
  }

  /** An atom, optionally with dots inside (obs-phrase / dot-atom text). */
  readAtom(allowDot: boolean): string {
    const s = this.s;
    const start = this.pos;
    while (this.pos < s.length && (isAtext(s[this.pos]) || (allowDot && s[this.pos] === '.'))) this.pos++;
    return s.slice(start, this.pos);
  }

  /** A MIME token (RFC 2045). */
  readToken(): string {
    const s = this.s;
    const start = this.pos;
    while (this.pos < s.length && isTokenChar(s[this.pos])) this.pos++;
    return s.slice(start, this.pos);
  }

  /** A token or quoted string, then CFWS; '' when neither is there. */
  readValue(): string {
    const v = this.peek() === '"' ? this.readQuoted() : this.readToken();
    this.skipCfws();
    return v;
  }
}
