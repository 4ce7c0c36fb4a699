/**
 * The streaming IMAP command parser (RFC 3501 §2.2, §4, §9; RFC 9051; LITERAL+/- RFC 7888;
 * BINARY literal8 RFC 3516). It turns the client's byte stream into tagged commands, asking
 * for synchronizing literals as it goes, and never holds more than one line (bounded by
 * maxLineBytes) plus the literal being read. Hostile input ends in `sink.error`, never in an
 * exception or an unbounded buffer.
 */
import { LoftError } from '@loft/errors';

export interface ImapParserLimits {
  /** Longest command line (without literal data), bytes; Dovecot's imap_max_line_length, default 64 KiB. */
  maxLineBytes: number;
  /** Largest literal allowed for this command so far (e.g. 64 KiB for LOGIN, the APPEND limit for APPEND). */
  maxLiteralBytes(tag: string, command: string): number;
  /** LITERAL+ (true): non-synchronizing literals of any allowed size; LITERAL- (false): only up to 4096 bytes. */
  literalPlus: boolean;
  /**
   * Total literal bytes one command may hold (MULTIAPPEND, CATENATE), bytes. Default: the
   * command's maxLiteralBytes, so one command never holds more than one literal's worth.
   */
  maxCommandLiteralBytes?: number;
}

export type ImapArg =
  /** Includes atoms with [..] sections, e.g. BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>. */
  | { type: 'atom'; value: string }
  /** Quoted or literal; `binary` for a literal8 (`~{n}`), which may contain NUL. */
  | { type: 'string'; value: Buffer; literal: boolean; binary: boolean }
  | { type: 'list'; items: ImapArg[] }
  | { type: 'nil' };

export interface ImapCommand {
  tag: string;
  /** Upper-cased; `UID FETCH` and the other UID commands joined with one space. */
  name: string;
  args: ImapArg[];
}

export interface ImapParserError {
  /** The command's tag, or '*' when it was missing or invalid. */
  tag: string;
  message: string;
  /** The stream cannot be resynchronised: send `* BYE` and close. */
  fatal: boolean;
  /** TOOBIG: a literal over the limit; LIMIT: a line over the limit; PARSE: anything else. */
  code?: 'TOOBIG' | 'PARSE' | 'LIMIT';
}

export interface ImapParserSink {
  command(command: ImapCommand): void;
  /** A synchronizing literal is acceptable: the server must now send `+ <text>` (RFC 3501 §7.5). */
  continuation(text: string): void;
  /**
   * Bad input. `fatal`: the byte stream cannot be resynchronised, so the caller sends `* BYE`
   * and closes. Non-fatal errors are per command: the caller answers `<tag> BAD <message>`
   * (or `<tag> NO [TOOBIG] <message>` for code TOOBIG) and parsing continues.
   */
  error(err: ImapParserError): void;
  /** The raw line asked for by expectContinuationLine(), without its CRLF. */
  continuationLine?(line: Buffer): void;
  /** The `DONE` asked for by expectDone(). */
  done?(): void;
}

/** RFC 7888 §4: the largest non-synchronizing literal a LITERAL- server accepts. */
export const LITERAL_MINUS_MAX_BYTES = 4096;
/** Deepest list nesting accepted in a command (Dovecot's parser has no deeper real use). */
export const LIST_DEPTH_MAX = 100;
/** Dovecot's imap_max_line_length default. */
export const MAX_LINE_BYTES_DEFAULT = 64 * 1024;

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACE = 0x7b;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const TILDE = 0x7e;
const EMPTY = Buffer.alloc(0);
/** First allocation for a line that spans chunks. */
const PARTIAL_LINE_MIN_BYTES = 256;
const LITERAL_TOKEN = /^~?\{(\d+)(\+?)\}$/;
/** More digits than this cannot be a size any limit allows; no need to convert them. */
const LITERAL_SIZE_DIGITS_MAX = 15;

/** ATOM-CHAR (RFC 3501 §9): CHAR except atom-specials. */
function isAtomChar(c: number): boolean {
  return (
    c > SP && c < 0x7f && c !== LPAREN && c !== RPAREN && c !== LBRACE && c !== DQUOTE &&
    c !== BACKSLASH && c !== 0x25 /* % */ && c !== 0x2a /* * */ && c !== RBRACKET
  );
}

/** tag = 1*<any ASTRING-CHAR except "+"> */
function isTagChar(c: number): boolean {
  return (isAtomChar(c) || c === RBRACKET) && c !== 0x2b;
}

function isCommandNameChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e;
}

/** A command being assembled across line segments and literals. */
interface PendingCommand {
  tag: string;
  name: string;
  /** stack[0] is the argument list; the last entry is the list being filled. */
  stack: ImapArg[][];
  /** A token just ended, so the next byte must be SP, ')' or the end of the line. */
  needSeparator: boolean;
  /** Literal bytes already read into the arguments. */
  literalBytes: number;
}

interface PendingLiteral {
  remaining: number;
  /** Undefined while skipping the literal of a rejected command. */
  chunks: Buffer[] | undefined;
  bytes: number;
  binary: boolean;
}

type LineResult =
  | { kind: 'complete' }
  | { kind: 'literal'; digits: string; nonSync: boolean; binary: boolean }
  | { kind: 'error'; message: string };

type LineMode = 'command' | 'continuation' | 'done';

export class ImapCommandParser {
  readonly #limits: ImapParserLimits;
  readonly #sink: ImapParserSink;
  /**
   * The unfinished line: the first #partialBytes bytes of #partial, which grows by doubling
   * (so a line trickling in byte by byte costs linear time) but never past the line limit.
   */
  #partial: Buffer = EMPTY;
  #partialBytes = 0;
  /** Line bytes (without literal data) of the current command so far. */
  #commandLineBytes = 0;
  #command: PendingCommand | undefined;
  #literal: PendingLiteral | undefined;
  /** The current command was rejected; its remaining lines and literals are discarded. */
  #skipping: { tag: string; name: string } | undefined;
  #lineMode: LineMode = 'command';
  #continuationMaxBytes = 0;
  #dead = false;

  constructor(limits: ImapParserLimits, sink: ImapParserSink) {
    this.#limits = limits;
    this.#sink = sink;
  }

  /** Bytes held for the unfinished command: its line (at most maxLineBytes) and its literals (at most maxCommandLiteralBytes). */
  get bufferedBytes(): number {
    return this.#partial.length + (this.#literal?.bytes ?? 0) + (this.#command?.literalBytes ?? 0);
  }

  /** Between commands with nothing held: no partial line, literal or rejected command in progress. */
  get idle(): boolean {
    return this.#partialBytes === 0 && this.#command === undefined && this.#literal === undefined && this.#skipping === undefined;
  }

  /** True after a fatal error: all further input is ignored. */
  get failed(): boolean {
    return this.#dead;
  }

  /**
   * The next line is the client's answer to a continuation request (an AUTHENTICATE SASL
   * response, or `*` to cancel), delivered raw through sink.continuationLine. Call it from
   * inside sink.command so pipelined bytes already received are treated the same way.
   */
  expectContinuationLine(maxBytes: number): void {
    this.#lineMode = 'continuation';
    this.#continuationMaxBytes = maxBytes;
  }

  /** The next line ends IDLE: `DONE` calls sink.done, anything else is a BAD. Call it from inside sink.command. */
  expectDone(): void {
    this.#lineMode = 'done';
  }

  /** Feed bytes as they arrive. Never throws for bad input (a throwing sink propagates). */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.#dead) {
      const literal = this.#literal;
      if (literal !== undefined) {
        pos = this.#readLiteral(literal, chunk, pos);
        continue;
      }
      const lf = chunk.indexOf(LF, pos);
      const end = lf === -1 ? chunk.length : lf;
      const lineLimit = this.#lineMode === 'continuation' ? this.#continuationMaxBytes : this.#limits.maxLineBytes - this.#commandLineBytes;
      if (this.#partialBytes + (end - pos) > lineLimit) {
        const lineStart = this.#partialBytes > 0 ? this.#partial.subarray(0, this.#partialBytes) : chunk.subarray(pos, end);
        const tag = this.#lineMode === 'command' ? this.#currentTag(lineStart) : '*';
        this.#fail(tag, `Command line too long (limit ${this.#limits.maxLineBytes} bytes)`, 'LIMIT');
        return;
      }
      if (lf === -1) {
        this.#appendPartial(chunk.subarray(pos), lineLimit);
        return;
      }
      let line: Buffer;
      if (this.#partialBytes === 0) {
        line = chunk.subarray(pos, lf);
      } else {
        this.#appendPartial(chunk.subarray(pos, lf), lineLimit);
        line = this.#partial.subarray(0, this.#partialBytes);
        this.#partial = EMPTY;
        this.#partialBytes = 0;
      }
      pos = lf + 1;
      this.#handleLine(line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line);
    }
  }

  #appendPartial(bytes: Buffer, lineLimit: number): void {
    const needed = this.#partialBytes + bytes.length;
    if (needed > this.#partial.length) {
      const capacity = Math.min(Math.max(needed, this.#partial.length * 2, PARTIAL_LINE_MIN_BYTES), Math.max(lineLimit, needed));
      const grown = Buffer.allocUnsafe(capacity);
      this.#partial.copy(grown, 0, 0, this.#partialBytes);
      this.#partial = grown;
    }
    bytes.copy(this.#partial, this.#partialBytes);
    this.#partialBytes = needed;
  }

  #readLiteral(literal: PendingLiteral, chunk: Buffer, pos: number): number {
    const take = Math.min(literal.remaining, chunk.length - pos);
    if (literal.chunks !== undefined) {
      literal.chunks.push(Buffer.from(chunk.subarray(pos, pos + take)));
      literal.bytes += take;
    }
    literal.remaining -= take;
    if (literal.remaining === 0) this.#literalDone(literal);
    return pos + take;
  }

  /** The current command's tag, read from the start of its first line if it has not been parsed yet. */
  #currentTag(lineStart: Buffer): string {
    const known = this.#command?.tag ?? this.#skipping?.tag;
    if (known !== undefined) return known;
    let p = 0;
    while (p < lineStart.length && isTagChar(lineStart[p]!)) p++;
    return p > 0 && lineStart[p] === SP ? lineStart.toString('latin1', 0, p) : '*';
  }

  #fail(tag: string, message: string, code: 'TOOBIG' | 'PARSE' | 'LIMIT'): void {
    this.#dead = true;
    this.#partial = EMPTY;
    this.#partialBytes = 0;
    this.#literal = undefined;
    this.#command = undefined;
    this.#sink.error({ tag, message, fatal: true, code });
  }

  #handleLine(line: Buffer): void {
    const mode = this.#lineMode;
    if (mode !== 'command') {
      this.#lineMode = 'command';
      if (mode === 'continuation') {
        if (this.#sink.continuationLine) this.#sink.continuationLine(Buffer.from(line));
        else this.#sink.error({ tag: '*', message: 'Unexpected continuation line', fatal: false, code: 'PARSE' });
      } else if (line.length === 4 && line.toString('latin1').toUpperCase() === 'DONE') {
        this.#sink.done?.();
      } else {
        this.#sink.error({ tag: '*', message: 'Expected DONE', fatal: false, code: 'PARSE' });
      }
      return;
    }
    this.#commandLineBytes += line.length + 2;
    if (this.#skipping !== undefined) {
      this.#skipLiteralAfter(line);
      return;
    }
    let command = this.#command;
    let start = 0;
    if (command === undefined) {
      if (line.length === 0) {
        // Some clients send a stray CRLF between commands; Dovecot ignores it too.
        this.#commandLineBytes = 0;
        return;
      }
      const head = this.#parseHead(line);
      if ('message' in head) {
        this.#reject(head.tag, head.name, head.message, line);
        return;
      }
      command = { tag: head.tag, name: head.name, stack: [[]], needSeparator: true, literalBytes: 0 };
      this.#command = command;
      start = head.end;
    }
    const nul = line.indexOf(0);
    const result: LineResult =
      nul === -1 ? scanArguments(command, line, start) : { kind: 'error', message: 'NUL byte in command line' };
    if (result.kind === 'complete') {
      this.#command = undefined;
      this.#commandLineBytes = 0;
      this.#sink.command({ tag: command.tag, name: command.name, args: command.stack[0] ?? [] });
    } else if (result.kind === 'error') {
      this.#command = undefined;
      this.#reject(command.tag, command.name, result.message, line);
    } else {
      this.#startLiteral(command, result);
    }
  }

  /** Tag, command name (`UID x` joined) and where the arguments start. */
  #parseHead(line: Buffer): { tag: string; name: string; end: number } | { tag: string; name: string; message: string } {
    let p = 0;
    while (p < line.length && isTagChar(line[p]!)) p++;
    if (p === 0 || (p < line.length && line[p] !== SP)) return { tag: '*', name: '', message: 'Missing or invalid command tag' };
    const tag = line.toString('latin1', 0, p);
    let name = '';
    for (let word = 0; word < 2; word++) {
      if (p >= line.length) break;
      const start = ++p;
      while (p < line.length && isCommandNameChar(line[p]!)) p++;
      if (p === start || (p < line.length && line[p] !== SP)) return { tag, name, message: 'Invalid command name' };
      const part = line.toString('latin1', start, p).toUpperCase();
      name = name === '' ? part : `${name} ${part}`;
      if (part !== 'UID' || word === 1) break;
    }
    if (name === '') return { tag, name, message: 'Missing command name' };
    if (name === 'UID') return { tag, name, message: 'Missing command after UID' };
    return { tag, name, end: p };
  }

  /**
   * A non-fatal error in the current command: report it, then discard the rest of the
   * command. Literal data the client sends without waiting (LITERAL+) is read and dropped so
   * it is never taken for a command (the injection RFC 7888 §6 warns of).
   */
  #reject(tag: string, name: string, message: string, line: Buffer): void {
    this.#sink.error({ tag, message, fatal: false, code: 'PARSE' });
    this.#skipping = { tag, name };
    this.#skipLiteralAfter(line);
  }

  /** While skipping a rejected command: does this line announce literal data we must discard? */
  #skipLiteralAfter(line: Buffer): void {
    const skipping = this.#skipping;
    if (skipping === undefined) return;
    const tail = literalTail(line);
    if (tail === undefined || !tail.nonSync) {
      // The client waits for a continuation that never comes, so the command ends here.
      this.#skipping = undefined;
      this.#commandLineBytes = 0;
      return;
    }
    const size = this.#checkNonSyncSize(skipping.tag, skipping.name, tail.digits, 0);
    if (size === undefined) return;
    if (size === 0) return;
    this.#literal = { remaining: size, chunks: undefined, bytes: 0, binary: false };
  }

  /** The size of an acceptable non-synchronizing literal, or undefined after a fatal error. */
  #checkNonSyncSize(tag: string, name: string, digits: string, heldBytes: number): number | undefined {
    const size = digits.length > LITERAL_SIZE_DIGITS_MAX ? Infinity : Number(digits);
    const shown = digits.length > 20 ? `${digits.slice(0, 20)}…` : digits;
    if (!this.#limits.literalPlus && size > LITERAL_MINUS_MAX_BYTES) {
      this.#fail(tag, `Non-synchronizing literal of ${shown} bytes exceeds the LITERAL- limit of ${LITERAL_MINUS_MAX_BYTES} bytes`, 'TOOBIG');
      return undefined;
    }
    const limit = this.#literalAllowance(tag, name, heldBytes);
    if (size > limit) {
      this.#fail(tag, `Literal of ${shown} bytes exceeds the limit of ${limit} bytes`, 'TOOBIG');
      return undefined;
    }
    return size;
  }

  /** The largest literal the command may announce now: its own limit, less what it already holds. */
  #literalAllowance(tag: string, name: string, heldBytes: number): number {
    const perLiteral = this.#limits.maxLiteralBytes(tag, name);
    const total = this.#limits.maxCommandLiteralBytes ?? perLiteral;
    return Math.max(0, Math.min(perLiteral, total - heldBytes));
  }

  #startLiteral(command: PendingCommand, announce: { digits: string; nonSync: boolean; binary: boolean }): void {
    let size: number;
    if (announce.nonSync) {
      const checked = this.#checkNonSyncSize(command.tag, command.name, announce.digits, command.literalBytes);
      if (checked === undefined) return;
      size = checked;
    } else {
      size = announce.digits.length > LITERAL_SIZE_DIGITS_MAX ? Infinity : Number(announce.digits);
      const limit = this.#literalAllowance(command.tag, command.name, command.literalBytes);
      if (size > limit) {
        // The client sends nothing more for this command until it sees a continuation.
        const shown = announce.digits.length > 20 ? `${announce.digits.slice(0, 20)}…` : announce.digits;
        this.#command = undefined;
        this.#commandLineBytes = 0;
        this.#sink.error({ tag: command.tag, message: `Literal of ${shown} bytes exceeds the limit of ${limit} bytes`, fatal: false, code: 'TOOBIG' });
        return;
      }
      this.#sink.continuation('Ready for literal data');
    }
    const literal: PendingLiteral = { remaining: size, chunks: [], bytes: 0, binary: announce.binary };
    this.#literal = literal;
    if (size === 0) this.#literalDone(literal);
  }

  #literalDone(literal: PendingLiteral): void {
    this.#literal = undefined;
    const command = this.#command;
    if (literal.chunks === undefined || command === undefined) return;
    const value = literal.chunks.length === 1 ? literal.chunks[0]! : Buffer.concat(literal.chunks, literal.bytes);
    if (!literal.binary && value.indexOf(0) !== -1) {
      this.#command = undefined;
      this.#sink.error({ tag: command.tag, message: 'NUL byte in a literal; use a literal8 (~{n}) for binary data', fatal: false, code: 'PARSE' });
      this.#skipping = { tag: command.tag, name: command.name };
      return;
    }
    command.stack[command.stack.length - 1]!.push({ type: 'string', value, literal: true, binary: literal.binary });
    command.literalBytes += value.length;
    command.needSeparator = true;
  }
}

/** The literal announced at the end of a line (`{12}`, `{12+}`, `~{12}`), found without a regex over the whole line. */
function literalTail(line: Buffer): { digits: string; nonSync: boolean } | undefined {
  let q = line.length - 1;
  if (line[q] !== 0x7d /* } */) return undefined;
  q--;
  const nonSync = line[q] === 0x2b;
  if (nonSync) q--;
  const digitsEnd = q + 1;
  while (q >= 0 && line[q]! >= 0x30 && line[q]! <= 0x39) q--;
  if (q === digitsEnd - 1 || line[q] !== LBRACE) return undefined;
  return { digits: line.toString('latin1', q + 1, digitsEnd), nonSync };
}

/**
 * Tokenize one line segment of a command into its argument stack, starting at `p`. The
 * segment ends at the line end, or at a literal announcement whose data follows.
 */
function scanArguments(command: PendingCommand, line: Buffer, p: number): LineResult {
  const stack = command.stack;
  const n = line.length;
  while (p < n) {
    const c = line[p]!;
    if (c === SP) {
      p++;
      command.needSeparator = false;
      continue;
    }
    if (c === RPAREN) {
      if (stack.length === 1) return { kind: 'error', message: "Unexpected ')'" };
      stack.pop();
      p++;
      command.needSeparator = true;
      continue;
    }
    if (command.needSeparator) return { kind: 'error', message: 'Missing space between arguments' };
    const current = stack[stack.length - 1]!;
    if (c === LPAREN) {
      if (stack.length > LIST_DEPTH_MAX) return { kind: 'error', message: `Lists nested deeper than ${LIST_DEPTH_MAX} levels` };
      const items: ImapArg[] = [];
      current.push({ type: 'list', items });
      stack.push(items);
      p++;
      continue;
    }
    if (c === DQUOTE) {
      const quoted = scanQuoted(line, p);
      if (typeof quoted === 'string') return { kind: 'error', message: quoted };
      current.push({ type: 'string', value: quoted.value, literal: false, binary: false });
      p = quoted.end;
      command.needSeparator = true;
      continue;
    }
    if (c === LBRACE || (c === TILDE && line[p + 1] === LBRACE)) {
      const match = LITERAL_TOKEN.exec(line.toString('latin1', p));
      if (match === null) return { kind: 'error', message: 'Invalid literal: expected {size} or {size+} at the end of the line' };
      return { kind: 'literal', digits: match[1]!, nonSync: match[2] === '+', binary: c === TILDE };
    }
    const atom = scanAtom(line, p);
    if (typeof atom === 'string') return { kind: 'error', message: atom };
    const value = line.toString('latin1', p, atom);
    current.push(value.length === 3 && value.toUpperCase() === 'NIL' ? { type: 'nil' } : { type: 'atom', value });
    p = atom;
    command.needSeparator = true;
  }
  if (stack.length > 1) return { kind: 'error', message: "Missing ')'" };
  return { kind: 'complete' };
}

/** A quoted string starting at the DQUOTE at `p`: its value and the index after it, or an error message. */
function scanQuoted(line: Buffer, p: number): { value: Buffer; end: number } | string {
  const bytes: number[] = [];
  let q = p + 1;
  let start = q;
  let simple = true;
  while (q < line.length) {
    const c = line[q]!;
    if (c === DQUOTE) {
      const value = simple ? Buffer.from(line.subarray(start, q)) : Buffer.from(bytes);
      return { value, end: q + 1 };
    }
    if (c === CR || c === LF) return 'CR or LF in a quoted string';
    if (c === BACKSLASH) {
      const next = line[q + 1];
      if (next !== DQUOTE && next !== BACKSLASH) return 'Invalid escape in a quoted string (only \\\\ and \\" are allowed)';
      if (simple) {
        for (let i = start; i < q; i++) bytes.push(line[i]!);
        simple = false;
      }
      bytes.push(next);
      q += 2;
      start = q;
      continue;
    }
    if (!simple) bytes.push(c);
    q++;
  }
  return 'Unterminated quoted string';
}

/**
 * An atom starting at `p`; returns the index after it or an error message. A `[` opens a
 * section that runs to its `]` (spaces, parentheses and quoted strings inside belong to the
 * atom), after which the atom continues, so `BODY[HEADER.FIELDS (TO)]<0.100>` is one atom.
 * A `[` that is never closed is an ordinary atom character (a mailbox may be named `a[b`).
 */
function scanAtom(line: Buffer, p: number, sections = true): number | string {
  const start = p;
  let inSection = false;
  while (p < line.length) {
    const c = line[p]!;
    if (inSection) {
      if (c === RBRACKET) inSection = false;
      else if (c === DQUOTE) {
        const quoted = scanQuoted(line, p);
        if (typeof quoted === 'string') return scanAtom(line, start, false);
        p = quoted.end;
        continue;
      } else if (c < SP || c >= 0x7f || c === LBRACKET || c === LBRACE) return scanAtom(line, start, false);
      p++;
      continue;
    }
    if (c === SP || c === RPAREN) break;
    if (c === LBRACKET && sections) inSection = true;
    else if (c >= 0x80) return '8-bit character in an atom; send it as a quoted string or literal';
    else if (c <= SP || c === 0x7f || c === LPAREN || c === LBRACE || c === DQUOTE) return 'Invalid character in an atom';
    p++;
  }
  if (inSection) return scanAtom(line, start, false);
  return p;
}

/**
 * Parse one complete command given as text (literals included, e.g. `a LOGIN {3}\r\nfoo bar`;
 * a missing final CRLF is added). For tests and simple uses; throws LoftError
 * LOFT_E_IMAP_SYNTAX on bad input.
 */
export function parseLine(text: string | Buffer): ImapCommand {
  let bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (bytes.length === 0 || bytes[bytes.length - 1] !== LF) bytes = Buffer.concat([bytes, Buffer.from('\r\n')]);
  const commands: ImapCommand[] = [];
  let failure: string | undefined;
  const parser = new ImapCommandParser(
    { maxLineBytes: Math.max(MAX_LINE_BYTES_DEFAULT, bytes.length), maxLiteralBytes: () => bytes.length, literalPlus: true },
    {
      command: (command) => commands.push(command),
      continuation: () => undefined,
      error: (err) => {
        failure ??= err.message;
      },
    },
  );
  parser.push(bytes);
  if (failure !== undefined) throw new LoftError('LOFT_E_IMAP_SYNTAX', failure);
  if (commands.length !== 1) throw new LoftError('LOFT_E_IMAP_SYNTAX', commands.length === 0 ? 'incomplete command' : 'more than one command');
  return commands[0]!;
}
