import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import {
  baseSubject,
  baseSubjectInfo,
  bodyText,
  decodeHeader,
  decodedBody,
  headerValues,
  parseAddresses,
  parseDate,
  parseMessage,
  preview,
  readHeaders,
  sentDate,
  messageIds,
} from './index.js';
import { crlf } from './fixtures.js';

test('decodeHeader: encoded-words in ISO-8859-1, UTF-8, windows-1252 and ISO-2022-JP', () => {
  assert.equal(decodeHeader('=?ISO-8859-1?Q?Caf=E9?= au lait'), 'Café au lait');
  assert.equal(decodeHeader('=?UTF-8?B?w6l0w6k=?='), 'été');
  assert.equal(decodeHeader('=?windows-1252?Q?=80_price?='), '€ price');
  assert.equal(decodeHeader('=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?='), 'テスト');
  // whitespace between adjacent encoded-words is dropped, folding removed
  assert.equal(decodeHeader('=?utf-8?q?a?=\r\n =?utf-8?q?b?= c'), 'ab c');
  assert.equal(decodeHeader(Buffer.from([0x61, 0xff, 0x62])), 'a\ufffdb');
});

test('headers: raw values, folding kept in readHeaders and removed in headerValues', () => {
  const raw = crlf('Subject: one', '  two', 'X-A: 1', 'x-a: 2', '', 'body');
  const fields = readHeaders(raw);
  assert.deepEqual(
    fields.map((f) => f.name),
    ['Subject', 'X-A', 'x-a'],
  );
  assert.equal(fields[0].value.toString(), ' one\r\n  two');
  assert.equal(raw.subarray(fields[0].start, fields[0].end).toString(), 'Subject: one\r\n  two\r\n');
  assert.deepEqual(headerValues(raw, 'x-a'), ['1', '2']);
  assert.deepEqual(headerValues(raw, 'subject'), ['one  two']);
});

test('parseAddresses: display names raw, RFC 2047 kept encoded', () => {
  assert.deepEqual(parseAddresses('=?utf-8?q?J=C3=B6rg?= <j@x.test>, "Doe, John" <d@x.test>'), [
    { name: '=?utf-8?q?J=C3=B6rg?=', adl: null, mailbox: 'j', host: 'x.test' },
    { name: 'Doe, John', adl: null, mailbox: 'd', host: 'x.test' },
  ]);
  assert.deepEqual(parseAddresses(''), []);
});

test('baseSubject follows RFC 5256 §2.1', () => {
  const cases: Array<[string, string, boolean]> = [
    ['Re: Hello', 'Hello', true],
    ['RE: re:  Fwd: [list] Hello  (fwd)', 'Hello', true],
    ['[list] Re: [list] Hello', 'Hello', true],
    ['[fwd: Re: meeting]', 'meeting', true],
    ['[only blob]', '[only blob]', false],
    ['Hello\tthere', 'Hello there', false],
    ['=?utf-8?q?Re=3A_=C3=A9t=C3=A9?=', 'été', true],
    ['Fw : x', 'x', true],
    ['Fwx: y', 'Fwx: y', false],
    ['Fw[x]: y', 'y', true],
    ['', '', false],
  ];
  for (const [input, base, reply] of cases) {
    assert.deepEqual(baseSubjectInfo(input), { base, isReplyOrForward: reply }, input);
  }
  assert.equal(baseSubject('Re: Re: x'), 'x');
});

test('sentDate / parseDate: RFC 5322 with obsolete forms', () => {
  assert.equal(sentDate(crlf('Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)', '', ''))?.toISOString(), '1996-07-17T09:23:25.000Z');
  assert.equal(parseDate('17 Jul 96 02:23 EST')?.date.toISOString(), '1996-07-17T07:23:00.000Z');
  assert.equal(parseDate('Sat, 1 Jan 0 00:00:00 GMT'), null, 'one-digit year is invalid');
  assert.equal(parseDate('1 Jan 103 10:00:00 +0000')?.year, 2003);
  assert.equal(parseDate('Mon, 03 Feb 2020 23:30:00 Z')?.date.toISOString(), '2020-02-03T23:30:00.000Z');
  assert.deepEqual(
    (({ year, month, day, offsetMinutes }) => ({ year, month, day, offsetMinutes }))(parseDate('Thu, 1 Jan 2004 00:30:00 +0130')!),
    { year: 2004, month: 1, day: 1, offsetMinutes: 90 },
  );
  assert.equal(parseDate('garbage'), null);
  assert.equal(sentDate(crlf('Subject: no date', '', '')), null);
});

test('decodedBody undoes base64 and quoted-printable, and flags an unknown CTE', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=m',
    '',
    '--m',
    'Content-Transfer-Encoding: base64',
    '',
    'aGVs',
    'bG8=',
    '--m',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'caf=C3=A9=',
    ' soft',
    '--m',
    'Content-Transfer-Encoding: x-uuencode',
    '',
    'begin 644 x',
    '--m--',
  );
  const root = parseMessage(raw);
  assert.equal(decodedBody(raw, root.parts[0]).toString(), 'hello');
  assert.equal(decodedBody(raw, root.parts[1]).toString(), 'café soft');
  assert.throws(() => decodedBody(raw, root.parts[2]), (err) => isLoftError(err, 'LOFT_E_MIME_UNKNOWN_CTE'));
});

test('bodyText decodes charsets and strips HTML; preview is short and normalised', () => {
  const raw = crlf(
    'Content-Type: multipart/alternative; boundary=a',
    '',
    '--a',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Caf=E9   ouvert',
    '> quoted line',
    '--a',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<html><style>p{}</style><p>Hello&nbsp;<b>world</b> &amp; more</p></html>',
    '--a',
    'Content-Type: image/png',
    'Content-Transfer-Encoding: base64',
    '',
    'iVBORw0KGgo=',
    '--a--',
  );
  const root = parseMessage(raw);
  const text = bodyText(raw, root);
  assert.match(text, /Café {3}ouvert/);
  assert.match(text, /Hello world & more/);
  assert.doesNotMatch(text, /<b>|p\{\}/);
  assert.equal(preview(raw, root), 'Café ouvert');
  assert.equal(preview(raw, root, 4), 'Café');
});

test('messageIds extracts msg-ids in order', () => {
  assert.deepEqual(messageIds('<a@b> (comment) <c@d>\r\n <bad> <e@f'), ['a@b', 'c@d']);
});

test('messageIds follows Dovecot: whitespace dropped, quoted local parts and comments handled', () => {
  assert.deepEqual(messageIds('<a b@c>'), ['ab@c']);
  assert.deepEqual(messageIds('<"quoted local"@x.test (comment)> <x@y>'), ['quoted local@x.test', 'x@y']);
  assert.deepEqual(messageIds('junk <no-at> <ok@host>'), ['ok@host']);
});

test('bodyText decodes ISO-2022-JP and windows-1252 bodies', () => {
  const raw = Buffer.concat([
    Buffer.from('Content-Type: multipart/mixed; boundary=j\r\n\r\n--j\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n'),
    Buffer.from('1b24422546253925481b2842', 'hex'),
    Buffer.from('\r\n--j\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\n'),
    Buffer.from([0x80, 0x35]),
    Buffer.from('\r\n--j--\r\n'),
  ]);
  const text = bodyText(raw, parseMessage(raw));
  assert.match(text, /テスト/);
  assert.match(text, /€5/);
});

test('libmime is loaded only when a charset needs it, not for UTF-8 and ASCII', async () => {
  // A fresh process: this one may have loaded it for the tests above.
  const { execFileSync } = await import('node:child_process');
  const script = `
    import { createRequire } from 'node:module';
    const mime = await import(${JSON.stringify(new URL('./index.js', import.meta.url).href)});
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => /[\\\\/]libmime[\\\\/]/.test(f));
    const out = [mime.decodeHeader('plain subject'), mime.decodeCharset(Buffer.from('déjà', 'utf8'), 'UTF-8'), loaded()];
    out.push(mime.decodeHeader('=?ISO-8859-1?Q?caf=E9?='), loaded());
    process.stdout.write(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as unknown[];
  assert.deepEqual(out, ['plain subject', 'déjà', false, 'café', true]);
});
