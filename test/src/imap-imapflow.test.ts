/**
 * Issue 6 acceptance with a real client: imapflow against a real loftd lists, creates,
 * appends, selects, fetches envelopes, body structures and body parts, searches, sorts,
 * copies and moves, changes flags with CONDSTORE, and hears in IDLE what another session did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './harness.js';
import { LmtpConnection } from './lmtp-support.js';
import { BOB, imapflow, message, startImapServer } from './imap-support.js';

const MIXED = Buffer.from(
  'From: Ann Example <ann@example.org>\r\n' +
    'To: alice@example.org, "Bob B." <bob@example.org>\r\n' +
    'Subject: Quarterly report\r\n' +
    'Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n' +
    'Message-ID: <report-1@example.org>\r\n' +
    'MIME-Version: 1.0\r\n' +
    'Content-Type: multipart/mixed; boundary="XX"\r\n' +
    '\r\n' +
    '--XX\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    'Content-Transfer-Encoding: 8bit\r\n' +
    '\r\n' +
    'Grüße aus Köln — the numbers are in.\r\n' +
    '--XX\r\n' +
    'Content-Type: application/octet-stream; name="data.bin"\r\n' +
    'Content-Transfer-Encoding: base64\r\n' +
    'Content-Disposition: attachment; filename="data.bin"\r\n' +
    '\r\n' +
    'AAECAwQFBgcICQ==\r\n' +
    '--XX--\r\n',
  'utf8',
);

test('imapflow against a real loftd', async (t) => {
  // One server for the file: its start-up dominates the run time.
  const { port, loftd } = await startImapServer(t);
  await t.test('list, create, append, select, fetch envelope/bodystructure/parts, search', (st) => basics(st, port));
  await t.test('flags with CONDSTORE, copy and move with COPYUID, expunge', (st) => flagsCopyMove(st, port));
  await t.test('IDLE sees an APPEND, a flag change and an expunge by another session within a second', (st) => idle(st, port));
  await t.test('IDLE sees a message delivered over LMTP within a second', (st) => idleLmtp(st, port, path.join(loftd.baseDir, 'run', 'lmtp.sock')));
});

async function basics(t: TestContext, port: number): Promise<void> {
  const client = await imapflow(t, port);
  const caps = [...client.capabilities.keys()];
  assert.ok(client.enabled.has('IMAP4REV2'), 'imapflow runs in IMAP4rev2 mode against Loft');
  for (const cap of ['IMAP4rev1', 'IDLE', 'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'SPECIAL-USE', 'ESEARCH']) assert.ok(caps.includes(cap), `${cap} advertised after login`);

  await client.mailboxCreate('Archive/2024');
  await client.mailboxCreate(['Sent']);
  const list = await client.list();
  const names = list.map((m) => m.path).sort();
  assert.deepEqual(names, ['Archive', 'Archive/2024', 'INBOX', 'Sent']);
  const archive = list.find((m) => m.path === 'Archive')!;
  assert.ok(archive.flags.has('\\HasChildren'));

  const appended = await client.append('INBOX', MIXED, ['\\Flagged'], new Date('2024-03-01T10:00:00Z'));
  assert.ok(appended && appended.uid === 1, 'APPENDUID gives the new UID');
  await client.append('INBOX', message({ From: 'zed@example.org', Subject: 'Another', Date: 'Tue, 8 Feb 1994 10:00:00 +0000' }, 'second\r\n'));

  const box = await client.mailboxOpen('INBOX');
  assert.equal(box.exists, 2);
  assert.ok(box.uidValidity > 0n);
  assert.equal(box.uidNext, 3);

  const msg = await client.fetchOne('1', { envelope: true, bodyStructure: true, flags: true, size: true, internalDate: true, source: true, uid: true });
  assert.ok(msg);
  assert.equal(msg.envelope?.subject, 'Quarterly report');
  assert.equal(msg.envelope?.from?.[0]?.address, 'ann@example.org');
  assert.equal(msg.envelope?.to?.[1]?.name, 'Bob B.');
  assert.equal(msg.envelope?.messageId, '<report-1@example.org>');
  assert.equal(msg.bodyStructure?.type, 'multipart/mixed');
  assert.equal(msg.bodyStructure?.childNodes?.[1]?.type, 'application/octet-stream');
  assert.equal(msg.size, MIXED.length);
  assert.ok(msg.flags?.has('\\Flagged'));
  assert.equal((msg.internalDate as Date).toISOString(), '2024-03-01T10:00:00.000Z');
  assert.ok(msg.source && Buffer.compare(msg.source, MIXED) === 0, 'BODY[] is byte-identical');

  const { content } = await client.download('1', '2', { uid: false });
  const chunks: Buffer[] = [];
  for await (const c of content) chunks.push(c as Buffer);
  assert.deepEqual([...Buffer.concat(chunks)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'part 2 decoded');

  assert.deepEqual(await client.search({ subject: 'quarterly' }), [1]);
  assert.deepEqual(await client.search({ flagged: true }), [1]);
  assert.deepEqual(await client.search({ from: 'zed' }, { uid: true }), [2]);
  assert.deepEqual(await client.search({ all: true }), [1, 2]);
}

async function flagsCopyMove(t: TestContext, port: number): Promise<void> {
  const client = await imapflow(t, port, BOB);
  await client.mailboxCreate('Trash');
  for (let i = 1; i <= 4; i++) await client.append('INBOX', message({ Subject: `m${i}` }, `body ${i}\r\n`));
  const box = await client.mailboxOpen('INBOX');
  const before = box.highestModseq ?? 0n;
  assert.ok(await client.messageFlagsAdd('1:2', ['\\Seen', '$Important']));
  const fetched = await client.fetchOne('1', { flags: true, modseq: true } as never);
  assert.ok(fetched && fetched.flags?.has('\\Seen') && fetched.flags.has('$Important'));
  assert.ok(fetched.modseq && fetched.modseq > before, 'MODSEQ grew');
  // UNCHANGEDSINCE older than the message's modseq: refused with MODIFIED.
  const refused = await client.messageFlagsAdd('1', ['\\Answered'], { unchangedSince: before });
  assert.equal(refused, false);
  const again = await client.fetchOne('1', { flags: true });
  assert.ok(again && !again.flags?.has('\\Answered'));

  const copied = await client.messageCopy('1:2', 'Trash');
  assert.ok(copied);
  assert.equal(copied.destination, 'Trash');
  assert.deepEqual([...copied.uidMap!.entries()], [[1, 1], [2, 2]]);
  const moved = await client.messageMove('3', 'Trash');
  assert.ok(moved);
  assert.deepEqual([...moved.uidMap!.entries()], [[3, 3]]);
  assert.equal(client.mailbox && client.mailbox.exists, 3);

  await client.messageFlagsAdd('1', ['\\Deleted']);
  await client.messageDelete('2');
  const status = await client.status('INBOX', { messages: true, uidNext: true, unseen: true });
  assert.equal(status.messages, 1);
  const trash = await client.status('Trash', { messages: true, unseen: true });
  assert.equal(trash.messages, 3);
  const remaining = [];
  for await (const m of client.fetch('1:*', { uid: true, envelope: true })) remaining.push(m.uid);
  assert.deepEqual(remaining, [4]);
}

async function idle(t: TestContext, port: number): Promise<void> {
  const watcher = await imapflow(t, port);
  const writer = await imapflow(t, port);
  await writer.mailboxCreate('Watched');
  await writer.append('Watched', message({ Subject: 'first' }, 'one\r\n'));
  await watcher.mailboxOpen('Watched');
  const events: string[] = [];
  let resolveExists: (n: number) => void;
  const existsSeen = new Promise<number>((resolve) => { resolveExists = resolve; });
  watcher.on('exists', (e: { count: number }) => { events.push(`exists ${e.count}`); resolveExists(e.count); });
  const idling = watcher.idle();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let IDLE start (imapflow gives no event for it)
  const started = Date.now();
  await writer.append('Watched', message({ Subject: 'second' }, 'two\r\n'));
  assert.equal(await existsSeen, 2);
  const ms = Date.now() - started;
  assert.ok(ms < 1000, `EXISTS within a second (${ms} ms)`);

  const flagged = new Promise<void>((resolve) => watcher.on('flags', (e: { flags: Set<string> }) => { if (e.flags.has('\\Flagged')) resolve(); }));
  await writer.mailboxOpen('Watched');
  await writer.messageFlagsAdd('1', ['\\Flagged']);
  await flagged;
  const expunged = new Promise<void>((resolve) => watcher.on('expunge', () => resolve()));
  await writer.messageDelete('1');
  await expunged;
  void idling;
  await watcher.noop();
  assert.equal(watcher.mailbox && watcher.mailbox.exists, 1);
}

async function idleLmtp(t: TestContext, port: number, lmtpSocket: string): Promise<void> {
  await waitFor('lmtp.sock', () => fs.existsSync(lmtpSocket));
  const watcher = await imapflow(t, port);
  const box = await watcher.mailboxOpen('INBOX');
  const before = box.exists;
  const existsSeen = new Promise<number>((resolve) => watcher.on('exists', (e: { count: number }) => resolve(e.count)));
  void watcher.idle();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let IDLE start (imapflow gives no event for it)
  const lmtp = await LmtpConnection.open(t, lmtpSocket);
  for (const [line, reply] of [['LHLO test', /^250/], ['MAIL FROM:<sender@example.org>', /^250/], ['RCPT TO:<alice>', /^250/], ['DATA', /^354/]] as const) {
    assert.match(await lmtp.command(line), reply, line);
  }
  lmtp.write('Subject: via lmtp\r\n\r\nhello\r\n.\r\n');
  assert.match((await lmtp.line()) ?? '', /^250 /);
  // Timed from the 250, which says the message is stored: how long IDLE takes to tell.
  const saved = Date.now();
  assert.equal(await existsSeen, before + 1);
  const ms = Date.now() - saved;
  assert.ok(ms < 1000, `EXISTS within a second of the LMTP 250 (${ms} ms)`);
  const msg = await watcher.fetchOne('*', { envelope: true });
  assert.ok(msg);
  assert.equal(msg.envelope?.subject, 'via lmtp');
}
