/** Test helpers: a parser whose sink records every call, and a plain view of arguments. */
import { ImapCommandParser, type ImapArg, type ImapParserError, type ImapParserLimits } from './command-parser.js';

export type ParserEvent =
  | { kind: 'command'; tag: string; name: string; args: PlainArg[] }
  | { kind: 'continuation'; text: string }
  | ({ kind: 'error' } & ImapParserError)
  | { kind: 'continuation-line'; line: string }
  | { kind: 'done' };

/** Atoms as strings, strings as { s }, lists as arrays, NIL as null. */
export type PlainArg = string | { s: string; literal?: true; binary?: true } | null | PlainArg[];

export function plain(arg: ImapArg): PlainArg {
  switch (arg.type) {
    case 'atom':
      return arg.value;
    case 'nil':
      return null;
    case 'list':
      return arg.items.map(plain);
    case 'string': {
      const out: { s: string; literal?: true; binary?: true } = { s: arg.value.toString('latin1') };
      if (arg.literal) out.literal = true;
      if (arg.binary) out.binary = true;
      return out;
    }
  }
}

export const TEST_LIMITS: ImapParserLimits = {
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: (_tag, command) => (command === 'APPEND' ? 1024 * 1024 : 64 * 1024),
  literalPlus: true,
};

export function recordingParser(limits: Partial<ImapParserLimits> = {}): { parser: ImapCommandParser; events: ParserEvent[] } {
  const events: ParserEvent[] = [];
  const parser: ImapCommandParser = new ImapCommandParser(
    { ...TEST_LIMITS, ...limits },
    {
      command: (c) => {
        events.push({ kind: 'command', tag: c.tag, name: c.name, args: c.args.map(plain) });
        if (c.name === 'IDLE') parser.expectDone();
        if (c.name === 'AUTHENTICATE') parser.expectContinuationLine(8192);
      },
      continuation: (text) => events.push({ kind: 'continuation', text }),
      error: (err) => events.push({ kind: 'error', ...err }),
      continuationLine: (line) => events.push({ kind: 'continuation-line', line: line.toString('latin1') }),
      done: () => events.push({ kind: 'done' }),
    },
  );
  return { parser, events };
}

/** Feed text (latin1, so every byte value can be written) in one chunk and return the events. */
export function parseAll(text: string | Buffer, limits: Partial<ImapParserLimits> = {}): ParserEvent[] {
  const { parser, events } = recordingParser(limits);
  parser.push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  return events;
}
