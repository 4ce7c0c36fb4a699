import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthRequest } from './auth-types.js';
import { createPassdb, createUserdb } from './drivers.js';
import { fakeIds } from './test-support.js';

function request(user: string): AuthRequest {
  return { user, service: 'lmtp' };
}

test('static userdb gives every user the same ids and their own home, names resolved', async () => {
  const userdb = createUserdb({ driver: 'static', args: 'uid=vmail gid=vmail home=/var/vmail/%d/%n mail=sdbox:~/mail quota_rule=*:storage=%Ld allow_all_users=yes' }, { resolveIds: fakeIds({ vmail: 5000 }) });
  assert.deepEqual(await userdb.lookup(request('alice@example.com')), {
    result: 'ok',
    user: 'alice@example.com',
    uid: 5000,
    gid: 5000,
    home: '/var/vmail/example.com/alice',
    mail: 'sdbox:~/mail',
    extra: { quota_rule: '*:storage=example.com' },
  });
  assert.equal(userdb.iterate, undefined);
});

test('static userdb: a name that would climb out of the home directory is nobody', async () => {
  const userdb = createUserdb({ driver: 'static', args: 'uid=5000 gid=5000 home=/var/vmail/%d/%n' }, { resolveIds: fakeIds({}) });
  for (const user of ['../../etc@example.com', 'alice@..', 'alice@a/b', 'alice', '@example.com', 'al\u0000ice@example.com']) {
    assert.deepEqual(await userdb.lookup(request(user)), { result: 'unknown_user', user }, JSON.stringify(user));
  }
});

test('static userdb with system names resolves them through getent', async () => {
  const userdb = createUserdb({ driver: 'static', args: 'uid=root gid=root home=/root' });
  const result = await userdb.lookup(request('alice'));
  assert.deepEqual(result, { result: 'ok', user: 'alice', uid: 0, gid: 0, home: '/root', extra: {} });
  const unknown = createUserdb({ driver: 'static', args: 'uid=no-such-user-here gid=0 home=/x' });
  const failed = await unknown.lookup(request('alice'));
  assert.ok(failed.result === 'tempfail' && /no-such-user-here/.test(failed.reason), JSON.stringify(failed));
});

test('static userdb needs uid and gid', () => {
  assert.throws(() => createUserdb({ driver: 'static', args: 'home=/var/vmail/%n' }), /must set uid=/);
});

test('static passdb: password= in any scheme, nopassword, and extra fields for proxies', async () => {
  const plain = createPassdb({ driver: 'static', args: 'password=100%secret', default_password_scheme: 'PLAIN' });
  assert.equal((await plain.verifyPlain(request('anyone'), '100%secret')).result, 'ok', 'a % in a password is no variable');
  assert.equal((await plain.verifyPlain(request('anyone'), 'wrong')).result, 'mismatch');
  const hashed = createPassdb({ driver: 'static', args: 'password={BLF-CRYPT}$2y$05$jn/GE4hrRSS7iHl70R9R4eCAcK4fAq2bezs7FnTEq2cEjD8ZFRHTi' });
  assert.equal((await hashed.verifyPlain(request('x'), 'secret')).result, 'ok');
  const proxy = createPassdb({ driver: 'static', args: 'nopassword=y proxy=y host=10.0.0.%d' });
  assert.deepEqual(await proxy.verifyPlain(request('u@7'), 'whatever'), { result: 'ok', user: 'u@7', extra: { nopassword: 'y', proxy: 'y', host: '10.0.0.7' } });
  const bare = createPassdb({ driver: 'static', args: 'nopassword' });
  assert.equal((await bare.verifyPlain(request('x'), '')).result, 'ok');
  assert.throws(() => createPassdb({ driver: 'static', args: 'proxy=y' }), /password=… or nopassword/);
});
