/**
 * The embedded dev config's user shape (etc/loft.conf): a static userdb whose home is
 * relative (`home=home/%n`, so inside base_dir) and whose directory does not exist yet. A
 * first login must work as it does after `npm start`: loftd makes the home, owned by the
 * user, and mail can be saved and read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IS_ROOT, freePort, startLoftd } from './harness.js';
import { RawImap } from './raw-imap.js';

test('a relative home inside base_dir is created by loftd at the first login, owned by the user', async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-relhome-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const users = path.join(dir, 'users');
  fs.writeFileSync(users, 'demo:{PLAIN}demo::::::\n', { mode: 0o644 });
  const loftd = await startLoftd(t, `service imap-login {
  inet_listener imap {
    port = ${port}
  }
}
passdb dev {
  driver = passwd-file
  args = ${users}
}
userdb dev {
  driver = static
  args = uid=nobody gid=nogroup home=home/%n
}
`, { ready: ['imap-login', 'auth', 'anvil'] });
  const home = path.join(loftd.baseDir, 'home', 'demo');
  assert.equal(fs.existsSync(home), false, 'the home does not exist before the first login');

  const client = await RawImap.connect(port);
  try {
    assert.match((await client.command('LOGIN demo demo')).status, /^OK/);
    assert.match((await client.command('SELECT INBOX')).status, /^OK/);
    assert.match((await client.command('APPEND INBOX {20+}\r\nSubject: hi\r\n\r\nhello')).status, /^OK/);
    const fetched = await client.command('FETCH 1 (BODY[TEXT])');
    assert.match(fetched.status, /^OK/);
    assert.match(fetched.lines, /hello/);
  } finally {
    client.socket.destroy();
  }
  const stat = fs.statSync(home);
  assert.ok(stat.isDirectory());
  assert.equal(stat.mode & 0o777, 0o700, 'the home is private to its user');
  if (IS_ROOT) assert.equal(stat.uid, 65534, 'the home belongs to the user (nobody)');
});
