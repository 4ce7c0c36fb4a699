/**
 * Dovecot's SQL queries with `%` variables, turned into parameterized PostgreSQL queries.
 * `WHERE userid = '%u'` becomes `WHERE userid = $1` and `'%n@%d'` becomes
 * `($1::text || '@' || $2::text)`: the user's text travels as a parameter and never becomes
 * SQL, whatever quotes it holds. Dovecot itself escapes; parameters cannot be got wrong.
 */
import { LoftError } from '@loft/errors';
import { parseTemplate, variableValue, type TemplatePiece, type VariableName } from './variables.js';

type Variable = Extract<TemplatePiece, { variable: string }>;

export interface CompiledQuery {
  text: string;
  /** The variable of $1, $2, …. */
  params: Variable[];
}

/** `allowPassword`: `%w` may appear (password_query only). */
export function compileQuery(query: string, setting: string, allowPassword = false): CompiledQuery {
  const params: Variable[] = [];
  const placeholder = (variable: Variable): string => {
    params.push(variable);
    return `$${params.length}`;
  };
  const fail = (problem: string): never => {
    throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${setting}: ${problem}`);
  };
  let text = '';
  let i = 0;
  while (i < query.length) {
    const char = query[i];
    if (char === "'") {
      const escapeString = /[eE]$/.test(text) && !/[\w$][eE]$/.test(text);
      const end = literalEnd(query, i, escapeString) ?? fail('a string literal is not closed');
      const raw = query.slice(i, end);
      if (escapeString) {
        if (raw.includes('%')) fail("variables inside E'…' strings are not supported; use a plain '…' string");
        text += raw;
      } else {
        text += literalWithParams(raw.slice(1, -1).replace(/''/g, "'"), setting, allowPassword, placeholder);
      }
      i = end;
    } else if (char === '"') {
      const end = query.indexOf('"', i + 1);
      if (end < 0) fail('a quoted identifier is not closed');
      if (query.slice(i, end).includes('%')) fail('variables cannot name a table or column');
      text += query.slice(i, end + 1);
      i = end + 1;
    } else if (char === '%') {
      const match = /^%(%|[LU]?(?:\{[A-Za-z_]+\}|[A-Za-z]))/.exec(query.slice(i)) ?? fail(`a lone '%' at offset ${i}; write %% for a percent sign`);
      const pieces = parseTemplate(match[0], allowPassword);
      text += pieces.length === 1 && 'variable' in pieces[0] ? placeholder(pieces[0]) : '%';
      i += match[0].length;
    } else {
      text += char;
      i++;
    }
  }
  return { text, params };
}

/** The value of each parameter for these variable values. */
export function queryValues(query: CompiledQuery, values: Readonly<Record<VariableName, string>>): string[] {
  return query.params.map((variable) => variableValue(variable, values));
}

/** Index just past the closing quote of the literal opening at `start`. */
function literalEnd(query: string, start: number, backslashEscapes: boolean): number | undefined {
  for (let i = start + 1; i < query.length; i++) {
    if (backslashEscapes && query[i] === '\\') i++;
    else if (query[i] === "'") {
      if (query[i + 1] === "'") i++;
      else return i + 1;
    }
  }
  return undefined;
}

function literalWithParams(content: string, setting: string, allowPassword: boolean, placeholder: (variable: Variable) => string): string {
  let pieces: TemplatePiece[];
  try {
    pieces = parseTemplate(content, allowPassword);
  } catch (err) {
    throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${setting}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;
  if (pieces.length === 0) return "''";
  // A literal that is one variable keeps PostgreSQL's type inference (it may be compared with an integer column).
  if (pieces.length === 1) return 'text' in pieces[0] ? quote(pieces[0].text) : placeholder(pieces[0]);
  return `(${pieces.map((piece) => ('text' in piece ? quote(piece.text) : `${placeholder(piece)}::text`)).join(' || ')})`;
}
