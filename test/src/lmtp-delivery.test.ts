/**
 * LMTP delivery as an MTA sees it (fork privsep, mostly): real clients (Python's
 * smtplib.LMTP, swaks, raw pipelined lines) on the unix listener, mail checked in the
 * users' sdbox files, file ownership checked per user.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { freePort, IS_ROOT, readUid } from './harness.js';
import { ALICE, BOB, childPids, childPidsOfUid, LmtpConnection, ownersUnder, pythonConcurrentSends, pythonLmtpSend, readMail, startLmtpLoftd } from './lmtp-support.js';

const skip = IS_ROOT ? false : 'needs root: delivers as two real uids';
const SWAKS = '/usr/bin/swaks';

test('a pipelined transaction gets one reply per recipient, with detail folders, trace headers and dot-unstuffing', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork' });
  const c = await LmtpConnection.open(t, env.socketPath);
  // All commands in one write: replies must come back in order.
  c.write([
    'LHLO mx.example.org',
    'MAIL FROM:<sender@example.net> SIZE=100 BODY=8BITMIME',
    'RCPT TO:<alice@example.org>',
    'RCPT TO:<nobody@example.org>',
    'RCPT TO:<bob@example.org>',
    'RCPT TO:<alice+Lists@example.org>',
    'DATA',
    '',
  ].join('\r\n'));
  const lhlo = (await c.reply()).join('\n');
  for (const ext of ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES', 'CHUNKING', 'SMTPUTF8', 'SIZE 52428800']) assert.match(lhlo, new RegExp(`250[ -]${ext}`));
  assert.match(await c.line() ?? '', /^250 2\.1\.0/);
  assert.match(await c.line() ?? '', /^250 2\.1\.5/);
  assert.match(await c.line() ?? '', /^550 5\.1\.1 /);
  assert.match(await c.line() ?? '', /^250 2\.1\.5/);
  assert.match(await c.line() ?? '', /^250 2\.1\.5/);
  assert.match(await c.line() ?? '', /^354 /);
  // A stuffed dot, a bare LF line end, and the terminator followed by a pipelined NOOP.
  c.write('Subject: pipelined\r\n\r\n..starts with a dot\nbare LF\r\n.\r\nNOOP\r\n');
  const replies = [await c.line(), await c.line(), await c.line(), await c.line()];
  assert.match(replies[0]!, /^250 2\.0\.0 <alice@example\.org> /);
  assert.match(replies[1]!, /^250 2\.0\.0 <bob@example\.org> /);
  assert.match(replies[2]!, /^250 2\.0\.0 <alice\+Lists@example\.org> /);
  assert.match(replies[3]!, /^250 2\.0\.0 OK/, 'the NOOP after the dot is answered after the per-recipient replies');
  assert.match(await c.command('QUIT'), /^221 /);

  const alice = readMail(env.home(ALICE.user));
  assert.deepEqual(alice.map((m) => m.mailbox), ['INBOX', 'Lists']);
  for (const m of alice) {
    assert.match(m.text, /^Return-Path: <sender@example\.net>\r\nDelivered-To: alice(\+Lists)?@example\.org\r\nReceived: from mx\.example\.org\r\n\tby .* with LMTP id /);
    assert.ok(m.text.endsWith('Subject: pipelined\r\n\r\n.starts with a dot\r\nbare LF\r\n'), JSON.stringify(m.text));
  }
  const bob = readMail(env.home(BOB.user));
  assert.equal(bob.length, 1);
  assert.match(bob[0]!.text, /Delivered-To: bob@example\.org\r\n/);
  for (const u of [ALICE, BOB]) {
    for (const [file, uid] of ownersUnder(env.home(u.user))) assert.equal(uid, u.uid, `${file} is owned by ${u.user}`);
  }
});

test('on an inet listener: BDAT, RSET, size and line limits, and commands out of sequence', { skip }, async (t) => {
  const port = await freePort();
  // The size limit comes through a protocol filter, as an admin would scope it.
  const env = await startLmtpLoftd(t, {
    privsep: 'fork',
    extra: `protocol lmtp {\n  lmtp_max_message_size = 1k\n}\nservice lmtp {\n  inet_listener lmtp {\n    port = ${port}\n  }\n}`,
  });
  const c = await LmtpConnection.open(t, port);
  assert.match(await c.command('EHLO mx'), /^500 5\.5\.1/);
  assert.match(await c.command('MAIL FROM:<a@b>'), /^503 5\.5\.1/, 'MAIL before LHLO');
  assert.match(await c.command('LHLO mx'), /250 SIZE 1024$/);
  assert.match(await c.command('RCPT TO:<alice@x>'), /^503 5\.5\.1/, 'RCPT before MAIL');
  assert.match(await c.command('MAIL FROM:<a@b> SIZE=5000'), /^552 5\.3\.4/, 'declared size over lmtp_max_message_size');
  assert.match(await c.command(`NOOP ${'x'.repeat(5000)}`), /^500 5\.5\.2/, 'a command line over the limit');
  assert.match(await c.command('NOOP'), /^250 /, 'the session goes on after a long line');

  // BDAT: two chunks, the second LAST, all pipelined with the envelope.
  const part1 = 'Subject: chunked\r\n\r\n';
  const part2 = '.no unstuffing in BDAT\r\n';
  c.write(`MAIL FROM:<a@b>\r\nRCPT TO:<alice@example.org>\r\nBDAT ${part1.length}\r\n${part1}BDAT ${part2.length} LAST\r\n${part2}`);
  assert.match(await c.line() ?? '', /^250 2\.1\.0/);
  assert.match(await c.line() ?? '', /^250 2\.1\.5/);
  assert.match(await c.line() ?? '', new RegExp(`^250 2\\.0\\.0 OK ${part1.length} octets`));
  assert.match(await c.line() ?? '', /^250 2\.0\.0 <alice@example\.org> /);
  const chunked = readMail(env.home(ALICE.user)).find((m) => m.text.endsWith(part1 + part2));
  assert.match(chunked?.text ?? '', /^Return-Path: <a@b>\r\nDelivered-To: alice@example\.org\r\nReceived: from mx \(\[127\.0\.0\.1\]\)\r\n/);

  // A BDAT outside a transaction is refused and its bytes (here "NOOP\r\n") are skipped, not run.
  c.write('BDAT 6\r\nNOOP\r\nNOOP\r\n');
  assert.match(await c.line() ?? '', /^503 5\.5\.1/);
  assert.match(await c.line() ?? '', /^250 2\.0\.0 OK$/);
  assert.match(await c.command('DATA'), /^503 5\.5\.1/, 'exactly one NOOP was answered');

  // RSET drops the transaction: DATA then has no MAIL.
  assert.match(await c.command('MAIL FROM:<a@b>'), /^250 /);
  assert.match(await c.command('RSET'), /^250 /);
  assert.match(await c.command('DATA'), /^503 5\.5\.1/);
  assert.match(await c.command('MAIL FROM:<a@b>'), /^250 /);
  assert.match(await c.command('RCPT TO:<ghost@example.org>'), /^550 5\.1\.1/);
  assert.match(await c.command('DATA'), /^503 5\.5\.1 No valid recipients/, 'no valid recipient: 503, as RFC 2033 §4.2 requires');
  assert.match(await c.command('STARTTLS'), /^502 5\.5\.1/, 'a command LMTP knows but does not offer');

  // A message over the limit is read to its end and refused per recipient; nothing is stored.
  const before = readMail(env.home(BOB.user)).length;
  assert.match(await c.command('RCPT TO:<bob@example.org>'), /^250 /);
  assert.match(await c.command('DATA'), /^354 /);
  assert.match(await c.command(`Subject: big\r\n\r\n${'y'.repeat(3000)}\r\n.`), /^552 5\.3\.4 <bob@example\.org>/);
  assert.equal(readMail(env.home(BOB.user)).length, before);
  assert.match(await c.command('QUIT'), /^221 /);
});

test('smtplib.LMTP from many threads and swaks deliver to several users at once', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork' });
  const perUser = 12;
  assert.deepEqual(await pythonConcurrentSends(env.socketPath, perUser, { from: 'sender@example.net', subjectPrefix: 'py ', body: 'hello\r\n' }), []);
  const alice = readMail(env.home(ALICE.user));
  assert.equal(alice.length, perUser);
  assert.deepEqual(new Set(alice.map((m) => /Subject: py alice (\d+)/.exec(m.text)?.[1])).size, perUser, 'each message once');
  assert.deepEqual([...new Set(alice.map((m) => m.uid))].length, perUser, 'distinct UIDs');
  assert.equal(readMail(env.home(BOB.user)).length, perUser);
  const refused = await pythonLmtpSend(env.socketPath, 'sender@example.net', ['nobody@example.org'], 'Subject: x\r\n\r\nx\r\n');
  assert.equal(refused['nobody@example.org']?.[0], 550);

  await t.test('swaks delivers too', { skip: fs.existsSync(SWAKS) ? false : 'swaks is not installed (Debian package swaks)' }, async () => {
    const swaks = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(SWAKS, ['--socket', env.socketPath, '--protocol', 'LMTP', '--from', 'swaks@example.net', '--to', 'bob@example.org', '--header', 'Subject: from swaks', '--body', 'swaks body'], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? 1 : 0, out: `${err && !stdout && !stderr ? String(err) : ''}${stdout}${stderr}` });
      });
    });
    assert.equal(swaks.code, 0, swaks.out);
    assert.match(swaks.out, /250 2\.0\.0 <bob@example\.org>/);
    const bob = readMail(env.home(BOB.user));
    assert.equal(bob.length, perUser + 1);
    assert.ok(bob.some((m) => m.text.includes('Subject: from swaks')));
  });
});

test('fork privsep: a delivery child runs as the user for good and is reused within lmtp_privsep_linger', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork', extra: 'lmtp_privsep_linger = 30s' });
  for (let i = 0; i < 3; i++) {
    const refused = await pythonLmtpSend(env.socketPath, 's@example.net', ['alice@example.org'], `Subject: linger ${i}\r\n\r\nx\r\n`);
    assert.deepEqual(refused, {});
  }
  const [lmtp] = await env.loftd.processes('lmtp');
  assert.ok(lmtp, 'an lmtp process');
  assert.equal(lmtp.uid, 0, 'lmtp itself runs as root');
  const children = childPidsOfUid(lmtp.pid, ALICE.uid);
  assert.equal(children.length, 1, 'one lingering child for alice');
  assert.equal(readUid(children[0]!), ALICE.uid);
  const status = (await import('node:fs')).readFileSync(`/proc/${children[0]}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${ALICE.uid}\\s+${ALICE.uid}\\s+${ALICE.uid}\\s+${ALICE.uid}$`, 'm'), 'real, effective and saved uid are all the user');
  assert.match(status, new RegExp(`^Gid:\\s+${ALICE.uid}\\s+${ALICE.uid}\\s+${ALICE.uid}\\s+${ALICE.uid}$`, 'm'), 'real, effective and saved gid are all the user\'s');
  assert.match(status, new RegExp(`^Groups:\\s+${ALICE.uid}\\s*$`, 'm'), 'no supplementary groups of root');
  // The other children are spares: started, still root, and given no uid yet.
  const spares = childPids(lmtp.pid).filter((pid) => pid !== children[0]);
  assert.ok(spares.length <= 2, `at most lmtp_privsep_min_spare (2) spares, got ${spares.length}`);
  const started = env.loftd.logLines().filter((l) => String(l.msg).startsWith(`started delivery child for uid ${ALICE.uid}`));
  assert.equal(started.length, 1, 'three deliveries, one child');
  assert.equal(readMail(env.home(ALICE.user)).length, 3);
});

test('a userdb that fails temporarily gets 451 4.3.0; without lda_mailbox_autocreate a +detail message goes to INBOX', { skip }, async (t) => {
  // A second userdb whose file is missing: users the first one does not know tempfail there.
  const env = await startLmtpLoftd(t, { privsep: 'fork', autocreate: false, extra: 'userdb broken {\n  driver = passwd-file\n  args = /nonexistent/loft-users\n}' });
  const c = await LmtpConnection.open(t, env.socketPath);
  assert.match(await c.command('LHLO mx'), /^250/);
  assert.match(await c.command('MAIL FROM:<s@x>'), /^250/);
  assert.match(await c.command('RCPT TO:<ghost@example.org>'), /^451 4\.3\.0 <ghost@example\.org>/);
  assert.match(await c.command('RCPT TO:<alice+Missing@example.org>'), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  assert.match(await c.command('Subject: detail\r\n\r\nx\r\n.'), /^250 2\.0\.0 <alice\+Missing@example\.org>/);
  const mail = readMail(env.home(ALICE.user));
  assert.deepEqual(mail.map((m) => m.mailbox), ['INBOX']);
  assert.match(mail[0]!.text, /Delivered-To: alice\+Missing@example\.org\r\n/);
});

for (const privsep of ['fork', 'seteuid'] as const) {
  test(`${privsep} privsep: messages that fit one chunk, two chunks, and that go to a spool file arrive intact for each recipient`, { skip }, async (t) => {
    const env = await startLmtpLoftd(t, { privsep });
    // 3 KiB goes to the child whole; 100 KiB stays in lmtp's memory and is pulled in two
    // chunks; 300 KiB goes to a temp file. Two recipients each read the message again.
    const sizes = [3_000, 100_000, 300_000];
    const c = await LmtpConnection.open(t, env.socketPath);
    assert.match(await c.command('LHLO mx'), /^250/);
    for (const size of sizes) {
      const line = `${size} ${'0123456789abcdefghijklmnopqrstuvwxyz'.repeat(2)}\r\n`;
      const text = line.repeat(Math.ceil(size / line.length));
      for (const cmd of ['MAIL FROM:<s@example.net>', 'RCPT TO:<alice@example.org>', 'RCPT TO:<bob@example.org>']) assert.match(await c.command(cmd), /^250 /);
      assert.match(await c.command('DATA'), /^354 /);
      assert.match(await c.command(`Subject: size ${size}\r\n\r\n${text}.`), /^250 2\.0\.0 <alice@example\.org>/);
      assert.match((await c.reply()).join('\n'), /^250 2\.0\.0 <bob@example\.org>/);
    }
    assert.match(await c.command('QUIT'), /^221 /);
    for (const user of [ALICE.user, BOB.user]) {
      const mail = readMail(env.home(user));
      assert.equal(mail.length, sizes.length);
      for (const size of sizes) {
        const message = mail.find((m) => m.text.includes(`Subject: size ${size}\r\n`));
        assert.ok(message, `${user} got the ${size}-byte message`);
        const line = `${size} ${'0123456789abcdefghijklmnopqrstuvwxyz'.repeat(2)}\r\n`;
        assert.ok(message.text.endsWith(`\r\n\r\n${line.repeat(Math.ceil(size / line.length))}`), `${user}: the ${size}-byte message is complete`);
        assert.match(message.text, new RegExp(`^Return-Path: <s@example\\.net>\\r\\nDelivered-To: ${user}@example\\.org\\r\\n`));
      }
    }
  });
}
