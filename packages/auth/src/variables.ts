/**
 * Dovecot's `%` variables in driver args and SQL queries: `%u` user, `%n` its part before
 * the `@`, `%d` the part after, `%s` service, `%r` / `%l` remote / local IP, `%a` local
 * port, `%c` "secured", their long forms `%{user}` …, `%%` for a percent sign, and the
 * modifiers `L` (lowercase) and `U` (uppercase) as in `%Ld` or `%L{domain}`. `%w` (the
 * password the client sent) exists only where a caller allows it: SQL password_query.
 */
import { LoftError } from '@loft/errors';
import type { AuthRequest } from './auth-types.js';

export type VariableName = 'user' | 'username' | 'domain' | 'service' | 'rip' | 'lip' | 'lport' | 'secured' | 'password';

export type TemplatePiece = { text: string } | { variable: VariableName; modifier: '' | 'L' | 'U' };

const SHORT_NAMES: Readonly<Record<string, VariableName>> = { u: 'user', n: 'username', d: 'domain', s: 'service', r: 'rip', l: 'lip', a: 'lport', c: 'secured', w: 'password' };
const LONG_NAMES: readonly VariableName[] = ['user', 'username', 'domain', 'service', 'rip', 'lip', 'lport', 'secured', 'password'];

/**
 * Splits a template into text and variables; an unknown variable is LOFT_E_AUTH_DRIVER
 * naming it. `%w` is refused unless `allowPassword`: a password must never become a path.
 */
export function parseTemplate(template: string, allowPassword = false): TemplatePiece[] {
  const pieces: TemplatePiece[] = [];
  let text = '';
  const pattern = /%(%|([LU]?)(?:\{([A-Za-z_]+)\}|([A-Za-z])))/g;
  let last = 0;
  const literal = (segment: string): string => {
    if (segment.includes('%')) throw new LoftError('LOFT_E_AUTH_DRIVER', `a lone '%' in '${template}'; write %% for a percent sign`);
    return segment;
  };
  for (let match = pattern.exec(template); match; match = pattern.exec(template)) {
    text += literal(template.slice(last, match.index));
    last = pattern.lastIndex;
    if (match[1] === '%') {
      text += '%';
      continue;
    }
    const name = match[3] !== undefined ? LONG_NAMES.find((long) => long === match[3]) : SHORT_NAMES[match[4]];
    if (name === undefined) throw new LoftError('LOFT_E_AUTH_DRIVER', `unknown variable '${match[0]}' in '${template}' (known: %u %n %d %s %r %l %a %c, %{user} %{username} %{domain}…)`);
    if (name === 'password' && !allowPassword) throw new LoftError('LOFT_E_AUTH_DRIVER', `'${match[0]}' (the password) is only allowed in an SQL password_query, not in '${template}'`);
    if (text !== '') pieces.push({ text });
    text = '';
    pieces.push({ variable: name, modifier: match[2] as '' | 'L' | 'U' });
  }
  text += literal(template.slice(last));
  if (text !== '') pieces.push({ text });
  return pieces;
}

export function hasVariables(pieces: readonly TemplatePiece[]): boolean {
  return pieces.some((piece) => 'variable' in piece);
}

/** The value of each variable for a request; `password` only for a password check. */
export function variableValues(request: AuthRequest, password = ''): Readonly<Record<VariableName, string>> {
  const user = request.user;
  const at = user.lastIndexOf('@');
  return {
    user,
    username: at < 0 ? user : user.slice(0, at),
    domain: at < 0 ? '' : user.slice(at + 1),
    service: request.service,
    rip: request.remoteIp ?? '',
    lip: request.localIp ?? '',
    lport: request.localPort === undefined ? '' : String(request.localPort),
    secured: request.secured ? 'secured' : '',
    password,
  };
}

export function variableValue(piece: { variable: VariableName; modifier: '' | 'L' | 'U' }, values: Readonly<Record<VariableName, string>>): string {
  const value = values[piece.variable];
  return piece.modifier === 'L' ? value.toLowerCase() : piece.modifier === 'U' ? value.toUpperCase() : value;
}

/** The template with every variable replaced; `check` may refuse a value (returns undefined then). */
export function expand(pieces: readonly TemplatePiece[], values: Readonly<Record<VariableName, string>>, check: (value: string) => boolean = () => true): string | undefined {
  let out = '';
  for (const piece of pieces) {
    if ('text' in piece) {
      out += piece.text;
      continue;
    }
    const value = variableValue(piece, values);
    if (!check(value)) return undefined;
    out += value;
  }
  return out;
}
