import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isLoftError } from '@loft/errors';
import { DOVEADM_FIXTURES } from './doveadm-fixtures.js';
import { hashPassword, PASSWORD_SCHEMES, verifyPassword } from './password-scheme.js';

const run = promisify(execFile);

function schemeError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => isLoftError(err, 'LOFT_E_AUTH_SCHEME') && pattern.test(err.message);
}

/** `doveadm` when Debian's dovecot-core is installed; undefined otherwise. */
async function findDoveadm(): Promise<string | undefined> {
  try {
    const { stdout } = await run('sh', ['-c', 'command -v doveadm']);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** What `doveadm pw` writes, scheme by scheme: the shape our hashPassword must have too. */
const DOVEADM_SHAPES: Readonly<Record<string, RegExp>> = {
  'SHA512-CRYPT': /^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/,
  'SHA256-CRYPT': /^\{SHA256-CRYPT\}\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/,
  'BLF-CRYPT': /^\{BLF-CRYPT\}\$2y\$05\$[./0-9A-Za-z]{53}$/,
  CRYPT: /^\{CRYPT\}\$2y\$05\$[./0-9A-Za-z]{53}$/,
  ARGON2ID: /^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
  ARGON2I: /^\{ARGON2I\}\$argon2i\$v=19\$m=32768,t=4,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
  SSHA512: /^\{SSHA512\}[A-Za-z0-9+/]{91}=$/,
  'MD5-CRYPT': /^\{MD5-CRYPT\}\$1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/,
  PLAIN: /^\{PLAIN\}secret$/,
};

test('every hash doveadm made verifies with its password and not with another', async () => {
  for (const { password, stored } of DOVEADM_FIXTURES) {
    assert.equal(await verifyPassword(password, stored), true, stored);
    assert.equal(await verifyPassword(`${password}x`, stored), false, stored);
    assert.equal(await verifyPassword('', stored), false, stored);
  }
});

test('hashPassword writes what doveadm pw writes, and the result verifies', async () => {
  for (const [scheme, shape] of Object.entries(DOVEADM_SHAPES)) {
    const stored = await hashPassword('secret', scheme);
    assert.match(stored, shape);
    assert.equal(await verifyPassword('secret', stored), true, scheme);
    assert.equal(await verifyPassword('Secret', stored), false, scheme);
  }
  assert.notEqual(await hashPassword('secret', 'SHA512-CRYPT'), await hashPassword('secret', 'SHA512-CRYPT'), 'a fresh salt every time');
});

test('every listed scheme round-trips, names are case-insensitive, CLEARTEXT is PLAIN', async () => {
  for (const scheme of PASSWORD_SCHEMES) {
    const stored = await hashPassword('pässwörd €', scheme.toLowerCase());
    assert.ok(stored.startsWith(`{${scheme}}`), stored);
    assert.equal(await verifyPassword('pässwörd €', stored), true, scheme);
  }
  assert.equal(await verifyPassword('secret', '{CLEARTEXT}secret'), true);
  assert.equal(await verifyPassword('secret', '{cleartext}secreT'), false);
});

/** Printed by libxcrypt's crypt() (Python's crypt module, Debian 12): a Debian 12 /etc/shadow entry for 'secret', and scrypt. */
const LIBXCRYPT_YESCRYPT = '$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.';
const LIBXCRYPT_SCRYPT = '$7$C6..../....SodiumChloride$KnaT/KYqe0Wkw8JJxj5dtK/JH3wZT3jEZzX4iCRKXQ0';

test('{CRYPT} and {YESCRYPT} verify a yescrypt hash copied from /etc/shadow, {CRYPT} also scrypt', async () => {
  assert.equal(await verifyPassword('secret', `{CRYPT}${LIBXCRYPT_YESCRYPT}`), true);
  assert.equal(await verifyPassword('secreT', `{CRYPT}${LIBXCRYPT_YESCRYPT}`), false);
  assert.equal(await verifyPassword('secret', `{YESCRYPT}${LIBXCRYPT_YESCRYPT}`), true);
  assert.equal(await verifyPassword('', `{YESCRYPT}${LIBXCRYPT_YESCRYPT}`), false);
  assert.equal(await verifyPassword('secret', LIBXCRYPT_YESCRYPT, 'CRYPT'), true, 'a bare shadow hash under default_pass_scheme = CRYPT');
  assert.equal(await verifyPassword('secret', `{CRYPT}${LIBXCRYPT_SCRYPT}`), true);
  assert.equal(await verifyPassword('secret!', `{CRYPT}${LIBXCRYPT_SCRYPT}`), false);
  assert.equal(await verifyPassword('x'.repeat(512), `{CRYPT}${LIBXCRYPT_YESCRYPT}`), false, 'longer than crypt(3) hashes: no match, not an error');
});

test('{YESCRYPT} writes what Debian\'s passwd writes, and it round-trips', async () => {
  const stored = await hashPassword('pässwörd €', 'YESCRYPT');
  assert.match(stored, /^\{YESCRYPT\}\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$/);
  assert.equal(await verifyPassword('pässwörd €', stored), true);
  assert.equal(await verifyPassword('passwörd €', stored), false);
  assert.equal(await verifyPassword('pässwörd €', `{CRYPT}${stored.slice('{YESCRYPT}'.length)}`), true, 'the same string is a CRYPT hash');
  assert.notEqual(await hashPassword('pässwörd €', 'YESCRYPT'), stored, 'a fresh salt every time');
  await assert.rejects(hashPassword('x'.repeat(512), 'YESCRYPT'), schemeError(/longer than 511 bytes/));
});

test('bare data is read with the default scheme; without one it is an error, not a mismatch', async () => {
  assert.equal(await verifyPassword('secret', '$6$5XY9JnpWhdY83rPO$LzTZjtJeiUcT5fq9eYysgHGhxhQgMaj63QSthiyjP/4JP9xjfB9B4NIeUEOG81IQrn7h05ZAEU0qDQUSsa.Gj.', 'SHA512-CRYPT'), true);
  assert.equal(await verifyPassword('secret', 'secret', 'PLAIN'), true);
  assert.equal(await verifyPassword('secret', '$2y$05$988zYzCbLuKe6vJDtoCUB.zLjS8ddtKMB97baF1SFC9c11ktxwynu', 'CRYPT'), true);
  await assert.rejects(verifyPassword('secret', 'secret'), schemeError(/no \{SCHEME\} prefix/));
  assert.equal(await verifyPassword('secret', '$1$kFrONODL$tUN1ZpeNU6zWXhNTUSqUl/', 'PLAIN'), true, 'a bare $1$ hash is MD5-CRYPT, as in Dovecot');
});

test('an unknown scheme or malformed data is LOFT_E_AUTH_SCHEME and never shows the password', async () => {
  await assert.rejects(verifyPassword('hunter2', '{NOPE}x'), schemeError(/unknown password scheme 'NOPE'/));
  await assert.rejects(hashPassword('hunter2', 'MD4-MAGIC'), schemeError(/unknown password scheme/));
  await assert.rejects(verifyPassword('hunter2', '{SHA512-CRYPT}$6$salt$tooshort'), schemeError(/malformed SHA512-CRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{SHA512-CRYPT}$5$.TEplxftdiC7bcS0$y4Z3YvNHrg7BCue9f0DiL3dOVj.PBEErpnYB5vywHn0'), schemeError(/malformed SHA512-CRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{BLF-CRYPT}$2y$05$short'), schemeError(/malformed BLF-CRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$tuZ1EUpL2pCJItsFfNe6Kw$TOauPXv6TO9cXbXcRTT2oK4J8jgzyWFSO7nzu6hqvPg'), schemeError(/malformed ARGON2ID/));
  await assert.rejects(verifyPassword('hunter2', '{SSHA512}c2VjcmV0'), schemeError(/malformed SSHA512/));
  await assert.rejects(verifyPassword('hunter2', '{SSHA512}not base64!'), schemeError(/malformed SSHA512/));
  await assert.rejects(verifyPassword('hunter2', '{MD5-CRYPT}$1$kFrONODL$tUN1ZpeNU6zWXhNTUSqUl'), schemeError(/malformed MD5-CRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{CRYPT}abJnggxhB/yWI'), schemeError(/unsupported kind.*\$y\$ \(yescrypt\)/));
  await assert.rejects(verifyPassword('hunter2', '{YESCRYPT}$y$j9T$abcdefghijklmnop$tooshort'), schemeError(/malformed YESCRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{YESCRYPT}$y$j9T$abcdefghijklmnop'), schemeError(/malformed YESCRYPT/));
  await assert.rejects(verifyPassword('hunter2', `{YESCRYPT}${LIBXCRYPT_SCRYPT}`), schemeError(/malformed YESCRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{CRYPT}$y$j9T$a$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.'), schemeError(/malformed CRYPT/));
  await assert.rejects(verifyPassword('hunter2', '{SHA512-CRYPT.HEX}x'), schemeError(/no encoding/));
  await assert.rejects(verifyPassword('hunter2', '{NOPE}x'), (err: unknown) => err instanceof Error && !err.message.includes('hunter2'));
  await assert.rejects(verifyPassword('x', '{my secret!}'), schemeError(/unknown password scheme \(not a scheme name\)/));
});

test('absurd costs in a stored hash are refused at once instead of hanging the auth process', async () => {
  const started = Date.now();
  await assert.rejects(verifyPassword('secret', `{SHA512-CRYPT}$6$rounds=999999999$salt$${'a'.repeat(86)}`), schemeError(/rounds=999999999 is above the limit/));
  await assert.rejects(verifyPassword('secret', `{SHA256-CRYPT}$5$rounds=5000000$salt$${'a'.repeat(43)}`), schemeError(/rounds=5000000 is above the limit/));
  await assert.rejects(verifyPassword('secret', `{BLF-CRYPT}$2y$31$${'a'.repeat(53)}`), schemeError(/cost 31 is outside/));
  await assert.rejects(verifyPassword('secret', '{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$dVZznPWJ2++XqWgYbSODVw$Pjf1G8j5eusRDPP9icVlvJv50NUvJHKB9nCBEBjHm5I'), schemeError(/m=4194304 KiB is above/));
  await assert.rejects(verifyPassword('secret', '{ARGON2ID}$argon2id$v=19$m=65536,t=100000,p=1$dVZznPWJ2++XqWgYbSODVw$Pjf1G8j5eusRDPP9icVlvJv50NUvJHKB9nCBEBjHm5I'), schemeError(/t=100000 is outside/));
  await assert.rejects(verifyPassword('secret', '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=255$dVZznPWJ2++XqWgYbSODVw$Pjf1G8j5eusRDPP9icVlvJv50NUvJHKB9nCBEBjHm5I'), schemeError(/p=255 is outside/));
  await assert.rejects(verifyPassword('secret', '{YESCRYPT}$y$jFT$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.'), schemeError(/1024 MiB .* is above the limit of 64 MiB/));
  await assert.rejects(verifyPassword('secret', '{CRYPT}$y$jBT/i$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.'), schemeError(/t=47 would mix/));
  await assert.rejects(verifyPassword('secret', '{CRYPT}$y$j7559$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.'), schemeError(/ROM \(NROM\)/));
  assert.ok(Date.now() - started < 1000, 'refused without computing');
});

test('SHA-crypt runs off the event loop: timers keep firing during a slow verification', async () => {
  const slow = '{SHA512-CRYPT}$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1';
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    assert.equal(await verifyPassword('a short string', slow), true);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 3, `the event loop ran ${ticks} timer ticks while hashing`);
});

test('yescrypt runs off the event loop too', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    assert.equal(await verifyPassword('secret', `{YESCRYPT}${LIBXCRYPT_YESCRYPT}`), true);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 3, `the event loop ran ${ticks} timer ticks while hashing`);
});

test('hashes made now by doveadm verify here, and ours verify in doveadm', async (t) => {
  const doveadm = await findDoveadm();
  if (!doveadm) {
    t.skip('doveadm is not on PATH (install Debian\'s dovecot-core to compare with the real tool)');
    return;
  }
  for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I', 'SSHA512', 'MD5-CRYPT', 'CRYPT', 'PLAIN']) {
    const theirs: string = (await run(doveadm, ['pw', '-s', scheme, '-p', 'fresh secret'])).stdout.trim();
    assert.equal(await verifyPassword('fresh secret', theirs), true, theirs);
    assert.equal(await verifyPassword('fresh secreT', theirs), false, theirs);
    const ours = await hashPassword('fresh secret', scheme);
    const check: { stdout: string } = await run(doveadm, ['pw', '-t', ours, '-p', 'fresh secret']);
    assert.match(check.stdout, /\(verified\)/, `doveadm verifies ${ours}`);
    await assert.rejects(run(doveadm, ['pw', '-t', ours, '-p', 'wrong']), `doveadm rejects a wrong password for ${ours}`);
  }
  const rounds: string = (await run(doveadm, ['pw', '-s', 'SHA512-CRYPT', '-r', '12000', '-p', 'fresh secret'])).stdout.trim();
  assert.match(rounds, /\$rounds=12000\$/);
  assert.equal(await verifyPassword('fresh secret', rounds), true);
});

test('many verifications at once each get their own answer from the worker pool', async () => {
  const stored = DOVEADM_FIXTURES.filter(({ stored }) => /^\{SHA(256|512)-CRYPT\}/.test(stored));
  const checks = Array.from({ length: 24 }, (_, i) => ({ fixture: stored[i % stored.length], right: i % 3 !== 0 }));
  const results = await Promise.all(checks.map(({ fixture, right }) => verifyPassword(right ? fixture.password : `${fixture.password}!`, fixture.stored)));
  assert.deepEqual(results, checks.map(({ right }) => right));
});
