import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { AuthRequest, PassdbResult } from './auth-types.js';
import { createPassdb, createUserdb } from './drivers.js';
import { createPgCluster, findPostgresBin } from './pg-cluster.js';
import { collectWarnings, fakeIds, tempDir } from './test-support.js';

// Hashes made by `doveadm pw` (see doveadm-fixtures.ts); alice's is stored bare, read with default_pass_scheme.
const ALICE_HASH = '$6$5XY9JnpWhdY83rPO$LzTZjtJeiUcT5fq9eYysgHGhxhQgMaj63QSthiyjP/4JP9xjfB9B4NIeUEOG81IQrn7h05ZAEU0qDQUSsa.Gj.';
const BOB_HASH = '{BLF-CRYPT}$2y$05$jn/GE4hrRSS7iHl70R9R4eCAcK4fAq2bezs7FnTEq2cEjD8ZFRHTi';

const SCHEMA = `
  CREATE TABLE users (
    userid text NOT NULL, domain text NOT NULL, password text, home text, uid text, gid integer, mail text,
    proxy boolean, host text, userdb_quota_rule text, PRIMARY KEY (userid, domain));
  INSERT INTO users VALUES
    ('alice', 'example.com', '${ALICE_HASH}', '/var/vmail/example.com/alice', '5000', 5000, 'sdbox:~/mail', NULL, NULL, '*:storage=1G'),
    ('bob', 'example.com', '${BOB_HASH}', '/var/vmail/example.com/bob', 'vmail', 5000, NULL, true, '10.0.0.2', NULL),
    ('twin', 'example.com', '{PLAIN}a', '/a', '1', 1, NULL, NULL, NULL, NULL),
    ('twin', 'EXAMPLE.COM', '{PLAIN}b', '/b', '1', 1, NULL, NULL, NULL, NULL);`;

function request(user: string): AuthRequest {
  return { user, service: 'imap', remoteIp: '192.0.2.7' };
}

test('sql passdb and userdb against a private PostgreSQL', async (t) => {
  const bin = findPostgresBin();
  if (!bin) {
    t.skip('initdb not found under /usr/lib/postgresql/*/bin (install Debian\'s postgresql to run this test)');
    return;
  }
  const cluster = await createPgCluster(bin);
  t.after(() => cluster.destroy());
  const admin = new pg.Client({ host: cluster.socketDir, port: cluster.port, user: cluster.user, database: 'postgres' });
  await admin.connect();
  await admin.query(SCHEMA);
  await admin.end();

  const dir = await tempDir(t);
  const confPath = join(dir, 'dovecot-sql.conf.ext');
  await writeFile(
    confPath,
    [
      '# as a Dovecot admin writes it',
      'driver = pgsql',
      `connect = host=${cluster.socketDir} port=${cluster.port} dbname=postgres user=${cluster.user} connect_timeout=2`,
      'default_pass_scheme = SHA512-CRYPT',
      'password_query = \\',
      '  SELECT userid AS username, domain, password, proxy, host, \\',
      "    'y' AS userdb_prefetched FROM users WHERE userid = '%n' AND lower(domain) = '%Ld'",
      "user_query = SELECT home, uid, gid, mail, userdb_quota_rule AS quota_rule FROM users WHERE userid || '@' || domain = '%u'",
      'iterate_query = SELECT userid AS username, domain FROM users ORDER BY domain, userid',
      '',
    ].join('\n'),
  );
  const { warnings, warn } = collectWarnings();
  const passdb = createPassdb({ driver: 'sql', args: confPath, default_password_scheme: 'PLAIN' }, { warn });
  const userdb = createUserdb({ driver: 'sql', args: confPath }, { warn, resolveIds: fakeIds({ vmail: 5000 }) });
  t.after(() => Promise.all([passdb.close(), userdb.close()]));

  await t.test('password_query: right and wrong passwords, extra columns, unknown users', async () => {
    assert.deepEqual(await passdb.verifyPlain(request('alice@example.com'), 'secret'), { result: 'ok', user: 'alice@example.com', extra: { userdb_prefetched: 'y' } });
    assert.deepEqual(await passdb.verifyPlain(request('alice@example.com'), 'secreT'), { result: 'mismatch', user: 'alice@example.com' });
    assert.deepEqual(await passdb.verifyPlain(request('bob@Example.COM'), 'secret'), { result: 'ok', user: 'bob@example.com', extra: { proxy: 'y', host: '10.0.0.2', userdb_prefetched: 'y' } }, 'username and domain columns name the user');
    assert.deepEqual(await passdb.verifyPlain(request('carol@example.com'), 'secret'), { result: 'unknown_user', user: 'carol@example.com' });
    const twins = await passdb.verifyPlain(request('twin@example.com'), 'a');
    assert.ok(twins.result === 'tempfail' && /returned 2 rows/.test(twins.reason), JSON.stringify(twins));
  });

  await t.test('user_query: ids (numbers or names), home, mail, extra fields; iterate_query', async () => {
    assert.deepEqual(await userdb.lookup(request('alice@example.com')), { result: 'ok', user: 'alice@example.com', uid: 5000, gid: 5000, home: '/var/vmail/example.com/alice', mail: 'sdbox:~/mail', extra: { quota_rule: '*:storage=1G' } });
    assert.deepEqual(await userdb.lookup(request('bob@example.com')), { result: 'ok', user: 'bob@example.com', uid: 5000, gid: 5000, home: '/var/vmail/example.com/bob', extra: {} });
    assert.deepEqual(await userdb.lookup(request('carol@example.com')), { result: 'unknown_user', user: 'carol@example.com' });
    const users: string[] = [];
    assert.ok(userdb.iterate);
    for await (const user of userdb.iterate()) users.push(user);
    assert.deepEqual(users, ['twin@EXAMPLE.COM', 'alice@example.com', 'bob@example.com', 'twin@example.com']);
  });

  await t.test('SQL injection through the user name is impossible', async () => {
    const attempts = ["x' OR '1'='1", "x' OR '1'='1@example.com", "alice' --@example.com", "' OR ''='@' OR ''='", "alice@example.com'; DROP TABLE users; --", 'alice@example.com\\', "alice@x' UNION SELECT 'a','b','{PLAIN}p',NULL,NULL,'y' --"];
    for (const user of attempts) {
      const result = await passdb.verifyPlain(request(user), 'p');
      assert.deepEqual(result, { result: 'unknown_user', user }, `passdb: ${user}`);
      assert.equal((await userdb.lookup(request(user))).result, 'unknown_user', `userdb: ${user}`);
    }
    assert.equal((await passdb.verifyPlain(request('alice@example.com'), 'secret')).result, 'ok', 'the table is still there');
  });

  await t.test('%w hands the password to the query as a parameter, as Dovecot admins use it with crypt()', async () => {
    const connect = `connect = host=${cluster.socketDir} port=${cluster.port} dbname=postgres user=${cluster.user}`;
    const byPassword = join(dir, 'by-password.conf');
    await writeFile(byPassword, `${connect}\npassword_query = SELECT NULL AS password, 'Y' AS nopassword FROM users WHERE userid = '%n' AND domain = '%d' AND password = '{PLAIN}' || '%w'\n`);
    const checked = createPassdb({ driver: 'sql', args: byPassword }, { warn });
    const typeError = join(dir, 'type-error.conf');
    await writeFile(typeError, `${connect}\npassword_query = SELECT password FROM users WHERE gid = '%w'\n`);
    const broken = createPassdb({ driver: 'sql', args: typeError }, { warn });
    try {
      assert.deepEqual(await checked.verifyPlain(request('twin@example.com'), 'a'), { result: 'ok', user: 'twin@example.com', extra: { nopassword: 'Y' } });
      assert.equal((await checked.verifyPlain(request('twin@example.com'), 'b')).result, 'unknown_user');
      assert.equal((await checked.verifyPlain(request('twin@example.com'), "x' OR '1'='1")).result, 'unknown_user');
      const failed = await broken.verifyPlain(request('twin@example.com'), 'hunter2-not-a-number');
      assert.ok(failed.result === 'tempfail' && failed.reason.includes('<password>') && !failed.reason.includes('hunter2'), JSON.stringify(failed));
    } finally {
      await Promise.all([checked.close(), broken.close()]);
    }
  });

  await t.test('a stopped server is a tempfail with a reason, and the driver recovers after a restart', async () => {
    await cluster.stop();
    const down: PassdbResult = await passdb.verifyPlain(request('alice@example.com'), 'hunter2-secret');
    assert.equal(down.result, 'tempfail');
    assert.ok(down.result === 'tempfail' && down.reason.startsWith(`sql (${confPath}):`), JSON.stringify(down));
    assert.ok(!JSON.stringify(down).includes('hunter2-secret'), 'no password in the reason');
    assert.equal((await userdb.lookup(request('alice@example.com'))).result, 'tempfail');
    await cluster.start();
    assert.equal((await passdb.verifyPlain(request('alice@example.com'), 'secret')).result, 'ok');
    assert.equal((await userdb.lookup(request('alice@example.com'))).result, 'ok');
  });

  assert.ok(warnings.every((message) => !message.includes('secret')), 'warnings hold no password');
});

test('sql args that cannot work are refused when the driver is created', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => createPassdb({ driver: 'sql', args: join(dir, 'missing.conf') }), /cannot read .*missing\.conf \(ENOENT\)/);
  const noQuery = join(dir, 'no-query.conf');
  await writeFile(noQuery, 'driver = pgsql\nconnect = host=/nonexistent dbname=x\n');
  assert.throws(() => createPassdb({ driver: 'sql', args: noQuery }), /has no password_query/);
  assert.throws(() => createUserdb({ driver: 'sql', args: noQuery }), /has no user_query/);
});
