/**
 * NOTIFY (RFC 5465) against a real loftd, written from the RFC's examples: NOTIFY SET STATUS
 * answers STATUS for the watched mailboxes before its OK; another session's (another imap
 * process's) new message, flag change and expunge reach a session that is not in a command,
 * as EXISTS + FETCH of the asked attributes, FETCH FLAGS and EXPUNGE, and during IDLE too;
 * other mailboxes' changes come as STATUS; MailboxName and SubscriptionChange as LIST; the
 * refusals (BAD for wrong event combinations, NO [BADEVENT], NO [NOTIFICATIONOVERFLOW]).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BOB, RawImap, message, startImapServer } from './imap-support.js';

/** RFC 5465 wants notifications "as they happen"; Loft promises within a second. Margin for a loaded machine. */
const NOTIFY_WAIT_MS = 2000;

/** APPEND with a non-synchronizing literal (LITERAL+). */
async function append(raw: RawImap, mailbox: string, flags: string, data: Buffer): Promise<string> {
  const answer = await raw.command(Buffer.concat([Buffer.from(`APPEND ${mailbox} ${flags} {${data.length}+}\r\n`), data]));
  assert.match(RawImap.status(answer), /^t\d+ OK /, answer);
  return answer;
}

/** Waits for `pattern` in what arrives unasked; returns everything received so far and forgets it. */
async function unsolicited(raw: RawImap, pattern: RegExp): Promise<string> {
  await raw.until(pattern, NOTIFY_WAIT_MS);
  return raw.take();
}

test('NOTIFY against a real loftd', async (t) => {
  // One session per imap process: the other session's changes come from another process.
  const { loftd, port } = await startImapServer(t, 'service imap {\n  client_limit = 1\n}\n');
  await t.test('selected MessageNew (fetch-atts) MessageExpunge FlagChange, and STATUS for a subtree', (st) => selectedAndSubtree(st, port, loftd));
  await t.test('MailboxName and SubscriptionChange as LIST; no LIST for the session\'s own change', (st) => mailboxNames(st, port));
  await t.test('without the selected filter the selected mailbox waits for a command', (st) => selectedNone(st, port));
  await t.test('refusals: BAD combinations, NO [BADEVENT], NO [NOTIFICATIONOVERFLOW]; NOTIFY NONE', (st) => refusals(st, port));
});

async function selectedAndSubtree(t: TestContext, port: number, loftd: { processes(service?: string): Promise<Array<{ pid: number; clients: number }>> }): Promise<void> {
  const a = await RawImap.login(t, port, BOB);
  const b = await RawImap.login(t, port, BOB);
  assert.ok((await loftd.processes('imap')).filter((p) => p.clients > 0).length >= 2, 'the two sessions run in two imap processes');
  await a.command('CREATE Lists/Lemonade');
  await a.command('CREATE Other');
  await append(a, 'Lists/Lemonade', '()', message({ Subject: 'first' }, 'one\r\n'));
  assert.match(await a.command('SELECT INBOX'), /^\* 0 EXISTS\r\n/m);

  // RFC 5465 §3.1's example, with the event lists in parentheses as §8 requires.
  const set = await a.command('NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From Subject)]) MessageExpunge FlagChange)) (subtree Lists (MessageNew MessageExpunge FlagChange))');
  assert.match(RawImap.status(set), /^t\d+ OK /, set);
  assert.match(set, /^\* STATUS "Lists" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 HIGHESTMODSEQ \d+\)\r\n/m);
  assert.match(set, /^\* STATUS "Lists\/Lemonade" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)\r\n/m);
  assert.doesNotMatch(set, /STATUS "(INBOX|Other)"/, 'only the subtree is watched, and never the selected mailbox');

  // A new message in the selected mailbox: EXISTS, then FETCH of the asked attributes (§5.2).
  const mail = message({ From: 'carol@example.org', Subject: 'Lunch', To: 'bob@example.org' }, 'at noon\r\n');
  await append(b, 'INBOX', '()', mail);
  const arrived = await unsolicited(a, /\* 1 FETCH \(UID 1 BODY\[HEADER\.FIELDS \(From Subject\)\] \{\d+\}\r\n[^]*?\)\r\n/);
  assert.match(arrived, /^\* 1 EXISTS\r\n/m);
  assert.ok(arrived.indexOf('* 1 EXISTS') < arrived.indexOf('* 1 FETCH'), `EXISTS comes before FETCH: ${arrived}`);
  assert.ok(arrived.includes('From: carol@example.org\r\nSubject: Lunch\r\n\r\n'), arrived);
  assert.doesNotMatch(arrived, /To: bob/, 'only the asked header fields');

  // Another session's flag change (§5.1): FETCH with UID and FLAGS.
  await b.command('SELECT INBOX');
  await b.command('UID STORE 1 +FLAGS (\\Flagged)');
  assert.match(await unsolicited(a, /\* 1 FETCH \([^)]*FLAGS \([^)]*\\Flagged[^)]*\)[^\r]*\r\n/), /UID 1/);

  // New messages elsewhere in the subtree: STATUS (§5.2); not for a mailbox outside it.
  await append(b, 'Other', '()', message({ Subject: 'elsewhere' }, 'x\r\n'));
  await append(b, 'Lists/Lemonade', '()', message({ Subject: 'second' }, 'two\r\n'));
  const status = await unsolicited(a, /\* STATUS "Lists\/Lemonade" \([^)]*\)\r\n/);
  assert.match(status, /^\* STATUS "Lists\/Lemonade" \(MESSAGES 2 UIDNEXT 3 UNSEEN 2( HIGHESTMODSEQ \d+)?\)\r\n/m);
  assert.doesNotMatch(status, /"Other"/);

  // A flag change there: STATUS with the new UNSEEN.
  await b.command('SELECT Lists/Lemonade');
  await b.command('UID STORE 1 +FLAGS (\\Seen)');
  assert.match(await unsolicited(a, /\* STATUS "Lists\/Lemonade" \([^)]*UNSEEN 1[^)]*\)\r\n/), /STATUS "Lists\/Lemonade"/);

  // An expunge in the selected mailbox, told while no command is in progress (§5.3).
  await b.command('SELECT INBOX');
  await b.command('UID STORE 1 +FLAGS.SILENT (\\Deleted)');
  await b.command('EXPUNGE');
  await unsolicited(a, /^\* 1 EXPUNGE\r\n/m);

  // During IDLE the same events arrive (§4).
  a.write('i1 IDLE\r\n');
  await a.until(/^\+ /m);
  a.take();
  await append(b, 'INBOX', '()', message({ From: 'dave@example.org', Subject: 'Idle' }, 'y\r\n'));
  const idled = await unsolicited(a, /\* 1 FETCH \(UID 2 BODY\[HEADER\.FIELDS \(From Subject\)\] \{\d+\}\r\n[^]*?\)\r\n/);
  assert.match(idled, /^\* 1 EXISTS\r\n/m);
  a.write('DONE\r\n');
  assert.match(await a.until(/i1 OK/), /^i1 OK /m);
  a.take();

  // The session's own APPEND: EXISTS, but no FETCH of what it sent itself (§5.2 SHOULD NOT).
  const own = await append(a, 'INBOX', '()', message({ From: 'bob@example.org', Subject: 'Mine' }, 'w\r\n'));
  assert.match(own, /^\* 2 EXISTS\r\n/m);
  assert.doesNotMatch(own, /FETCH/);
  assert.match(RawImap.status(await a.command('NOTIFY NONE')), /OK/);
}

async function mailboxNames(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const b = await RawImap.login(t, port);
  assert.match(RawImap.status(await a.command('NOTIFY SET (personal (MailboxName SubscriptionChange))')), /OK/);

  // §5.4: a LIST for each created, renamed (with OLDNAME) and deleted name.
  await b.command('CREATE Projects');
  assert.match(await unsolicited(a, /\* LIST [^\r]*"Projects"\r\n/), /^\* LIST \(\\HasNoChildren\) "\/" "Projects"\r\n/m);
  await b.command('RENAME Projects Archive');
  assert.match(await unsolicited(a, /\* LIST [^\r]*"Archive"[^\r]*\r\n/), /^\* LIST \(\\HasNoChildren\) "\/" "Archive" \("OLDNAME" \("Projects"\)\)\r\n/m);

  // §5.5: \Subscribed if and only if the name is subscribed after the change.
  await b.command('SUBSCRIBE Archive');
  assert.match(await unsolicited(a, /\* LIST [^\r]*"Archive"\r\n/), /^\* LIST \(\\HasNoChildren \\Subscribed\) "\/" "Archive"\r\n/m);
  await b.command('UNSUBSCRIBE Archive');
  assert.match(await unsolicited(a, /\* LIST [^\r]*"Archive"\r\n/), /^\* LIST \(\\HasNoChildren\) "\/" "Archive"\r\n/m);

  await b.command('DELETE Archive');
  assert.match(await unsolicited(a, /\* LIST [^\r]*"Archive"\r\n/), /^\* LIST \(\\NonExistent\) "\/" "Archive"\r\n/m);

  // The session's own CREATE is not told back to it (§5: SHOULD omit); a later one by the other session is.
  assert.match(RawImap.status(await a.command('CREATE Mine')), /OK/);
  await b.command('CREATE Theirs');
  const after = await unsolicited(a, /\* LIST [^\r]*"Theirs"\r\n/);
  assert.doesNotMatch(after, /"Mine"/, after);
}

async function selectedNone(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const b = await RawImap.login(t, port);
  await a.command('CREATE Quiet');
  await a.command('SELECT Quiet');
  // No selected filter: the same as "selected NONE" (§3.1); the other mailboxes are still watched.
  assert.match(RawImap.status(await a.command('NOTIFY SET (personal (MailboxName))')), /OK/);
  await append(b, 'Quiet', '()', message({ Subject: 'later' }, 'z\r\n'));
  await b.command('CREATE Marker');
  const before = await unsolicited(a, /\* LIST [^\r]*"Marker"\r\n/);
  assert.doesNotMatch(before, /EXISTS/, 'the new message is not told between commands');
  // It is told at the next command, so it really was not sent before.
  assert.match(await a.command('NOOP'), /^\* 1 EXISTS\r\n/m);

  // During IDLE, exactly NOTIFY's events (§4): the LIST comes, the new message waits for DONE.
  a.write('i2 IDLE\r\n');
  await a.until(/^\+ /m);
  a.take();
  await append(b, 'Quiet', '()', message({ Subject: 'during idle' }, 'z\r\n'));
  await b.command('CREATE Marker2');
  assert.doesNotMatch(await unsolicited(a, /\* LIST [^\r]*"Marker2"\r\n/), /EXISTS/);
  a.write('DONE\r\n');
  assert.match(await a.until(/i2 OK[^\r]*\r\n/), /^\* 2 EXISTS\r\n/m);
  a.take();
}

async function refusals(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  // §5: MessageNew and MessageExpunge together; FlagChange needs both; §6.1: message events only for selected.
  assert.match(RawImap.status(await a.command('NOTIFY SET (selected (MessageNew))')), /^t\d+ BAD /);
  assert.match(RawImap.status(await a.command('NOTIFY SET (selected (FlagChange))')), /^t\d+ BAD /);
  assert.match(RawImap.status(await a.command('NOTIFY SET (selected (MailboxName))')), /^t\d+ BAD /);
  assert.match(RawImap.status(await a.command('NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))')), /^t\d+ BAD /);
  // §3.1: an unsupported event is NO (not BAD) with BADEVENT listing the supported ones.
  assert.match(
    RawImap.status(await a.command('NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))')),
    /^t\d+ NO \[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange\)\] /,
  );
  const names = Array.from({ length: 101 }, (_, i) => `m${i}`).join(' ');
  assert.match(RawImap.status(await a.command(`NOTIFY SET (mailboxes (${names}) (MessageNew MessageExpunge))`)), /^t\d+ NO \[NOTIFICATIONOVERFLOW\] /);
  assert.match(RawImap.status(await a.command('NOTIFY NONE')), /^t\d+ OK /);
  assert.match(await a.command('CAPABILITY'), /^\* CAPABILITY .* NOTIFY[ \r]/m);
}
