/**
 * The first logins of new accounts at once: for each of several users whose home is empty,
 * 8 clients each do 10 × (LOGIN, SELECT INBOX, LOGOUT), each round's LOGINs sent together,
 * so the user's sessions race to create INBOX and the mailbox list. Every command succeeds,
 * each user ends up with one mailbox directory, and the log has no trace of a half-made
 * mailbox: no directory "left out of the list", no index that "cannot be trusted", no
 * force-resync.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, freePort, loginConf, startLoftd } from './harness.js';
import { RawImap } from './raw-imap.js';

const CLIENTS = 8;
const ROUNDS = 10;
const FRESH_USERS = Array.from({ length: 4 }, (_, i) => ({ user: `fresh${i}`, password: `pw${i}`, uid: 5101 + i }));

test('concurrent first logins of fresh users create one INBOX each, with no rebuild or warning in the log', async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-first-login-'));
  fs.chmodSync(dir, 0o755);
  // Sessions still write as they close: loftd stops first (below, and in its own after hook).
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const home = (user: string): string => path.join(dir, 'home', user);
  fs.mkdirSync(path.join(dir, 'home'), { mode: 0o755 });
  for (const u of FRESH_USERS) {
    fs.mkdirSync(home(u.user), { mode: 0o700 });
    if (IS_ROOT) fs.chownSync(home(u.user), u.uid, u.uid);
  }
  const extraUsers = FRESH_USERS.map((u) => `${u.user}:{PLAIN}${u.password}:${u.uid}:${u.uid}::${home(u.user)}::`);
  const loftd = await startLoftd(t, loginConf(dir, port, { extraUsers, extra: 'mail_max_userip_connections = 0\n' }), { ready: ['imap-login', 'auth', 'anvil'] });

  const failures: string[] = [];
  for (const u of FRESH_USERS) {
    assert.deepEqual(fs.readdirSync(home(u.user)), [], `${u.user}'s home starts empty`);
    for (let r = 0; r < ROUNDS; r++) {
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => RawImap.connect(port)));
      await Promise.all(clients.map(async (client, c) => {
        for (const command of [`LOGIN ${u.user} ${u.password}`, 'SELECT INBOX', 'LOGOUT']) {
          const answer = await client.command(command);
          if (answer.status !== 'OK') failures.push(`${u.user} client ${c} round ${r}: ${command}: ${answer.lines.trim()}`);
        }
        await client.untilClosed();
      }));
    }
  }
  assert.deepEqual(failures, []);

  const stop = await loftd.stop();
  assert.equal(stop.code, 0);
  const suspicious = loftd.logLines()
    .map((l) => String(l.msg))
    .filter((msg) => /left out of the list|cannot be trusted|force-resync|rebuil|damaged/i.test(msg));
  assert.deepEqual(suspicious, [], 'no half-made mailbox was seen');
  for (const u of FRESH_USERS) {
    const mailboxes = fs.readdirSync(path.join(home(u.user), 'mail', 'mailboxes'));
    assert.equal(mailboxes.length, 1, `${u.user}: one mailbox directory: ${mailboxes.join(' ')}`);
    assert.match(mailboxes[0]!, /^[0-9a-f]{32}$/);
  }
});
