/**
 * imap's process_min_avail: a spare process waits with its code loaded and no user; the
 * first login of a user with no process takes it, and it drops to that user's uid for good
 * (real, effective and saved) before serving. While every login has come for that one uid
 * (virtual users), its process serves the next ones and no spare waits; a login for a second
 * uid brings spares back, and a reload replaces the spare (it holds the old settings).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, TEST_USERS, freePort, loginConf, startLoftd, waitFor, type Loftd } from './harness.js';
import { RawImap } from './raw-imap.js';

async function imapProcesses(loftd: Loftd): Promise<Array<{ pid: number; uid: number; state: string; clients: number }>> {
  return (await loftd.processes('imap')).map((p) => ({ pid: p.pid, uid: p.uid, state: p.state, clients: p.clients }));
}

function uids(pid: number): string {
  return /^Uid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim().split(/\s+/).join(' ');
}

test('a spare imap process serves the first login of a user and drops to its uid; a second uid brings a new spare', { skip: !IS_ROOT && 'needs root (uids)' }, async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-spare-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const loftd = await startLoftd(t, loginConf(dir, port), { ready: ['imap-login', 'auth'] });

  const spare = await waitFor('a spare imap process', async () => (await imapProcesses(loftd)).find((p) => p.clients === 0));
  assert.equal(spare.uid, 0, 'the spare has no user yet');
  assert.equal(spare.state, 'spare', 'process status says what it is');
  assert.equal(uids(spare.pid), '0 0 0 0');

  const alice = TEST_USERS[0];
  const client = await RawImap.connect(port);
  assert.equal((await client.command(`LOGIN ${alice.user} ${alice.password}`)).status, 'OK');
  assert.equal((await client.command('SELECT INBOX')).status, 'OK');
  const serving = (await imapProcesses(loftd)).find((p) => p.clients === 1);
  assert.ok(serving, 'a process serves alice');
  assert.equal(serving.pid, spare.pid, 'alice is served by the spare');
  assert.equal(serving.uid, alice.uid);
  assert.equal(uids(spare.pid), `${alice.uid} ${alice.uid} ${alice.uid} ${alice.uid}`, 'real, effective, saved and fs uid are alice');
  // Only alice's uid so far, and its process has free slots: no spare waits for nothing.
  assert.deepEqual((await imapProcesses(loftd)).filter((p) => p.uid === 0), [], 'no spare while one uid is served with room');

  // bob's uid has no process: his login starts one, and from now on a spare waits again.
  const bob = TEST_USERS[1];
  const second = await RawImap.connect(port);
  assert.equal((await second.command(`LOGIN ${bob.user} ${bob.password}`)).status, 'OK');
  assert.equal((await second.command('SELECT INBOX')).status, 'OK');
  const bobs = (await imapProcesses(loftd)).find((p) => p.uid === bob.uid);
  assert.ok(bobs, 'a process serves bob');
  const next = await waitFor('a new spare after a second uid', async () => (await imapProcesses(loftd)).find((p) => p.uid === 0));
  assert.equal(next.state, 'spare');
  assert.notEqual(next.pid, bobs.pid);
  assert.equal((await client.command('LOGOUT')).status, 'OK');
  assert.equal((await second.command('LOGOUT')).status, 'OK');

  // A reload retires the spare (it has the old settings); a new one comes up.
  loftd.writeConf(`${loginConf(dir, port)}\n# reloaded\n`);
  assert.equal((await loftd.adm('reload')).code, 0);
  const replaced = await waitFor('the spare replaced after reload', async () => {
    const list = await imapProcesses(loftd);
    return !list.some((p) => p.pid === next.pid) && list.find((p) => p.uid === 0);
  });
  assert.notEqual(replaced.pid, next.pid);
});

test('with one uid, a spare is started again once that uid\'s process is gone', { skip: !IS_ROOT && 'needs root (uids)' }, async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-spare-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const loftd = await startLoftd(t, `${loginConf(dir, port)}\nservice imap {\n  idle_kill = 1s\n}\n`, { ready: ['imap-login', 'auth'] });
  const spare = await waitFor('a spare imap process', async () => (await imapProcesses(loftd)).find((p) => p.uid === 0));

  const alice = TEST_USERS[0];
  const client = await RawImap.connect(port);
  assert.equal((await client.command(`LOGIN ${alice.user} ${alice.password}`)).status, 'OK');
  assert.deepEqual((await imapProcesses(loftd)).filter((p) => p.uid === 0), [], 'alice took the spare; none waits meanwhile');
  assert.equal((await client.command('LOGOUT')).status, 'OK');

  // idle_kill stops alice's process once she has gone; the next login would have no process.
  const back = await waitFor('a spare after the uid\'s process stopped', async () => {
    const list = await imapProcesses(loftd);
    return !list.some((p) => p.pid === spare.pid) && list.find((p) => p.uid === 0);
  }, 15_000);
  assert.equal(back.state, 'spare');
  const again = await RawImap.connect(port);
  assert.equal((await again.command(`LOGIN ${alice.user} ${alice.password}`)).status, 'OK');
  assert.equal((await imapProcesses(loftd)).find((p) => p.uid === alice.uid)?.pid, back.pid, 'the spare serves her next login');
  assert.equal((await again.command('LOGOUT')).status, 'OK');
});
