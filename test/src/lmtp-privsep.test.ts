/**
 * LMTP privilege separation and crash safety, as root with two real uids: in seteuid mode
 * no delivery process ever runs two deliveries at once; a user's planted symlinks cannot
 * make a delivery write outside their own files (both modes); kill -9 during DATA never
 * yields a 2xx or a partial message, and a message that got 250 survives.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { IS_ROOT, isAlive, waitFor } from './harness.js';
import { ALICE, BOB, childPidsOfUid, LmtpConnection, ownersUnder, pythonConcurrentSends, pythonLmtpSend, readMail, startLmtpLoftd, type LmtpLoftd } from './lmtp-support.js';

const skip = IS_ROOT ? false : 'needs root: delivers as two real uids';

async function concurrentSends(env: LmtpLoftd, perUser: number): Promise<void> {
  assert.deepEqual(await pythonConcurrentSends(env.socketPath, perUser, { from: 's@example.net', subjectPrefix: '', body: `${'z'.repeat(20000)}\r\n` }), []);
}

test('seteuid privsep: concurrent deliveries to two users never overlap within a process and leave each user\'s files owned by that user', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'seteuid' });
  const perUser = 10;
  await concurrentSends(env, perUser);
  assert.equal(readMail(env.home(ALICE.user)).length, perUser);
  assert.equal(readMail(env.home(BOB.user)).length, perUser);
  for (const u of [ALICE, BOB]) {
    for (const [file, uid] of ownersUnder(env.home(u.user))) assert.equal(uid, u.uid, `${file} is owned by ${u.user}`);
  }
  // The switch logs when each holder takes it and releases it; per delivery process
  // (`child`, the log files them under the lmtp process's pid) they must strictly alternate.
  // A release is logged after the delivery's reply, and its line travels through the lmtp
  // process and the master's log relay: wait for the lines rather than read the log at the
  // last reply.
  const switchLines = (): ReturnType<LmtpLoftd['loftd']['logLines']> => env.loftd.logLines().filter((l) => /^seteuid (hold|release) uid \d+$/.test(String(l.msg)));
  const switches = await waitFor(`the log to hold ${4 * perUser} seteuid switch lines`, () => {
    const lines = switchLines();
    return lines.length >= 4 * perUser ? lines : undefined;
  });
  const byPid = new Map<unknown, string[]>();
  for (const l of switches) {
    assert.ok(typeof l.child === 'number', 'a switch line names its delivery process');
    byPid.set(l.child, [...(byPid.get(l.child) ?? []), String(l.msg)]);
  }
  let deliveries = 0;
  for (const [pid, lines] of byPid) {
    for (let i = 0; i < lines.length; i += 2) {
      const hold = /^seteuid hold uid (\d+)$/.exec(lines[i]!);
      assert.ok(hold, `pid ${pid} line ${i}: ${lines[i]} (a hold while another delivery held the switch?)`);
      assert.equal(lines[i + 1], `seteuid release uid ${hold[1]}`, `pid ${pid}: the delivery as uid ${hold[1]} ends before the next begins`);
      deliveries++;
    }
  }
  // Every delivery is one pair; a child also takes the switch to close a user it kept open.
  assert.ok(deliveries >= 2 * perUser, `${deliveries} switches for ${2 * perUser} deliveries`);
});

for (const privsep of ['fork', 'seteuid'] as const) {
  test(`${privsep} privsep: symlinks planted in a user's mail directory cannot redirect delivery`, { skip }, async (t) => {
    const env = await startLmtpLoftd(t, { privsep });
    for (const user of ['alice', 'bob']) assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', [`${user}@example.org`], `Subject: first ${user}\r\n\r\nx\r\n`), {});
    const aliceMail = path.join(env.home(ALICE.user), 'mail');
    const bobMail = path.join(env.home(BOB.user), 'mail');
    const [inboxGuid] = fs.readdirSync(path.join(aliceMail, 'mailboxes'));
    const inbox = path.join(aliceMail, 'mailboxes', inboxGuid!);
    const [bobGuid] = fs.readdirSync(path.join(bobMail, 'mailboxes'));
    const bobInbox = path.join(bobMail, 'mailboxes', bobGuid!);
    const hash = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const snapshot = (): string => JSON.stringify([hash('/etc/passwd'), [...ownersUnder(bobMail)].map(([f]) => (fs.lstatSync(f).isFile() ? `${f}:${hash(f)}` : f))]);
    // Bob's own delivery still writes after its 250: the parsed-header cache a moment later,
    // the STATUS cache and maybe an index checkpoint when his user is closed. Restarting lmtp
    // closes every user it kept open and ends its delivery processes; only then are bob's
    // files his last word.
    const stopped = await env.loftd.adm('service', 'stop', 'lmtp');
    assert.equal(stopped.code, 0, stopped.stderr);
    await env.loftd.waitForReady('lmtp');
    // Alice's user is open again, as a busy server keeps it between her deliveries.
    assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: second alice\r\n\r\nx\r\n'), {});
    const before = snapshot();

    // Each attack: alice (as herself) replaces one thing with a symlink; then mail arrives for her.
    const attacks: Array<{ what: string; target: string; link: string }> = [
      { what: 'INBOX transaction log -> /etc/passwd', target: '/etc/passwd', link: path.join(inbox, 'loft.index.log') },
      { what: 'next message file -> /etc/passwd', target: '/etc/passwd', link: path.join(inbox, 'u.2') },
      { what: 'INBOX index -> bob\'s index', target: path.join(bobInbox, 'loft.index.log'), link: path.join(inbox, 'loft.index') },
      { what: 'INBOX directory -> bob\'s INBOX', target: bobInbox, link: inbox },
      { what: 'mail directory -> bob\'s mail', target: bobMail, link: aliceMail },
    ];
    for (const attack of attacks) {
      const aside = `${attack.link}.aside`;
      const existed = fs.existsSync(attack.link);
      if (existed) fs.renameSync(attack.link, aside);
      fs.symlinkSync(attack.target, attack.link);
      fs.lchownSync(attack.link, ALICE.uid, ALICE.uid);
      const refused = await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], `Subject: attack\r\n\r\n${attack.what}\r\n`);
      assert.equal(snapshot(), before, `${attack.what}: /etc/passwd and bob's mail are unchanged (reply ${JSON.stringify(refused)})`);
      const code = refused['alice@example.org']?.[0] ?? refused['*']?.[0];
      t.diagnostic(`${attack.what}: ${code ?? 250}`);
      assert.ok(code === undefined || (code >= 400 && code < 500), `${attack.what}: a temporary failure or a delivery into alice's own files, got ${code}`);
      fs.unlinkSync(attack.link);
      if (existed) fs.renameSync(aside, attack.link);
    }
    for (const [file, uid] of ownersUnder(env.home(ALICE.user))) assert.equal(uid, ALICE.uid, `${file} is owned by alice`);
    assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: after\r\n\r\nx\r\n'), {}, 'delivery works again once the links are gone');
  });
}

test('kill -9 of lmtp during DATA gives no 2xx and stores nothing; an earlier 250 survives', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork' });
  assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: acknowledged\r\n\r\nsafe\r\n'), {});
  const c = await LmtpConnection.open(t, env.socketPath);
  for (const line of ['LHLO mx', 'MAIL FROM:<s@x>', 'RCPT TO:<alice@example.org>']) assert.match(await c.command(line), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  c.write('Subject: partial\r\n\r\nfirst half of the message\r\n');
  const lmtp = await env.loftd.processes('lmtp');
  assert.ok(lmtp.length > 0);
  for (const p of lmtp) process.kill(p.pid, 'SIGKILL');
  assert.equal(await c.line(), undefined, 'the connection ends without any reply');
  const mail = readMail(env.home(ALICE.user));
  assert.deepEqual(mail.map((m) => /Subject: (\w+)/.exec(m.text)?.[1]), ['acknowledged']);
  // The master replaces lmtp; mail flows again.
  await waitFor('a new lmtp process', async () => (await env.loftd.processes('lmtp')).some((p) => p.state === 'ready' && !lmtp.some((old) => old.pid === p.pid)), 20_000);
  assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: later\r\n\r\nx\r\n'), {});
  assert.equal(readMail(env.home(ALICE.user)).length, 2);
});

test('kill -9 of the delivery child during a delivery gives 451 or a complete message, never a 250 without it', { skip }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork', extra: 'lmtp_privsep_linger = 60s' });
  assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: warmup\r\n\r\nx\r\n'), {});
  const [lmtp] = await env.loftd.processes('lmtp');
  const [child] = childPidsOfUid(lmtp!.pid, ALICE.uid);
  assert.ok(child, 'the lingering child for alice');
  const c = await LmtpConnection.open(t, env.socketPath);
  for (const line of ['LHLO mx', 'MAIL FROM:<s@x>', 'RCPT TO:<alice@example.org>']) assert.match(await c.command(line), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  const body = `${'0123456789abcdef'.repeat(4)}\r\n`.repeat(300_000); // ~20 MB
  c.write(`Subject: big\r\n\r\n${body}.\r\n`);
  // The child is busy with this delivery once it has asked for the spool's bytes; kill it then.
  await waitFor('the delivery to start', () => {
    const io = fs.readFileSync(`/proc/${child}/io`, 'utf8');
    return Number(/^wchar: (\d+)/m.exec(io)?.[1] ?? 0) > 1_000_000;
  }, 30_000).catch(() => undefined);
  if (isAlive(child)) process.kill(child, 'SIGKILL');
  const reply = await c.line();
  assert.ok(reply, 'lmtp itself answers');
  t.diagnostic(`reply after the kill: ${reply}`);
  const stored = readMail(env.home(ALICE.user)).filter((m) => m.text.includes('Subject: big'));
  if (reply.startsWith('250')) {
    assert.equal(stored.length, 1);
    assert.ok(stored[0]!.text.endsWith(body), 'the acknowledged message is complete');
  } else {
    assert.match(reply, /^451 4\.3\.0 <alice@example\.org>/);
    assert.equal(stored.length, 0, 'no partial message');
  }
  assert.match(await c.command('QUIT'), /^221/);
  assert.deepEqual(await pythonLmtpSend(env.socketPath, 's@x', ['alice@example.org'], 'Subject: after\r\n\r\nx\r\n'), {}, 'a new child delivers');
});
