import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path, { join } from 'node:path';
import type { AuthRequest } from './auth-types.js';
import { createPassdb, createUserdb } from './drivers.js';
import { parsePasswdFile } from './passwd-file.js';
import { collectWarnings, fakeIds, tempDir } from './test-support.js';

const SHA512_SECRET = '{SHA512-CRYPT}$6$5XY9JnpWhdY83rPO$LzTZjtJeiUcT5fq9eYysgHGhxhQgMaj63QSthiyjP/4JP9xjfB9B4NIeUEOG81IQrn7h05ZAEU0qDQUSsa.Gj.';

const PASSWD = [
  '# users of example.com',
  '',
  'alice:{PLAIN}secret:1000:1000:Alice A.:/home/alice::userdb_mail=sdbox:~/mail userdb_quota_rule=*:storage=1G allow_nets=10.0.0.0/8',
  `bob:${SHA512_SECRET}:vmail:vmail::/var/vmail/bob`,
  'proxied:{PLAIN}pw:::::: proxy=y host=10.0.0.2 port=143 destuser=p@remote',
  'carol::1002:1002::/home/carol',
  'dave:::::::nopassword userdb_uid=1004 userdb_gid=1004 userdb_home=/home/dave',
  'eve:{NOPE}x:1005:1005::/home/eve',
  'bare:$2y$05$988zYzCbLuKe6vJDtoCUB.zLjS8ddtKMB97baF1SFC9c11ktxwynu:1006:1006::/home/bare',
  'nocolonhere',
  'alice:{PLAIN}other:1:1::/tmp',
  'frank:{PLAIN}pw:-1:1000',
  '',
].join('\n');

function request(user: string): AuthRequest {
  return { user, service: 'imap', remoteIp: '192.0.2.1' };
}

async function setUp(t: TestContext, text = PASSWD): Promise<{ path: string; dir: string }> {
  const dir = await tempDir(t);
  const path = join(dir, 'passwd');
  await writeFile(path, text);
  return { path, dir };
}

test('parsing keeps good lines and reports every bad one with file and line', () => {
  const { entries, warnings } = parsePasswdFile(PASSWD, '/etc/loft/passwd');
  assert.deepEqual([...entries.keys()], ['alice', 'bob', 'proxied', 'carol', 'dave', 'eve', 'bare']);
  const alice = entries.get('alice');
  assert.equal(alice?.password, '{PLAIN}secret');
  assert.equal(alice?.home, '/home/alice');
  assert.deepEqual(alice?.passdbExtra, { allow_nets: '10.0.0.0/8' });
  assert.deepEqual(alice?.userdbExtra, { mail: 'sdbox:~/mail', quota_rule: '*:storage=1G' });
  assert.equal(warnings.length, 3);
  assert.match(warnings[0], /^\/etc\/loft\/passwd:10: .*no password field/);
  assert.match(warnings[1], /^\/etc\/loft\/passwd:11: user 'alice' is already defined on line 3/);
  assert.match(warnings[2], /^\/etc\/loft\/passwd:12: user 'frank' has a uid or gid that is neither/);
});

test('passdb passwd-file: right and wrong passwords, unknown users, extra fields', async (t) => {
  const { path } = await setUp(t);
  const { warnings, warn } = collectWarnings();
  const passdb = createPassdb({ driver: 'passwd-file', args: path }, { warn });
  t.after(() => passdb.close());
  assert.deepEqual(await passdb.verifyPlain(request('alice'), 'secret'), {
    result: 'ok',
    user: 'alice',
    extra: { allow_nets: '10.0.0.0/8', userdb_mail: 'sdbox:~/mail', userdb_quota_rule: '*:storage=1G' },
  });
  assert.deepEqual(await passdb.verifyPlain(request('alice'), 'Secret'), { result: 'mismatch', user: 'alice' });
  assert.equal((await passdb.verifyPlain(request('bob'), 'secret')).result, 'ok');
  assert.deepEqual(await passdb.verifyPlain(request('proxied'), 'pw'), { result: 'ok', user: 'proxied', extra: { proxy: 'y', host: '10.0.0.2', port: '143', destuser: 'p@remote' } });
  assert.deepEqual(await passdb.verifyPlain(request('nobody'), 'secret'), { result: 'unknown_user', user: 'nobody' });
  assert.deepEqual(await passdb.verifyPlain(request('carol'), ''), { result: 'mismatch', user: 'carol' }, 'an empty password field locks the account');
  assert.equal((await passdb.verifyPlain(request('dave'), 'anything')).result, 'ok', 'nopassword accepts any password');
  assert.equal((await passdb.verifyPlain(request('bare'), 'secret')).result, 'ok', 'bare hashes are read with the default scheme, CRYPT');
  assert.equal(warnings.length, 3, 'the bad lines were reported once, when the file was read');
});

test('a broken stored password is a tempfail naming file and line, and never shows the password', async (t) => {
  const { path } = await setUp(t);
  const passdb = createPassdb({ driver: 'passwd-file', args: path }, { warn: () => undefined });
  const result = await passdb.verifyPlain(request('eve'), 'hunter2');
  assert.equal(result.result, 'tempfail');
  assert.ok(result.result === 'tempfail' && result.reason.includes(`${path}:8`) && /unknown password scheme 'NOPE'/.test(result.reason), JSON.stringify(result));
  assert.ok(!JSON.stringify(result).includes('hunter2'));
});

test('scheme= in args sets the default scheme of bare hashes, as in Dovecot', async (t) => {
  const { path } = await setUp(t, `bob:${SHA512_SECRET.replace('{SHA512-CRYPT}', '')}:1:1::/home/bob\n`);
  const passdb = createPassdb({ driver: 'passwd-file', args: `scheme=SHA512-CRYPT ${path}`, default_password_scheme: 'PLAIN' });
  assert.equal((await passdb.verifyPlain(request('bob'), 'secret')).result, 'ok');
});

test('userdb passwd-file: uid/gid numbers or names, home, userdb_ fields, iterate', async (t) => {
  const { path } = await setUp(t);
  const userdb = createUserdb({ driver: 'passwd-file', args: path }, { warn: () => undefined, resolveIds: fakeIds({ vmail: 5000 }) });
  t.after(() => userdb.close());
  assert.deepEqual(await userdb.lookup(request('alice')), { result: 'ok', user: 'alice', uid: 1000, gid: 1000, home: '/home/alice', mail: 'sdbox:~/mail', extra: { quota_rule: '*:storage=1G' } });
  assert.deepEqual(await userdb.lookup(request('bob')), { result: 'ok', user: 'bob', uid: 5000, gid: 5000, home: '/var/vmail/bob', extra: {} });
  assert.deepEqual(await userdb.lookup(request('dave')), { result: 'ok', user: 'dave', uid: 1004, gid: 1004, home: '/home/dave', extra: {} });
  assert.deepEqual(await userdb.lookup(request('nobody')), { result: 'unknown_user', user: 'nobody' });
  const noUid = await userdb.lookup(request('proxied'));
  assert.ok(noUid.result === 'tempfail' && /has no uid/.test(noUid.reason), JSON.stringify(noUid));
  const users: string[] = [];
  assert.ok(userdb.iterate);
  for await (const user of userdb.iterate()) users.push(user);
  assert.deepEqual(users, ['alice', 'bob', 'proxied', 'carol', 'dave', 'eve', 'bare']);
});

test('a uid name that does not resolve is a tempfail, not an unknown user', async (t) => {
  const { path } = await setUp(t, 'zed:{PLAIN}x:ghost:ghost::/home/zed\n');
  const userdb = createUserdb({ driver: 'passwd-file', args: path }, { resolveIds: fakeIds({}) });
  const result = await userdb.lookup(request('zed'));
  assert.ok(result.result === 'tempfail' && /ghost/.test(result.reason), JSON.stringify(result));
});

test('the file is re-read when it changes, with at most one stat a second', async (t) => {
  const { path, dir } = await setUp(t, 'alice:{PLAIN}one:1:1::/home/alice\n');
  let now = 1_000_000;
  const passdb = createPassdb({ driver: 'passwd-file', args: path }, { now: () => now });
  assert.equal((await passdb.verifyPlain(request('alice'), 'one')).result, 'ok');

  await writeFile(path, 'alice:{PLAIN}one:1:1::/home/alice\nbob:{PLAIN}two:2:2::/home/bob\n');
  now += 999;
  assert.equal((await passdb.verifyPlain(request('bob'), 'two')).result, 'unknown_user', 'within the second the cached copy is used');
  now += 1;
  assert.equal((await passdb.verifyPlain(request('bob'), 'two')).result, 'ok', 'a second later the change is seen');

  // Editors replace the file: same size, new inode.
  const next = join(dir, 'passwd.new');
  await writeFile(next, 'alice:{PLAIN}uno:1:1::/home/alice\nbob:{PLAIN}two:2:2::/home/bob\n');
  await rename(next, path);
  now += 1000;
  assert.equal((await passdb.verifyPlain(request('alice'), 'uno')).result, 'ok');
  assert.equal((await passdb.verifyPlain(request('alice'), 'one')).result, 'mismatch');
});

test('a missing or unreadable file: tempfail for the one file, unknown user for a per-domain file', async (t) => {
  const dir = await tempDir(t);
  const fixed = createPassdb({ driver: 'passwd-file', args: join(dir, 'passwd') });
  const missing = await fixed.verifyPlain(request('alice'), 'x');
  assert.ok(missing.result === 'tempfail' && /does not exist/.test(missing.reason));
  await mkdir(join(dir, 'passwd'));
  const unreadable = await fixed.verifyPlain(request('alice'), 'x');
  assert.ok(unreadable.result === 'tempfail' && /cannot be read \(EISDIR\)/.test(unreadable.reason), JSON.stringify(unreadable));
  const perDomain = createPassdb({ driver: 'passwd-file', args: join(dir, '%d', 'passwd') });
  assert.equal((await perDomain.verifyPlain(request('alice@nowhere.example'), 'x')).result, 'unknown_user');
});

test('user names never reach a file path with /, .., NUL or control characters', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'example.com'));
  await writeFile(join(dir, 'example.com', 'passwd'), 'alice:{PLAIN}secret:1:1::/home/alice\n');
  // A file one level up that a traversal would reach: it accepts any password.
  await writeFile(join(dir, 'passwd'), 'alice:::::::nopassword\n');
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'passwd'), 'alice:::::::nopassword\n');
  const passdb = createPassdb({ driver: 'passwd-file', args: `username_format=%n ${join(dir, '%d', 'passwd')}` });
  assert.equal((await passdb.verifyPlain(request('alice@example.com'), 'secret')).result, 'ok');
  assert.equal((await passdb.verifyPlain(request('alice@EXAMPLE.com'), 'secret')).result, 'unknown_user');
  for (const user of ['alice', 'alice@', 'alice@..', 'alice@.', 'alice@../example.com', 'alice@example.com/..', 'alice@sub/../example.com', 'alice@x/../../etc', 'alice@example.com\u0000', 'alice\n@example.com', 'alice@exa\u0007mple.com']) {
    assert.deepEqual(await passdb.verifyPlain(request(user), 'anything'), { result: 'unknown_user', user }, JSON.stringify(user));
  }
  const userdb = createUserdb({ driver: 'passwd-file', args: join(dir, '%d', 'passwd') });
  assert.equal((await userdb.lookup(request('x@..'))).result, 'unknown_user');
  assert.equal(userdb.iterate, undefined, 'per-domain files cannot be listed');
});

test('a relative passwd-file path is relative to the working directory (base_dir, as loftd runs services)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-relative-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'users'), 'rel:{PLAIN}pw:1000:1000::/home/rel::\n');
  const cwd = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(cwd));
  const db = createPassdb({ driver: 'passwd-file', args: 'users' });
  process.chdir(cwd);
  assert.equal((await db.verifyPlain({ user: 'rel', service: 'imap' }, 'pw')).result, 'ok');
  await db.close();
});

test('bad args are refused when the driver is created', () => {
  assert.throws(() => createPassdb({ driver: 'passwd-file', args: '' }), /LOFT_E_AUTH_DRIVER|args must be/);
  assert.throws(() => createPassdb({ driver: 'passwd-file', args: '/etc/%x/passwd' }), /unknown variable '%x'/);
  assert.throws(() => createUserdb({ driver: 'nope' as 'sql', args: '' }), /unknown driver 'nope'/);
});
