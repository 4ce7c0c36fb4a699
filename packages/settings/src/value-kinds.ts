/** How the text of a conf value becomes a typed value, per Loft kind. */
import { isListenAddress, parseCidr } from './ip-address.js';
import { parseDuration, parseSize } from './units.js';

export const LOFT_KINDS = ['string', 'path', 'secret', 'size', 'duration', 'bool', 'uint', 'int', 'octal', 'enum', 'list', 'ip', 'cidr'] as const;

export type LoftKind = (typeof LOFT_KINDS)[number];

/** The JSON Schema `type` each kind produces; the registry refuses a declaration that disagrees. */
export const KIND_TYPES: Readonly<Record<LoftKind, readonly string[]>> = {
  string: ['string'],
  path: ['string'],
  secret: ['string'],
  enum: ['string'],
  ip: ['string'],
  cidr: ['string'],
  size: ['integer', 'number'],
  duration: ['integer', 'number'],
  uint: ['integer', 'number'],
  int: ['integer', 'number'],
  octal: ['integer', 'number'],
  bool: ['boolean'],
  list: ['array'],
};

export type Coerced = { ok: true; value: unknown } | { ok: false; expected: string };

interface KindParser { parse: (text: string) => unknown; expected: string }

const PARSERS: Readonly<Record<LoftKind, KindParser>> = {
  string: { parse: (text) => text, expected: 'a string' },
  path: { parse: (text) => text, expected: 'a path' },
  secret: { parse: (text) => text, expected: 'a string' },
  // The allowed values are checked against the schema's `enum` by ajv, which can list them.
  enum: { parse: (text) => text, expected: 'a string' },
  size: { parse: parseSize, expected: 'a size (e.g. 512k, 10M, 1G)' },
  duration: { parse: parseDuration, expected: 'a duration (e.g. 100 ms, 30 secs, 5 mins, 1 hour)' },
  bool: { parse: parseBool, expected: 'yes or no' },
  uint: { parse: (text) => parseInteger(text, /^\d+$/), expected: 'a whole number (0 or more)' },
  int: { parse: (text) => parseInteger(text, /^-?\d+$/), expected: 'a whole number' },
  octal: { parse: parseOctal, expected: 'an octal file mode (e.g. 0600)' },
  list: { parse: parseList, expected: 'a list' },
  ip: { parse: (text) => (isListenAddress(text) ? text : undefined), expected: 'an IP address, * or ::' },
  cidr: { parse: (text) => (parseCidr(text) ? text : undefined), expected: 'an IP address or CIDR range (e.g. 10.0.0.0/8)' },
};

/** The typed value of `text`, or what was expected instead (for "'x' is not <expected>"). */
export function coerceValue(kind: LoftKind, text: string): Coerced {
  const parser = PARSERS[kind];
  const value = parser.parse(text);
  return value === undefined ? { ok: false, expected: parser.expected } : { ok: true, value };
}

function parseBool(text: string): boolean | undefined {
  const word = text.toLowerCase();
  if (word === 'yes' || word === 'true') return true;
  if (word === 'no' || word === 'false') return false;
  return undefined;
}

function parseInteger(text: string, pattern: RegExp): number | undefined {
  if (!pattern.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** File modes are always octal, with or without the leading 0 (`0600`, `600`). */
function parseOctal(text: string): number | undefined {
  return /^[0-7]{1,7}$/.test(text) ? parseInt(text, 8) : undefined;
}

/** Whitespace and/or commas separate items: `quota, acl` and `quota acl` are the same list. */
function parseList(text: string): string[] {
  return text.split(/[\s,]+/).filter((item) => item !== '');
}
