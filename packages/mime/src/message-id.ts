/** Message-IDs in Message-ID, References and In-Reply-To (for THREAD), read as Dovecot reads them. */
import { Lexer } from './rfc822-lexer.js';

/** dot-atom: atoms joined by dots, CFWS allowed around them; '' when there is none. */
function dotAtom(lex: Lexer): string {
  lex.skipCfws();
  let text = lex.readAtom(false);
  if (text === '') return '';
  lex.skipCfws();
  while (lex.peek() === '.') {
    lex.pos++;
    lex.skipCfws();
    const next = lex.readAtom(false);
    if (next === '') return '';
    text += '.' + next;
    lex.skipCfws();
  }
  return text;
}

/** The slow path for ids with quotes, comments or literals: local@domain, or null. */
function tokenizedId(s: string, start: number): { id: string | null; next: number } {
  const lex = new Lexer(s);
  lex.pos = start;
  lex.skipCfws();
  let local: string;
  if (lex.peek() === '"') {
    local = lex.readQuoted();
    lex.skipCfws();
  } else {
    local = dotAtom(lex);
  }
  if (local === '' || lex.peek() !== '@') return { id: null, next: start };
  lex.pos++;
  const domain = dotAtom(lex);
  if (domain === '' || lex.peek() !== '>') return { id: null, next: start };
  return { id: `${local}@${domain}`, next: lex.pos + 1 };
}

/**
 * The msg-ids in a header value, in order, without angle brackets or whitespace. Text
 * between < and > without an '@' is not a Message-ID and is skipped.
 */
export function messageIds(value: string): string[] {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    const open = value.indexOf('<', pos);
    if (open < 0) return out;
    const start = open + 1;
    let p = start;
    let at = false;
    while (p < value.length) {
      const c = value[p];
      if (c === '@') at = true;
      if (c === '>' || c === '"' || c === '(' || c === '[') break;
      p++;
    }
    if (p >= value.length) return out;
    if (value[p] === '>') {
      if (at) out.push(value.slice(start, p).replace(/[ \t\r\n]/g, ''));
      pos = p + 1;
    } else {
      const { id, next } = tokenizedId(value, start);
      if (id !== null) out.push(id);
      pos = id !== null ? next : start;
    }
  }
}
