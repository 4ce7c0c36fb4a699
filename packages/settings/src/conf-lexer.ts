/**
 * One line of conf text → what it says. Pure string work; conf-parser.ts gives the lines
 * structure and follows includes. `#` starts a comment only as a line's first non-blank
 * character: anywhere else it is part of the value.
 */

/** A value as written: literal text, or `<path` (the file's content is the value). */
export type RawValue = { kind: 'text'; text: string } | { kind: 'file'; path: string };

export interface InlineSetting { key: string; value: RawValue }

export type ConfLine =
  | { type: 'skip' }
  | { type: 'include'; path: string; optional: boolean }
  | { type: 'close' }
  | { type: 'setting'; key: string; value: RawValue }
  /** `inline` is set for the one-line form `type name { k = v  k2 = v2 }`, which also closes the section. */
  | { type: 'open'; sectionType: string; args: string[]; inline?: InlineSetting[] }
  | { type: 'error'; message: string };

const KEY = /^[A-Za-z0-9_][\w.-]*/;
const SETTING_LINE = /^([A-Za-z0-9_][\w.-]*)\s*=(.*)$/;

export function lexLine(line: string): ConfLine {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return { type: 'skip' };
  if (text.startsWith('!')) return lexDirective(text);
  if (text === '}') return { type: 'close' };
  const setting = SETTING_LINE.exec(text);
  if (setting) return settingLine(setting[1], setting[2]);
  return lexSectionHeader(text) ?? { type: 'error', message: "expected 'key = value', 'section [name] {', '}' or a # comment" };
}

function settingLine(key: string, valueText: string): ConfLine {
  const value = readValue(valueText);
  return 'error' in value ? { type: 'error', message: `${key}: ${value.error}` } : { type: 'setting', key, value };
}

function lexDirective(text: string): ConfLine {
  const match = /^!(include|include_try)\s+(.+)$/.exec(text);
  if (!match) return { type: 'error', message: `unknown directive '${text.split(/\s/)[0]}' (expected !include or !include_try)` };
  const path = readValue(match[2]);
  if ('error' in path || path.kind !== 'text' || path.text === '') return { type: 'error', message: `!${match[1]}: expected a file name` };
  return { type: 'include', path: path.text, optional: match[1] === 'include_try' };
}

/** `type [args…] {` optionally followed by `k = v … }` on the same line. */
function lexSectionHeader(text: string): ConfLine | undefined {
  const words: string[] = [];
  let pos = skipBlanks(text, 0);
  while (pos < text.length && text[pos] !== '{') {
    const token = readToken(text, pos, /[\s{]/);
    if (!token) return { type: 'error', message: 'missing closing quote' };
    words.push(token.value);
    pos = skipBlanks(text, token.end);
  }
  if (pos >= text.length) return undefined;
  const [sectionType, ...args] = words;
  if (sectionType === undefined || !KEY.test(sectionType)) return { type: 'error', message: "expected a section type before '{'" };
  const rest = text.slice(pos + 1).trim();
  if (rest === '') return { type: 'open', sectionType, args };
  if (!rest.endsWith('}')) return { type: 'error', message: `${sectionType}: a one-line section must end with '}'` };
  const inline = readInlineSettings(rest.slice(0, -1));
  return 'error' in inline ? { type: 'error', message: `${sectionType}: ${inline.error}` } : { type: 'open', sectionType, args, inline };
}

/** The body of a one-line section: `key = value` pairs whose values are single words or quoted. */
function readInlineSettings(body: string): InlineSetting[] | { error: string } {
  const settings: InlineSetting[] = [];
  let pos = skipBlanks(body, 0);
  while (pos < body.length) {
    const key = KEY.exec(body.slice(pos))?.[0];
    pos = skipBlanks(body, pos + (key?.length ?? 0));
    if (key === undefined || body[pos] !== '=') return { error: "expected 'key = value' inside { }" };
    pos = skipBlanks(body, pos + 1);
    const token = pos < body.length ? readToken(body, pos, /\s/) : { raw: '', end: pos };
    if (!token) return { error: `${key}: missing closing quote` };
    const value = readValue(token.raw);
    if ('error' in value) return { error: `${key}: ${value.error}` };
    settings.push({ key, value });
    pos = skipBlanks(body, token.end);
  }
  return settings;
}

/** The value part of `key = value`: trimmed, unquoted, or a `<file` reference. */
export function readValue(raw: string): RawValue | { error: string } {
  const text = raw.trim();
  if (text.startsWith('"') || text.startsWith("'")) {
    const quoted = scanQuoted(text, 0);
    if (!quoted) return { error: 'missing closing quote' };
    if (text.slice(quoted.end).trim() !== '') return { error: 'unexpected text after the closing quote' };
    return { kind: 'text', text: quoted.value };
  }
  if (!text.startsWith('<')) return { kind: 'text', text };
  const path = text.slice(1).trim();
  return path === '' ? { error: "expected a file name after '<'" } : { kind: 'file', path };
}

interface Token { value: string; raw: string; end: number }

/** A quoted string, or a bare word ending before `stop`. `raw` keeps the quotes. */
function readToken(text: string, start: number, stop: RegExp): Token | undefined {
  if (text[start] === '"' || text[start] === "'") {
    const quoted = scanQuoted(text, start);
    return quoted && { ...quoted, raw: text.slice(start, quoted.end) };
  }
  let end = start;
  while (end < text.length && !stop.test(text[end])) end++;
  return { value: text.slice(start, end), raw: text.slice(start, end), end };
}

/** Escapes inside "double quotes"; any other backslash is kept, so `"^\d+$"` means what it says. */
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t' };

/** The string starting with a quote at `start`; 'single quotes' take no escapes. */
function scanQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === quote) return { value, end: i + 1 };
    const escaped = quote === '"' && ch === '\\' ? ESCAPES[text[i + 1]] : undefined;
    if (escaped !== undefined) i++;
    value += escaped ?? ch;
  }
  return undefined;
}

function skipBlanks(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos])) pos++;
  return pos;
}
