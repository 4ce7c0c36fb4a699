import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { isLoftError } from '@loft/errors';
import { parseYescrypt, yescrypt, yescryptSetting, YESCRYPT_MAX_PASSWORD_BYTES } from './yescrypt.js';

/**
 * Printed by Python 3.11's crypt.crypt, which calls libxcrypt (Debian 12, libcrypt1
 * 1:4.4.33-2), on 2026-12-01. Random salts are libxcrypt's own crypt_gensalt("$y$", count)
 * output, as `mkpasswd -m yescrypt -R count` and passwd(1) write them; the settings with t,
 * p or another flavour were written by hand in yescrypt's encoding and hashed the same way.
 */
const LIBXCRYPT_VECTORS: readonly { name: string; password: string; setting: string; expected: string }[] = [
  { name: 'Debian default, crypt_gensalt count 0', password: 'secret', setting: '$y$j9T$Uyr81d4bHwJykuA8SbaBQ0', expected: '$y$j9T$Uyr81d4bHwJykuA8SbaBQ0$Ug8y8f0CbE9mBfCgORrObs1f9gWtE1VgQkAwWffhHq8' },
  { name: 'crypt_gensalt count 1 (1 MiB)', password: 'secret', setting: '$y$j75$Wlx4zvafaSdiaLQPt0Hyu.', expected: '$y$j75$Wlx4zvafaSdiaLQPt0Hyu.$ZLyQgRmb1NyenCvp50eQEaIAqMnyHg8yptO7nZhtVU9' },
  { name: 'crypt_gensalt count 2 (2 MiB)', password: 'secret', setting: '$y$j85$CEynxGxCECNvx0pi3h9iR0', expected: '$y$j85$CEynxGxCECNvx0pi3h9iR0$REMxokG26qCYjVgT6mxun6x8YRpGQ3fsFkL05GLJ1c0' },
  { name: 'crypt_gensalt count 3 (4 MiB, r=32)', password: 'secret', setting: '$y$j7T$wPjoM3ItUJ/fzmcuFcqVD1', expected: '$y$j7T$wPjoM3ItUJ/fzmcuFcqVD1$GLCWUrW7zskix46qbvfxYbITRempD0j8yQHvYv5V.M8' },
  { name: 'crypt_gensalt count 4 (8 MiB)', password: 'secret', setting: '$y$j8T$Ye8KBbTHlSJNzJ96K9XIi.', expected: '$y$j8T$Ye8KBbTHlSJNzJ96K9XIi.$mZ2B.xi1NjeizKo.uFrAv0ybEJrAMiVhhmKk5Qnkkk6' },
  { name: 'crypt_gensalt count 5 (16 MiB)', password: 'pässwörd €', setting: '$y$j9T$1Z8WxALPMW0rd7M9jYBVs/', expected: '$y$j9T$1Z8WxALPMW0rd7M9jYBVs/$di1udGxtHzuwHd1x9yOhBmLPewzRLnhXyxXJqBEP3g8' },
  { name: 'crypt_gensalt count 7 (64 MiB, the limit)', password: 'secret', setting: '$y$jBT$wTxk5rZbsvP1zjIM6.GjM0', expected: '$y$jBT$wTxk5rZbsvP1zjIM6.GjM0$B3FXYlLkSSPtfAtzd5e5RgnUzXYh5dJFaHQxx03ilP1' },
  { name: 'fixed salt', password: 'secret', setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.' },
  { name: 'empty password', password: '', setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$pLCmL.WFP4llpuknjZB0lCp8KKEVl43CyXQupwneDY0' },
  { name: 'UTF-8 password', password: 'pässwörd €', setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$NlZE1xvEy2AMgrVnfK6aU8aWnZ2HxKDSluhJLdQgD30' },
  { name: 'UTF-8 password, 4-byte characters', password: '🔑 ключ 鍵', setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$DOiiSn7LmNtJstwcWvas7sXk7lutnhMoSAwo.t.Ki7B' },
  { name: 'long password', password: 'correct horse battery staple '.repeat(4), setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$KHeqqcF1knQo19Q8yYM4GZIA19cDDpRLbh9tHasLpx9' },
  { name: 'longest password crypt(3) takes', password: 'x'.repeat(511), setting: '$y$j9T$abcdefghijklmnop$', expected: '$y$j9T$abcdefghijklmnop$39q6nuAMHHDqS87UbAmJIAp2qQuRQCreRQjrht1Ll5/' },
  { name: 'empty salt', password: 'secret', setting: '$y$j75$$', expected: '$y$j75$$2ydGyJY.m3lesWesWhmcrVX27GKM4AqNwOMJADwvhjB' },
  { name: 'one-byte salt', password: 'secret', setting: '$y$j75$..$', expected: '$y$j75$..$NbEntp2l0kTUaX0PBGZbUq.ch7xFxt8GOJB8q8HdUm2' },
  {
    name: '64-byte salt, the longest',
    password: 'pässwörd €',
    setting: `$y$j75$${'abcd'.repeat(21)}x/$`,
    expected: `$y$j75$${'abcd'.repeat(21)}x/$Gt4L6lV.LUGHh2RPiXo/2K4aueyyEsmYFH.XuJrjPi.`,
  },
  { name: 'setting without a trailing $', password: 'secret', setting: '$y$j75$abcdefghijklmnop', expected: '$y$j75$abcdefghijklmnop$vZlXu1XtxOBWRxjOpQqONp1WYfMO0dN.H4xeSMU2ZvC' },
  { name: 't=1', password: 'secret', setting: '$y$j75/.$abcdefghijklmnop$', expected: '$y$j75/.$abcdefghijklmnop$nMzHha.GF9IfQtHXEP8MENZoXoAQSgiMRi1H6NvN6U/' },
  { name: 't=2', password: 'pässwörd €', setting: '$y$j75//$abcdefghijklmnop$', expected: '$y$j75//$abcdefghijklmnop$91Ro/FYo/skiNAYoEGgromIhy0JuT61ybzDoRXdYAz6' },
  { name: 't=4', password: 'secret', setting: '$y$j75/1$abcdefghijklmnop$', expected: '$y$j75/1$abcdefghijklmnop$BhXUtoyUfhJSEkawrB/mTG77bGqWSpK8BJWPW2CILa7' },
  { name: 'p=2', password: 'secret', setting: '$y$j75..$abcdefghijklmnop$', expected: '$y$j75..$abcdefghijklmnop$UkwC30uMw4iiP.JJswJPMkDJX.x9CEfnzgPGAFKkRdC' },
  { name: 'p=3, t=1', password: 'pässwörd €', setting: '$y$j750/.$abcdefghijklmnop$', expected: '$y$j750/.$abcdefghijklmnop$SYTF0sCEPZb2jKHwBNtXamCyD2LqqUOZNIeqYgrfMk9' },
  { name: 'p=4 at the default cost (prehash split among threads)', password: 'secret', setting: '$y$j9T.0$abcdefghijklmnop$', expected: '$y$j9T.0$abcdefghijklmnop$8WnUN63bkxDzgFJw1mlkstfxTn4QaLkq3ObBZ8CUk96' },
  { name: 'WORM flavour', password: 'secret', setting: '$y$/75$abcdefghijklmnop$', expected: '$y$/75$abcdefghijklmnop$tGapcrURJFa.Ly2KS5L2ho/Y31XyPPa4EaTD8aQ9J67' },
  { name: 'WORM flavour, t=1', password: 'pässwörd €', setting: '$y$/75/.$abcdefghijklmnop$', expected: '$y$/75/.$abcdefghijklmnop$/bPOQhvxRNjlKo5WgoQR80i/aXtnvr/o89sHwASxIy9' },
  { name: 'WORM flavour, t=3', password: 'secret', setting: '$y$/75/0$abcdefghijklmnop$', expected: '$y$/75/0$abcdefghijklmnop$o.KVlUVDRgs0zfI998PhWraOVZ/n4P5N/FTJFkVWCm9' },
  { name: 'classic scrypt in $y$ encoding', password: 'secret', setting: '$y$.75$abcdefghijklmnop$', expected: '$y$.75$abcdefghijklmnop$IotjUYPXav8x5u1aAV/HqII0o/IXsN7QOiX1iB9ZFk1' },
  { name: 'scrypt $7$', password: 'secret', setting: '$7$C6..../....SodiumChloride', expected: '$7$C6..../....SodiumChloride$KnaT/KYqe0Wkw8JJxj5dtK/JH3wZT3jEZzX4iCRKXQ0' },
  { name: 'scrypt $7$, p=2', password: 'pässwörd €', setting: '$7$96....0....saltsalt$', expected: '$7$96....0....saltsalt$DLo/Cob6tEri.elC6k98S8Smop7KSCBIevkmcOw4WED' },
];

function schemeError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => isLoftError(err, 'LOFT_E_AUTH_SCHEME') && pattern.test(err.message);
}

for (const { name, password, setting, expected } of LIBXCRYPT_VECTORS) {
  test(`yescrypt matches libxcrypt: ${name}`, () => {
    assert.equal(yescrypt(password, setting), expected);
  });
}

test('a full hash works as the setting, and a wrong password gives another hash', () => {
  const stored = '$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.';
  assert.equal(yescrypt('secret', stored), stored);
  assert.notEqual(yescrypt('Secret', stored), stored);
  assert.notEqual(yescrypt('secret ', stored), stored);
  assert.notEqual(yescrypt('', stored), stored);
});

test('the parameters Debian writes parse to what they mean', () => {
  const parsed = parseYescrypt('$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.');
  assert.ok(parsed);
  assert.deepEqual({ kind: parsed.kind, N: parsed.N, r: parsed.r, p: parsed.p, t: parsed.t, saltBytes: parsed.salt.length }, { kind: 'y', N: 4096, r: 32, p: 1, t: 0, saltBytes: 12 });
  assert.equal(parsed.setting, '$y$j9T$abcdefghijklmnop');
  assert.equal(parsed.digest, '3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.');
  assert.equal(parseYescrypt('$y$j9T$abcdefghijklmnop')?.digest, '');
  const tuned = parseYescrypt('$y$j750/.$abcdefghijklmnop$');
  assert.deepEqual(tuned && { p: tuned.p, t: tuned.t }, { p: 3, t: 1 });
  const scrypt = parseYescrypt('$7$C6..../....SodiumChloride');
  assert.deepEqual(scrypt && { kind: scrypt.kind, N: scrypt.N, r: scrypt.r, p: scrypt.p, salt: scrypt.salt.toString() }, { kind: '7', N: 16384, r: 8, p: 1, salt: 'SodiumChloride' });
});

test('malformed strings do not parse', () => {
  for (const malformed of [
    '',
    '$y$',
    '$y$j9T',
    '$y$j9T$a$',
    '$y$j9T$ab$',
    '$y$j9T$abc*def$',
    '$y$j9T=$abcdefghijklmnop$',
    '$y$k9T$abcdefghijklmnop$',
    '$y$j9T$abcdefghijklmnop$tooshort',
    '$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.x',
    `$y$j9T$${'abcd'.repeat(22)}$`,
    '$y$.75/.$abcdefghijklmnop$',
    '$6$saltstring$hash',
    '$7$C6..../...',
    '$7$C6..../....salt*$',
    ' $y$j9T$abcdefghijklmnop$',
  ]) {
    assert.equal(parseYescrypt(malformed), undefined, malformed);
  }
});

test('a cost or feature beyond our bounds is LOFT_E_AUTH_SCHEME before any memory is taken', () => {
  const started = Date.now();
  assert.throws(() => parseYescrypt('$y$jCT$abcdefghijklmnop$'), schemeError(/memory 128·r·N = 128 MiB \(N=2\^15, r=32\) is above the limit of 64 MiB/));
  assert.throws(() => parseYescrypt('$y$jFT$abcdefghijklmnop$'), schemeError(/1024 MiB/));
  assert.throws(() => parseYescrypt('$7$I6..../....salt'), schemeError(/memory .* is above the limit/));
  assert.throws(() => parseYescrypt('$y$jBT/0$abcdefghijklmnop$'), schemeError(/t=3 would mix 192 MiB, above the limit of 128 MiB/));
  assert.throws(() => yescrypt('secret', '$y$j9T/i$abcdefghijklmnop$'), schemeError(/t=47 would mix 752 MiB/));
  assert.throws(() => parseYescrypt('$y$j75.4$abcdefghijklmnop$'), schemeError(/p=8 is above the limit of 4/));
  assert.throws(() => parseYescrypt('$7$96..../0...saltsalt$'), schemeError(/p=129 is above the limit/));
  assert.throws(() => parseYescrypt('$y$j7559$abcdefghijklmnop$'), schemeError(/needs a ROM \(NROM\).*not support/));
  assert.throws(() => parseYescrypt('$y$j751.$abcdefghijklmnop$'), schemeError(/hash upgrades \(g=1\) are not supported/));
  assert.ok(Date.now() - started < 500, 'refused without computing');
});

test('errors never carry the password', () => {
  assert.throws(() => yescrypt('hunter2', '$y$jFT$abcdefghijklmnop$'), (err: unknown) => err instanceof Error && !err.message.includes('hunter2'));
  assert.throws(() => yescrypt('hunter2', 'nonsense'), (err: unknown) => isLoftError(err, 'LOFT_E_AUTH_SCHEME') && !err.message.includes('hunter2'));
  assert.throws(() => yescrypt('h'.repeat(YESCRYPT_MAX_PASSWORD_BYTES + 1), '$y$j75$abcdefghijklmnop$'), (err: unknown) => err instanceof RangeError && !err.message.includes('hhhh'));
});

test('yescryptSetting writes what crypt_gensalt writes for the same random bytes', () => {
  // crypt_gensalt("$y$", 0, bytes, 16), asked through ctypes.
  const counting = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  assert.equal(yescryptSetting(counting), '$y$j9T$.2U.1EE/4Q.07ck0AoU1D.');
  assert.equal(yescryptSetting(Buffer.alloc(16, 0xff)), '$y$j9T$zzzzzzzzzzzzzzzzzzzzz1');
  assert.deepEqual(parseYescrypt(yescryptSetting(counting))?.salt, counting);
});

test('$7$ agrees with node:crypto\'s scrypt for the same N, r, p and salt', () => {
  const setting = '$7$96....0....someSaltText';
  const reference = scryptSync('secret', 'someSaltText', 32, { N: 2048, r: 8, p: 2 });
  assert.equal(yescrypt('secret', setting), `${setting}$${encodeLikeCrypt(reference)}`);
});

/** crypt's base-64 (three bytes little-endian, six bits at a time from the bottom), written independently of the module under test. */
function encodeLikeCrypt(bytes: Buffer): string {
  const alphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let bits = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) bits = (bits << 8n) | BigInt(bytes[i]);
  let text = '';
  for (let i = 0; i < Math.ceil((bytes.length * 8) / 6); i++) text += alphabet[Number((bits >> BigInt(6 * i)) & 63n)];
  return text;
}
