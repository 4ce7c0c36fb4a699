/**
 * A stop must not need SIGKILL: after clients logged in through imap-login (plain,
 * STARTTLS, imaps: the socket or a TLS relay handed over to an imap process), with an
 * idle IMAP session still open, an LMTP client connected and loftadm having used the adm
 * service, SIGTERM ends loftd well within shutdown_timeout, and no process is
 * "still running ... after shutdown; killing it".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TEST_USERS, freePort, loginConf, startLoftd, waitFor, type Loftd } from './harness.js';
import { RawImap } from './raw-imap.js';

const [ALICE, BOB] = TEST_USERS;
const SHUTDOWN_TIMEOUT_MS = 15_000;
/** "Well within": a clean stop takes well under a second; this leaves room for a slow machine. */
const STOP_BOUND_MS = 5_000;

async function session(port: number, user: { user: string; password: string }, mode: 'plain' | 'starttls' | 'imaps'): Promise<RawImap> {
  const client = await RawImap.connect(port, mode === 'imaps');
  if (mode === 'starttls') await client.starttls();
  assert.equal((await client.command(`LOGIN ${user.user} ${user.password}`)).status, 'OK', `${mode}: LOGIN`);
  const select = await client.command('SELECT INBOX');
  assert.equal(select.status, 'OK', `${mode}: SELECT INBOX: ${select.lines}`);
  return client;
}

async function logout(client: RawImap): Promise<void> {
  assert.equal((await client.command('LOGOUT')).status, 'OK');
  await client.untilClosed();
}

async function shutdownLoftd(t: Parameters<typeof startLoftd>[0], extra = ''): Promise<{ loftd: Loftd; port: number; tlsPort: number; dir: string }> {
  const port = await freePort();
  const tlsPort = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-shutdown-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const conf = loginConf(dir, port, { tlsPort, extra: `shutdown_timeout = ${SHUTDOWN_TIMEOUT_MS} ms\n${extra}` });
  const loftd = await startLoftd(t, conf, { ready: ['imap-login', 'auth', 'anvil'] });
  return { loftd, port, tlsPort, dir };
}

/** SIGTERM; loftd must be gone well within shutdown_timeout, with nothing killed. */
async function assertCleanStop(t: Parameters<typeof startLoftd>[0], loftd: Loftd): Promise<void> {
  // Every process of the tree, so that none can outlive the test unnoticed.
  await loftd.processes();
  const { code, signal, ms } = await loftd.stop(SHUTDOWN_TIMEOUT_MS + 10_000);
  const killed = loftd.logLines().filter((l) => /still running .* after shutdown; killing it|killed with signal/.test(String(l.msg)));
  assert.deepEqual(killed.map((l) => l.msg), [], 'no process needed SIGKILL');
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.ok(ms < STOP_BOUND_MS, `loftd took ${ms} ms to stop (shutdown_timeout ${SHUTDOWN_TIMEOUT_MS} ms)`);
  t.diagnostic(`loftd stopped in ${ms} ms`);
}

test('after a login and hand-off (plain, STARTTLS, imaps) and LOGOUT, SIGTERM stops loftd at once', async (t) => {
  const { loftd, port, tlsPort } = await shutdownLoftd(t);
  await logout(await session(port, ALICE, 'plain'));
  await logout(await session(port, BOB, 'starttls'));
  await logout(await session(tlsPort, ALICE, 'imaps'));
  await waitFor('the sessions to end in who', async () => JSON.parse((await loftd.adm('-f', 'json', 'who')).stdout || '[]').length === 0);
  await assertCleanStop(t, loftd);
});

test('with idle IMAP sessions open (plain and TLS-relayed), an LMTP client connected and adm used, SIGTERM stops loftd at once', async (t) => {
  const { loftd, port, tlsPort } = await shutdownLoftd(t);
  const plain = await session(port, ALICE, 'plain');
  const relayed = await session(tlsPort, BOB, 'imaps');
  const starttls = await session(port, ALICE, 'starttls');
  // A session that has not even logged in yet: imap-login must end it itself.
  const preauth = await RawImap.connect(port);
  await waitFor('two sessions of alice in who', async () => JSON.parse((await loftd.adm('-f', 'json', 'who', ALICE.user)).stdout || '[]').length === 2);

  await loftd.waitForReady('lmtp');
  const lmtpSocket = net.connect(path.join(loftd.baseDir, 'run', 'lmtp.sock'));
  lmtpSocket.on('error', () => undefined);
  await new Promise<void>((resolve) => lmtpSocket.once('data', () => resolve()));
  lmtpSocket.write('LHLO shutdown.test\r\n');

  const status = await loftd.adm('-f', 'json', 'mailbox', 'list', '-u', ALICE.user);
  assert.equal(status.code, 0, status.stderr);

  const closed = Promise.all([plain.untilClosed(), relayed.untilClosed(), starttls.untilClosed(), preauth.untilClosed()]);
  await assertCleanStop(t, loftd);
  await closed;
  lmtpSocket.destroy();
});
