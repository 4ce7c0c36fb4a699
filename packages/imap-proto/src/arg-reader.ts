/** Reading a command's arguments in order, with errors a client can act on. */
import { LoftError } from '@loft/errors';
import type { ImapArg } from './command-parser.js';

/** The LoftError every argument grammar throws; its detail is the text for `<tag> BAD …`. */
export function syntaxError(message: string): LoftError {
  return new LoftError('LOFT_E_IMAP_SYNTAX', message);
}

const UINT32_MAX = 0xffffffff;
/** RFC 9051 number64 / RFC 7162 mod-sequence-value: up to 2^63 - 1. */
const UINT63_MAX = (1n << 63n) - 1n;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether every character is printable US-ASCII (0x21-0x7e) and none is in `excluded`
 * (atom-specials and the like), so the text can be sent or stored as an atom.
 */
export function isPrintableAsciiExcept(text: string, excluded: string): boolean {
  if (text === '') return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || excluded.includes(text[i]!)) return false;
  }
  return true;
}

/** A short, printable rendering of an argument for error messages. */
export function describeArg(arg: ImapArg | undefined): string {
  if (arg === undefined) return 'end of command';
  switch (arg.type) {
    case 'atom':
      return arg.value.length > 40 ? `${arg.value.slice(0, 40)}…` : arg.value;
    case 'string':
      return arg.literal ? 'a literal' : 'a quoted string';
    case 'list':
      return 'a list';
    case 'nil':
      return 'NIL';
  }
}

/** Decode client text as UTF-8 (US-ASCII is a subset), rejecting invalid sequences. */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw syntaxError(`${what} is not valid UTF-8`);
  }
}

/** number (RFC 3501 §9): 1*DIGIT, at most 2^32 - 1. */
export function parseNumber(text: string, what: string, nonZero = false): number {
  if (!/^\d{1,10}$/.test(text)) throw syntaxError(`${what} must be a number, not ${text.slice(0, 40)}`);
  const value = Number(text);
  if (value > UINT32_MAX) throw syntaxError(`${what} ${text} is larger than 4294967295`);
  if (nonZero && value === 0) throw syntaxError(`${what} must not be 0`);
  return value;
}

/** mod-sequence-value / number64: 1*DIGIT up to 2^63 - 1. */
export function parseNumber64(text: string, what: string, nonZero = false): bigint {
  if (!/^\d{1,19}$/.test(text)) throw syntaxError(`${what} must be a number, not ${text.slice(0, 40)}`);
  const value = BigInt(text);
  if (value > UINT63_MAX) throw syntaxError(`${what} ${text} is larger than 9223372036854775807`);
  if (nonZero && value === 0n) throw syntaxError(`${what} must not be 0`);
  return value;
}

/** A cursor over a command's (or a list's) arguments. */
export class ArgReader {
  readonly #args: readonly ImapArg[];
  #index = 0;

  constructor(args: readonly ImapArg[]) {
    this.#args = args;
  }

  get done(): boolean {
    return this.#index >= this.#args.length;
  }

  peek(): ImapArg | undefined {
    return this.#args[this.#index];
  }

  /** The next argument's atom value upper-cased, without consuming it; undefined for a non-atom. */
  peekAtom(): string | undefined {
    const arg = this.#args[this.#index];
    return arg?.type === 'atom' ? arg.value.toUpperCase() : undefined;
  }

  next(what: string): ImapArg {
    const arg = this.#args[this.#index];
    if (arg === undefined) throw syntaxError(`Missing ${what}`);
    this.#index++;
    return arg;
  }

  atom(what: string): string {
    const arg = this.next(what);
    if (arg.type !== 'atom') throw syntaxError(`Expected ${what}, got ${describeArg(arg)}`);
    return arg.value;
  }

  /** astring: an atom, quoted string or literal (and NIL read as the text "NIL"), as bytes. */
  astringBytes(what: string): Buffer {
    const arg = this.next(what);
    if (arg.type === 'string') return arg.value;
    if (arg.type === 'atom') return Buffer.from(arg.value, 'latin1');
    if (arg.type === 'nil') return Buffer.from('NIL');
    throw syntaxError(`Expected ${what}, got ${describeArg(arg)}`);
  }

  astring(what: string): string {
    return decodeUtf8(this.astringBytes(what), what);
  }

  /** string: a quoted string or literal only. */
  string(what: string): Buffer {
    const arg = this.next(what);
    if (arg.type !== 'string') throw syntaxError(`Expected ${what} as a quoted string or literal, got ${describeArg(arg)}`);
    return arg.value;
  }

  /** nstring: NIL or a string. */
  nstring(what: string): Buffer | null {
    const arg = this.next(what);
    if (arg.type === 'nil') return null;
    if (arg.type !== 'string') throw syntaxError(`Expected ${what} as a string or NIL, got ${describeArg(arg)}`);
    return arg.value;
  }

  number(what: string, nonZero = false): number {
    return parseNumber(this.atom(what), what, nonZero);
  }

  number64(what: string, nonZero = false): bigint {
    return parseNumber64(this.atom(what), what, nonZero);
  }

  list(what: string): ImapArg[] {
    const arg = this.next(what);
    if (arg.type !== 'list') throw syntaxError(`Expected ${what} in parentheses, got ${describeArg(arg)}`);
    return arg.items;
  }

  /** Throws unless every argument was consumed. */
  end(what = 'command'): void {
    const arg = this.#args[this.#index];
    if (arg !== undefined) throw syntaxError(`Unexpected ${describeArg(arg)} at the end of the ${what}`);
  }
}
