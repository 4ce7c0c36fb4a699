/**
 * Sessions of one user in one imap process share the user's storage state (one MailUser):
 * what a client with several connections (Thunderbird, Apple Mail) sees must not change.
 * A session that logs out leaves the others' selected mailboxes open and working; a
 * mailbox one session creates is listed to the others at once; after the last session
 * has gone, the next login opens the storage again and finds everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALICE, RawImap, message, startImapServer } from './imap-support.js';

async function append(raw: RawImap, mailbox: string, data: Buffer): Promise<string> {
  const answer = await raw.command(Buffer.concat([Buffer.from(`APPEND ${mailbox} {${data.length}+}\r\n`), data]));
  assert.match(RawImap.status(answer), /^t\d+ OK \[APPENDUID /, answer);
  return answer;
}

test('sessions of one user share its storage in one imap process', async (t) => {
  const { loftd, port } = await startImapServer(t);
  const a = await RawImap.login(t, port, ALICE);
  const b = await RawImap.login(t, port, ALICE);
  const serving = (await loftd.processes('imap')).filter((p) => p.clients > 0);
  assert.equal(serving.length, 1, `both sessions in one imap process: ${JSON.stringify(serving)}`);
  assert.equal(serving[0]!.clients, 2);

  assert.match(await a.command('SELECT INBOX'), /t\d+ OK \[READ-WRITE\]/);
  assert.match(await b.command('SELECT INBOX'), /t\d+ OK \[READ-WRITE\]/);
  await append(a, 'INBOX', message({ Subject: 'one' }, 'first\r\n'));
  await append(a, 'INBOX', message({ Subject: 'two' }, 'second\r\n'));
  assert.match(await b.command('NOOP'), /\* 2 EXISTS/);

  // A creates a mailbox: B's LIST shows it at once.
  assert.match(RawImap.status(await a.command('CREATE Projects')), /OK/);
  assert.match(await b.command('LIST "" "*"'), /\* LIST \([^)]*\) "\/" "Projects"\r\n/);

  // A logs out: B's view of INBOX stays open, and every kind of command still works on it.
  assert.match(await a.command('LOGOUT'), /\* BYE/);
  const fetched = await b.command('FETCH 1:2 (FLAGS ENVELOPE BODY.PEEK[TEXT])');
  assert.match(fetched, /\* 1 FETCH .*"one"/);
  assert.match(fetched, /second\r\n/);
  assert.match(RawImap.status(await b.command('STORE 1 +FLAGS (\\Deleted)')), /OK/);
  assert.match(await b.command('EXPUNGE'), /\* 1 EXPUNGE\r\n/);
  await append(b, 'INBOX', message({ Subject: 'three' }, 'third\r\n'));
  assert.match(await b.command('STATUS Projects (MESSAGES)'), /\* STATUS "?Projects"? \(MESSAGES 0\)/);
  await append(b, 'Projects', message({ Subject: 'four' }, 'fourth\r\n'));

  // A third session joins B's; then both go, and a later login opens the storage afresh.
  const c = await RawImap.login(t, port, ALICE);
  assert.match(await c.command('STATUS INBOX (MESSAGES)'), /\* STATUS "?INBOX"? \(MESSAGES 2\)/);
  assert.match(await c.command('STATUS Projects (MESSAGES)'), /\* STATUS "?Projects"? \(MESSAGES 1\)/);
  await b.command('LOGOUT');
  await c.command('LOGOUT');
  const d = await RawImap.login(t, port, ALICE);
  const selected = await d.command('SELECT INBOX');
  assert.match(selected, /\* 2 EXISTS/);
  assert.match(await d.command('FETCH 1:* (ENVELOPE)'), /"two".*\r\n.*"three"/s);
  assert.match(await d.command('LIST "" "*"'), /Projects/);
});
