import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SearchKey } from '@loft/imap-proto';
import { isLoftError } from '@loft/errors';
import { compileSearch, needsBody, needsHeaders, searchMatches } from './index.js';
import type { QueryContext, QueryMessage } from './query-message.js';
import { fakeMessage } from './fixtures.js';

const ctx: QueryContext = { messageCount: 4, maxUid: 40, now: new Date('2024-03-01T00:00:00Z'), timeZoneOffsetMinutes: 0 };

const MAILBOX: QueryMessage[] = [
  fakeMessage({
    seq: 1,
    uid: 10,
    flags: ['\\Flagged'],
    internalDate: '1994-02-05T10:00:00Z',
    headers: ['From: John Smith <smith@example.com>', 'Subject: Budget', 'Date: Sat, 5 Feb 1994 23:30:00 -0800'],
    body: 'The quarterly numbers',
  }),
  fakeMessage({
    seq: 2,
    uid: 20,
    flags: ['\\Flagged', '\\Seen'],
    internalDate: '1994-01-20T10:00:00Z',
    headers: ['From: Ann <ann@example.com>', 'Subject: =?ISO-8859-1?Q?Caf=E9?= tonight', 'Date: Thu, 20 Jan 1994 10:00:00 +0000'],
    body: 'See you there',
  }),
  fakeMessage({
    seq: 3,
    uid: 30,
    flags: ['\\Flagged', '$Important'],
    internalDate: '1994-03-01T10:00:00Z',
    headers: ['From: Bob <bob@example.com>', 'Subject: Lunch', 'X-Spam: yes'],
    body: 'Pizza at noon',
    modseq: 50n,
  }),
  fakeMessage({
    seq: 4,
    uid: 40,
    flags: ['\\Deleted'],
    internalDate: '2024-02-29T23:00:00Z',
    saveDate: '2024-02-10T00:00:00Z',
    headers: ['From: smith@example.com', 'Subject: Re: Budget'],
    body: '<html><body>Approved</body></html>',
    modseq: 90n,
  }),
];

function run(key: SearchKey, c: QueryContext = ctx): number[] {
  const compiled = compileSearch(key);
  return MAILBOX.filter((m) => searchMatches(compiled, m, c)).map((m) => m.seq);
}

const and = (...keys: SearchKey[]): SearchKey => ({ type: 'and', keys });
const not = (key: SearchKey): SearchKey => ({ type: 'not', key });
const flag = (f: string, set = true): SearchKey => ({ type: 'flag', flag: f, set });
const from = (value: string): SearchKey => ({ type: 'header', field: 'from', value });

test('RFC 3501 example: SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', () => {
  assert.deepEqual(run(and(flag('\\Flagged'), { type: 'date', field: 'internal', op: 'since', date: '1994-02-01' }, not(from('Smith')))), [3]);
});

test('RFC 3501 example: SEARCH TEXT "string not in mailbox" finds nothing', () => {
  assert.deepEqual(run({ type: 'text', value: 'string not in mailbox' }), []);
});

test('header and text matching is case-insensitive on decoded values', () => {
  assert.deepEqual(run({ type: 'header', field: 'subject', value: 'CAFÉ' }), [2]);
  assert.deepEqual(run({ type: 'body', value: 'pizza AT' }), [3]);
  assert.deepEqual(run({ type: 'text', value: 'approved' }), [4]);
  assert.deepEqual(run({ type: 'text', value: 'x-spam: YES' }), [3]);
  assert.deepEqual(run({ type: 'header', field: 'X-Spam', value: '' }), [3], 'empty value: the field exists');
  assert.deepEqual(run({ type: 'or', left: from('ann'), right: { type: 'header', field: 'subject', value: 'lunch' } }), [2, 3]);
});

test('address headers also match their normalised form; SUBJECT ignores whitespace runs', () => {
  const msg = fakeMessage({ seq: 1, headers: ['From: John   Smith<js@x.test>', 'To: team: a@x.test, b@x.test;', 'Subject: Budget \t  review'] });
  const hit = (key: SearchKey): boolean => searchMatches(compileSearch(key), msg, ctx);
  assert.equal(hit(from('smith <js@x')), true);
  assert.equal(hit({ type: 'header', field: 'to', value: 'team: a@x.test, b@x.test;' }), true);
  assert.equal(hit({ type: 'header', field: 'subject', value: 'budget review' }), true);
  assert.equal(hit({ type: 'header', field: 'subject', value: 'budget  review' }), false);
});

test('sequence sets and UID sets with *, reversed ranges and $', () => {
  assert.deepEqual(run({ type: 'seq', set: [{ from: 3, to: '*' }] }), [3, 4]);
  assert.deepEqual(run({ type: 'seq', set: [{ from: '*', to: 2 }] }), [2, 3, 4]);
  assert.deepEqual(run({ type: 'uid', set: [{ from: 25, to: 25 }, { from: 10, to: 10 }] }), [1]);
  assert.deepEqual(run({ type: 'uid', set: [{ from: 500, to: '*' }] }), [4], 'n:* always includes the highest UID');
  assert.deepEqual(run({ type: 'saved', uid: true }, { ...ctx, savedResult: { uids: [20, 40] } }), [2, 4]);
  assert.deepEqual(run({ type: 'saved', uid: false }), [], 'no saved result: $ is empty');
});

test('flags, keywords, sizes and MODSEQ', () => {
  assert.deepEqual(run(flag('\\seen')), [2], 'system flags are case-insensitive');
  assert.deepEqual(run(flag('\\Seen', false)), [1, 3, 4]);
  assert.deepEqual(run(flag('$important')), [3]);
  const sizes = MAILBOX.map((m) => m.size);
  assert.deepEqual(run({ type: 'size', op: 'larger', bytes: sizes[2] - 1 }), MAILBOX.filter((m) => m.size > sizes[2] - 1).map((m) => m.seq));
  assert.deepEqual(run({ type: 'size', op: 'smaller', bytes: 0 }), []);
  assert.deepEqual(run({ type: 'modseq', modseq: 50n }), [3, 4]);
});

test('dates: INTERNALDATE by day in the server zone, SENT* by the header’s own day', () => {
  const on = (field: 'internal' | 'sent' | 'saved', op: 'before' | 'on' | 'since', date: string): SearchKey => ({ type: 'date', field, op, date });
  assert.deepEqual(run(on('internal', 'on', '2024-02-29')), [4]);
  assert.deepEqual(run(on('internal', 'on', '2024-03-01'), { ...ctx, timeZoneOffsetMinutes: 120 }), [4], 'UTC+2 moves it to March 1');
  // Sat, 5 Feb 1994 23:30 -0800 is Feb 6 in UTC but Feb 5 as written.
  assert.deepEqual(run(on('sent', 'on', '1994-02-05')), [1]);
  assert.deepEqual(run(on('sent', 'before', '1994-02-05')), [2, 3, 4], 'no Date: header counts as 1970-01-01, as in Dovecot');
  assert.deepEqual(run(on('sent', 'since', '1994-01-21')), [1]);
  assert.deepEqual(run(on('saved', 'on', '2024-02-10')), [4]);
  assert.deepEqual(run(on('saved', 'before', '1994-02-01')), [2], 'no save date falls back to INTERNALDATE');
});

test('OLDER / YOUNGER count seconds back from ctx.now, inclusive', () => {
  assert.deepEqual(run({ type: 'age', op: 'younger', seconds: 7200 }), [4]);
  assert.deepEqual(run({ type: 'age', op: 'older', seconds: 7200 }), [1, 2, 3]);
  // Message 4 arrived exactly 3600 s before ctx.now: both ends include it.
  assert.deepEqual(run({ type: 'age', op: 'older', seconds: 3600 }), [1, 2, 3, 4]);
  assert.deepEqual(run({ type: 'age', op: 'younger', seconds: 3600 }), [4]);
  assert.deepEqual(run({ type: 'age', op: 'younger', seconds: 3599 }), []);
});

test('cheap tests run first: the body is never read when a flag already fails', () => {
  const msg = fakeMessage({ seq: 1, flags: [], headers: ['Subject: x'], bodyForbidden: true });
  const compiled = compileSearch(and({ type: 'body', value: 'x' }, { type: 'header', field: 'subject', value: 'x' }, flag('\\Seen')));
  assert.equal(searchMatches(compiled, msg, ctx), false);
  assert.equal(needsBody(compiled), true);
  assert.deepEqual(needsHeaders(compiled), ['subject']);
  const textSearch = compileSearch({ type: 'or', left: { type: 'text', value: 'a' }, right: flag('\\Seen') });
  assert.equal(needsHeaders(textSearch), 'all');
  const sent = compileSearch({ type: 'date', field: 'sent', op: 'on', date: '2024-01-01' });
  assert.deepEqual(needsHeaders(sent), ['date']);
  assert.equal(needsBody(sent), false);
});

test('compileSearch rejects malformed programs with LOFT_E_STORAGE_INVALID', () => {
  const bad: SearchKey[] = [
    { type: 'date', field: 'internal', op: 'on', date: '1-Feb-1994' },
    { type: 'date', field: 'internal', op: 'on', date: '1994-02-30' },
    { type: 'seq', set: [{ from: 0, to: 3 }] },
    { type: 'size', op: 'larger', bytes: -1 },
  ];
  for (const key of bad) assert.throws(() => compileSearch(key), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
});
