/**
 * Quota as Dovecot's count quota gives it: quota_rule for everyone, userdb's quota_rule for
 * one user, QUOTA in CAPABILITY, GETQUOTAROOT / GETQUOTA with the usage, APPEND refused with
 * NO [OVERQUOTA], and over LMTP a 552 5.2.2 for the full recipient while the others in the
 * same transaction get their mail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, freePort, loginConf, startLoftd, TEST_USERS } from './harness.js';
import { RawImap, message } from './imap-support.js';
import { LmtpConnection } from './lmtp-support.js';

const [ALICE] = TEST_USERS;
const CAROL = { user: 'carol', password: 'carol-pw', uid: 5201 };

/** APPEND with a non-synchronizing literal (LITERAL+): one write, one answer. */
async function append(raw: RawImap, mailbox: string, data: Buffer): Promise<string> {
  return raw.command(Buffer.concat([Buffer.from(`APPEND ${mailbox} {${data.length}+}\r\n`), data]));
}

/** The tagged answer without its tag: `OK …`, `NO [OVERQUOTA] …`. */
function verdict(answer: string): string {
  return RawImap.status(answer).replace(/^\S+ /, '');
}

test('quota_rule and userdb\'s quota_rule: QUOTA, GETQUOTAROOT, OVERQUOTA, and LMTP\'s 552', async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-quota-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const carolHome = path.join(dir, 'home', CAROL.user);
  fs.mkdirSync(path.join(dir, 'home'), { mode: 0o755 });
  fs.mkdirSync(carolHome, { mode: 0o700 });
  if (IS_ROOT) fs.chownSync(carolHome, CAROL.uid, CAROL.uid);
  const extraUsers = [`${CAROL.user}:{PLAIN}${CAROL.password}:${CAROL.uid}:${CAROL.uid}::${carolHome}::userdb_quota_rule=*:messages=2`];
  const loftd = await startLoftd(t, loginConf(dir, port, { extraUsers, extra: 'quota_rule = *:storage=4k\n' }), { ready: ['imap-login', 'auth', 'anvil'] });

  const kib = message({ Subject: 'one KiB' }, 'x'.repeat(1000));
  const alice = await RawImap.login(t, port, ALICE);
  assert.match(await alice.command('CAPABILITY'), /^\* CAPABILITY .* QUOTA /m);
  const answers: string[] = [];
  for (let i = 0; i < 5; i++) answers.push(verdict(await append(alice, 'INBOX', kib)));
  const fits = Math.floor(4096 / kib.length);
  assert.deepEqual(answers.slice(0, fits).map((a) => a.split(' ')[0]), Array(fits).fill('OK'));
  assert.match(answers[fits]!, /^NO \[OVERQUOTA\] Quota exceeded \(mailbox for user is full\)/);
  const root = await alice.command('GETQUOTAROOT INBOX');
  assert.match(root, /^\* QUOTAROOT "?INBOX"? "User quota"\r$/m);
  assert.match(root, new RegExp(`^\\* QUOTA "User quota" \\(STORAGE ${Math.ceil((fits * kib.length) / 1024)} 4\\)\\r$`, 'm'));
  assert.match(verdict(await alice.command('GETQUOTA "Other quota"')), /^NO \[NONEXISTENT\]/);
  assert.match(verdict(await alice.command('SETQUOTA "User quota" (STORAGE 100000)')), /^NO \[NOPERM\]/);
  assert.match(verdict(await alice.command('GETQUOTAROOT Missing')), /^NO \[NONEXISTENT\]/);
  // Deleting mail makes room again.
  await alice.command('SELECT INBOX');
  await alice.command('STORE 1 +FLAGS.SILENT (\\Deleted)');
  await alice.command('EXPUNGE');
  assert.match(verdict(await append(alice, 'INBOX', kib)), /^OK/);

  const got = await loftd.adm('quota', 'get', '-u', ALICE.user);
  assert.equal(got.code, 0, got.stderr);
  const bytes = fits * kib.length;
  assert.match(got.stdout, new RegExp(`User quota\\s+STORAGE\\s+${Math.ceil(bytes / 1024)}\\s+4\\s+${Math.floor((bytes * 100) / 4096)}\\n`), 'doveadm quota get\'s columns: KiB used, KiB limit, %');
  assert.match(got.stdout, new RegExp(`User quota\\s+MESSAGE\\s+${fits}\\s+-\\s+0\\n`));

  // carol's own rule (userdb) wins over the global one: two messages, whatever their size.
  const carol = await RawImap.login(t, port, CAROL);
  const small = message({ Subject: 'small' }, 'hi');
  assert.match(verdict(await append(carol, 'INBOX', small)), /^OK/);
  assert.match(verdict(await append(carol, 'INBOX', small)), /^OK/);
  assert.match(verdict(await append(carol, 'INBOX', small)), /^NO \[OVERQUOTA\]/);
  assert.match(await carol.command('GETQUOTA "User quota"'), /^\* QUOTA "User quota" \(MESSAGE 2 2\)\r$/m);

  if (!IS_ROOT) return t.diagnostic('LMTP part skipped: delivery to other uids needs root');
  await alice.command('STORE 1:* +FLAGS.SILENT (\\Deleted)');
  await alice.command('EXPUNGE');
  const lmtp = await LmtpConnection.open(t, path.join(loftd.baseDir, 'run', 'lmtp.sock'));
  assert.match(await lmtp.command('LHLO test'), /^250/);
  assert.match(await lmtp.command('MAIL FROM:<sender@example.com>'), /^250/);
  assert.match(await lmtp.command(`RCPT TO:<${CAROL.user}>`), /^250/);
  assert.match(await lmtp.command(`RCPT TO:<${ALICE.user}>`), /^250/);
  lmtp.write('DATA\r\n');
  assert.match((await lmtp.reply()).join('\n'), /^354/);
  lmtp.write('Subject: over LMTP\r\n\r\nhello\r\n.\r\n');
  assert.equal(await lmtp.line(), `552 5.2.2 <${CAROL.user}> Quota exceeded (mailbox for user is full)`);
  assert.match((await lmtp.line()) ?? '', new RegExp(`^250 2\\.0\\.0 <${ALICE.user}> `));
  assert.match(await alice.command('NOOP'), /^\* 1 EXISTS\r$/m, 'alice got the message');
});
