/**
 * The Content-* fields of one part, read the way Dovecot's message-part-data does: the
 * first of each field counts, values stay as written ("binary" strings), and for a message
 * (not a multipart child) Content-* fields count only when it says Mime-Version or has a
 * Content-Type.
 */
import { firstField, rawValueString, type HeaderField } from './header.js';
import { Lexer } from './rfc822-lexer.js';
import { parseStructured, type RawParam } from './content-type.js';

export interface ContentHeaders {
  /** Type and subtype as written; undefined when Content-Type is missing or unparsable. */
  type?: string;
  subtype?: string;
  params: RawParam[];
  /** The encoding token as written; undefined when missing or not a lone token. */
  transferEncoding?: string;
  id?: string;
  description?: string;
  md5?: string;
  location?: string;
  language?: string[];
  disposition?: { value: string; params: RawParam[] };
}

/** Content-Language: atoms separated by commas. */
function languageList(text: string): string[] {
  const lex = new Lexer(text);
  const out: string[] = [];
  lex.skipCfws();
  for (;;) {
    const tag = lex.readAtom(false);
    if (tag === '') break;
    out.push(tag);
    lex.skipCfws();
    if (lex.peek() !== ',') break;
    lex.pos++;
    lex.skipCfws();
  }
  return out;
}

/** Content-Transfer-Encoding: one token and nothing else. */
function encodingToken(text: string): string | undefined {
  const lex = new Lexer(text);
  lex.skipCfws();
  const token = lex.readToken();
  return token !== '' && !lex.skipCfws() ? token : undefined;
}

/** Reads the Content-* fields; `mimeChild` is true for the parts of a multipart. */
export function readContentHeaders(fields: readonly HeaderField[], mimeChild: boolean): ContentHeaders {
  const value = (name: string): string | undefined => {
    const f = firstField(fields, name);
    return f ? rawValueString(f.value) : undefined;
  };
  const out: ContentHeaders = { params: [] };
  const ct = value('content-type');
  if (!mimeChild && ct === undefined && value('mime-version') === undefined) return out;
  const parsed = ct === undefined ? null : parseStructured(ct, true);
  if (parsed) {
    const slash = parsed.value.indexOf('/');
    out.type = parsed.value.slice(0, slash);
    out.subtype = parsed.value.slice(slash + 1);
    out.params = parsed.params;
  }
  const cte = value('content-transfer-encoding');
  if (cte !== undefined) out.transferEncoding = encodingToken(cte);
  out.id = value('content-id');
  out.description = value('content-description');
  out.md5 = value('content-md5');
  out.location = value('content-location');
  const lang = value('content-language');
  if (lang !== undefined) {
    const tags = languageList(lang);
    if (tags.length > 0) out.language = tags;
  }
  const disp = value('content-disposition');
  const dispParsed = disp === undefined ? null : parseStructured(disp, false);
  if (dispParsed) out.disposition = dispParsed;
  return out;
}
