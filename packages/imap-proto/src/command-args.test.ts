import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { parseLine } from './command-parser.js';
import {
  parseAppendArgs,
  parseEnable,
  parseIdParams,
  parseListCommand,
  parseNotify,
  parseSelectParams,
  parseStatusItems,
  parseStoreAction,
} from './command-args.js';

const args = (line: string): ReturnType<typeof parseLine>['args'] => parseLine(line).args;

test('STATUS items (RFC 3501 §6.3.10, RFC 9051, RFC 7162, RFC 7889)', () => {
  assert.deepEqual(parseStatusItems(args('A042 STATUS blurdybloop (UIDNEXT MESSAGES)')[1]), ['UIDNEXT', 'MESSAGES']);
  assert.deepEqual(
    parseStatusItems(args('a STATUS x (messages recent uidnext uidvalidity unseen highestmodseq size deleted appendlimit unseen)')[1]),
    ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE', 'DELETED', 'APPENDLIMIT'],
  );
  assert.throws(() => parseStatusItems(args('a STATUS x (FOO)')[1]), /Unknown STATUS item FOO/);
  assert.throws(() => parseStatusItems(args('a STATUS x MESSAGES')[1]), /in parentheses/);
});

test('STORE actions, with the CONDSTORE UNCHANGEDSINCE modifier (RFC 3501 §6.4.6, RFC 7162 §3.1.3)', () => {
  assert.deepEqual(parseStoreAction(args('A003 STORE 2:4 +FLAGS (\\Deleted)').slice(1)), { mode: 'add', silent: false, flags: ['\\Deleted'] });
  assert.deepEqual(parseStoreAction(args('a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)').slice(1)), {
    mode: 'add',
    silent: true,
    flags: ['\\Deleted'],
    unchangedSince: 12121230045n,
  });
  assert.deepEqual(parseStoreAction(args('a STORE 1 -flags \\seen $Junk \\SEEN').slice(1)), { mode: 'remove', silent: false, flags: ['\\Seen', '$Junk'] });
  assert.deepEqual(parseStoreAction(args('a STORE 1 FLAGS ()').slice(1)), { mode: 'replace', silent: false, flags: [] });
  assert.throws(() => parseStoreAction(args('a STORE 1 +FLAGS (\\Recent)').slice(1)), /Invalid system flag \\Recent/);
  assert.throws(() => parseStoreAction(args('a STORE 1 +FLAGS (\\Foo)').slice(1)), /Invalid system flag/);
  assert.throws(() => parseStoreAction(args('a STORE 1 +FLAGS ()').slice(1)), /at least one flag/);
  assert.throws(() => parseStoreAction(args('a STORE 1 LABELS (x)').slice(1)), /Unknown STORE data item/);
  assert.throws(() => parseStoreAction(args('a STORE 1 +FLAGS (a]b)').slice(1)), /Invalid keyword/);
});

test('LIST and LIST-EXTENDED (RFC 5258 examples, RFC 5819 STATUS, RFC 6154 SPECIAL-USE)', () => {
  assert.deepEqual(parseListCommand(args('A01 LIST "" %')), {
    selection: { subscribed: false, remote: false, recursiveMatch: false, specialUse: false },
    reference: '',
    patterns: ['%'],
    returnOptions: { subscribed: false, children: false, specialUse: false, myRights: false },
    extended: false,
  });
  const sub = parseListCommand(args('A06 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)'));
  assert.deepEqual(sub.selection, { subscribed: true, remote: false, recursiveMatch: true, specialUse: false });
  assert.equal(sub.returnOptions.children, true);
  assert.deepEqual(parseListCommand(args('A02 LIST () "" ("INBOX" "Drafts" "Sent/%")')).patterns, ['INBOX', 'Drafts', 'Sent/%']);
  assert.deepEqual(parseListCommand(args('A02 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))')).returnOptions.status, ['MESSAGES', 'UNSEEN']);
  const special = parseListCommand(args('t3 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE SUBSCRIBED)'));
  assert.equal(special.selection.specialUse && special.returnOptions.specialUse && special.returnOptions.subscribed, true);
  assert.throws(() => parseListCommand(args('C04 LIST (RECURSIVEMATCH) "" "%"')), /RECURSIVEMATCH needs/);
  assert.throws(() => parseListCommand(args('a LIST (FOO) "" "%"')), /Unknown LIST selection option FOO/);
  assert.throws(() => parseListCommand(args('a LIST "" % RETURN (FOO)')), /Unknown LIST RETURN option FOO/);
  assert.throws(() => parseListCommand(args('a LIST ""')), /Missing LIST mailbox pattern/);
});

test('APPEND with flags and date, MULTIAPPEND (RFC 3502), CATENATE (RFC 4469), UTF8 (RFC 6855)', () => {
  const single = parseAppendArgs(args('A003 APPEND saved-messages (\\Seen) "17-Jul-1996 02:44:25 -0700" {5}\r\nhello'));
  assert.deepEqual(single, {
    mailbox: 'saved-messages',
    messages: [{ flags: ['\\Seen'], internalDate: new Date('1996-07-17T09:44:25Z'), message: Buffer.from('hello'), binary: false }],
  });
  const multi = parseAppendArgs(args('A003 APPEND saved-messages (\\Seen) {3}\r\none (\\Seen) " 1-Jul-2002 22:35:00 +0000" ~{3}\r\ntwo {5}\r\nthree'));
  assert.deepEqual(multi.messages.map((m) => [m.flags, m.internalDate?.toISOString(), m.message?.toString(), m.binary]), [
    [['\\Seen'], undefined, 'one', false],
    [['\\Seen'], '2002-07-01T22:35:00.000Z', 'two', true],
    [[], undefined, 'three', false],
  ]);
  const cat = parseAppendArgs(
    args(
      'A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER" ' +
        'TEXT {4}\r\n\r\n\r\n URL "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1")',
    ),
  );
  assert.deepEqual(cat.messages[0]?.catenate, [
    { type: 'url', url: '/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER' },
    { type: 'text', data: Buffer.from('\r\n\r\n') },
    { type: 'url', url: '/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1' },
  ]);
  assert.equal(parseAppendArgs(args('a APPEND INBOX UTF8 (~{2}\r\nhi)')).messages[0]?.message?.toString(), 'hi');
  assert.throws(() => parseAppendArgs(args('a APPEND INBOX "hello"')), /Invalid date-time|as a literal/);
  assert.throws(() => parseAppendArgs(args('a APPEND INBOX (\\Seen) hello')), /as a literal/);
  assert.throws(() => parseAppendArgs(args('a APPEND INBOX "31-Jun-2020 00:00:00 +0000" {1}\r\nx')), /Invalid day/);
  assert.throws(() => parseAppendArgs(args('a APPEND INBOX')), /Missing APPEND message/);
});

test('SELECT parameters: CONDSTORE and the RFC 7162 QRESYNC examples', () => {
  assert.deepEqual(parseSelectParams(args('A142 SELECT INBOX (CONDSTORE)').slice(1)), { condstore: true });
  assert.deepEqual(parseSelectParams(args('A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))').slice(1)), {
    condstore: false,
    qresync: {
      uidValidity: 67890007,
      modseq: 20050715194045000n,
      knownUids: [{ from: 41, to: 41 }, { from: 43, to: 211 }, { from: 214, to: 541 }],
    },
  });
  const match = parseSelectParams(
    args('B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973)))').slice(1),
  );
  assert.deepEqual(match.qresync?.seqMatch?.sequences.length, 4);
  assert.deepEqual(match.qresync?.seqMatch?.uids.length, 5);
  assert.deepEqual(parseSelectParams(args('a SELECT INBOX (QRESYNC (1 2))').slice(1)).qresync, { uidValidity: 1, modseq: 2n });
  assert.deepEqual(parseSelectParams([]), { condstore: false });
  assert.throws(() => parseSelectParams(args('a SELECT INBOX (QRESYNC (0 2))').slice(1)), /must not be 0/);
  assert.throws(() => parseSelectParams(args('a SELECT INBOX (QRESYNC (1 2 1:*))').slice(1)), /must not contain/);
  assert.throws(() => parseSelectParams(args('a SELECT INBOX (FOO)').slice(1)), /Unknown SELECT parameter/);
});

test('ENABLE and ID (RFC 5161, RFC 2971)', () => {
  assert.deepEqual(parseEnable(args('t2 ENABLE CONDSTORE X-GOOD-IDEA condstore')), ['CONDSTORE', 'X-GOOD-IDEA']);
  assert.throws(() => parseEnable([]), /at least one/);
  const id = parseIdParams(args('a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited" "os" NIL)'));
  assert.deepEqual([...(id ?? [])], [['name', 'sodr'], ['version', '19.34'], ['vendor', 'Pink Floyd Music Limited'], ['os', null]]);
  assert.equal(parseIdParams(args('a ID NIL')), null);
  assert.throws(() => parseIdParams(args('a ID ("name")')), /pairs/);
  assert.throws(() => parseIdParams(args(`a ID ("name" "${'x'.repeat(1025)}")`)), /longer than 1024/);
  const many = Array.from({ length: 31 }, (_, i) => `"f${i}" "v"`).join(' ');
  assert.throws(() => parseIdParams(args(`a ID (${many})`)), /More than 30/);
});

test('NOTIFY (RFC 5465): NONE, and SET with event groups', () => {
  assert.deepEqual(parseNotify(args('a NOTIFY NONE')), { type: 'none' });
  const set = parseNotify(
    args('a NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew)) (mailboxes (INBOX Sent) NONE)'),
  );
  assert.equal(set.type === 'set' && set.status, true);
  assert.deepEqual(set.type === 'set' && set.groups.map((g) => [g.filter, g.events.map((e) => e.name)]), [
    [{ kind: 'selected' }, ['MessageNew', 'MessageExpunge']],
    [{ kind: 'subtree', mailboxes: ['Lists'] }, ['MessageNew']],
    [{ kind: 'mailboxes', mailboxes: ['INBOX', 'Sent'] }, []],
  ]);
  assert.equal(set.type === 'set' && set.groups[0]?.events[0]?.fetch?.length, 2);
  assert.equal(set.type === 'set' && set.groups[0]?.events[0]?.fetchArgs?.type, 'list', 'the items as sent, to run as a UID FETCH');
  assert.throws(() => parseNotify(args('a NOTIFY SET (bogus (MessageNew))')), /Unknown NOTIFY mailbox filter/);
  assert.throws(() => parseNotify(args('a NOTIFY SET (personal (Nope))')), /Unknown NOTIFY event/);
  assert.throws(() => parseNotify(args('a NOTIFY SET')), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX'));
});
