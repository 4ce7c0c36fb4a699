import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envelope, parseMessage, writeImapValue } from './index.js';
import { crlf } from './fixtures.js';

const RFC3501_HEADER = [
  'Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
  'From: Terry Gray <gray@cac.washington.edu>',
  'Subject: IMAP4rev1 WG mtg summary and minutes',
  'To: imap@cac.washington.edu',
  'cc: minutes@CNRI.Reston.VA.US,',
  '    John Klensin <KLENSIN@MIT.EDU>',
  'Message-Id: <B27397-0100000@cac.washington.edu>',
  'MIME-Version: 1.0',
  'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII',
];

test('ENVELOPE of RFC 3501 §7.4.2 example message', () => {
  const raw = crlf(...RFC3501_HEADER, '', 'body', '');
  assert.equal(
    writeImapValue(envelope(raw)).toString(),
    '("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ' +
      '((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL ' +
      '"<B27397-0100000@cac.washington.edu>")',
  );
});

test('ENVELOPE: Sender/Reply-To default to From when missing or empty, absent fields are NIL', () => {
  const raw = crlf('From: a@b.example', 'Sender:', 'Reply-To: r@b.example', '', '');
  const env = envelope(raw);
  assert.deepEqual(env[3], [[null, null, 'a', 'b.example']]);
  assert.deepEqual(env[4], [[null, null, 'r', 'b.example']]);
  assert.equal(env[0], null);
  assert.equal(env[1], null);
  assert.equal(env[5], null);
});

test('ENVELOPE: groups, routes, comments and broken addresses as Dovecot repairs them', () => {
  const raw = crlf(
    'To: A Group:Ed Jones <c@a.test>,joe@where.test;, undisclosed-recipients:;',
    'Cc: <@route.a,@route.b:user@host.test>, pete(his account)@silly.test (Pete), nodomain',
    'Bcc: "Giant; \\"Big\\" Box" <sysservices@example.net>, Broken <oops',
    '',
    '',
  );
  const env = envelope(raw);
  assert.deepEqual(env[5], [
    [null, null, 'A Group', null],
    ['Ed Jones', null, 'c', 'a.test'],
    [null, null, 'joe', 'where.test'],
    [null, null, null, null],
    [null, null, 'undisclosed-recipients', null],
    [null, null, null, null],
  ]);
  assert.deepEqual(env[6], [
    [null, '@route.a,@route.b', 'user', 'host.test'],
    ['Pete', null, 'pete', 'silly.test'],
    [null, null, 'nodomain', 'MISSING_DOMAIN'],
  ]);
  assert.deepEqual(env[7], [
    ['Giant; "Big" Box', null, 'sysservices', 'example.net'],
    ['Broken', null, 'oops', 'SYNTAX_ERROR'],
  ]);
});

test('ENVELOPE keeps RFC 2047 words encoded and 8-bit bytes exact', () => {
  const latin1 = Buffer.concat([
    Buffer.from('Subject: caf'),
    Buffer.from([0xe9]),
    Buffer.from('\r\nFrom: =?utf-8?q?J=C3=B6rg?= <j@x.test>\r\nIn-Reply-To: <a@b>\r\n\r\n'),
  ]);
  const env = envelope(latin1);
  assert.ok(Buffer.isBuffer(env[1]), 'invalid UTF-8 stays bytes');
  assert.deepEqual(env[1], Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  assert.deepEqual(env[2], [['=?utf-8?q?J=C3=B6rg?=', null, 'j', 'x.test']]);
  assert.equal(env[8], '<a@b>');
  assert.equal(writeImapValue(env[1]).toString('latin1'), '{4}\r\ncaf\xe9');
  const utf8 = crlf('Subject: café', '', '');
  assert.equal(envelope(utf8)[1], 'café');
});

test('ENVELOPE of an embedded message/rfc822', () => {
  const raw = crlf(
    'Content-Type: multipart/mixed; boundary=x',
    '',
    '--x',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    'From: in@side.test',
    '',
    'hi',
    '--x--',
    '',
  );
  const root = parseMessage(raw);
  const env = envelope(raw, root.parts[0]);
  assert.equal(env[1], 'inner');
  assert.deepEqual(env[2], [[null, null, 'in', 'side.test']]);
});

test("ENVELOPE matches Dovecot's own test vectors (lib-imap/test-imap-envelope.c)", () => {
  const cases: Array<[string[], string]> = [
    [
      [
        'Message-ID: <msg@id>',
        'In-Reply-To: <reply@to.id>',
        'Date: Thu, 15 Feb 2007 01:02:03 +0200',
        'Subject: subject header',
        'From: From Real <fromuser@fromdomain.org>',
        'To: To Real <touser@todomain.org>',
        'Cc: Cc Real <ccuser@ccdomain.org>',
        'Bcc: Bcc Real <bccuser@bccdomain.org>',
        'Sender: Sender Real <senderuser@senderdomain.org>',
        'Reply-To: ReplyTo Real <replytouser@replytodomain.org>',
      ],
      '"Thu, 15 Feb 2007 01:02:03 +0200" "subject header" (("From Real" NIL "fromuser" "fromdomain.org")) ' +
        '(("Sender Real" NIL "senderuser" "senderdomain.org")) (("ReplyTo Real" NIL "replytouser" "replytodomain.org")) ' +
        '(("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org")) ' +
        '(("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>"',
    ],
    [
      ['Date: Thu, 15 Feb 2007 01:02:03 +0200', 'From: user@domain'],
      '"Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL NIL "user" "domain")) ((NIL NIL "user" "domain")) ' +
        '((NIL NIL "user" "domain")) NIL NIL NIL NIL NIL',
    ],
    [
      [
        'Date: Thu, 15 Feb 2007 01:02:03 +0200',
        'From: user@domain (Real Name)',
        'To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;',
        'Cc: group:;, group2: (foo) ;',
      ],
      '"Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ' +
        '(("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")' +
        '(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ' +
        '((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL',
    ],
    [
      ['Date: Thu, 15 Feb 2007 01:02:03 +0200', 'From: user@domain (Real Name)', 'Sender: ', 'Reply-To: '],
      '"Thu, 15 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ' +
        '(("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL',
    ],
    [
      ['Date: Thu, 15 Feb 2007 01:02:03 +0200', 'From: <@route:user@domain>'],
      '"Thu, 15 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ' +
        '((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL',
    ],
  ];
  for (const [headers, expected] of cases) {
    const raw = Buffer.from(headers.join('\n') + '\n\nbody\n');
    assert.equal(writeImapValue(envelope(raw)).toString(), `(${expected})`);
  }
});

test('ENVELOPE: a repeated field counts by its last occurrence, as in Dovecot', () => {
  const env = envelope(crlf('Subject: first', 'Subject: second', 'From: a@x.test', 'From: b@x.test', '', ''));
  assert.equal(env[1], 'second');
  assert.deepEqual(env[2], [[null, null, 'b', 'x.test']]);
});
