/**
 * The host's own accounts, as Debian's Dovecot serves them out of the box: real users made
 * with useradd, passwords set by chpasswd (yescrypt, Debian's default since 11, and
 * SHA-512), `passdb { driver = shadow }` and `userdb { driver = passwd }`, with the auth
 * service (nobody here) reading /etc/shadow through `extra_groups = shadow`. Root only: it
 * creates and removes the accounts itself.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, freePort, startLoftd } from './harness.js';
import { LmtpConnection } from './lmtp-support.js';
import { RawImap } from './raw-imap.js';

const skip = IS_ROOT ? false : 'needs root: creates system accounts';

interface SystemUser {
  name: string;
  password: string;
  uid: number;
  home: string;
}

/** useradd + chpasswd; removed again when the test ends, whatever happened. */
function addSystemUser(t: TestContext, dir: string, name: string, password: string, method: 'YESCRYPT' | 'SHA512'): SystemUser {
  const home = path.join(dir, name);
  // uids far from the ones other tests give their passwd-file users.
  execFileSync('useradd', ['-m', '-d', home, '-s', '/usr/sbin/nologin', '-K', 'UID_MIN=42000', '-K', 'GID_MIN=42000', name], { stdio: 'pipe' });
  // -f: a test that failed may leave loftd's processes running as the user until its own hook.
  t.after(() => {
    try {
      execFileSync('userdel', ['-f', name], { stdio: 'pipe' });
    } catch (err) {
      console.error(`could not remove the test account ${name}: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
    }
  });
  execFileSync('chpasswd', ['-c', method], { input: `${name}:${password}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  return { name, password, uid, home };
}

function shadowHash(name: string): string {
  return execFileSync('getent', ['shadow', name], { encoding: 'utf8' }).split(':')[1] ?? '';
}

function systemConf(port: number, extraGroups: boolean): string {
  return `service imap-login {
  inet_listener imap {
    port = ${port}
  }
}
service auth {
  ${extraGroups ? 'extra_groups = shadow' : ''}
}
auth_failure_delay = 100ms
passdb system {
  driver = shadow
}
userdb system {
  driver = passwd
}
# Postfix's LMTP client names a local recipient user@domain; the account is the user part.
protocol lmtp {
  auth_username_format = %Ln
}
`;
}

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-system-users-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

test('system accounts log in with their /etc/shadow password (yescrypt, SHA-512) and get mail in their home', { skip }, async (t) => {
  const dir = tempDir(t);
  const tag = String(process.pid % 100_000);
  const yes = addSystemUser(t, dir, `loftsy${tag}`, 'correct horse battery', 'YESCRYPT');
  const sha = addSystemUser(t, dir, `loftss${tag}`, 'Tr0ub4dor&3', 'SHA512');
  const locked = addSystemUser(t, dir, `loftsl${tag}`, 'locked-pw', 'SHA512');
  execFileSync('usermod', ['-L', locked.name]);
  const expired = addSystemUser(t, dir, `loftse${tag}`, 'expired-pw', 'SHA512');
  execFileSync('chage', ['-E', '0', expired.name]);
  assert.match(shadowHash(yes.name), /^\$y\$/, 'chpasswd wrote a yescrypt hash');
  assert.match(shadowHash(sha.name), /^\$6\$/);

  const port = await freePort();
  const loftd = await startLoftd(t, systemConf(port, true), { ready: ['imap-login', 'auth', 'anvil'] });

  const login = async (user: string, password: string): Promise<{ status: string; lines: string }> => {
    const client = await RawImap.connect(port);
    t.after(() => client.socket.destroy());
    const answer = await client.command(`LOGIN ${user} "${password}"`);
    await client.command('LOGOUT').catch(() => undefined);
    return answer;
  };
  assert.equal((await login(yes.name, yes.password)).status, 'OK', 'yescrypt');
  assert.equal((await login(sha.name, sha.password)).status, 'OK', 'SHA-512');
  const wrong = await login(yes.name, 'wrong');
  assert.equal(wrong.status, 'NO', wrong.lines);
  assert.match(wrong.lines, /\[AUTHENTICATIONFAILED\]/);
  // The rest through loftadm auth test, the same passdb without anvil's growing penalty per IP.
  for (const [user, password, why] of [[locked.name, locked.password, 'a locked account'], [expired.name, expired.password, 'an expired account'], ['root', 'x', 'root (no password matches)']]) {
    const answer = await loftd.adm('auth', 'test', user, password);
    assert.equal(answer.code, 1, `${why}: ${answer.stdout}`);
    assert.match(answer.stdout, /passdb: mismatch/, why);
  }
  const withDomain = await login(`${yes.name}@example.com`, yes.password);
  assert.equal(withDomain.status, 'NO', 'IMAP keeps the global %Lu: user@domain is no system account');
  const unknown = await loftd.adm('auth', 'test', `nosuch${tag}`, 'x');
  assert.match(unknown.stdout, /passdb: unknown_user/);
  await loftd.waitForLog('the expired account in the log', (l) => String(l.msg).includes(`account '${expired.name}' expired on 1970-01-01`));

  // userdb passwd: the uid and home useradd gave; loftadm sees the same.
  const user = await loftd.adm('user', yes.name);
  assert.equal(user.code, 0, user.stderr);
  assert.match(user.stdout, new RegExp(`uid\\s+${yes.uid}`));
  assert.match(user.stdout, new RegExp(`home\\s+${yes.home}`));

  // Mail delivered over LMTP lands in the home, owned by the user, and IMAP reads it.
  const lmtp = await LmtpConnection.open(t, path.join(loftd.baseDir, 'run', 'lmtp.sock'));
  assert.match(await lmtp.command('LHLO test'), /^250/);
  assert.match(await lmtp.command('MAIL FROM:<sender@example.com>'), /^250/);
  assert.match(await lmtp.command(`RCPT TO:<${yes.name}@example.com>`), /^250/, 'protocol lmtp { auth_username_format = %Ln } applies to LMTP');
  assert.match(await lmtp.command('DATA'), /^354/);
  assert.match(await lmtp.command('Subject: to a system user\r\n\r\nhello\r\n.'), /^250/);
  const client = await RawImap.connect(port);
  t.after(() => client.socket.destroy());
  assert.equal((await client.command(`LOGIN ${yes.name} "${yes.password}"`)).status, 'OK');
  assert.match((await client.command('SELECT INBOX')).lines, /\* 1 EXISTS/);
  assert.match((await client.command('FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]')).lines, /Subject: to a system user/);
  await client.command('LOGOUT');
  const mailDir = path.join(yes.home, 'mail');
  assert.equal(fs.statSync(mailDir).uid, yes.uid, 'the mail belongs to the user');
  assert.equal((await loftd.stop()).code, 0);
});

test('without extra_groups = shadow the login fails temporarily and the log says how to fix it', { skip }, async (t) => {
  const dir = tempDir(t);
  const yes = addSystemUser(t, dir, `loftsn${process.pid % 100_000}`, 'some password', 'YESCRYPT');
  const port = await freePort();
  const loftd = await startLoftd(t, systemConf(port, false), { ready: ['imap-login', 'auth', 'anvil'] });
  const client = await RawImap.connect(port);
  t.after(() => client.socket.destroy());
  const answer = await client.command(`LOGIN ${yes.name} "${yes.password}"`);
  assert.equal(answer.status, 'NO', answer.lines);
  assert.match(answer.lines, /\[UNAVAILABLE\]/, 'a temporary failure, not a wrong password');
  await loftd.waitForLog('the fix in the log', (l) => /\/etc\/shadow cannot be read \(EACCES\).*extra_groups = shadow in service auth/.test(String(l.msg)));
});
