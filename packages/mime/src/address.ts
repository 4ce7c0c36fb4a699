/**
 * RFC 5322 address lists as IMAP wants them (RFC 3501 ENVELOPE): display names raw (quotes
 * removed, RFC 2047 left encoded), groups as a start marker (NIL NIL name NIL) and an end
 * marker (NIL NIL NIL NIL). Broken addresses are repaired the way Dovecot repairs them:
 * MISSING_MAILBOX, MISSING_DOMAIN, SYNTAX_ERROR, INVALID_ROUTE.
 */
import { Lexer, isAtext } from './rfc822-lexer.js';

/** An address with "binary" strings (one char per raw byte). */
export interface RawAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** One ENVELOPE address; group markers have a null host. */
export interface ImapAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

class AddressParser extends Lexer {
  readonly out: RawAddress[] = [];
  private cur: RawAddress = emptyAddress();

  /** obs-phrase: words and dots, joined by single spaces; null when there is none. */
  phrase(): string | null {
    const words: string[] = [];
    for (;;) {
      const c = this.peek();
      if (c === '"') words.push(this.readQuoted());
      else if (c !== '' && (isAtext(c) || c === '.')) words.push(this.readAtom(true));
      else break;
      this.skipCfws();
    }
    return words.length === 0 ? null : words.join(' ');
  }

  localPart(): boolean {
    let local: string;
    if (this.peek() === '"') {
      local = this.readQuoted();
      this.skipCfws();
    } else {
      local = this.dotAtom();
      if (local === '') return false;
    }
    this.cur.mailbox = local;
    return true;
  }

  dotAtom(): string {
    let text = this.readAtom(false);
    if (text === '') return '';
    this.skipCfws();
    while (this.peek() === '.') {
      this.pos++;
      this.skipCfws();
      text += '.' + this.readAtom(false);
      this.skipCfws();
    }
    return text;
  }

  /** After '@': a dot-atom or a domain literal. */
  domain(): string {
    this.pos++;
    this.skipCfws();
    if (this.peek() === '[') {
      const close = this.s.indexOf(']', this.pos);
      const end = close < 0 ? this.s.length : close + 1;
      const lit = this.s.slice(this.pos, end).replace(/[\r\n]/g, '');
      this.pos = end;
      this.skipCfws();
      return lit;
    }
    return this.dotAtom();
  }

  angleAddr(): boolean {
    this.pos++; // '<'
    this.skipCfws();
    if (this.peek() === '@') {
      const route: string[] = [];
      while (this.peek() === '@') {
        route.push('@' + this.domain());
        while (this.peek() === ',') {
          this.pos++;
          this.skipCfws();
        }
      }
      if (this.peek() !== ':') {
        this.cur.adl = 'INVALID_ROUTE';
        return false;
      }
      this.cur.adl = route.join(',');
      this.pos++;
      this.skipCfws();
    }
    if (!this.localPart()) return false;
    if (this.peek() === '@') this.cur.host = this.domain();
    if (this.peek() !== '>') return false;
    this.pos++;
    this.skipCfws();
    return true;
  }

  mailbox(): void {
    const start = this.pos;
    const name = this.phrase();
    if (this.peek() === '<') {
      this.cur.name = name === '' ? null : name;
      if (!this.angleAddr()) this.cur.host = 'SYNTAX_ERROR';
    } else {
      this.pos = start;
      this.lastComment = '';
      if (this.localPart() && this.peek() === '@') this.cur.host = this.domain();
      if (this.lastComment !== '') this.cur.name = this.lastComment;
    }
    this.addFixed();
  }

  addFixed(): void {
    if (this.cur.mailbox === null) this.cur.mailbox = 'MISSING_MAILBOX';
    if (this.cur.host === null) this.cur.host = 'MISSING_DOMAIN';
    this.out.push(this.cur);
    this.cur = emptyAddress();
  }

  /** A group if the phrase is followed by ':', else nothing is consumed. */
  group(): boolean {
    const start = this.pos;
    const name = this.phrase();
    if (name === null || this.peek() !== ':') {
      this.pos = start;
      return false;
    }
    this.pos++;
    this.out.push({ name: null, adl: null, mailbox: name, host: null });
    if (this.skipCfws() && this.peek() !== ';') {
      for (;;) {
        this.mailbox();
        if (this.peek() !== ',') break;
        this.pos++;
        if (!this.skipCfws()) break;
      }
    }
    if (this.peek() === ';') {
      this.pos++;
      this.skipCfws();
    }
    this.out.push(emptyAddress());
    return true;
  }

  list(): RawAddress[] {
    if (!this.skipCfws()) return this.out;
    for (let guard = 0; guard < 10_000; guard++) {
      if (!this.group()) this.mailbox();
      if (this.atEnd || this.peek() !== ',') break;
      this.pos++;
      if (!this.skipCfws()) break;
    }
    return this.out;
  }
}

function emptyAddress(): RawAddress {
  return { name: null, adl: null, mailbox: null, host: null };
}

/** Parses an address list given as a "binary" string (one char per raw byte). */
export function parseRawAddresses(binary: string): RawAddress[] {
  return new AddressParser(binary).list();
}

/** Parses an address list (a header value, unfolded or not) into IMAP addresses. */
export function parseAddresses(value: string): ImapAddress[] {
  const binary = Buffer.from(value, 'utf8').toString('latin1');
  const toText = (s: string | null): string | null => (s === null ? null : Buffer.from(s, 'latin1').toString('utf8'));
  return parseRawAddresses(binary).map((a) => ({
    name: toText(a.name),
    adl: toText(a.adl),
    mailbox: toText(a.mailbox),
    host: toText(a.host),
  }));
}
