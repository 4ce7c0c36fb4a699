/**
 * CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) against a real loftd, from the RFC's examples:
 * RETURN (UPDATE) keeps a result up to date with ADDTO / REMOVEFROM as another session (in
 * another imap process) changes flags, delivers and expunges; REMOVEFROM comes before the
 * EXPUNGE and ADDTO after EXISTS; the session's own STORE updates it too; tag reuse is BAD;
 * CANCELUPDATE ends it; past the limit NO [NOUPDATE]; PARTIAL returns a window of the result.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BOB, RawImap, message, startImapServer } from './imap-support.js';

async function append(raw: RawImap, mailbox: string, flags: string, data: Buffer): Promise<void> {
  const answer = await raw.command(Buffer.concat([Buffer.from(`APPEND ${mailbox} ${flags} {${data.length}+}\r\n`), data]));
  assert.match(RawImap.status(answer), /^t\d+ OK /, answer);
}

function esearchLines(answer: string): string[] {
  return answer.split('\r\n').filter((l) => l.startsWith('* ESEARCH'));
}

test('CONTEXT=SEARCH and CONTEXT=SORT against a real loftd', async (t) => {
  const { port } = await startImapServer(t, 'service imap {\n  client_limit = 1\n}\n');
  await t.test('CAPABILITY lists CONTEXT=SEARCH and CONTEXT=SORT', (st) => capability(st, port));
  await t.test('UID SEARCH RETURN (UPDATE): ADDTO and REMOVEFROM for flag changes, deliveries and expunges', (st) => uidSearchUpdate(st, port));
  await t.test('SEARCH RETURN (UPDATE) with message numbers; CANCELUPDATE; NOUPDATE past the limit', (st) => seqSearchUpdate(st, port));
  await t.test('UID SORT RETURN (UPDATE): positions in sort order', (st) => sortUpdate(st, port));
  await t.test('PARTIAL windows of SEARCH and SORT results', (st) => partial(st, port));
  await t.test('RFC 5465 §7: UPDATE (fetch-atts) sends a FETCH of added messages before the ADDTO', (st) => updateFetch(st, port));
});

async function updateFetch(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port, BOB);
  const b = await RawImap.login(t, port, BOB);
  await a.command('CREATE Boss');
  await a.command('SELECT Boss');
  // §7's example, with BODY.PEEK so that the update does not set \Seen.
  const first = await a.command('SEARCH RETURN (COUNT UPDATE (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])) FROM "boss"', 'D01');
  assert.deepEqual(esearchLines(first), ['* ESEARCH (TAG "D01") COUNT 0']);
  await append(b, 'Boss', '()', message({ From: 'boss@example.org', Subject: 'Raise', To: 'bob@example.org' }, 'yes\r\n'));
  await append(b, 'Boss', '()', message({ From: 'other@example.org', Subject: 'Spam' }, 'no\r\n'));
  const answer = await a.command('NOOP');
  const exists = answer.indexOf('* 2 EXISTS');
  const fetch = answer.indexOf('* 1 FETCH (UID 1 BODY[HEADER.FIELDS (FROM SUBJECT)] {');
  const addto = answer.indexOf('* ESEARCH (TAG "D01") ADDTO (0 1)');
  assert.ok(exists >= 0 && exists < fetch && fetch < addto, `EXISTS, then FETCH, then ADDTO: ${answer}`);
  assert.ok(answer.includes('From: boss@example.org\r\nSubject: Raise\r\n\r\n'), answer);
  assert.doesNotMatch(answer, /\* 2 FETCH/, 'nothing is fetched for a message outside the result');
}

async function capability(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const caps = await a.command('CAPABILITY');
  assert.match(caps, / CONTEXT=SEARCH /);
  assert.match(caps, / CONTEXT=SORT /);
  assert.match(caps, / ESORT /);
}

async function uidSearchUpdate(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const b = await RawImap.login(t, port);
  await a.command('CREATE Junkish');
  for (let i = 1; i <= 5; i++) await append(a, 'Junkish', i === 2 ? '($Junk)' : '()', message({ Subject: `m${i}` }, `body ${i}\r\n`));
  await a.command('SELECT Junkish');
  await b.command('SELECT Junkish');

  // §4.3's example: B01 UID SEARCH RETURN (UPDATE COUNT) … ; the COUNT is answered at once.
  const first = await a.command('UID SEARCH RETURN (UPDATE COUNT) KEYWORD $Junk', 'B01');
  assert.deepEqual(esearchLines(first), ['* ESEARCH (TAG "B01") UID COUNT 1']);

  // Another session marks message 3 as junk: at the next command, FETCH then ADDTO.
  await b.command('UID STORE 3 +FLAGS.SILENT ($Junk)');
  const added = await a.command('NOOP');
  assert.deepEqual(esearchLines(added), ['* ESEARCH (TAG "B01") UID ADDTO (0 3)']);
  assert.ok(added.indexOf('* 3 FETCH') < added.indexOf('* ESEARCH'), `the FETCH comes first: ${added}`);

  // A delivery that matches: EXISTS before ADDTO (§4.3.3).
  await append(b, 'Junkish', '($Junk)', message({ Subject: 'm6' }, 'spam\r\n'));
  const delivered = await a.command('NOOP');
  assert.deepEqual(esearchLines(delivered), ['* ESEARCH (TAG "B01") UID ADDTO (0 6)']);
  assert.ok(delivered.indexOf('* 6 EXISTS') >= 0 && delivered.indexOf('* 6 EXISTS') < delivered.indexOf('* ESEARCH'), delivered);

  // An expunge of a member: REMOVEFROM before EXPUNGE (§4.3.4).
  await b.command('UID STORE 3 +FLAGS.SILENT (\\Deleted)');
  await b.command('UID EXPUNGE 3');
  const expunged = await a.command('NOOP');
  assert.deepEqual(esearchLines(expunged), ['* ESEARCH (TAG "B01") UID REMOVEFROM (0 3)']);
  assert.ok(expunged.indexOf('* ESEARCH') < expunged.indexOf('* 3 EXPUNGE'), expunged);

  // The session's own STORE: the update comes with the STORE's answer.
  const stored = await a.command('UID STORE 6 -FLAGS ($Junk)');
  assert.deepEqual(esearchLines(stored), ['* ESEARCH (TAG "B01") UID REMOVEFROM (0 6)']);

  // §4.3: a tag that already names an updating search is BAD.
  assert.match(RawImap.status(await a.command('UID SEARCH RETURN (UPDATE) ALL', 'B01')), /^B01 BAD /);

  // §4.3.5: CANCELUPDATE stops the updates; an unknown tag is NO.
  assert.match(RawImap.status(await a.command('CANCELUPDATE "B01"')), /^t\d+ OK /);
  await b.command('UID STORE 1 +FLAGS.SILENT ($Junk)');
  assert.deepEqual(esearchLines(await a.command('NOOP')), []);
  assert.match(RawImap.status(await a.command('CANCELUPDATE "B01"')), /^t\d+ NO /);
}

async function seqSearchUpdate(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port, BOB);
  const b = await RawImap.login(t, port, BOB);
  await a.command('CREATE Seq');
  for (let i = 1; i <= 4; i++) await append(a, 'Seq', i % 2 ? '()' : '(\\Seen)', message({ Subject: `s${i}` }, `body ${i}\r\n`));
  await a.command('SELECT Seq');
  await b.command('SELECT Seq');
  assert.deepEqual(esearchLines(await a.command('SEARCH RETURN (UPDATE) UNSEEN', 'A02')), ['* ESEARCH (TAG "A02") ALL 1,3']);

  // Message 1 expunged: REMOVEFROM names it by the number it had, before EXPUNGE renumbers.
  await b.command('STORE 1 +FLAGS.SILENT (\\Deleted)');
  await b.command('EXPUNGE');
  const expunged = await a.command('NOOP');
  assert.deepEqual(esearchLines(expunged), ['* ESEARCH (TAG "A02") REMOVEFROM (0 1)']);
  assert.ok(expunged.indexOf('* ESEARCH') < expunged.indexOf('* 1 EXPUNGE'), expunged);
  // Old message 4 is now 3; marking it unseen adds it by its new number.
  await b.command('UID STORE 4 -FLAGS.SILENT (\\Seen)');
  assert.deepEqual(esearchLines(await a.command('NOOP')), ['* ESEARCH (TAG "A02") ADDTO (0 3)']);

  // §4.3.1: past the limit of updating searches, the search answers and NO [NOUPDATE] says no updates come.
  let answer = '';
  for (let i = 0; i < 10; i++) answer = await a.command('SEARCH RETURN (UPDATE COUNT) ALL', `U${i}`);
  assert.match(answer, /^\* NO \[NOUPDATE "U9"\] /m);
  assert.match(answer, /^\* ESEARCH \(TAG "U9"\) COUNT 3\r\n/m);
  assert.match(RawImap.status(answer), /^U9 OK /);
  assert.match(RawImap.status(await a.command('CANCELUPDATE "U0" "U1"')), /OK/);
  // Deselecting ends the contexts: the tags are free again.
  await a.command('UNSELECT');
  await a.command('SELECT Seq');
  assert.match(RawImap.status(await a.command('SEARCH RETURN (UPDATE) ALL', 'A02')), /^A02 OK /);
}

async function sortUpdate(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const b = await RawImap.login(t, port);
  await a.command('CREATE Sorted');
  for (const subject of ['delta', 'alpha', 'charlie']) await append(a, 'Sorted', '()', message({ Subject: subject }, 'x\r\n'));
  await a.command('SELECT Sorted');
  await b.command('SELECT Sorted');
  // RFC 5267 §4.3.1's form: B02 UID SORT RETURN (UPDATE COUNT) …; here with ALL to see the order.
  const sorted = await a.command('UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL', 'C01');
  assert.deepEqual(esearchLines(sorted), ['* ESEARCH (TAG "C01") UID ALL 2,3,1']);

  // "bravo" sorts second: ADDTO at context position 2.
  await append(b, 'Sorted', '()', message({ Subject: 'bravo' }, 'x\r\n'));
  assert.deepEqual(esearchLines(await a.command('NOOP')), ['* ESEARCH (TAG "C01") UID ADDTO (2 4)']);
  // "charlie" (UID 3) is now third; expunging it is REMOVEFROM at position 3.
  await b.command('UID STORE 3 +FLAGS.SILENT (\\Deleted)');
  await b.command('UID EXPUNGE 3');
  const expunged = await a.command('NOOP');
  assert.deepEqual(esearchLines(expunged), ['* ESEARCH (TAG "C01") UID REMOVEFROM (3 3)']);
  assert.ok(expunged.indexOf('* ESEARCH') < expunged.indexOf('* 3 EXPUNGE'), expunged);
  // What the client now holds is what a new SORT says.
  assert.deepEqual(esearchLines(await a.command('UID SORT RETURN (ALL) (SUBJECT) UTF-8 ALL', 'C02')), ['* ESEARCH (TAG "C02") UID ALL 2,4,1']);
}

async function partial(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port, BOB);
  await a.command('CREATE Many');
  for (let i = 1; i <= 5; i++) await append(a, 'Many', '()', message({ Subject: `p${6 - i}` }, 'x\r\n'));
  await a.command('SELECT Many');
  // §4.4: the range as asked, then the results in it; NIL when none are.
  assert.deepEqual(esearchLines(await a.command('UID SEARCH RETURN (PARTIAL 2:3) ALL', 'A01')), ['* ESEARCH (TAG "A01") UID PARTIAL (2:3 2:3)']);
  assert.deepEqual(esearchLines(await a.command('UID SEARCH RETURN (PARTIAL 4:500) ALL', 'A02')), ['* ESEARCH (TAG "A02") UID PARTIAL (4:500 4:5)']);
  assert.deepEqual(esearchLines(await a.command('UID SEARCH RETURN (PARTIAL 24000:24500) ALL', 'A04')), ['* ESEARCH (TAG "A04") UID PARTIAL (24000:24500 NIL)']);
  // RFC 9394: negative ranges count from the end.
  assert.deepEqual(esearchLines(await a.command('SEARCH RETURN (PARTIAL -1:-2) ALL', 'A05')), ['* ESEARCH (TAG "A05") PARTIAL (-1:-2 4:5)']);
  // For SORT, the window is of the sorted result (subjects p5…p1: UIDs 5,4,3,2,1).
  assert.deepEqual(esearchLines(await a.command('UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL', 'A06')), ['* ESEARCH (TAG "A06") UID PARTIAL (1:2 5,4)']);
  // One PARTIAL or one ALL, not both.
  assert.match(RawImap.status(await a.command('SEARCH RETURN (PARTIAL 1:2 ALL) ALL')), /^t\d+ BAD /);
}
