import { test } from 'node:test';
import assert from 'node:assert/strict';
import { md5Crypt, md5CryptSalt } from './md5-crypt.js';
import { parseShaCrypt, shaCrypt } from './sha-crypt.js';

/** The test vectors published with Ulrich Drepper's SHA-crypt specification (also glibc's crypt/sha256c-test.c, sha512c-test.c). */
const SPEC_VECTORS: readonly { setting: string; password: string; expected: string }[] = [
  { setting: '$5$saltstring', password: 'Hello world!', expected: '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5' },
  { setting: '$5$rounds=10000$saltstringsaltstring', password: 'Hello world!', expected: '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA' },
  { setting: '$5$rounds=5000$toolongsaltstring', password: 'This is just a test', expected: '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5' },
  {
    setting: '$5$rounds=1400$anotherlongsaltstring',
    password: 'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    expected: '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1',
  },
  { setting: '$5$rounds=77777$short', password: 'we have a short salt string but not a short password', expected: '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/' },
  { setting: '$5$rounds=123456$asaltof16chars..', password: 'a short string', expected: '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD' },
  { setting: '$5$rounds=10$roundstoolow', password: 'the minimum number is still observed', expected: '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC' },
  { setting: '$6$saltstring', password: 'Hello world!', expected: '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1' },
  {
    setting: '$6$rounds=10000$saltstringsaltstring',
    password: 'Hello world!',
    expected: '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  },
  {
    setting: '$6$rounds=5000$toolongsaltstring',
    password: 'This is just a test',
    expected: '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
  },
  {
    setting: '$6$rounds=1400$anotherlongsaltstring',
    password: 'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    expected: '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  },
  {
    setting: '$6$rounds=77777$short',
    password: 'we have a short salt string but not a short password',
    expected: '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  },
  {
    setting: '$6$rounds=123456$asaltof16chars..',
    password: 'a short string',
    expected: '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1',
  },
  {
    setting: '$6$rounds=10$roundstoolow',
    password: 'the minimum number is still observed',
    expected: '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
  },
];

for (const { setting, password, expected } of SPEC_VECTORS) {
  test(`SHA-crypt spec vector ${setting}`, () => {
    const parsed = parseShaCrypt(setting);
    assert.ok(parsed, 'the setting parses');
    assert.equal(shaCrypt(password, parsed), expected);
  });
}

test('rounds are clamped into the range the spec gives, and rounds= is written back only when given', () => {
  assert.equal(parseShaCrypt('$6$rounds=999999999999$salt$')?.rounds, undefined, 'more digits than the spec allows do not parse');
  assert.equal(parseShaCrypt('$6$rounds=999999999$salt$x')?.rounds, 999_999_999);
  assert.equal(parseShaCrypt('$6$rounds=1$salt$x')?.rounds, 1000);
  assert.equal(parseShaCrypt('$6$salt$x')?.roundsGiven, false);
  assert.equal(parseShaCrypt('$5$rounds=5000$salt')?.roundsGiven, true);
  assert.equal(parseShaCrypt('$7$salt$x'), undefined);
});

test('MD5-crypt matches glibc (vectors printed by Python\'s crypt.crypt on Debian 12)', () => {
  assert.equal(md5Crypt('Hello world!', 'saltstring'), '$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1');
  assert.equal(md5Crypt('', 'abc'), '$1$abc$Or2rbeUYTvt12aiVzMuS/.');
  assert.equal(md5Crypt('pässwörd €', 'x'), '$1$x$jO8WzCgdemgPCKLDn.Ecf1');
  assert.equal(md5CryptSalt('$1$kmW5GMjx$oGS4NowQq3PP866aDTbFy1'), 'kmW5GMjx');
  assert.equal(md5CryptSalt('$1$toolongsalt$oGS4NowQq3PP866aDTbFy1'), undefined);
});
