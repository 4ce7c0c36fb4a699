/**
 * Login proxying (passdb proxy=y host= port=): to a second loftd, to Debian's Dovecot, and
 * to this server itself, which must log in locally rather than loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { REPO_ROOT, freePort, loginConf, startLoftd, waitFor, type Loftd } from './harness.js';

interface Dovecot { port: number; conf: string; stop(): Promise<void> }
const dovecotLib = (await import(path.join(REPO_ROOT, 'scripts/lib/dovecot.js'))) as {
  dovecotAvailable(): boolean;
  startDovecot(options: { users: Array<{ user: string; password: string; uid: number }> }): Promise<Dovecot>;
};

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-proxy-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function login(port: number, user: string, pass: string): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass }, logger: false });
  await client.connect();
  return client;
}

async function sessionsOf(loftd: Loftd, user: string): Promise<number> {
  return (JSON.parse((await loftd.adm('-f', 'json', 'who', user)).stdout || '[]') as unknown[]).length;
}

test('a proxied user is logged in on a second loftd; a proxy to this server itself logs in locally', async (t) => {
  const portA = await freePort();
  const portB = await freePort();
  const dirB = tempDir(t);
  const loftdB = await startLoftd(t, loginConf(dirB, portB, { extraUsers: [`carol:{PLAIN}carols:5003:5003::${dirB}/home/carol::`] }), { ready: ['imap-login', 'auth'] });
  const dirA = tempDir(t);
  const loftdA = await startLoftd(t, loginConf(dirA, portA, {
    extraUsers: [
      `carol:{PLAIN}carols:5003:5003::${dirA}/home/carol::proxy=y host=127.0.0.1 port=${portB}`,
      `dave:{PLAIN}daves:5004:5004::${dirA}/home/dave::proxy=y host=127.0.0.1 port=${portA}`,
    ],
  }), { ready: ['imap-login', 'auth'] });
  for (const [dir, user, uid] of [[dirB, 'carol', 5003], [dirA, 'dave', 5004]] as const) {
    fs.mkdirSync(path.join(dir, 'home', user), { recursive: true });
    if (process.getuid?.() === 0) fs.chownSync(path.join(dir, 'home', user), uid, uid);
  }

  const carol = await login(portA, 'carol', 'carols');
  assert.equal(carol.authenticated, true);
  await waitFor('carol on loftd B', async () => (await sessionsOf(loftdB, 'carol')) === 1);
  assert.equal(await sessionsOf(loftdA, 'carol'), 0, 'A only relays: no session of its own');
  await carol.noop();
  await carol.logout();

  const dave = await login(portA, 'dave', 'daves');
  await waitFor('dave logged in locally on A', async () => (await sessionsOf(loftdA, 'dave')) === 1);
  await dave.logout();
  assert.ok(!loftdA.logLines().some((l) => String(l.msg).includes('proxying dave')), 'no proxy loop to itself');

  const wrong = new ImapFlow({ host: '127.0.0.1', port: portA, secure: false, doSTARTTLS: false, auth: { user: 'carol', pass: 'nope' }, logger: false });
  await assert.rejects(wrong.connect());
});

test('a proxied user is logged in on Debian\'s Dovecot', { skip: dovecotLib.dovecotAvailable() ? false : 'needs root and Debian\'s dovecot-imapd' }, async (t) => {
  const dovecot = await dovecotLib.startDovecot({ users: [{ user: 'erin', password: 'erins', uid: 5005 }] });
  t.after(() => dovecot.stop());
  const port = await freePort();
  const dir = tempDir(t);
  await startLoftd(t, loginConf(dir, port, { extraUsers: [`erin:{PLAIN}erins:5005:5005::${dir}/home/erin::proxy=y host=127.0.0.1 port=${dovecot.port}`] }), { ready: ['imap-login', 'auth'] });
  const erin = await login(port, 'erin', 'erins');
  assert.equal(erin.authenticated, true);
  const mailbox = await erin.mailboxOpen('INBOX');
  assert.equal(mailbox.path, 'INBOX', 'Dovecot serves the session: SELECT works there');
  await erin.logout();
  const who = (await import('node:child_process')).execFileSync('doveadm', ['-c', dovecot.conf, 'who'], { encoding: 'utf8' });
  assert.doesNotMatch(who, /erin/, 'the session ended on Dovecot when the client logged out');
});
