/**
 * imap's process_min_avail: a spare process waits with its code loaded and no user; the
 * first login of a user with no process takes it, and it drops to that user's uid for good
 * (real, effective and saved) before serving. Another spare is started in its place, and a
 * reload replaces the spare (it holds the old settings).
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

test('a spare imap process serves the first login of a user and drops to its uid; another spare takes its place', { skip: !IS_ROOT && 'needs root (uids)' }, async (t) => {
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
  const next = await waitFor('a new spare', async () => (await imapProcesses(loftd)).find((p) => p.pid !== spare.pid && p.clients === 0));
  assert.equal(next.uid, 0);
  assert.equal(next.state, 'spare');
  assert.equal((await client.command('LOGOUT')).status, 'OK');

  // A reload retires the spare (it has the old settings); a new one comes up.
  loftd.writeConf(`${loginConf(dir, port)}\n# reloaded\n`);
  assert.equal((await loftd.adm('reload')).code, 0);
  const replaced = await waitFor('the spare replaced after reload', async () => {
    const list = await imapProcesses(loftd);
    return !list.some((p) => p.pid === next.pid) && list.find((p) => p.uid === 0);
  });
  assert.notEqual(replaced.pid, next.pid);
});
