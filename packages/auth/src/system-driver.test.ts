import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthRequest } from './auth-types.js';
import { driverContext } from './driver-support.js';
import { createPassdb, createUserdb } from './drivers.js';
import { hashPassword } from './password-scheme.js';
import { checkAuthSettings } from './settings.js';
import { createPasswdUserdb, createShadowPassdb } from './system-driver.js';
import { collectWarnings, fakeIds, tempDir } from './test-support.js';

const DAY_MS = 86_400_000;

function request(user: string): AuthRequest {
  return { user, service: 'imap' };
}

async function shaCrypt(password: string): Promise<string> {
  return (await hashPassword(password, 'SHA512-CRYPT')).replace('{SHA512-CRYPT}', '');
}

test('shadow passdb: the crypt(3) hash matches; wrong, locked, expired and unknown accounts fail', async (t) => {
  const dir = await tempDir(t);
  const shadow = join(dir, 'shadow');
  const hash = await shaCrypt('s3cret');
  const today = Math.floor(Date.now() / DAY_MS);
  await writeFile(shadow, [
    'root:*:19000:0:99999:7:::',
    `alice:${hash}:19000:0:99999:7:::`,
    `locked:!${hash}:19000:0:99999:7:::`,
    `expired:${hash}:19000:0:99999:7::${today - 1}:`,
    `later:${hash}:19000:0:99999:7::${today + 30}:`,
    'nopw::19000:0:99999:7:::',
    `broken:{PLAIN}s3cret:19000::::::`,
    `des:abJnggxhB/yWI:19000::::::`,
  ].join('\n') + '\n');
  const { warnings, warn } = collectWarnings();
  const passdb = createShadowPassdb('', driverContext({ warn }), { shadowPath: shadow });
  const verify = (user: string, password: string) => passdb.verifyPlain(request(user), password);

  assert.deepEqual(await verify('alice', 's3cret'), { result: 'ok', user: 'alice', extra: {} });
  assert.deepEqual(await verify('alice', 'S3cret'), { result: 'mismatch', user: 'alice' });
  assert.deepEqual(await verify('locked', 's3cret'), { result: 'mismatch', user: 'locked' }, 'a ! in front locks the account');
  assert.deepEqual(await verify('root', ''), { result: 'mismatch', user: 'root' });
  assert.deepEqual(await verify('nopw', ''), { result: 'mismatch', user: 'nopw' }, 'an empty hash lets nobody in');
  assert.deepEqual(await verify('expired', 's3cret'), { result: 'mismatch', user: 'expired' });
  assert.match(warnings.join('\n'), /account 'expired' expired on \d{4}-\d\d-\d\d/);
  assert.deepEqual(await verify('later', 's3cret'), { result: 'ok', user: 'later', extra: {} }, 'an expiry date still ahead does not matter');
  assert.deepEqual(await verify('bob', 's3cret'), { result: 'unknown_user', user: 'bob' });
  assert.deepEqual(await verify('alice@example.com', 's3cret'), { result: 'unknown_user', user: 'alice@example.com' }, 'a virtual name is no system account');
  // The file holds crypt(3) strings only: a {SCHEME} there is not obeyed, it is a broken entry.
  const broken = await verify('broken', 's3cret');
  assert.equal(broken.result, 'tempfail');
  const des = await verify('des', 's3cret');
  assert.ok(des.result === 'tempfail' && /shadow:8: .*unsupported kind/.test(des.reason), JSON.stringify(des));
  assert.doesNotMatch(JSON.stringify([broken, des, warnings]), /s3cret|abJnggxhB/, 'no password or hash in a reason or warning');

  const missing = createShadowPassdb('', driverContext({ warn }), { shadowPath: join(dir, 'nope') });
  assert.deepEqual(await missing.verifyPlain(request('alice'), 's3cret'), { result: 'tempfail', user: 'alice', reason: `${join(dir, 'nope')} does not exist` });
});

test('passwd userdb: uid, gid and home from the file; NSS for the rest; iterate lists only mail users', async (t) => {
  const dir = await tempDir(t);
  const passwd = join(dir, 'passwd');
  await writeFile(passwd, [
    'root:x:0:0:root:/root:/bin/bash',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'alice:x:1000:1000:Alice Liddell,,,:/home/alice:/bin/bash',
    'bob:x:1001:100::/home/bob:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  ].join('\n') + '\n');
  const asked: string[] = [];
  const getent = async (user: string): Promise<string | undefined> => {
    asked.push(user);
    return user === 'carol' ? 'carol:*:5000:5000:Carol:/net/home/carol:/bin/zsh' : undefined;
  };
  const context = driverContext({ resolveIds: fakeIds({}) });
  const userdb = createPasswdUserdb('', context, { passwdPath: passwd, getent, uids: { first: 1000, last: 60000 } });
  assert.deepEqual(await userdb.lookup(request('alice')), { result: 'ok', user: 'alice', uid: 1000, gid: 1000, home: '/home/alice', extra: {} });
  assert.deepEqual(await userdb.lookup(request('bob')), { result: 'ok', user: 'bob', uid: 1001, gid: 100, home: '/home/bob', extra: {} });
  assert.deepEqual(await userdb.lookup(request('carol')), { result: 'ok', user: 'carol', uid: 5000, gid: 5000, home: '/net/home/carol', extra: {} });
  assert.deepEqual(await userdb.lookup(request('dave')), { result: 'unknown_user', user: 'dave' });
  assert.deepEqual(await userdb.lookup(request('alice@example.com')), { result: 'unknown_user', user: 'alice@example.com' });
  assert.deepEqual(asked, ['carol', 'dave'], 'NSS is asked only for names the file lacks, never for a name that is no account name');

  const listed: string[] = [];
  for await (const user of userdb.iterate!()) listed.push(user);
  assert.deepEqual(listed, ['alice', 'bob'], 'root, daemons and nobody are no mail users');

  const failing = createPasswdUserdb('', context, { passwdPath: passwd, getent: async () => { throw new Error('NSS backend timed out'); } });
  const failed = await failing.lookup(request('erin'));
  assert.ok(failed.result === 'tempfail' && /getent passwd erin failed: NSS backend timed out/.test(failed.reason), JSON.stringify(failed));
});

test('the system drivers in config: the real /etc/passwd, args refused, each on its own side', async () => {
  const userdb = createUserdb({ driver: 'passwd', args: '' });
  const root = await userdb.lookup(request('root'));
  assert.deepEqual(root, { result: 'ok', user: 'root', uid: 0, gid: 0, home: '/root', extra: {} });
  assert.throws(() => createUserdb({ driver: 'passwd', args: '/etc/passwd' }), /passwd: takes no args/);
  assert.doesNotThrow(() => createPassdb({ driver: 'shadow', args: 'blocking=no' }), 'Dovecot\'s blocking= is accepted');
  assert.throws(() => createPassdb({ driver: 'passwd', args: '' }), /passwd is a userdb driver; .*driver = shadow/);
  assert.throws(() => createUserdb({ driver: 'shadow', args: '' }), /shadow is a passdb driver; .*driver = passwd/);
  const problems = checkAuthSettings({
    auth_mechanisms: ['plain'],
    passdb: { system: { driver: 'shadow', args: '', default_password_scheme: 'CRYPT', deny: false, skip: 'never', result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' } },
    userdb: { system: { driver: 'passwd', args: '', skip: 'never', result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' } },
  });
  assert.deepEqual(problems, [], 'neither needs args');
});
