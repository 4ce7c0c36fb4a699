import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuthSettings } from '@loft/auth';
import type { AuthLoginRequest } from '@loft/master-protocol';
import { AuthEngine, TICKET_TTL_MS } from './auth-engine.js';

const CLIENT = { remoteIp: '192.0.2.7', remotePort: 40000, localIp: '192.0.2.1', localPort: 143, secured: true, tls: true };

function engine(t: { after(fn: () => void): void }, lines: string[], options: { now?: () => number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-auth-engine-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const users = path.join(dir, 'users');
  fs.writeFileSync(users, lines.join('\n') + '\n');
  const settings: AuthSettings = {
    auth_failure_delay: 2000, auth_cache_size: 0, auth_cache_ttl: 0, auth_cache_negative_ttl: 0,
    auth_username_format: '%Lu', auth_allow_cleartext: false, auth_mechanisms: ['plain'],
    passdb: { a: { driver: 'passwd-file', args: users, default_password_scheme: 'PLAIN', deny: false, skip: 'never', result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' } },
    userdb: { a: { driver: 'passwd-file', args: users, skip: 'never', result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' } },
  };
  const slept: number[] = [];
  const penalties = { ip: new Map<string, number>() };
  const auth = new AuthEngine(settings, {
    now: options.now,
    sleep: async (ms) => { slept.push(ms); },
    penalties: {
      get: async (ip) => penalties.ip.get(ip) ?? 0,
      failed: async (ip) => { penalties.ip.set(ip, (penalties.ip.get(ip) ?? 0) + 2000); },
      succeeded: async (ip) => { penalties.ip.delete(ip); },
    },
  });
  t.after(() => auth.close());
  return { auth, slept, penalties };
}

const request = (user: string, password: string, selfTargets: string[] = []): AuthLoginRequest =>
  ({ user, password, mechanism: 'PLAIN', service: 'imap', client: CLIENT, selfTargets });

test('a ticket is redeemed once, for its service, before it expires', async (t) => {
  let now = 1_000_000;
  const { auth } = engine(t, ['alice:{PLAIN}pw:5001:5001::/home/alice::'], { now: () => now });
  const reply = await auth.login(request('Alice', 'pw'));
  assert.equal(reply.result, 'ok');
  if (reply.result !== 'ok') return;
  assert.equal(reply.user, 'alice', 'auth_username_format %Lu lowercases');
  assert.equal(auth.redeem(reply.ticket, 'lmtp').result, 'unknown_user', 'not for another service');
  const second = await auth.login(request('alice', 'pw'));
  if (second.result !== 'ok') return assert.fail('second login failed');
  const identity = auth.redeem(second.ticket, 'imap');
  assert.equal(identity.result, 'ok');
  assert.equal(identity.result === 'ok' && identity.uid, 5001);
  assert.equal(auth.redeem(second.ticket, 'imap').result, 'unknown_user', 'a replay is refused');
  const third = await auth.login(request('alice', 'pw'));
  if (third.result !== 'ok') return assert.fail('third login failed');
  now += TICKET_TTL_MS + 1;
  assert.equal(auth.redeem(third.ticket, 'imap').result, 'unknown_user', 'an expired ticket is refused');
  assert.equal(auth.redeem('0'.repeat(64), 'imap').result, 'unknown_user', 'a forged ticket is refused');
});

test('failures wait auth_failure_delay and earn a penalty; a success clears it', async (t) => {
  const { auth, slept, penalties } = engine(t, ['alice:{PLAIN}pw:5001:5001::/home/alice::']);
  assert.deepEqual(await auth.login(request('alice', 'wrong')), { result: 'fail', temporary: false, message: 'Authentication failed.' });
  assert.deepEqual(slept, [2000]);
  await auth.login(request('nobody-here', 'x'));
  assert.deepEqual(slept, [2000, 2000, 2000], 'the second attempt waited its penalty, then the delay');
  assert.equal((await auth.login(request('alice', 'pw'))).result, 'ok');
  assert.equal(penalties.ip.get(CLIENT.remoteIp), undefined);
  assert.equal((await auth.login(request('al\u0000ice', 'pw'))).result, 'fail', 'control characters never reach a passdb');
});

test('proxy fields: to another host with TLS verified unless any-cert; to this server itself, a local login', async (t) => {
  const { auth } = engine(t, [
    'p1:{PLAIN}pw:5001:5001::/h::proxy=y host=10.9.8.7 port=993 ssl=yes',
    'p2:{PLAIN}pw:5001:5001::/h::proxy=y host=10.9.8.7 starttls=any-cert destuser=other',
    'p3:{PLAIN}pw:5001:5001::/h::proxy_maybe=y host=127.0.0.1 port=143',
    'p4:{PLAIN}pw:5001:5001::/h::nologin reason=Moved\\ away',
  ]);
  const p1 = await auth.login(request('p1', 'pw'));
  assert.deepEqual(p1, { result: 'proxy', user: 'p1', host: '10.9.8.7', port: 993, ssl: 'yes', anyCert: false, destuser: 'p1', password: 'pw' });
  const p2 = await auth.login(request('p2', 'pw'));
  assert.equal(p2.result === 'proxy' && p2.ssl, 'starttls');
  assert.equal(p2.result === 'proxy' && p2.anyCert, true);
  assert.equal(p2.result === 'proxy' && p2.destuser, 'other');
  assert.equal((await auth.login(request('p3', 'pw', ['127.0.0.1:143']))).result, 'ok', 'a proxy to itself logs in here');
  const p4 = await auth.login(request('p4', 'pw'));
  assert.equal(p4.result, 'fail');
});

test('auth test and user lookups', async (t) => {
  const { auth } = engine(t, ['alice:{PLAIN}pw:5001:5001::/home/alice::userdb_mail=sdbox:~/m']);
  const ok = await auth.test('alice', 'pw', 'imap');
  assert.equal(ok.result, 'ok');
  assert.equal((await auth.test('alice', 'no', 'imap')).result, 'mismatch');
  assert.equal((await auth.test('zed', 'no', 'imap')).result, 'unknown_user');
  const user = await auth.userLookup('ALICE', 'imap');
  assert.equal(user.result === 'ok' && user.home, '/home/alice');
});
