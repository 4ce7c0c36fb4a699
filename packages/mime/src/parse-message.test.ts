import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PART_DEPTH, bodyStructure, parseLeafMessage, parseMessage, readHeaders, section, unfold, writeImapValue, type MimePart } from './index.js';
import { crlf } from './fixtures.js';

const NESTED = crlf(
  'Subject: outer',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: text/plain',
  '',
  'part one',
  '--outer',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner',
  'Content-Type: multipart/alternative; boundary="inner"',
  '',
  '--inner',
  'Content-Type: text/plain',
  '',
  'inner plain',
  '--inner',
  'Content-Type: text/html',
  '',
  '<p>inner</p>',
  '--inner--',
  '--outer',
  'Content-Type: message/rfc822',
  '',
  'Subject: single',
  '',
  'single body',
  '--outer--',
  '',
);

function text(raw: Buffer, root: MimePart, spec: Parameters<typeof section>[2]): string {
  return section(raw, root, spec).toString();
}

test('part numbers follow IMAP rules, including message/rfc822', () => {
  const root = parseMessage(NESTED);
  assert.deepEqual(
    root.parts.map((p) => p.partNumber),
    ['1', '2', '3'],
  );
  assert.deepEqual(
    root.parts[1].message!.parts.map((p) => p.partNumber),
    ['2.1', '2.2'],
  );
  assert.equal(text(NESTED, root, { part: [1] }), 'part one');
  assert.equal(text(NESTED, root, { part: [2, 1] }), 'inner plain');
  assert.equal(text(NESTED, root, { part: [2, 2] }), '<p>inner</p>');
  assert.equal(text(NESTED, root, { part: [2, 2], text: 'MIME' }), 'Content-Type: text/html\r\n\r\n');
  assert.equal(text(NESTED, root, { part: [2], text: 'HEADER' }), 'Subject: inner\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n');
  assert.equal(text(NESTED, root, { part: [3, 1] }), 'single body');
  assert.equal(text(NESTED, root, { part: [3], text: 'TEXT' }), 'single body');
  assert.equal(text(NESTED, root, { part: [3], text: 'MIME' }), 'Content-Type: message/rfc822\r\n\r\n');
  assert.equal(text(NESTED, root, { part: [1], text: 'HEADER' }), '', 'HEADER of a non-message part');
  assert.equal(text(NESTED, root, { part: [9] }), '');
  assert.equal(text(NESTED, root, { part: [1, 1] }), 'part one', 'part 1 of a leaf is the leaf');
  assert.equal(text(NESTED, root, { part: [2, 2, 1] }), '<p>inner</p>');
  assert.equal(text(NESTED, root, { part: [1, 2] }), '', 'a leaf has no part 2');
});

test('sections are byte-identical slices and BODY[] is the raw message', () => {
  const root = parseMessage(NESTED);
  assert.ok(section(NESTED, root, {}).equals(NESTED));
  const header = section(NESTED, root, { text: 'HEADER' });
  const body = section(NESTED, root, { text: 'TEXT' });
  assert.ok(Buffer.concat([header, body]).equals(NESTED));
  // A message/rfc822 part's body is the whole embedded message.
  const inner = section(NESTED, root, { part: [2] });
  const innerHeader = section(NESTED, root, { part: [2], text: 'HEADER' });
  const innerText = section(NESTED, root, { part: [2], text: 'TEXT' });
  assert.ok(Buffer.concat([innerHeader, innerText]).equals(inner));
});

test('HEADER.FIELDS and HEADER.FIELDS.NOT keep original lines, folding and order', () => {
  const raw = Buffer.from('Subject: a\r\n b\r\nX-Foo: 1\r\nsubject : second\r\nTo: t@x\r\n\r\nbody');
  const root = parseMessage(raw);
  assert.equal(
    section(raw, root, { text: 'HEADER.FIELDS', fields: ['SUBJECT'] }).toString(),
    'Subject: a\r\n b\r\nsubject : second\r\n\r\n',
  );
  assert.equal(
    section(raw, root, { text: 'HEADER.FIELDS.NOT', fields: ['subject', 'x-foo'] }).toString(),
    'To: t@x\r\n\r\n',
  );
  assert.equal(section(raw, root, { text: 'HEADER.FIELDS', fields: ['cc'] }).toString(), '\r\n');
});

test('single-part message: part 1 is the body, 1.MIME the header', () => {
  const raw = crlf('Subject: s', '', 'body', '');
  const root = parseMessage(raw);
  assert.equal(section(raw, root, { part: [1] }).toString(), 'body\r\n');
  assert.equal(section(raw, root, { part: [1], text: 'MIME' }).toString(), 'Subject: s\r\n\r\n');
  assert.equal(root.lines, 1);
});

test('broken mail: a missing inner end boundary is closed by the outer boundary', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=a',
    '',
    '--a',
    'Content-Type: multipart/alternative; boundary=b',
    '',
    '--b',
    '',
    'one',
    '--a',
    '',
    'two',
    '--a--',
  );
  const root = parseMessage(raw);
  assert.equal(root.parts.length, 2);
  assert.equal(root.parts[0].parts.length, 1);
  assert.equal(section(raw, root, { part: [1, 1] }).toString(), 'one');
  assert.equal(section(raw, root, { part: [2] }).toString(), 'two');
});

test('broken mail: a missing final boundary ends parts at the end of the message', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=a', '', '--a', '', 'never closed', '');
  const root = parseMessage(raw);
  assert.equal(root.parts.length, 1);
  assert.equal(section(raw, root, { part: [1] }).toString(), 'never closed\r\n');
  assert.equal(root.parts[0].end, raw.length);
});

test('broken mail: no blank line means everything is header', () => {
  const raw = Buffer.from('Subject: only headers\r\nFrom: a@b');
  const root = parseMessage(raw);
  assert.equal(root.bodyStart, raw.length);
  assert.equal(section(raw, root, { text: 'TEXT' }).length, 0);
  assert.ok(section(raw, root, { text: 'HEADER' }).equals(raw));
});

test('broken mail: LF-only line ends parse the same way', () => {
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/plain\n\nhi\nthere\n--z--\n');
  const root = parseMessage(raw);
  assert.equal(root.parts.length, 1);
  assert.equal(section(raw, root, { part: [1] }).toString(), 'hi\nthere');
  assert.equal(root.parts[0].lines, 1);
  assert.equal(section(raw, root, { part: [1], text: 'MIME' }).toString(), 'Content-Type: text/plain\n\n');
});

test('broken mail: 8-bit header bytes and a boundary inside a part header', () => {
  const raw = Buffer.concat([
    Buffer.from('Content-Type: multipart/mixed; boundary=q\r\nSubject: '),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('\r\n\r\n--q\r\nContent-Type: text/plain\r\n--q\r\n\r\nsecond\r\n--q--\r\n'),
  ]);
  const root = parseMessage(raw);
  assert.equal(root.parts.length, 2);
  assert.equal(root.parts[0].bodyStart, root.parts[0].end);
  assert.equal(section(raw, root, { part: [2] }).toString(), 'second');
});

test('multipart/digest children default to message/rfc822', () => {
  const raw = crlf('Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: in digest', '', 'x', '--d--', '');
  const root = parseMessage(raw);
  assert.equal(root.parts[0].contentType.type, 'message');
  assert.equal(root.parts[0].message?.bodyStart !== undefined, true);
});

test('a 10,000-deep multipart nesting bomb is cut off and stays well-formed', () => {
  const depth = 10_000;
  const head: string[] = [];
  const tail: string[] = [];
  for (let i = 0; i < depth; i++) {
    head.push(`Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`);
    tail.push(`\r\n--b${i}--\r\n`);
  }
  const raw = Buffer.from(head.join('') + 'Content-Type: text/plain\r\n\r\nleaf' + tail.reverse().join(''));
  const started = process.hrtime.bigint();
  const root = parseMessage(raw);
  const value = writeImapValue(bodyStructure(raw, root, true));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  let levels = 0;
  for (let p: MimePart | undefined = root; p; p = p.parts[0]) levels++;
  assert.ok(levels <= MAX_PART_DEPTH + 1, `depth ${levels}`);
  assert.ok(value.length > 0);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('a 10,000-deep message/rfc822 nesting bomb is cut off', () => {
  const raw = Buffer.from('Content-Type: message/rfc822\r\n\r\n'.repeat(10_000) + 'leaf');
  const root = parseMessage(raw);
  let levels = 0;
  for (let p: MimePart | undefined = root; p; p = p.message) levels++;
  assert.ok(levels <= MAX_PART_DEPTH + 1);
  assert.ok(writeImapValue(bodyStructure(raw, root, false)).length > 0);
});

test('a message with 100,000 parts stops creating parts at the limit', () => {
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=p\r\n\r\n' + '--p\r\n\r\nx\r\n'.repeat(100_000) + '--p--\r\n');
  const root = parseMessage(raw);
  assert.ok(root.parts.length < 10_001);
});

test('boundaries match by prefix; the longest matching boundary wins', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=abc',
    '',
    '--abc',
    'Content-Type: multipart/alternative; boundary=abcd',
    '',
    '--abcd',
    '',
    'inner one',
    '--abcd',
    '',
    'inner two',
    '--abcd--',
    '--abc trailing garbage',
    '',
    'outer two',
    '--abc--',
  );
  const root = parseMessage(raw);
  assert.equal(root.parts.length, 2);
  assert.equal(root.parts[0].parts.length, 2);
  assert.equal(section(raw, root, { part: [1, 2] }).toString(), 'inner two');
  assert.equal(section(raw, root, { part: [2] }).toString(), 'outer two');
});

test('a top-level message/rfc822 body is part 1 and its parts are 1.1, 1.2', () => {
  const raw = crlf('Content-Type: message/rfc822', '', 'Content-Type: multipart/mixed; boundary=q', '', '--q', '', 'first', '--q', '', 'second', '--q--');
  const root = parseMessage(raw);
  assert.deepEqual(root.message!.parts.map((p) => p.partNumber), ['1.1', '1.2']);
  assert.equal(section(raw, root, { part: [1, 2] }).toString(), 'second');
  assert.ok(section(raw, root, { part: [1] }).equals(raw.subarray(root.bodyStart)));
  assert.equal(section(raw, root, { part: [1], text: 'HEADER' }).toString(), 'Content-Type: multipart/mixed; boundary=q\r\n\r\n');
});

test('parseLeafMessage reads a message without inner parts as parseMessage does, and declines the others', () => {
  const leaves = [
    crlf('Subject: s', '', 'body', ''),
    crlf('MIME-Version: 1.0', 'Content-Type: text/html; charset="iso-8859-1"', 'Content-Transfer-Encoding: Quoted-Printable', '', '<p>caf=E9</p>', ''),
    crlf('Content-Type: application/pdf; name=a.pdf', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment', '', 'JVBERi0=', ''),
    Buffer.from('Subject: only headers\r\nFrom: a@b'),
    Buffer.from('Content-Type: text/plain;\n charset=utf-8\n\nLF only\n'),
  ];
  for (const raw of leaves) {
    const leaf = parseLeafMessage(raw);
    const full = parseMessage(raw);
    assert.ok(leaf, raw.toString());
    const { lines: _lines, ...same } = full;
    assert.deepEqual({ ...leaf, lines: undefined }, { ...same, lines: undefined }, raw.toString());
  }
  assert.equal(parseLeafMessage(NESTED), undefined, 'multipart');
  assert.equal(parseLeafMessage(crlf('Content-Type: message/rfc822', '', 'Subject: inner', '', 'x', '')), undefined, 'embedded message');
});

test('header names and unfolded values: trailing blanks before the colon, folding, leading blanks', () => {
  const raw = crlf('Subject \t: a', 'X-Long-Header-Name-Over-Thirty-Two-Bytes: b', 'To:\t c,', '\t d', '', '');
  assert.deepEqual(readHeaders(raw).map((f) => [f.name, unfold(f.value.toString())]), [
    ['Subject', 'a'],
    ['X-Long-Header-Name-Over-Thirty-Two-Bytes', 'b'],
    ['To', 'c,\t d'],
  ]);
  assert.equal(unfold('one line'), 'one line');
  assert.equal(unfold(' \tlead\r\n more\rstray\n'), 'lead morestray');
});
