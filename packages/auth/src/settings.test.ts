import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, SchemaRegistry } from '@loft/settings';
import { createPassdb, createUserdb } from './drivers.js';
import { authSettingsSchema, checkAuthSettings, inConsultOrder, type AuthSettings } from './settings.js';
import { fakeIds, tempDir } from './test-support.js';

function registry(): SchemaRegistry {
  const schemas = new SchemaRegistry();
  schemas.register('auth', authSettingsSchema);
  return schemas;
}

function load(files: Readonly<Record<string, string>>, path = '/etc/loft/loft.conf') {
  return loadConfig(path, registry(), {
    readFile(file) {
      if (Object.hasOwn(files, file)) return files[file];
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: 'ENOENT' });
    },
    listDir() {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
  });
}

test('the auth settings register, and their defaults are Dovecot-like', () => {
  const defaults = registry().defaults();
  assert.deepEqual(defaults, {
    auth_allow_cleartext: false,
    auth_cache_negative_ttl: 3_600_000,
    auth_cache_size: 0,
    auth_cache_ttl: 3_600_000,
    auth_failure_delay: 2000,
    auth_mechanisms: ['plain', 'login'],
    auth_username_format: '%Lu',
    passdb: {},
    userdb: {},
  });
  assert.equal(registry().describe('passdb/default_password_scheme')?.default, 'CRYPT');
});

test('a sample conf with a passwd-file passdb and a static userdb loads, and its sections create working drivers', async (t) => {
  const dir = await tempDir(t);
  const passwd = join(dir, 'passwd');
  await writeFile(passwd, 'alice@example.com:{PLAIN}secret::::::\n');
  const snapshot = load({
    '/etc/loft/loft.conf': [
      'auth_mechanisms = plain login',
      'auth_failure_delay = 3 secs',
      'auth_username_format = %Lu',
      'passdb 20-fallback {',
      '  driver = static',
      '  args = nopassword=y proxy=y host=10.0.0.9',
      '}',
      'passdb 10-files {',
      '  driver = passwd-file',
      `  args = scheme=SHA512-CRYPT ${passwd}`,
      '  result_failure = continue-fail',
      '}',
      'userdb vmail {',
      '  driver = static',
      '  args = uid=vmail gid=vmail home=/var/vmail/%d/%n mail=sdbox:~/mail',
      '}',
      '',
    ].join('\n'),
  });
  assert.deepEqual(snapshot.errors, []);
  const settings = snapshot.base as unknown as AuthSettings;
  assert.equal(settings.auth_failure_delay, 3000);
  assert.deepEqual(settings.passdb['10-files'], {
    driver: 'passwd-file',
    args: `scheme=SHA512-CRYPT ${passwd}`,
    default_password_scheme: 'CRYPT',
    deny: false,
    skip: 'never',
    result_success: 'return-ok',
    result_failure: 'continue-fail',
    result_internalfail: 'continue',
  });
  assert.deepEqual(inConsultOrder(settings.passdb).map(([name]) => name), ['10-files', '20-fallback']);
  assert.deepEqual(checkAuthSettings(settings), []);

  const passdb = createPassdb(settings.passdb['10-files']);
  assert.equal((await passdb.verifyPlain({ user: 'alice@example.com', service: 'imap' }, 'secret')).result, 'ok');
  const userdb = createUserdb(settings.userdb.vmail, { resolveIds: fakeIds({ vmail: 5000 }) });
  assert.deepEqual(await userdb.lookup({ user: 'alice@example.com', service: 'imap' }), {
    result: 'ok',
    user: 'alice@example.com',
    uid: 5000,
    gid: 5000,
    home: '/var/vmail/example.com/alice',
    mail: 'sdbox:~/mail',
    extra: {},
  });
});

test('an unknown driver, an unknown key and a missing driver are reported', () => {
  const snapshot = load({
    '/etc/loft/loft.conf': ['passdb a {', '  driver = ldap', '}', 'userdb b {', '  drivr = static', '}', ''].join('\n'),
  });
  const messages = snapshot.errors.map((error) => JSON.stringify(error));
  assert.ok(messages.some((message) => /ldap/.test(message)), messages.join('\n'));
  assert.ok(messages.some((message) => /drivr/.test(message)), messages.join('\n'));
  const problems = checkAuthSettings({ passdb: {}, userdb: { b: { driver: '', args: '', skip: 'never', result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' } }, auth_mechanisms: [] });
  assert.deepEqual(problems, [
    'userdb b: driver is not set; set driver = passwd-file, static or sql',
    'no passdb is configured, so nobody can log in; add passdb NAME { driver = … }',
    'auth_mechanisms is empty; set auth_mechanisms = plain login',
  ]);
});
