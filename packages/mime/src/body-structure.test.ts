import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyStructure, parseMessage, writeImapValue } from './index.js';
import { crlf } from './fixtures.js';

function bs(raw: Buffer, extended = false): string {
  return writeImapValue(bodyStructure(raw, parseMessage(raw), extended)).toString();
}

/** A body of exactly `lines` CRLF-terminated lines and `bytes` bytes. */
function body(bytes: number, lines: number): string {
  const line = 'x'.repeat(Math.floor(bytes / lines) - 2);
  const rows = Array.from({ length: lines }, () => line);
  const short = bytes - lines * (line.length + 2);
  rows[0] += 'y'.repeat(short);
  return rows.map((r) => r + '\r\n').join('');
}

test('BODY of RFC 3501 §7.4.2 example: ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)', () => {
  const raw = Buffer.from(
    'Subject: x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT\r\n\r\n' + body(3028, 92),
  );
  assert.equal(bs(raw), '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)');
});

test('BODYSTRUCTURE of RFC 3501 multipart example', () => {
  const raw = Buffer.from(
    'Content-Type: MULTIPART/MIXED; BOUNDARY="b"\r\n\r\n' +
      '--b\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT\r\n\r\n' +
      body(1152, 23) +
      '\r\n--b\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n' +
      'Content-ID: <960723163407.20117h@cac.washington.edu>\r\nContent-Description: Compiler diff\r\n' +
      'Content-Transfer-Encoding: BASE64\r\n\r\n' +
      body(4554, 73) +
      '\r\n--b--\r\n',
  );
  assert.equal(
    bs(raw),
    '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)' +
      '("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" ' +
      '"Compiler diff" "BASE64" 4554 73) "MIXED")',
  );
});

test('BODYSTRUCTURE: attachments, extension data and defaults like Dovecot', () => {
  const raw = crlf(
    'From: a@b.test',
    'Content-Type: multipart/mixed; boundary="=_b"',
    'Content-Language: en',
    '',
    'preamble',
    '--=_b',
    '',
    'default part',
    '--=_b',
    'Content-Type: text/html',
    'Content-Location: http://example.test/x',
    '',
    '<b>x</b>',
    '--=_b',
    'Content-Type: application/pdf; name="r.pdf"',
    'Content-Disposition: attachment; filename="r.pdf"; size=3',
    'Content-Transfer-Encoding: base64',
    'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
    'Content-Language: en, de-CH',
    '',
    'YWJj',
    '--=_b--',
    'epilogue',
    '',
  );
  assert.equal(
    bs(raw, true),
    '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)' +
      '("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL "http://example.test/x")' +
      '("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 4 "Q2hlY2sgSW50ZWdyaXR5IQ==" ' +
      '("attachment" ("filename" "r.pdf" "size" "3")) ("en" "de-CH") NIL) ' +
      '"mixed" ("boundary" "=_b") NIL ("en") NIL)',
  );
});

test('BODYSTRUCTURE of nested message/rfc822 includes envelope, body and lines', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=o',
    '',
    '--o',
    'Content-Type: message/rfc822',
    '',
    'Subject: fwd',
    'Content-Type: multipart/alternative; boundary=i',
    '',
    '--i',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'plain',
    '--i--',
    '',
    '--o--',
    '',
  );
  assert.equal(
    bs(raw),
    '(("message" "rfc822" NIL NIL NIL "7bit" 127 (NIL "fwd" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
      '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 0) "alternative") 8) "mixed")',
  );
});

test('BODYSTRUCTURE: RFC 2231 parameters joined, extended values left encoded', () => {
  const raw = crlf(
    "Content-Type: application/octet-stream; name*0*=utf-8''%C3%A9t%C3%A9; name*1=.txt",
    "Content-Disposition: attachment; filename*=iso-8859-1'fr'%E9t%E9.txt",
    '',
    'x',
  );
  const root = parseMessage(raw);
  assert.equal(root.contentType.params.name, 'été.txt');
  assert.equal(root.disposition?.params.filename, 'été.txt');
  assert.equal(
    bs(raw, true),
    `("application" "octet-stream" ("name*" "utf-8''%C3%A9t%C3%A9.txt") NIL NIL "7bit" 1 NIL ` +
      `("attachment" ("filename*" "iso-8859-1'fr'%E9t%E9.txt")) NIL NIL)`,
  );
});

test('BODYSTRUCTURE: multipart without parts gets an empty text/plain child', () => {
  const raw = crlf('Content-Type: multipart/mixed; boundary=never', '', 'no parts here', '');
  assert.equal(bs(raw), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")');
});

test("BODYSTRUCTURE matches Dovecot's own test vector (lib-imap/test-imap-bodystructure.c)", () => {
  const raw = Buffer.from(
    [
      'From: user@domain.org',
      'Date: Sat, 24 Mar 2007 23:00:00 +0200',
      'Mime-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="foo',
      ' bar"',
      '',
      'Root MIME prologue',
      '',
      '--foo bar',
      'Content-Type: text/x-myown; charset=us-ascii; foo="quoted\\"string"',
      'Content-ID: <foo@example.com>',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      'Content-Disposition: inline; foo=bar',
      'Content-Description: hellodescription',
      'Content-Language: en, fi, se',
      'Content-Location: http://example.com/test.txt',
      '',
      'hello',
      '',
      '--foo bar',
      'Content-Type: message/rfc822',
      '',
      'From: sub@domain.org',
      'To: sub-to1@domain.org, sub-to2@domain.org',
      'Date: Sun, 12 Aug 2012 12:34:56 +0300',
      'Subject: submsg',
      'Content-Type: multipart/alternative; boundary="sub1"',
      '',
      'Sub MIME prologue',
      '--sub1',
      'Content-Type: text/html',
      'Content-Transfer-Encoding: 8bit',
      '',
      '<p>Hello world</p>',
      '',
      '--sub1',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: ?invalid',
      '',
      'Hello another world',
      '',
      '--sub1--',
      'Sub MIME epilogue',
      '',
      '--foo bar--',
      'Root MIME epilogue',
      '',
    ].join('\n'),
  );
  const root = parseMessage(raw);
  const full = writeImapValue(bodyStructure(raw, root, true, { virtualSizes: true })).toString();
  assert.equal(
    full,
    '(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1 ' +
      '"Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar")) ("en" "fi" "se") "http://example.com/test.txt")' +
      '("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ' +
      '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) ' +
      'NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) ' +
      '21 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL)',
  );
  const body = writeImapValue(bodyStructure(raw, root, false, { virtualSizes: true })).toString();
  assert.equal(
    body,
    '(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1)' +
      '("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ' +
      '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) ' +
      'NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) ' +
      '"alternative") 21) "mixed")',
  );
  // Without virtual sizes, each size is the length of the bytes BODY[part] returns.
  const raw1 = writeImapValue(bodyStructure(raw, root, false)).toString();
  assert.match(raw1, /"7bit" 6 1\)/);
});

test('RFC 2231: plain parameters first, pieces merged by key, broken sequences kept apart', () => {
  const raw = crlf(
    'Content-Type: text/plain; title*1="b%"; title*0*=us-ascii\'en\'a; charset=utf-8; x*0=1; x*2=3',
    '',
    'x',
  );
  const root = parseMessage(raw);
  assert.equal(
    writeImapValue(bodyStructure(raw, root, false)).toString(),
    `("text" "plain" ("charset" "utf-8" "title*" "us-ascii'en'ab%25" "x*0" "1" "x*2" "3") NIL NIL "7bit" 1 0)`,
  );
  assert.equal(root.contentType.params.title, 'ab%');
  assert.equal(root.contentType.params.charset, 'utf-8');
});

test('Dovecot details: charset added to text params, message/rfc822 in lower case, strict CTE token', () => {
  const raw = crlf(
    'Mime-Version: 1.0',
    'Content-Type: Multipart/Mixed; boundary=z',
    '',
    '--z',
    'Content-Type: text/plain; format=flowed',
    'Content-Transfer-Encoding: base64 junk',
    '',
    'x',
    '--z',
    'Content-Type: Message/RFC822',
    '',
    'Subject: s',
    '',
    'y',
    '--z--',
  );
  assert.equal(
    bs(raw),
    '(("text" "plain" ("format" "flowed" "charset" "us-ascii") NIL NIL "7bit" 1 0)' +
      '("message" "rfc822" NIL NIL NIL "7bit" 15 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 0) 2) "Mixed")',
  );
  const empty = crlf('Content-Type: multipart/mixed; boundary=never', '', '');
  assert.equal(bs(empty, true), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "never") NIL NIL NIL)');
});

test('without Mime-Version or Content-Type, a message’s Content-* fields are ignored', () => {
  const raw = crlf('Subject: old', 'Content-Transfer-Encoding: base64', 'Content-Description: d', '', 'aGk=', '');
  assert.equal(bs(raw), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1)');
  assert.equal(parseMessage(raw).transferEncoding, '7bit');
});
