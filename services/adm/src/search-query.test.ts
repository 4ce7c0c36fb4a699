import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { mailboxPatternMatcher, mailboxVerdict, namesMailboxEverywhere, parseHumanDate, parseQuery, parseSize, resolveQuery } from './search-query.js';

const NOW = new Date('2024-05-10T12:00:00Z');

test('doveadm query words become SearchKeys; OR binds tighter than the implicit AND', () => {
  assert.deepEqual(parseQuery(['mailbox', 'INBOX', 'seen', 'or', 'flagged'], NOW), {
    type: 'and',
    nodes: [
      { type: 'mailbox', pattern: 'INBOX' },
      { type: 'or', left: { type: 'key', key: { type: 'flag', flag: '\\Seen', set: true } }, right: { type: 'key', key: { type: 'flag', flag: '\\Flagged', set: true } } },
    ],
  });
  assert.deepEqual(parseQuery(['NOT', '(seen', 'SUBJECT', 'x)'], NOW), {
    type: 'not',
    node: { type: 'and', nodes: [{ type: 'key', key: { type: 'flag', flag: '\\Seen', set: true } }, { type: 'key', key: { type: 'header', field: 'subject', value: 'x' } }] },
  });
  assert.deepEqual(parseQuery(['(seen', 'or', 'flagged)', 'deleted'], NOW), parseQuery(['(', 'seen', 'or', 'flagged', ')', 'deleted'], NOW));
  assert.deepEqual(parseQuery(['1:3,*'], NOW), { type: 'key', key: { type: 'seq', set: [{ from: 1, to: 3 }, { from: '*', to: '*' }] } });
  assert.deepEqual(parseQuery(['larger', '10k'], NOW), { type: 'key', key: { type: 'size', op: 'larger', bytes: 10240 } });
  assert.deepEqual(parseQuery(['header', 'X-Spam', 'yes'], NOW), { type: 'key', key: { type: 'header', field: 'x-spam', value: 'yes' } });
});

test('dates: days compare by day, intervals and UNIX times by the instant', () => {
  assert.deepEqual(parseQuery(['since', '2024-01-31'], NOW), { type: 'key', key: { type: 'date', field: 'internal', op: 'since', date: '2024-01-31' } });
  assert.deepEqual(parseQuery(['before', '5-Feb-2024'], NOW), { type: 'key', key: { type: 'date', field: 'internal', op: 'before', date: '2024-02-05' } });
  assert.deepEqual(parseQuery(['since', '2d'], NOW), { type: 'key', key: { type: 'age', op: 'younger', seconds: 172_800 } });
  assert.deepEqual(parseQuery(['before', '3h'], NOW), { type: 'key', key: { type: 'age', op: 'older', seconds: 10_800 } });
  assert.deepEqual(parseQuery(['savedsince', '1w'], NOW), { type: 'saved-time', op: 'since', ms: NOW.getTime() - 604_800_000 });
  assert.deepEqual(parseHumanDate('1700000000', NOW), { kind: 'instant', ms: 1_700_000_000_000 });
  assert.deepEqual(parseHumanDate('30 mins', NOW), { kind: 'instant', ms: NOW.getTime() - 1_800_000 });
  assert.equal(parseSize('5M'), 5 * 1024 * 1024);
});

test('bad queries fail with LOFT_E_ADM_QUERY and say what is wrong', () => {
  for (const [words, pattern] of [
    [['shiny'], /unknown search key 'shiny'/],
    [['since'], /since needs a value/],
    [['since', 'yesterday'], /not a date/],
    [['(', 'seen'], /missing \)/],
    [[], /empty search query/],
    [['seen', ')'], /unexpected '\)'/],
    [['2024-02-30'], /sequence set|unknown/],
  ] as const) {
    assert.throws(() => parseQuery([...words], NOW), (err: unknown) => isLoftError(err, 'LOFT_E_ADM_QUERY') && pattern.test(err.message), words.join(' '));
  }
});

test('mailbox keys decide which mailboxes are opened, and resolve to constants per mailbox', () => {
  const query = parseQuery(['mailbox', 'Lists/*', 'or', 'mailbox', 'INBOX', 'unseen'], NOW);
  assert.equal(mailboxVerdict(query, 'INBOX', 'g1'), undefined, 'depends on the messages');
  assert.equal(mailboxVerdict(query, 'Trash', 'g2'), false);
  assert.equal(namesMailboxEverywhere(query), true);
  assert.equal(namesMailboxEverywhere(parseQuery(['mailbox', 'INBOX', 'or', 'seen'], NOW)), false);
  assert.equal(namesMailboxEverywhere(parseQuery(['not', 'mailbox', 'INBOX'], NOW)), false);
  const key = resolveQuery(parseQuery(['mailbox', 'INBOX', 'guid', 'ab'], NOW), { name: 'INBOX', guid: 'g', uidsWhere: () => [4, 9] });
  assert.deepEqual(key, { type: 'and', keys: [{ type: 'all' }, { type: 'uid', set: [{ from: 4, to: 4 }, { from: 9, to: 9 }] }] });
  const match = mailboxPatternMatcher('Lists/%');
  assert.equal(match('Lists/node'), true);
  assert.equal(match('Lists/node/old'), false);
  assert.equal(mailboxPatternMatcher('inbox')('INBOX'), true);
});
