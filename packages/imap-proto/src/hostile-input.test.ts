import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LITERAL_MINUS_MAX_BYTES } from './command-parser.js';
import { parseAll, recordingParser, type ParserEvent } from './parser-fixtures.js';

const CHUNK_BYTES = 64 * 1024;

function errors(events: ParserEvent[]): Array<Extract<ParserEvent, { kind: 'error' }>> {
  return events.filter((e): e is Extract<ParserEvent, { kind: 'error' }> => e.kind === 'error');
}

test('an 80 MB line fed in 64 KiB chunks is fatal once, and the buffer never passes maxLineBytes', () => {
  const maxLineBytes = 64 * 1024;
  const { parser, events } = recordingParser({ maxLineBytes });
  const chunk = Buffer.alloc(CHUNK_BYTES, 'a');
  parser.push(Buffer.from('a1 LOGIN '));
  let maxSeen = 0;
  for (let sent = 0; sent < 80 * 1024 * 1024; sent += CHUNK_BYTES) {
    parser.push(chunk);
    maxSeen = Math.max(maxSeen, parser.bufferedBytes);
  }
  parser.push(Buffer.from('\r\nb NOOP\r\n'));
  assert.ok(maxSeen <= maxLineBytes, `buffered ${maxSeen} bytes`);
  assert.deepEqual(events, [{ kind: 'error', tag: 'a1', message: 'Command line too long (limit 65536 bytes)', fatal: true, code: 'LIMIT' }]);
  assert.equal(parser.failed, true);
  assert.equal(parser.bufferedBytes, 0);
});

test('a long line trickling in one byte at a time is assembled in linear time', () => {
  const line = Buffer.from(`a1 LOGIN ${'x'.repeat(60_000)} pw\r\n`);
  const { parser, events } = recordingParser();
  for (let i = 0; i < line.length; i++) {
    parser.push(line.subarray(i, i + 1));
    assert.ok(parser.bufferedBytes <= 64 * 1024);
  }
  assert.equal(events.length, 1);
  assert.equal(events[0]?.kind === 'command' && events[0].args.length, 2);
});

test('the line limit counts every line of a command, not only the one after the last literal', () => {
  const part = `{1+}\r\nx ${'y'.repeat(1000)} `;
  const events = parseAll(`a1 X ${part.repeat(100)}\r\n`, { maxLineBytes: 8192 });
  assert.equal(errors(events)[0]?.fatal, true);
  assert.equal(errors(events)[0]?.code, 'LIMIT');
});

test('LOGIN with {4294967296} or {99999999999999999999} is refused before anything is buffered, and the session goes on', () => {
  for (const size of ['4294967296', '99999999999999999999', '9'.repeat(5000)]) {
    const { parser, events } = recordingParser();
    parser.push(Buffer.from(`a1 LOGIN {${size}}\r\n`));
    assert.equal(parser.bufferedBytes, 0);
    const [err] = errors(events);
    assert.equal(err?.fatal, false, size.slice(0, 20));
    assert.equal(err?.code, 'TOOBIG');
    assert.equal(err?.tag, 'a1');
    assert.ok(err!.message.length < 200);
    assert.equal(events.some((e) => e.kind === 'continuation'), false, 'no continuation for a refused literal');
    parser.push(Buffer.from('a2 NOOP\r\n'));
    assert.deepEqual(events.at(-1), { kind: 'command', tag: 'a2', name: 'NOOP', args: [] });
  }
});

test('a non-synchronizing literal over the limit is fatal: its bytes cannot be told from commands', () => {
  const [err] = errors(parseAll('a1 LOGIN {4294967296+}\r\n'));
  assert.deepEqual({ fatal: err?.fatal, code: err?.code, tag: err?.tag }, { fatal: true, code: 'TOOBIG', tag: 'a1' });
});

test('LITERAL-: {n+} up to 4096 bytes is fine, larger is fatal', () => {
  const ok = parseAll(`a1 LOGIN {${LITERAL_MINUS_MAX_BYTES}+}\r\n${'x'.repeat(LITERAL_MINUS_MAX_BYTES)} pw\r\n`, { literalPlus: false });
  assert.equal(ok[0]?.kind, 'command');
  const [err] = errors(parseAll(`a1 LOGIN {${LITERAL_MINUS_MAX_BYTES + 1}+}\r\n`, { literalPlus: false }));
  assert.deepEqual({ fatal: err?.fatal, code: err?.code }, { fatal: true, code: 'TOOBIG' });
});

test('lists nested 10,000 deep are a BAD, not a stack overflow', () => {
  const events = parseAll(`a1 SEARCH ${'('.repeat(10_000)}ALL${')'.repeat(10_000)}\r\na2 NOOP\r\n`);
  assert.equal(events[0]?.kind === 'error' && events[0].message, 'Lists nested deeper than 100 levels');
  assert.equal(events[0]?.kind === 'error' && events[0].fatal, false);
  assert.deepEqual(events[1], { kind: 'command', tag: 'a2', name: 'NOOP', args: [] });
});

test('many literals in one command cannot add up past the command limit', () => {
  const literal = `{60000+}\r\n${'x'.repeat(60_000)} `;
  const { parser, events } = recordingParser();
  parser.push(Buffer.from(`a1 LOGIN ${literal}`));
  assert.equal(events.length, 0);
  parser.push(Buffer.from(literal));
  assert.deepEqual(errors(events).map((e) => [e.fatal, e.code, e.message]), [[true, 'TOOBIG', 'Literal of 60000 bytes exceeds the limit of 5536 bytes']]);
  const multi = parseAll(`a2 APPEND INBOX ${literal}${literal}\r\n`, { maxCommandLiteralBytes: 200_000 });
  assert.equal(multi[0]?.kind, 'command');
});

/** A small deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 0x100000000;
  };
}

const SEEDS = [
  'a1 LOGIN {5}\r\nfred {6+}\r\nsecret',
  'a2 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)',
  'a3 APPEND INBOX (\\Seen) "17-Jul-1996 02:44:25 -0700" ~{4+}\r\n\x00abc',
  'a4 SEARCH RETURN (MIN) CHARSET UTF-8 OR (FROM "x\\"y") NOT 1:3 UID 5',
  'a5 UID STORE 1 +FLAGS.SILENT (\\Deleted $Junk)',
  'a6 ID ("name" "mutt" "version" NIL)',
];
const NASTY = ['{', '}', '~{', '{9+}', '{0}', '(', ')', '"', '\\', '[', ']', '\x00', '\r', '\n', ' ', '+', '*', '\xff', '{4294967296}'];

test('fuzz: thousands of random and mutated commands never throw, stay bounded, and always get an answer', () => {
  const random = prng(20261128);
  for (let round = 0; round < 3000; round++) {
    let input: Buffer;
    if (round % 3 === 0) {
      input = Buffer.alloc(1 + Math.floor(random() * 200));
      for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
    } else {
      let text = SEEDS[Math.floor(random() * SEEDS.length)]!;
      const mutations = 1 + Math.floor(random() * 4);
      for (let m = 0; m < mutations; m++) {
        const at = Math.floor(random() * (text.length + 1));
        const nasty = NASTY[Math.floor(random() * NASTY.length)]!;
        const cut = random() < 0.3 ? 1 : 0;
        text = text.slice(0, at) + nasty + text.slice(at + cut);
      }
      input = Buffer.from(text, 'latin1');
    }
    const { parser, events } = recordingParser({ maxLineBytes: 4096, literalPlus: round % 2 === 0 });
    const split = Math.floor(random() * input.length);
    parser.push(input.subarray(0, split));
    parser.push(input.subarray(split));
    parser.push(Buffer.from('\r\n'));
    assert.ok(parser.bufferedBytes <= 4096 + 64 * 1024, `round ${round}`);
    for (const e of events) {
      if (e.kind === 'error') assert.ok(typeof e.tag === 'string' && e.message.length > 0 && e.message.length < 300, `round ${round}`);
    }
    const answered = events.some((e) => e.kind === 'command' || e.kind === 'error');
    const blank = /^[\r\n]*$/.test(input.toString('latin1'));
    assert.ok(answered || blank || !parser.idle, `round ${round}: ${JSON.stringify(input.toString('latin1'))}`);
    if (parser.idle && !parser.failed) {
      // Back in step: the next command parses as if nothing had happened.
      parser.push(Buffer.from('z9 NOOP\r\n'));
      assert.deepEqual(events.at(-1), { kind: 'command', tag: 'z9', name: 'NOOP', args: [] }, `round ${round}`);
    }
  }
});
