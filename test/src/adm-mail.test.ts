/**
 * loftadm's mail commands through the adm service: each runs in a worker as the user, with
 * doveadm's query syntax and output styles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, LOFTADM, TEST_USERS, waitFor } from './harness.js';
import { adm, admJson, message, startAdmLoftd } from './adm-support.js';

const [ALICE] = TEST_USERS;

test('mailbox, save, search, fetch, flags and expunge run as the user', { skip: !IS_ROOT && 'needs root (workers drop to the user\'s uid)' }, async (t) => {
  const { loftd, home } = await startAdmLoftd(t);
  const u = ['-u', 'alice'];

  await admJson(loftd, ['mailbox', 'create', ...u, '-s', 'Work', 'Archive/2023']);
  const names = (await admJson(loftd, ['mailbox', 'list', ...u])).map((r) => r.mailbox);
  assert.deepEqual(names, ['INBOX', 'Archive', 'Archive/2023', 'Work']);
  assert.deepEqual((await admJson(loftd, ['mailbox', 'list', ...u, '-s'])).map((r) => r.mailbox), ['Archive/2023', 'Work']);

  const saved = await admJson(loftd, ['save', ...u, '--flags', '\\Seen'], message('First note'));
  assert.equal(saved[0]!.uid, '1');
  await admJson(loftd, ['save', ...u], message('Second note', 'The budget is attached.\r\n'));
  await admJson(loftd, ['save', ...u, '--received', String(Math.floor(Date.now() / 1000) - 10 * 86_400)], message('Old news', 'Nothing.\r\n', 'Dave <dave@example.org>'));
  await admJson(loftd, ['save', ...u, '-m', 'Work'], message('Work item'));

  // The worker wrote the files as alice, never as root.
  const mailRoot = path.join(home('alice'), 'mail');
  for (const entry of fs.readdirSync(mailRoot, { recursive: true, withFileTypes: true })) {
    assert.equal(fs.lstatSync(path.join(entry.parentPath ?? entry.path, entry.name)).uid, ALICE.uid, `${entry.name} belongs to alice`);
  }

  const search = async (...query: string[]): Promise<string[]> => (await admJson(loftd, ['search', ...u, ...query])).map((r) => r.uid!);
  assert.deepEqual(await search('mailbox', 'INBOX', 'seen'), ['1']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'unseen'), ['2', '3']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'since', '2d'), ['1', '2']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'before', '2d'), ['3']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'body', 'budget'), ['2']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'savedsince', '1h', 'larger', '100', 'smaller', '1k'), ['1', '2', '3']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'savedbefore', '1h'), []);
  assert.deepEqual(await search('mailbox', 'INBOX', 'from', 'dave', 'or', 'seen'), ['1', '3']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'not', '(', 'seen', 'or', 'subject', 'old', ')'), ['2']);
  assert.deepEqual(await search('subject', 'note'), ['1', '2']);
  assert.equal((await admJson(loftd, ['search', ...u, 'all'])).length, 4, 'without a mailbox key every mailbox is searched');
  assert.deepEqual(await search('mailbox', 'W*', 'all'), ['1']);
  const bad = await adm(loftd, ['search', ...u, 'mailbox', 'INBOX', 'shiny']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown search key 'shiny'/);

  const rows = await admJson(loftd, ['fetch', ...u, 'uid flags hdr.subject size.physical date.received', 'mailbox', 'INBOX', 'unseen']);
  assert.deepEqual(rows.map((r) => [r.uid, r.flags, r['hdr.subject']]), [['2', '', 'Second note'], ['3', '', 'Old news']]);
  assert.equal(rows[0]!['size.physical'], String(Buffer.byteLength(message('Second note', 'The budget is attached.\r\n'))));
  assert.match(rows[0]!['date.received']!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  const text = await adm(loftd, ['fetch', ...u, 'text', 'mailbox', 'INBOX', 'uid', '1']);
  assert.equal(text.stdout, `text:\n${message('First note')}`, 'pager output, the message unchanged');
  const flow = await adm(loftd, ['-f', 'flow', 'fetch', ...u, 'uid hdr.subject', 'mailbox', 'Work', 'all']);
  assert.equal(flow.stdout, 'uid=1 hdr.subject=Work item\n');
  const tab = await adm(loftd, ['-f', 'tab', 'mailbox', 'status', ...u, 'messages unseen', 'INBOX', 'Work']);
  assert.equal(tab.stdout, 'mailbox\tmessages\tunseen\nINBOX\t3\t2\nWork\t1\t1\n');

  await admJson(loftd, ['flags', 'add', ...u, '\\Flagged $Todo', 'mailbox', 'INBOX', 'uid', '2:3']);
  await admJson(loftd, ['flags', 'remove', ...u, '\\Flagged', 'mailbox', 'INBOX', 'uid', '3']);
  assert.deepEqual((await admJson(loftd, ['fetch', ...u, 'uid flags', 'mailbox', 'INBOX', 'keyword', '$Todo'])).map((r) => [r.uid, r.flags]), [['2', '\\Flagged $Todo'], ['3', '$Todo']]);

  const refused = await adm(loftd, ['expunge', ...u, 'seen']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /must name a mailbox/);
  await admJson(loftd, ['expunge', ...u, 'mailbox', 'INBOX', 'seen']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'all'), ['2', '3']);
  await admJson(loftd, ['expunge', ...u, '-d', 'mailbox', 'Work', 'all']);
  assert.deepEqual((await admJson(loftd, ['mailbox', 'list', ...u, 'W*'])), [], 'expunge -d deleted the emptied mailbox');

  await admJson(loftd, ['mailbox', 'rename', ...u, 'Archive', 'Old']);
  assert.deepEqual((await admJson(loftd, ['mailbox', 'list', ...u])).map((r) => r.mailbox), ['INBOX', 'Old', 'Old/2023']);
  await admJson(loftd, ['mailbox', 'delete', ...u, '-r', 'Old']);
  assert.deepEqual((await admJson(loftd, ['mailbox', 'list', ...u])).map((r) => r.mailbox), ['INBOX']);

  const missing = await adm(loftd, ['mailbox', 'delete', ...u, 'Nope']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'loftadm: mailbox or message not found: Nope\n');
  const table = await adm(loftd, ['mailbox', 'status', ...u, 'messages uidnext', 'INBOX']);
  assert.equal(table.stdout, 'mailbox messages uidnext\nINBOX   2        4\n');
  const status = await admJson(loftd, ['mailbox', 'status', ...u, 'all', 'INBOX']);
  assert.equal(status[0]!.messages, '2');
  assert.equal(status[0]!.uidnext, '4');
  await admJson(loftd, ['force-resync', ...u, 'INBOX']);
  await admJson(loftd, ['index', ...u, '*']);
  assert.deepEqual(await search('mailbox', 'INBOX', 'all'), ['2', '3'], 'force-resync keeps every message');
  const purge = await admJson(loftd, ['purge', ...u]);
  assert.match(purge[0]!.result!, /purge/);

  // Users are kept apart, and unknown users are refused.
  assert.deepEqual(await admJson(loftd, ['search', '-u', 'bob', 'all']), []);
  const unknown = await adm(loftd, ['search', '-u', 'mallory', 'all']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /mallory: no such user/);
});

test('import brings mail in from an mbox file and a Maildir', { skip: !IS_ROOT && 'needs root (workers drop to the user\'s uid)' }, async (t) => {
  const { loftd, home } = await startAdmLoftd(t);
  const mbox = path.join(home('alice'), 'old.mbox');
  fs.writeFileSync(mbox, [
    'From carol@example.com Tue Jan  3 10:00:00 2023',
    'From: carol@example.com',
    'Subject: one',
    'Status: RO',
    'X-Status: F',
    '',
    'First body.',
    '>From here on, quoted.',
    '',
    'From dave@example.org Wed Jan  4 11:00:00 2023',
    'From: dave@example.org',
    'Subject: two',
    '',
    'Second body.',
    '',
  ].join('\n'));
  fs.chownSync(mbox, ALICE.uid, ALICE.uid);
  const maildir = path.join(home('alice'), 'Maildir');
  for (const sub of ['cur', 'new', '.Lists.Node/cur', '.Lists.Node/new']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
  fs.writeFileSync(path.join(maildir, 'cur', '1700000000.M1.host:2,RS'), 'Subject: answered\n\nbody\n');
  fs.writeFileSync(path.join(maildir, '.Lists.Node', 'new', '1700000001.M2.host'), 'Subject: list mail\n\nbody\n');
  fs.writeFileSync(path.join(maildir, '.Lists.Node', 'new', '1700000002.M3.host'), 'Subject: skipped\n\nbody\n');
  fs.chownSync(maildir, ALICE.uid, ALICE.uid);
  for (const entry of fs.readdirSync(maildir, { recursive: true, withFileTypes: true })) fs.chownSync(path.join(entry.parentPath ?? entry.path, entry.name), ALICE.uid, ALICE.uid);

  const fromMbox = await admJson(loftd, ['import', '-u', 'alice', `mbox:${mbox}`, 'Imported', 'all']);
  assert.deepEqual(fromMbox, [{ mailbox: 'Imported/INBOX', imported: '2' }]);
  const rows = await admJson(loftd, ['fetch', '-u', 'alice', 'uid flags date.received.unixtime hdr.subject body hdr.status', 'mailbox', 'Imported/INBOX', 'all']);
  assert.deepEqual(rows.map((r) => [r.flags, r['hdr.subject'], r.body, r['hdr.status']]), [
    ['\\Seen \\Flagged', 'one', 'First body.\nFrom here on, quoted.\n', ''],
    ['', 'two', 'Second body.\n', ''],
  ]);
  assert.equal(rows[0]!['date.received.unixtime'], String(new Date(2023, 0, 3, 10).getTime() / 1000));

  const fromMaildir = await admJson(loftd, ['import', '-u', 'alice', 'maildir:~/Maildir', '', 'not', 'subject', 'skipped']);
  assert.deepEqual(fromMaildir, [{ mailbox: 'INBOX', imported: '1' }, { mailbox: 'Lists/Node', imported: '1' }]);
  assert.deepEqual((await admJson(loftd, ['fetch', '-u', 'alice', 'flags hdr.subject', 'mailbox', 'INBOX', 'all'])), [{ flags: '\\Seen \\Answered', 'hdr.subject': 'answered' }]);

  // A message larger than one frame part travels in pieces and comes out byte for byte.
  const big = message('Big', `${'0123456789'.repeat(7)}abcd\r\n`.repeat(80_000));
  await admJson(loftd, ['save', '-u', 'alice', '-m', 'Imported'], big);
  const fetched = await adm(loftd, ['-f', 'tab', 'fetch', '-u', 'alice', 'text', 'mailbox', 'Imported', 'subject', 'Big']);
  assert.equal(fetched.stdout.length, 'text\n'.length + big.length + 1);
  assert.ok(fetched.stdout === `text\n${big}\n`, 'the 6 MB message reads back unchanged');

  // The source is read as the user: a file only root may read is refused.
  const secret = path.join(home('alice'), '..', 'root-only.mbox');
  fs.writeFileSync(secret, 'From x Tue Jan  3 10:00:00 2023\nSubject: secret\n\nx\n', { mode: 0o600 });
  const denied = await adm(loftd, ['import', '-u', 'alice', `mbox:${secret}`, 'Stolen']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /EACCES/);
});

/** Pids of the adm service's workers (its children), read from /proc. */
function workerPids(admPid: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === admPid) pids.push(Number(name));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

test('workers are bounded by adm_worker_limit, killed at adm_worker_timeout and when loftadm goes away', { skip: !IS_ROOT && 'needs root (workers drop to the user\'s uid)' }, async (t) => {
  const { loftd, home } = await startAdmLoftd(t, 'adm_worker_limit = 1\nadm_worker_timeout = 2 secs\n');
  const [admProcess] = await loftd.processes('adm');
  // A FIFO nobody writes to: reading it blocks until the worker is killed.
  const fifo = path.join(home('alice'), 'stuck.mbox');
  execFileSync('mkfifo', [fifo]);
  fs.chownSync(fifo, ALICE.uid, ALICE.uid);

  const finished: string[] = [];
  const stuck = adm(loftd, ['import', '-u', 'alice', 'mbox:~/stuck.mbox', '']).then((r) => { finished.push('import'); return r; });
  await waitFor('the import worker', () => workerPids(admProcess!.pid).length === 1);
  const waiting = adm(loftd, ['-f', 'json', 'mailbox', 'list', '-u', 'alice']).then((r) => { finished.push('list'); return r; });
  const [timedOut, listed] = await Promise.all([stuck, waiting]);
  assert.equal(timedOut.code, 1);
  assert.match(timedOut.stderr, /adm_worker_timeout \(2000 ms\) reached/);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(finished, ['import', 'list'], 'with adm_worker_limit = 1 the list waited for the import\'s worker');

  const child = spawn(process.execPath, [LOFTADM, '--base-dir', loftd.baseDir, 'import', '-u', 'alice', 'mbox:~/stuck.mbox', ''], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await waitFor('the import worker', () => workerPids(admProcess!.pid).length === 1);
  child.kill('SIGKILL');
  await waitFor('the worker to be killed with its client gone', () => workerPids(admProcess!.pid).length === 0, 1500);
});
