import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { decodeMailboxName, encodeMailboxName, isValidMailboxName } from './mailbox-name.js';
import { formatDateTime, parseDateTime, parseSearchDate } from './date-time.js';

test("RFC 3501 §5.1.3's example: ~peter/mail/台北/日本語", () => {
  assert.equal(decodeMailboxName('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
  assert.equal(encodeMailboxName('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
});

test('round trips: ampersands, accents, astral characters, every length of base64 run', () => {
  const names = ['INBOX', 'A&B', '&', 'Entwürfe', 'Gesendete Objekte', '😀 mail', 'x€y€€z', 'Ω', 'ΩΩ', 'ΩΩΩ', 'ΩΩΩΩ', '&Ω&', ''];
  for (const name of names) assert.equal(decodeMailboxName(encodeMailboxName(name)), name, name);
  assert.equal(encodeMailboxName('A&B'), 'A&-B');
  assert.equal(encodeMailboxName('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(encodeMailboxName('😀'), '&2D3eAA-');
});

test('invalid or non-canonical encodings are rejected with LOFT_E_IMAP_BAD_MAILBOX_NAME', () => {
  const bad: Array<[string, RegExp]> = [
    ['&U,BTFw', /unterminated/],
    ['&AGE-', /printable US-ASCII/], // "a" encoded
    ['&U,BTFw-&ZeVnLIqe-', /adjacent encoded runs/],
    ['&U/BTFw-', /not a modified base64 character/],
    ['&U,BTF-', /leftover bits/],
    ['&U,BTFwA-', /leftover bits/],
    ['&2D0-', /unpaired UTF-16 surrogate/],
    ['&3gA-', /unpaired UTF-16 surrogate/],
    ['Entwürfe', /must be encoded/],
    ['tab\there', /must be encoded/],
  ];
  for (const [name, why] of bad) {
    assert.throws(() => decodeMailboxName(name), (err) => isLoftError(err, 'LOFT_E_IMAP_BAD_MAILBOX_NAME') && why.test(err.message), name);
    assert.equal(isValidMailboxName(name), false);
  }
});

test('dates: SEARCH d-Mon-yyyy and APPEND date-time with zones', () => {
  assert.equal(parseSearchDate('1-Feb-1994'), '1994-02-01');
  assert.equal(parseSearchDate('29-feb-2000'), '2000-02-29');
  assert.throws(() => parseSearchDate('29-Feb-1900'), /Invalid day/);
  assert.equal(parseDateTime('17-Jul-1996 02:44:25 -0700').toISOString(), '1996-07-17T09:44:25.000Z');
  assert.equal(parseDateTime(' 1-Jan-2000 00:30:00 +0100').toISOString(), '1999-12-31T23:30:00.000Z');
  assert.throws(() => parseDateTime('17-Jul-1996 24:00:00 +0000'), /Invalid time/);
  assert.throws(() => parseDateTime('17-Jul-1996 02:44:25'), /expected/);
  assert.equal(formatDateTime(new Date('1996-07-17T09:44:25Z'), -420), '17-Jul-1996 02:44:25 -0700');
  assert.equal(formatDateTime(new Date('2000-01-01T00:00:00Z')), '01-Jan-2000 00:00:00 +0000');
});
