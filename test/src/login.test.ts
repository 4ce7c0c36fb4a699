/**
 * Issue 4's acceptance: real clients log in through imap-login over plain, STARTTLS and
 * imaps; sessions land in imap processes running as the user's uid; auth delays and
 * penalties; hostile input; tickets a compromised login process forges or replays; who
 * and kick; the per-user+IP limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { IpcClient } from '@loft/ipc';
import type { AuthUserdbProtocol } from '@loft/master-protocol';
import { FIXTURES, IS_ROOT, TEST_USERS, freePort, isAlive, loginConf, python, readUid, startLoftd, waitFor, type Loftd } from './harness.js';
import { RawImap } from './imap-support.js';

const [ALICE, BOB] = TEST_USERS;

async function loginLoftd(t: Parameters<typeof startLoftd>[0], extra = ''): Promise<{ loftd: Loftd; port: number; tlsPort: number }> {
  const port = await freePort();
  const tlsPort = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-login-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const loftd = await startLoftd(t, loginConf(dir, port, { tlsPort, extra }), { ready: ['imap-login', 'auth', 'anvil'] });
  return { loftd, port, tlsPort };
}

/** The uid of the process serving `user`'s newest session, read from /proc. */
async function sessionUid(loftd: Loftd, user: string): Promise<{ pid: number; uid: number }> {
  const who = await waitFor(`a session of ${user}`, async () => {
    const result = await loftd.adm('-f', 'json', 'who', user);
    const rows = JSON.parse(result.stdout || '[]') as Array<{ pid: number }>;
    return rows.length > 0 ? rows : undefined;
  });
  const pid = who[who.length - 1].pid;
  loftd.seenPids.add(pid);
  return { pid, uid: readUid(pid) };
}

test('imapflow logs in over plain, STARTTLS and imaps; the session runs as the user\'s uid', async (t) => {
  const { loftd, port, tlsPort } = await loginLoftd(t);
  const modes: Array<[string, { port: number; secure: boolean; doSTARTTLS?: boolean }]> = [
    ['plain', { port, secure: false, doSTARTTLS: false }],
    ['STARTTLS', { port, secure: false, doSTARTTLS: true }],
    ['imaps', { port: tlsPort, secure: true }],
  ];
  for (const [name, mode] of modes) {
    const client = new ImapFlow({ host: '127.0.0.1', ...mode, auth: { user: ALICE.user, pass: ALICE.password }, logger: false, tls: { rejectUnauthorized: false } });
    await client.connect();
    assert.equal(client.authenticated, true, name);
    assert.equal(client.secureConnection || name === 'plain' || name === 'STARTTLS', true);
    const { uid } = await sessionUid(loftd, ALICE.user);
    if (IS_ROOT) assert.equal(uid, ALICE.uid, `${name}: the imap process runs as alice's uid`);
    await client.noop();
    await client.logout();
    await waitFor('the session to end in who', async () => JSON.parse((await loftd.adm('-f', 'json', 'who', ALICE.user)).stdout).length === 0);
  }
});

test('Python imaplib logs in over plain, STARTTLS and imaps', async (t) => {
  const { port, tlsPort } = await loginLoftd(t);
  const out = await python(`
import imaplib, ssl, json
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
results = []
a = imaplib.IMAP4('127.0.0.1', ${port}); results.append(a.login('${ALICE.user}', '${ALICE.password}')[0]); results.append(a.noop()[0]); a.logout()
b = imaplib.IMAP4('127.0.0.1', ${port}); b.starttls(ssl_context=ctx); results.append(b.login('${BOB.user}', '${BOB.password}')[0]); b.logout()
c = imaplib.IMAP4_SSL('127.0.0.1', ${tlsPort}, ssl_context=ctx); results.append(c.login('${ALICE.user}', '${ALICE.password}')[0]); c.logout()
print(json.dumps(results))
`);
  assert.deepEqual(JSON.parse(out), ['OK', 'OK', 'OK', 'OK']);
});

test('sessions of two users with different uids are in different processes, each with its own uid', { skip: IS_ROOT ? false : 'needs root to run processes as other uids' }, async (t) => {
  const { loftd, port } = await loginLoftd(t);
  const a = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: ALICE.user, pass: ALICE.password }, logger: false });
  const b = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: BOB.user, pass: BOB.password }, logger: false });
  await Promise.all([a.connect(), b.connect()]);
  const alice = await sessionUid(loftd, ALICE.user);
  const bob = await sessionUid(loftd, BOB.user);
  assert.notEqual(alice.pid, bob.pid);
  assert.equal(alice.uid, ALICE.uid);
  assert.equal(bob.uid, BOB.uid);
  await Promise.all([a.logout(), b.logout()]);
});

/** One raw exchange: connect, read the greeting, send lines, collect until `until` matches or the server closes. */
function exchange(port: number, send: Array<string | Buffer>, until: RegExp, options: { localAddress?: string; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    let text = '';
    let sent = false;
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => done(false), options.timeoutMs ?? 15_000);
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (!sent && text.includes('\r\n')) {
        sent = true;
        for (const piece of send) socket.write(piece);
      }
      if (sent && until.test(text)) done(false);
    });
    socket.on('close', () => done(true));
  });
}

test('a wrong password is refused after auth_failure_delay, and a flood from one IP is slowed by the penalty', async (t) => {
  const { port } = await loginLoftd(t);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { text, ms } = await exchange(port, [`a LOGIN ${ALICE.user} wrong${i}\r\n`], /^a (OK|NO|BAD)/m);
    assert.match(text, /^a NO \[AUTHENTICATIONFAILED\] Authentication failed\./m);
    times.push(ms);
  }
  assert.ok(times[0] >= 250, `the first failure waited auth_failure_delay: ${times[0]} ms`);
  assert.ok(times[1] >= 1800, `the second failure waited the 2 s penalty too: ${times[1]} ms`);
  assert.ok(times[2] >= 3800, `the third waited 4 s: ${times[2]} ms`);
  assert.ok(!times.some((ms) => ms > 12_000));
});

test('hostile input: an 80 MB line, a 2^32 literal on LOGIN and random bytes get BAD or a disconnect; others are still served', async (t) => {
  const { loftd, port } = await loginLoftd(t);
  const huge = exchange(port, [Buffer.alloc(80 * 1024 * 1024, 0x41)], /BYE/, { timeoutMs: 30_000 });
  const literal = exchange(port, ['a LOGIN {4294967296}\r\n'], /^a (NO|BAD)/m);
  const literalPlus = exchange(port, ['b LOGIN {4294967296+}\r\nxxxx'], /BYE|^b (NO|BAD)/m);
  const random = exchange(port, [Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))], /BAD|BYE/);
  const [h, l, lp, r] = await Promise.all([huge, literal, literalPlus, random]);
  assert.ok(/\* BYE/.test(h.text) || h.closed, `80 MB line: ${h.text.slice(0, 200)}`);
  assert.match(l.text, /^a NO \[TOOBIG\]/m);
  assert.ok(/BYE|^b (NO|BAD)/m.test(lp.text) || lp.closed);
  assert.ok(/BAD|BYE/.test(r.text) || r.closed);
  const good = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: BOB.user, pass: BOB.password }, logger: false });
  await good.connect();
  assert.equal(good.authenticated, true);
  await good.logout();
  assert.ok((await loftd.processes('imap-login')).length >= 1);
});

test('plaintext login is refused from another address without TLS, and allowed after STARTTLS', async (t) => {
  const { port } = await loginLoftd(t);
  const refused = await exchange(port, ['a CAPABILITY\r\n', 'i ID NIL\r\n', `b LOGIN ${ALICE.user} ${ALICE.password}\r\n`], /^b (OK|NO|BAD)/m, { localAddress: '127.0.0.2' });
  assert.match(refused.text, /^\* ID \("name" "Loft"\)\r$/m, 'ID before login names the server, not its version');
  assert.match(refused.text, /LOGINDISABLED/);
  assert.match(refused.text, /STARTTLS/);
  assert.match(refused.text, /^b NO \[PRIVACYREQUIRED\]/m);
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: true, auth: { user: ALICE.user, pass: ALICE.password }, logger: false, tls: { rejectUnauthorized: false, localAddress: '127.0.0.2' } as never });
  await client.connect();
  assert.equal(client.authenticated, true);
  await client.logout();
});

test('a forged or replayed ticket is refused by the master; auth-userdb.sock is root-only', async (t) => {
  const evilPort = await freePort();
  const { loftd } = await loginLoftd(t, `service evil-login {
  executable = ${path.join(FIXTURES, 'evil-login.js')}
  type = login
  user = nobody
  inet_listener evil {
    port = ${evilPort}
  }
}
`);
  await loftd.waitForReady('evil-login');
  const honest = await exchange(evilPort, [`honest ${ALICE.user} ${ALICE.password}\r\n`], /^a (OK|NO)|REFUSED/m);
  assert.match(honest.text, /^a OK .*Logged in/m, 'a real ticket works once');
  const replayed = await exchange(evilPort, ['replay\r\n'], /REFUSED|^a OK/m);
  assert.match(replayed.text, /REFUSED Authentication ticket refused/);
  const forged = await exchange(evilPort, ['forge\r\n'], /REFUSED|^a OK/m);
  assert.match(forged.text, /REFUSED Authentication ticket refused/);
  await loftd.waitForLog('the refusal', (l) => String(l.msg).includes('presented a ticket auth does not know'));

  const userdbSock = path.join(loftd.baseDir, 'run', 'auth-userdb.sock');
  const stat = fs.statSync(userdbSock);
  assert.equal(stat.mode & 0o777, 0o600);
  if (IS_ROOT) assert.equal(stat.uid, 0, 'only root (the master) may redeem tickets');
  const direct = await IpcClient.connect<AuthUserdbProtocol>(userdbSock);
  assert.equal((await direct.request('redeem', { ticket: 'f'.repeat(64), service: 'imap' })).result, 'unknown_user');
  direct.close();
});

test('loftadm who shows an open session and kick ends it; mail_max_userip_connections is enforced', async (t) => {
  const { loftd, port } = await loginLoftd(t, 'mail_max_userip_connections = 2\n');
  const clients: ImapFlow[] = [];
  for (let i = 0; i < 2; i++) {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: ALICE.user, pass: ALICE.password }, logger: false });
    await c.connect();
    clients.push(c);
  }
  const who = await loftd.adm('who');
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, new RegExp(`^${ALICE.user}\\s+2\\s+imap\\s+\\(\\d+\\)\\s+\\(127\\.0\\.0\\.1\\)`, 'm'));
  const third = await exchange(port, [`a LOGIN ${ALICE.user} ${ALICE.password}\r\n`], /^a (OK|NO)/m);
  assert.match(third.text, /^a NO \[LIMIT\] Maximum number of connections from user\+IP exceeded \(mail_max_userip_connections=2\)/m);

  const closed = clients.map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
  const kick = await loftd.adm('-f', 'json', 'kick', ALICE.user);
  assert.equal(JSON.parse(kick.stdout)[0].kicked, 2);
  await Promise.all(closed);
  await waitFor('who to be empty', async () => JSON.parse((await loftd.adm('-f', 'json', 'who')).stdout).length === 0);
});

/** iproute2's `ss`, which shows what waits unread in a UNIX socket. */
const HAVE_SS = spawnSync('ss', ['-V']).status === 0;

/** Bytes waiting unread in the IPC channel of `pid` (its end of the pipe from loftd), from the kernel's socket table. */
function unreadIpcBytes(pid: number): number {
  const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  const fd = environ.find((v) => v.startsWith('NODE_CHANNEL_FD='))?.split('=')[1];
  const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
  const ss = spawnSync('ss', ['-xnH'], { encoding: 'utf8' });
  if (ss.status !== 0 || !inode) throw new Error(`cannot read the IPC channel of ${pid}: ${ss.stderr || 'no NODE_CHANNEL_FD socket'}`);
  for (const line of ss.stdout.split('\n')) {
    const cols = line.trim().split(/\s+/); // netid state recv-q send-q local port peer port
    if (cols[5] === inode) return Number(cols[2]);
  }
  return 0;
}

test('a login whose imap process is killed before it takes the session is served by another process', { skip: !IS_ROOT ? 'needs root to stop and kill a process of another uid' : !HAVE_SS && 'needs ss (Debian package iproute2) to see the hand-off wait unread' }, async (t) => {
  const { loftd, port } = await loginLoftd(t);
  await RawImap.login(t, port, ALICE);
  const { pid } = await sessionUid(loftd, ALICE.user);
  // Stopped, the process cannot read what loftd sends it: the next login of alice is passed
  // to it (it is ready and has free slots) and waits in its channel, and kill -9 comes then.
  process.kill(pid, 'SIGSTOP');
  t.after(() => isAlive(pid) && process.kill(pid, 'SIGKILL'));
  const before = unreadIpcBytes(pid);
  const second = RawImap.login(t, port, ALICE);
  await waitFor('the session to wait in the stopped process\'s channel', () => unreadIpcBytes(pid) > before);
  process.kill(pid, 'SIGKILL');
  const client = await second;
  const select = await client.command('SELECT INBOX');
  assert.match(select.split('\r\n').at(-2) ?? '', /OK \[READ-WRITE\]/);
  const now = await sessionUid(loftd, ALICE.user);
  assert.notEqual(now.pid, pid, 'the new session is served by a live process');
  assert.equal(now.uid, ALICE.uid);
  await loftd.waitForLog('why the session moved', (l) => String(l.msg).includes(`child ${pid} ended before taking a session of ${ALICE.user}`));
});

test('loftadm auth test, user and pw', async (t) => {
  const { loftd } = await loginLoftd(t);
  const ok = await loftd.adm('-f', 'json', 'auth', 'test', ALICE.user, ALICE.password);
  assert.equal(ok.code, 0, ok.stderr);
  const result = JSON.parse(ok.stdout) as { result: string; userdb: { uid: number } };
  assert.equal(result.result, 'ok');
  assert.equal(result.userdb.uid, ALICE.uid);
  const bad = await loftd.adm('auth', 'test', ALICE.user, 'nope');
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /passdb: mismatch/);
  assert.doesNotMatch(bad.stdout + bad.stderr, /nope/, 'the password is not echoed');
  const user = await loftd.adm('user', BOB.user);
  assert.match(user.stdout, new RegExp(`^uid\\s+${BOB.uid}$`, 'm'));
  const pw = await loftd.adm('pw', '-s', 'SHA512-CRYPT', '-p', 'secret');
  assert.match(pw.stdout, /^\{SHA512-CRYPT\}\$6\$/);
  assert.ok(!loftd.logLines().some((l) => JSON.stringify(l).includes(ALICE.password)), 'no password reaches a log line');
});

test('an unauthenticated client is disconnected after login_timeout; too many bad commands end the connection', async (t) => {
  const { port } = await loginLoftd(t, 'login_timeout = 1s\n');
  const idle = await exchange(port, [], /BYE/, { timeoutMs: 10_000 });
  assert.match(idle.text, /\* BYE Disconnected for inactivity\./);
  assert.ok(idle.ms >= 900 && idle.ms < 8000, `disconnected after ${idle.ms} ms`);
  const garbage = Array.from({ length: 12 }, (_, i) => `x${i} FROB\r\n`).join('');
  const bad = await exchange(port, [garbage], /BYE/);
  assert.equal((bad.text.match(/ BAD /g) ?? []).length, 10);
  assert.match(bad.text, /\* BYE Too many invalid IMAP commands\./);
});
