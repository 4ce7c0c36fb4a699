/**
 * Content-Type, Content-Disposition and Content-Language values, with RFC 2231 parameter
 * continuations. Two views: the raw parameter list as Dovecot writes it into
 * BODYSTRUCTURE (continuations joined, extended values left encoded under `name*`), and a
 * decoded record for code that needs the real value (charset, filename).
 */
import { Lexer } from './rfc822-lexer.js';
import { decodeCharset, decodeHeader } from './charset.js';

/** A parameter as written, in "binary" strings (one char per raw byte). */
export interface RawParam {
  name: string;
  value: string;
}

export interface StructuredValue {
  /** `type/subtype` for Content-Type, the disposition type for Content-Disposition. */
  value: string;
  params: RawParam[];
}

/** Parses `type/subtype; params` (withSlash) or `token; params`; null when unparsable. */
export function parseStructured(text: string, withSlash: boolean): StructuredValue | null {
  const lex = new Lexer(text);
  lex.skipCfws();
  let value = lex.readToken();
  if (value === '') return null;
  lex.skipCfws();
  if (withSlash) {
    if (lex.peek() !== '/') return null;
    lex.pos++;
    lex.skipCfws();
    const subtype = lex.readToken();
    if (subtype === '') return null;
    value += '/' + subtype;
    lex.skipCfws();
  }
  return { value, params: joinContinuations(readParams(lex)) };
}

function readParams(lex: Lexer): RawParam[] {
  const params: RawParam[] = [];
  const s = lex.s;
  while (lex.skipCfws()) {
    if (lex.peek() !== ';') {
      // Garbage between parameters: skip to the next ';'.
      const semi = s.indexOf(';', lex.pos);
      if (semi < 0) break;
      lex.pos = semi;
    }
    lex.pos++;
    if (!lex.skipCfws()) break;
    const name = lex.readToken();
    lex.skipCfws();
    if (name === '' || lex.peek() !== '=') continue;
    lex.pos++;
    lex.skipCfws();
    params.push({ name, value: lex.readValue() });
  }
  return params;
}

/** `name*`, `name*N` or `name*N*`: an RFC 2231 piece; anything else is a plain parameter. */
const RFC2231_PIECE = /^([^*]*)\*(\d*)(\*?)$/;

interface Piece {
  key: string;
  index: number;
  extended: boolean;
  value: string;
}

/**
 * RFC 2231 pieces merged the way Dovecot's rfc2231_parse does: plain parameters first, in
 * order; then each key's pieces, sorted by key and index, joined into `key` (or `key*` when
 * any piece is extended, with plain pieces %-escaped). Keys with missing indexes are kept
 * as separate `key*N` parameters.
 */
function joinContinuations(params: RawParam[]): RawParam[] {
  const out: RawParam[] = [];
  const pieces: Piece[] = [];
  for (const p of params) {
    const m = RFC2231_PIECE.exec(p.name);
    if (!m) out.push(p);
    // `name*` (and `name**`) is piece 0, extended.
    else if (m[2] === '') pieces.push({ key: m[1], index: 0, extended: true, value: p.value });
    else pieces.push({ key: m[1], index: Number(m[2]), extended: m[3] === '*', value: p.value });
  }
  if (pieces.length === 0) return out;
  pieces.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));
  for (let i = 0; i < pieces.length; ) {
    let j = i;
    let contiguous = true;
    let extended = false;
    while (j < pieces.length && pieces[j].key.toLowerCase() === pieces[i].key.toLowerCase()) {
      if (pieces[j].index !== j - i) contiguous = false;
      if (pieces[j].extended) extended = true;
      j++;
    }
    const group = pieces.slice(i, j);
    if (!contiguous) {
      for (const g of group) out.push({ name: `${g.key}*${g.index}${g.extended ? '*' : ''}`, value: g.value });
    } else {
      let value = !group[0].extended && extended ? "''" : '';
      for (const g of group) value += !g.extended && extended ? g.value.replace(/%/g, '%25') : g.value;
      out.push({ name: extended ? group[0].key + '*' : group[0].key, value });
    }
    i = j;
  }
  return out;
}

/** Lower-cased names, decoded values (RFC 2231 charsets, RFC 2047 in names); first wins. */
export function decodeParams(params: readonly RawParam[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of params) {
    let name = p.name.toLowerCase();
    let value: string;
    if (name.endsWith('*')) {
      name = name.slice(0, -1);
      value = decodeExtendedValue(p.value);
    } else {
      value = Buffer.from(p.value, 'latin1').toString('utf8');
      if ((name === 'name' || name === 'filename') && value.includes('=?')) value = decodeHeader(value);
    }
    if (!(name in out)) out[name] = value;
  }
  return out;
}

/** `charset'language'percent-encoded` → text. */
function decodeExtendedValue(value: string): string {
  const q1 = value.indexOf("'");
  const q2 = q1 < 0 ? -1 : value.indexOf("'", q1 + 1);
  const charset = q2 < 0 ? '' : value.slice(0, q1);
  const encoded = q2 < 0 ? value : value.slice(q2 + 1);
  const bytes = Buffer.from(
    encoded.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
  return decodeCharset(bytes, charset);
}
