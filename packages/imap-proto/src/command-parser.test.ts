import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { parseLine } from './command-parser.js';
import { parseAll, plain, recordingParser, type ParserEvent } from './parser-fixtures.js';

function commands(events: ParserEvent[]): Array<{ tag: string; name: string; args: unknown[] }> {
  return events.filter((e) => e.kind === 'command').map((e) => ({ tag: e.tag, name: e.name, args: e.args }));
}

test('RFC 3501 §8 sample session commands parse into tag, upper-cased name and arguments', () => {
  const events = parseAll(
    'a001 login mrc secret\r\n' +
      'a002 select inbox\r\n' +
      'a003 fetch 12 full\r\n' +
      'a004 fetch 12 body[header]\r\n' +
      'a005 store 12 +flags \\deleted\r\n' +
      'a006 logout\r\n',
  );
  assert.deepEqual(commands(events), [
    { tag: 'a001', name: 'LOGIN', args: ['mrc', 'secret'] },
    { tag: 'a002', name: 'SELECT', args: ['inbox'] },
    { tag: 'a003', name: 'FETCH', args: ['12', 'full'] },
    { tag: 'a004', name: 'FETCH', args: ['12', 'body[header]'] },
    { tag: 'a005', name: 'STORE', args: ['12', '+flags', '\\deleted'] },
    { tag: 'a006', name: 'LOGOUT', args: [] },
  ]);
  assert.equal(events.length, 6, 'pipelined commands in one chunk, in order, nothing else');
});

test('a section atom keeps its spaces and parentheses, and the partial range after ]', () => {
  const cmd = parseLine('A654 FETCH 2:4 (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100> BINARY[1.2])');
  assert.deepEqual(cmd.args.map(plain), ['2:4', ['FLAGS', 'BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100>', 'BINARY[1.2]']]);
});

test('an unclosed [ is an ordinary atom character, as in a mailbox named a[b', () => {
  assert.deepEqual(parseLine('a CREATE a[b').args.map(plain), ['a[b']);
  assert.deepEqual(parseLine('a LIST "" [Gmail]/%').args.map(plain), [{ s: '' }, '[Gmail]/%']);
  assert.deepEqual(parseLine('a X (BODY[ x)').args.map(plain), [['BODY[', 'x']]);
});

test('UID commands get a joined name; quoted strings unescape \\\\ and \\"; NIL is its own type', () => {
  assert.equal(parseLine('A999 UID FETCH 4827313:4828442 FLAGS').name, 'UID FETCH');
  assert.throws(() => parseLine('a uid  fetch 1 FLAGS'), /Invalid command name/);
  const cmd = parseLine('a LOGIN "fred \\"the\\" \\\\ man" NIL');
  assert.deepEqual(cmd.args.map(plain), [{ s: 'fred "the" \\ man' }, null]);
});

test('a synchronizing literal asks for a continuation, then the command continues after it (RFC 3501 §6.3.11)', () => {
  const { parser, events } = recordingParser();
  parser.push(Buffer.from('A003 APPEND saved-messages (\\Seen) {22}\r\n'));
  assert.deepEqual(events, [{ kind: 'continuation', text: 'Ready for literal data' }]);
  parser.push(Buffer.from('Subject: hi\r\n\r\nhello\r\n\r\n'));
  assert.deepEqual(commands(events), [
    { tag: 'A003', name: 'APPEND', args: ['saved-messages', ['\\Seen'], { s: 'Subject: hi\r\n\r\nhello\r\n', literal: true }] },
  ]);
});

test('RFC 9051 §6.2.3: LOGIN with two synchronizing literals, each after its own continuation', () => {
  const { parser, events } = recordingParser();
  parser.push(Buffer.from('A001 LOGIN {11}\r\n'));
  assert.deepEqual(events.map((e) => e.kind), ['continuation']);
  parser.push(Buffer.from('FRED FOOBAR {7}\r\n'));
  assert.deepEqual(events.map((e) => e.kind), ['continuation', 'continuation']);
  parser.push(Buffer.from('fat man\r\n'));
  assert.deepEqual(events.at(-1), {
    kind: 'command',
    tag: 'A001',
    name: 'LOGIN',
    args: [{ s: 'FRED FOOBAR', literal: true }, { s: 'fat man', literal: true }],
  });
});

test('the literal limit is asked per command: APPEND may carry more than LOGIN', () => {
  const big = 'x'.repeat(100_000);
  assert.equal(parseAll(`a APPEND INBOX {100000+}\r\n${big}\r\n`)[0]?.kind, 'command');
  const [err] = parseAll(`a LOGIN {100000}\r\n`);
  assert.equal(err?.kind === 'error' && err.code, 'TOOBIG');
});

test('RFC 7888 non-synchronizing literals need no continuation', () => {
  const events = parseAll('A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n');
  assert.deepEqual(events, [
    { kind: 'command', tag: 'A001', name: 'LOGIN', args: [{ s: 'FRED FOOBAR', literal: true }, { s: 'fat man', literal: true }] },
  ]);
});

test('a literal8 may hold NUL; a NUL in a plain literal or in the line is a BAD and the next command still parses', () => {
  const binary = parseAll('a APPEND INBOX ~{3+}\r\n\x00\x01\x02\r\n');
  assert.deepEqual(commands(binary)[0]?.args, ['INBOX', { s: '\x00\x01\x02', literal: true, binary: true }]);
  const plainLiteral = parseAll('a APPEND INBOX {3+}\r\n\x00\x01\x02\r\nb NOOP\r\n');
  assert.equal(plainLiteral[0]?.kind === 'error' && plainLiteral[0].tag, 'a');
  assert.deepEqual(commands(plainLiteral), [{ tag: 'b', name: 'NOOP', args: [] }]);
  const nulLine = parseAll('a LOGIN fr\x00ed x\r\nb NOOP\r\n');
  assert.deepEqual(nulLine[0], { kind: 'error', tag: 'a', message: 'NUL byte in command line', fatal: false, code: 'PARSE' });
  assert.deepEqual(commands(nulLine), [{ tag: 'b', name: 'NOOP', args: [] }]);
});

test('a lone LF ends a line too; blank lines between commands are ignored', () => {
  assert.deepEqual(commands(parseAll('a NOOP\n\r\n\nb CAPABILITY\n')), [
    { tag: 'a', name: 'NOOP', args: [] },
    { tag: 'b', name: 'CAPABILITY', args: [] },
  ]);
});

test('missing or invalid tags are BAD with tag *; a known tag is kept', () => {
  for (const line of ['+ NOOP', '* NOOP', ' a NOOP', 'a(b NOOP', 'a{1} NOOP']) {
    const [event] = parseAll(`${line}\r\n`);
    assert.equal(event?.kind, 'error', line);
    assert.equal(event?.kind === 'error' && event.tag, '*', line);
    assert.equal(event?.kind === 'error' && event.fatal, false, line);
  }
  const [missing] = parseAll('a1\r\n');
  assert.equal(missing?.kind === 'error' && `${missing.tag}: ${missing.message}`, 'a1: Missing command name');
  const [uid] = parseAll('a1 UID\r\n');
  assert.equal(uid?.kind === 'error' && uid.message, 'Missing command after UID');
});

test('syntax errors are per command: unbalanced parentheses, bad quoting, bad literal announcements', () => {
  for (const line of ['a FETCH 1 (FLAGS', 'a FETCH 1 FLAGS)', 'a LOGIN "fred', 'a LOGIN "a\\b"', 'a LOGIN {3} x', 'a LOGIN {x}', 'a X "a"b', 'a X BODY[(x', 'a X é']) {
    const events = parseAll(`${line}\r\nb NOOP\r\n`);
    assert.equal(events[0]?.kind, 'error', line);
    assert.equal(events[0]?.kind === 'error' && events[0].tag, 'a', line);
    assert.deepEqual(commands(events), [{ tag: 'b', name: 'NOOP', args: [] }], line);
  }
});

test('after a BAD, non-synchronizing literal data announced on that line is discarded, never run as a command', () => {
  const injected = 'x DELETE INBOX\r\n';
  const events = parseAll(`a LOGIN "oops {${injected.length}+}\r\n${injected} more {2+}\r\nzz\r\nb NOOP\r\n`);
  assert.equal(events[0]?.kind, 'error');
  assert.deepEqual(commands(events), [{ tag: 'b', name: 'NOOP', args: [] }]);
});

test('after a BAD on a line ending in a synchronizing literal, the client gets no continuation', () => {
  const events = parseAll('a LOGIN "x {5}\r\nb NOOP\r\n');
  assert.equal(events.filter((e) => e.kind === 'continuation').length, 0);
  assert.equal(events.length, 2);
});

test('AUTHENTICATE continuation lines are delivered raw; IDLE ends with DONE', () => {
  const events = parseAll('a AUTHENTICATE PLAIN\r\nAGZyZWQAc2VjcmV0\r\nb IDLE\r\ndone\r\nc IDLE\r\nnope\r\nd NOOP\r\n');
  assert.deepEqual(events, [
    { kind: 'command', tag: 'a', name: 'AUTHENTICATE', args: ['PLAIN'] },
    { kind: 'continuation-line', line: 'AGZyZWQAc2VjcmV0' },
    { kind: 'command', tag: 'b', name: 'IDLE', args: [] },
    { kind: 'done' },
    { kind: 'command', tag: 'c', name: 'IDLE', args: [] },
    { kind: 'error', tag: '*', message: 'Expected DONE', fatal: false, code: 'PARSE' },
    { kind: 'command', tag: 'd', name: 'NOOP', args: [] },
  ]);
});

test('an AUTHENTICATE response longer than its limit is fatal', () => {
  const events = parseAll(`a AUTHENTICATE PLAIN\r\n${'A'.repeat(9000)}\r\n`);
  assert.equal(events.at(-1)?.kind === 'error' && events.at(-1)?.kind === 'error' && (events.at(-1) as { fatal: boolean }).fatal, true);
});

test('a literal split at every byte boundary gives the same command', () => {
  const input = Buffer.from('a1 APPEND "Drafts" (\\Draft) {12}\r\nhello\r\nworld {2+}\r\nxy ~{3}\r\n\x00ab)\r\n'.replace(')\r\n', '\r\n'));
  const whole = parseAll(input);
  assert.equal(commands(whole).length, 1);
  for (let cut = 1; cut < input.length; cut++) {
    const { parser, events } = recordingParser();
    parser.push(input.subarray(0, cut));
    parser.push(input.subarray(cut));
    assert.deepEqual(events, whole, `split at ${cut}`);
  }
  const { parser, events } = recordingParser();
  for (let i = 0; i < input.length; i++) parser.push(input.subarray(i, i + 1));
  assert.deepEqual(events, whole, 'one byte at a time');
});

test('parseLine throws LOFT_E_IMAP_SYNTAX for bad input and accepts literals written inline', () => {
  assert.throws(() => parseLine('a FETCH (1'), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX'));
  assert.throws(() => parseLine('a NOOP\r\nb NOOP\r\n'), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX'));
  assert.deepEqual(parseLine('a LOGIN {4}\r\nfred x').args.map(plain), [{ s: 'fred', literal: true }, 'x']);
});
