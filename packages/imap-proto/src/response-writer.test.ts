import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { astring, atom, continuationRequest, formatValue, literal, literal8, nstring, quoted, raw, tagged, untagged, untaggedData } from './response-writer.js';
import { ImapWriter } from './imap-writer.js';
import { parseLine } from './command-parser.js';
import { plain } from './parser-fixtures.js';

const text = (b: Buffer): string => b.toString('utf8');

test('strings: atoms when they can be, quoted with escapes, literals for CR/LF, NUL, 8-bit or long text', () => {
  assert.equal(text(quoted('say "hi" \\o/')), '"say \\"hi\\" \\\\o/"');
  assert.throws(() => quoted('a\r\nb'), /cannot be quoted/);
  assert.equal(text(literal('a\r\nb')), '{4}\r\na\r\nb');
  assert.equal(text(astring('INBOX')), 'INBOX');
  assert.equal(text(astring('My Box')), '"My Box"');
  assert.equal(text(astring('NIL')), '"NIL"');
  assert.equal(text(astring('')), '""');
  assert.equal(text(nstring(null)), 'NIL');
  assert.equal(text(nstring('Grüße')), '{7}\r\nGrüße');
  assert.equal(text(nstring('Grüße', { utf8: true })), '"Grüße"');
  assert.equal(text(nstring('x'.repeat(2000))).slice(0, 8), '{2000}\r\n');
});

test('formatValue writes nested lists, NIL, numbers, atoms and strings the parser reads back', () => {
  const value = [atom('UID'), 4827313, atom('FLAGS'), [atom('\\Seen'), atom('$Junk')], atom('MODSEQ'), [12121231000n], atom('X'), null, 'multi\r\nline', ['a "b"']];
  const bytes = formatValue(value);
  assert.equal(
    text(bytes),
    '(UID 4827313 FLAGS (\\Seen $Junk) MODSEQ (12121231000) X NIL {11}\r\nmulti\r\nline ("a \\"b\\""))',
  );
  const back = parseLine(Buffer.concat([Buffer.from('t X '), bytes])).args.map(plain);
  assert.deepEqual(back, [
    ['UID', '4827313', 'FLAGS', ['\\Seen', '$Junk'], 'MODSEQ', ['12121231000'], 'X', null, { s: 'multi\r\nline', literal: true }, [{ s: 'a "b"' }]],
  ]);
});

test('status lines carry response codes, and no text can break the line', () => {
  assert.equal(text(tagged('A003', 'OK', 'APPEND completed', 'APPENDUID 38505 3955')), 'A003 OK [APPENDUID 38505 3955] APPEND completed\r\n');
  assert.equal(text(tagged('a1', 'NO', 'Literal too large', 'TOOBIG')), 'a1 NO [TOOBIG] Literal too large\r\n');
  assert.equal(text(untagged('OK', 'Loft ready.', 'CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+')), '* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+] Loft ready.\r\n');
  assert.equal(text(untagged('BYE', 'bad\r\n* OK injected')), '* BYE bad  * OK injected\r\n');
  assert.equal(text(untaggedData([23, atom('EXISTS')])), '* 23 EXISTS\r\n');
  assert.equal(text(untaggedData([12, atom('FETCH'), [atom('UID'), 7]])), '* 12 FETCH (UID 7)\r\n');
  const binary = untaggedData([3, atom('FETCH'), [atom('BINARY[1]'), raw(literal8(Buffer.from([0, 1])))]]);
  assert.deepEqual(binary, Buffer.concat([Buffer.from('* 3 FETCH (BINARY[1] ~{2}\r\n'), Buffer.from([0, 1]), Buffer.from(')\r\n')]));
  assert.equal(text(continuationRequest('Ready')), '+ Ready\r\n');
});

/** A socket that accepts `capacity` bytes before write() returns false, until drain() is called. */
class FakeSocket extends EventEmitter {
  written: Buffer[] = [];
  pending = 0;
  constructor(readonly capacity: number) {
    super();
  }
  write(data: Buffer): boolean {
    this.written.push(data);
    this.pending += data.length;
    return this.pending < this.capacity;
  }
  get writableLength(): number {
    return this.pending;
  }
  drain(): void {
    this.pending = 0;
    this.emit('drain');
  }
}

test('ImapWriter holds output while the socket is full and flushes it on drain', async () => {
  const socket = new FakeSocket(10);
  const writer = new ImapWriter(socket, 100);
  assert.equal(writer.send('* 1 EXISTS\r\n'), false, 'the socket took it but is now full');
  assert.equal(writer.send('* 2\r\n'), false);
  assert.equal(writer.buffered, 5);
  const drained = writer.drained();
  socket.drain();
  await drained;
  assert.equal(writer.buffered, 0);
  assert.equal(Buffer.concat(socket.written).toString(), '* 1 EXISTS\r\n* 2\r\n');
  assert.equal(writer.send(Buffer.from('a')), true);
});

test('ImapWriter reports a slow reader once the bound is passed, and drops what follows', async () => {
  const socket = new FakeSocket(1);
  const writer = new ImapWriter(socket, 1000);
  let overflows = 0;
  writer.onOverflow(() => overflows++);
  writer.send('x');
  const waiting = writer.drained();
  for (let i = 0; i < 20; i++) writer.send(Buffer.alloc(100));
  await waiting;
  assert.equal(overflows, 1);
  assert.equal(writer.overflowed, true);
  assert.equal(writer.buffered, 0);
  assert.equal(writer.send('more'), false);
  socket.drain();
  assert.equal(socket.written.length, 1, 'nothing written after the overflow');
});

test('ImapWriter.close releases drained() waiters when the socket goes away mid-wait', async () => {
  const socket = new FakeSocket(1);
  const writer = new ImapWriter(socket, 1000);
  writer.send('x');
  writer.send('queued');
  const waiting = writer.drained();
  writer.close();
  await waiting;
  assert.equal(writer.buffered, 0);
  assert.equal(writer.send('late'), false);
});

test('ImapWriter calls onStall when the client takes nothing for timeoutMs, not while it reads slowly', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const socket = new FakeSocket(10);
    const stalls: number[] = [];
    const writer = new ImapWriter(socket, 1000, { timeoutMs: 1000, onStall: (queued) => stalls.push(queued) });
    writer.send(Buffer.alloc(50));
    assert.equal(writer.waiting, true);
    mock.timers.tick(999);
    assert.deepEqual(stalls, []);
    // The client takes some of it: slow, but reading, so the wait starts over.
    socket.pending = 20;
    mock.timers.tick(1);
    mock.timers.tick(999);
    assert.deepEqual(stalls, []);
    mock.timers.tick(1);
    assert.deepEqual(stalls, [20], 'nothing taken for a whole timeoutMs');
    // After a drain and a new wait the timer is armed again.
    socket.drain();
    assert.equal(writer.waiting, false);
    writer.send(Buffer.alloc(50));
    mock.timers.tick(1000);
    assert.deepEqual(stalls, [20, 50]);
    writer.close();
  } finally {
    mock.timers.reset();
  }
});
