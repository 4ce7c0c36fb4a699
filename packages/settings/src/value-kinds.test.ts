import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatValue } from './format-value.js';
import { cidrContains, parseCidr, parseIp } from './ip-address.js';
import { coerceValue, type LoftKind } from './value-kinds.js';

function value(kind: LoftKind, text: string): unknown {
  const result = coerceValue(kind, text);
  assert.ok(result.ok, `${kind} '${text}' should be accepted`);
  return result.value;
}

function rejects(kind: LoftKind, text: string): string {
  const result = coerceValue(kind, text);
  assert.ok(!result.ok, `${kind} '${text}' should be rejected`);
  return result.expected;
}

test('sizes are bytes, 1024-based, with case-insensitive suffixes', () => {
  assert.equal(value('size', '100'), 100);
  assert.equal(value('size', '512k'), 512 * 1024);
  assert.equal(value('size', '512 kB'), 512 * 1024);
  assert.equal(value('size', '10M'), 10 * 1024 ** 2);
  assert.equal(value('size', '10m'), 10 * 1024 ** 2);
  assert.equal(value('size', '1G'), 1024 ** 3);
  assert.equal(value('size', '2T'), 2 * 1024 ** 4);
  assert.equal(value('size', '7B'), 7);
  for (const bad of ['', 'lots', '10X', '-1k', '1.5M', '10 M M']) assert.match(rejects('size', bad), /size/);
});

test('durations are milliseconds; a bare number is seconds', () => {
  assert.equal(value('duration', '30'), 30_000);
  assert.equal(value('duration', '30s'), 30_000);
  assert.equal(value('duration', '5 mins'), 300_000);
  assert.equal(value('duration', '1 hour'), 3_600_000);
  assert.equal(value('duration', '100ms'), 100);
  assert.equal(value('duration', '2d'), 2 * 86_400_000);
  assert.equal(value('duration', '1w'), 7 * 86_400_000);
  for (const bad of ['soon', '5 fortnights', '1.5h', '-3s']) assert.match(rejects('duration', bad), /duration/);
});

test('booleans take yes/no and true/false', () => {
  assert.equal(value('bool', 'yes'), true);
  assert.equal(value('bool', 'no'), false);
  assert.equal(value('bool', 'TRUE'), true);
  assert.equal(value('bool', 'false'), false);
  assert.equal(rejects('bool', 'maybe'), 'yes or no');
});

test('integers: uint refuses negatives, int takes them, octal reads file modes', () => {
  assert.equal(value('uint', '42'), 42);
  assert.match(rejects('uint', '-1'), /whole number/);
  assert.match(rejects('uint', 'lots'), /whole number/);
  assert.equal(value('int', '-1'), -1);
  assert.match(rejects('int', '1.5'), /whole number/);
  assert.match(rejects('int', '99999999999999999999'), /whole number/);
  assert.equal(value('octal', '0600'), 0o600);
  assert.equal(value('octal', '755'), 0o755);
  assert.match(rejects('octal', '0800'), /octal/);
});

test('lists split on blanks and commas', () => {
  assert.deepEqual(value('list', 'quota, acl  zlib'), ['quota', 'acl', 'zlib']);
  assert.deepEqual(value('list', 'quota,acl'), ['quota', 'acl']);
  assert.deepEqual(value('list', ''), []);
});

test('ip takes IPv4, IPv6 and the listen-anything forms; cidr takes ranges or one address', () => {
  for (const good of ['127.0.0.1', '::1', '*', '::', 'fe80::1']) assert.equal(value('ip', good), good);
  for (const bad of ['localhost', '10.0.0.256', '10.0.0.0/8']) assert.match(rejects('ip', bad), /IP address/);
  for (const good of ['10.0.0.0/8', '::1/128', '192.168.1.1', '2001:db8::/32']) assert.equal(value('cidr', good), good);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', 'example.com/8']) assert.match(rejects('cidr', bad), /CIDR/);
});

test('CIDR matching covers addresses inside the range only, per address family', () => {
  const v4 = parseCidr('10.0.0.0/8');
  const v6 = parseCidr('2001:db8::/32');
  const odd = parseCidr('192.168.0.0/23');
  assert.ok(v4 && v6 && odd);
  const ip = (text: string) => parseIp(text) ?? assert.fail(text);
  assert.ok(cidrContains(v4, ip('10.200.3.4')));
  assert.ok(!cidrContains(v4, ip('11.0.0.1')));
  assert.ok(cidrContains(v4, ip('::ffff:10.1.2.3')), 'IPv4-mapped IPv6 is the IPv4 address');
  assert.ok(cidrContains(v6, ip('2001:db8:1::5')));
  assert.ok(!cidrContains(v6, ip('2001:db9::1')));
  assert.ok(!cidrContains(v6, ip('10.0.0.1')));
  assert.ok(cidrContains(odd, ip('192.168.1.255')));
  assert.ok(!cidrContains(odd, ip('192.168.2.0')));
});

test('formatValue prints the largest exact unit and reads back to the same value', () => {
  const cases: [LoftKind, unknown, string][] = [
    ['size', 10 * 1024 ** 2, '10M'],
    ['size', 1536, '1536'],
    ['size', 0, '0'],
    ['duration', 300_000, '5 mins'],
    ['duration', 30_000, '30 secs'],
    ['duration', 250, '250 ms'],
    ['duration', 3_600_000, '1 hour'],
    ['duration', 0, '0'],
    ['bool', true, 'yes'],
    ['octal', 0o600, '0600'],
    ['octal', 0o7, '0007'],
    ['list', ['quota', 'acl'], 'quota acl'],
    ['list', [], ''],
    ['int', -1, '-1'],
    ['string', 'plain', 'plain'],
    ['string', '', '""'],
    ['string', ' padded ', '" padded "'],
    ['string', '#not a comment', '"#not a comment"'],
    ['string', '<not a file', '"<not a file"'],
    ['string', 'say "hi" {now}', '"say \\"hi\\" {now}"'],
    ['string', 'two\nlines\\', '"two\\nlines\\\\"'],
  ];
  for (const [kind, typed, text] of cases) {
    assert.equal(formatValue(typed, kind), text, `${kind} ${JSON.stringify(typed)}`);
  }
});
