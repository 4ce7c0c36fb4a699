/**
 * A full disk, as an MTA and a mail client meet it: alice's home is a small tmpfs. LMTP must
 * never say 250 for a message it did not keep and must say 452 (the MTA keeps the message and
 * retries) for what it could not; IMAP answers NO [OVERQUOTA]; a CREATE that could not be
 * written leaves no mailbox behind; and once there is room, both work again with nothing lost.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { IS_ROOT, type Loftd } from './harness.js';
import { ALICE, BOB, startImapServer } from './imap-support.js';
import { LmtpConnection } from './lmtp-support.js';
import { RawImap } from './raw-imap.js';

const skip = IS_ROOT ? false : 'needs root: mounts a small file system on a user\'s home';
/** Room for about a dozen of the messages below. */
const SMALL_FS = 'size=256k';
const LINE = `${'x'.repeat(76)}\r\n`;

function bigMessage(subject: string): string {
  return `Subject: ${subject}\r\n\r\n${LINE.repeat(200)}`;
}

/** One LMTP transaction (`body` ends with CRLF); the replies after DATA, one per recipient. */
async function deliver(c: LmtpConnection, recipients: string[], body: string): Promise<string[]> {
  c.write(['MAIL FROM:<sender@example.net>', ...recipients.map((r) => `RCPT TO:<${r}>`), 'DATA', ''].join('\r\n'));
  for (let i = 0; i <= recipients.length; i++) assert.match((await c.line()) ?? 'closed', /^250 /);
  assert.match((await c.line()) ?? 'closed', /^354 /);
  c.write(`${body}.\r\n`);
  const replies: string[] = [];
  for (const _ of recipients) replies.push((await c.line()) ?? 'closed');
  return replies;
}

for (const location of ['sdbox', 'mdbox'] as const) {
  test(`a full disk (${location}): LMTP answers 452 4.3.1 and IMAP NO [OVERQUOTA], nothing said 250 is lost, and both work again once there is room`, { skip }, async (t) => {
    const { port, dir, loftd } = await startImapServer(t, `mail_location = ${location}:~/mail\n`);
    const home = path.join(dir, 'home', ALICE.user);
    const lmtpSocket = path.join(loftd.baseDir, 'run', 'lmtp.sock');
    await loftd.waitForReady('lmtp');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `${SMALL_FS},mode=0700`, 'tmpfs', home], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      // A container without CAP_SYS_ADMIN: say so rather than fail.
      t.skip(`cannot mount a small file system here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
      return;
    }
    try {
      fs.chownSync(home, ALICE.uid, ALICE.uid);
      await fullDisk(t, { port, home, lmtpSocket, loftd });
    } finally {
      // Lazily: the user's processes may still hold files there. Before the directory is removed.
      execFileSync('umount', ['-l', home]);
    }
  });
}

async function fullDisk(t: TestContext, { port, home, lmtpSocket, loftd }: { port: number; home: string; lmtpSocket: string; loftd: Loftd }): Promise<void> {
  const lmtp = await LmtpConnection.open(t, lmtpSocket);
  lmtp.write('LHLO mx.example.org\r\n');
  await lmtp.reply();

  // Fill alice's file system: 250 until it is full, then 452, never a 250 without the mail.
  const saved: string[] = [];
  let refusal = '';
  for (let i = 0; i < 40 && !refusal; i++) {
    const [reply] = await deliver(lmtp, [ALICE.user], bigMessage(`fill ${i}`));
    if (reply!.startsWith('250 ')) saved.push(`fill ${i}`);
    else refusal = reply!;
  }
  assert.ok(saved.length > 0, 'some messages fit before the disk was full');
  assert.match(refusal, /^452 4\.3\.1 <alice> Insufficient system storage/);
  // One transaction, two recipients: alice's disk is full, bob's is not.
  assert.deepEqual((await deliver(lmtp, [ALICE.user, BOB.user], bigMessage('to both'))).map((r) => r.slice(0, 9)), ['452 4.3.1', '250 2.0.0']);
  const logged = await loftd.waitForLog('delivery failure logged', (l) => l.service === 'lmtp' && /delivery to alice failed: not enough disk space/.test(String(l.msg)));
  assert.equal(logged.err, undefined, 'a full disk is logged in one line, without a stack');
  const stacks = loftd.logLines().filter((l) => /ENOSPC/.test(JSON.stringify(l.err ?? '')));
  assert.deepEqual(stacks.map((l) => l.msg), [], 'no stack traces for a full disk');

  // A first login after the disk filled: its process has never locked anything there.
  const imap = await RawImap.connect(port);
  assert.equal((await imap.command(`LOGIN ${ALICE.user} ${ALICE.password}`)).status, 'OK');
  const big = bigMessage('appended');
  const append = await imap.command(`APPEND INBOX {${big.length}+}\r\n${big}`);
  assert.match(append.lines, /NO \[OVERQUOTA\] Not enough disk space/);
  assert.match((await imap.command('CREATE Archive')).lines, /NO \[OVERQUOTA\] Not enough disk space/);
  assert.doesNotMatch((await imap.command('LIST "" *')).lines, /Archive/);
  const mailboxDirs = (): string[] => fs.readdirSync(path.join(home, 'mail', 'mailboxes')).filter((d) => /^[0-9a-f]{32}$/.test(d));
  assert.equal(mailboxDirs().length, 1, 'the CREATE that failed left no mailbox directory for a rebuild to find');
  // Reading still works, and every message said 250 to is there.
  assert.match((await imap.command('SELECT INBOX')).lines, new RegExp(`\\* ${saved.length} EXISTS`));
  assert.match((await imap.command(`FETCH ${saved.length} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])`)).lines, new RegExp(`Subject: ${saved.at(-1)!}`));

  // Room again: the same session and LMTP connection carry on.
  execFileSync('mount', ['-o', 'remount,size=4m', home]);
  assert.match((await deliver(lmtp, [ALICE.user], bigMessage('after')))[0]!, /^250 /);
  assert.equal((await imap.command(`APPEND INBOX {${big.length}+}\r\n${big}`)).status, 'OK');
  assert.equal((await imap.command('CREATE Archive')).status, 'OK');
  const all = (await imap.command('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.SIZE[1])')).lines;
  assert.deepEqual([...all.matchAll(/Subject: ([^\r\n]*)/g)].map((m) => m[1]), [...saved, 'after', 'appended']);
  assert.deepEqual([...all.matchAll(/BINARY\.SIZE\[1\] (\d+)/g)].map((m) => Number(m[1])), Array(saved.length + 2).fill(LINE.length * 200), 'every message is whole');
  await imap.command('LOGOUT');
  const bob = await RawImap.connect(port);
  assert.equal((await bob.command(`LOGIN ${BOB.user} ${BOB.password}`)).status, 'OK');
  assert.match((await bob.command('STATUS INBOX (MESSAGES)')).lines, /MESSAGES 1\)/);
  await bob.command('LOGOUT');
}
