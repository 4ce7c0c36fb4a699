import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, type ConfigSnapshot } from './index.js';
import { memoryFiles, testRegistry } from './test-support.js';

const CONF = '/etc/loft/loft.conf';

function load(text: string): ConfigSnapshot {
  const snapshot = loadConfig(CONF, testRegistry(), memoryFiles({ [CONF]: text }));
  assert.deepEqual(snapshot.errors, []);
  return snapshot;
}

const FILTERED = [
  'log_level = warn',
  'greeting = base',
  'protocol imap pop3 {', // several values, space-separated
  '  log_level = info',
  '  remote 10.0.0.0/8, 192.168.0.0/16 {', // nested, comma-separated
  '    log_level = debug',
  '  }',
  '}',
  'protocol imap {',
  '  greeting = imap',
  '}',
  'local 2001:db8::/32 {',
  '  greeting = v6',
  '}',
  'remote ::1 {',
  '  mail_max_size = 1G',
  '}',
].join('\n');

test('filters match by protocol, in file order', () => {
  const snapshot = load(FILTERED);
  assert.equal(snapshot.resolve({}).log_level, 'warn');
  assert.equal(snapshot.resolve({ protocol: 'lmtp' }).log_level, 'warn');
  assert.equal(snapshot.resolve({ protocol: 'pop3' }).log_level, 'info');
  assert.equal(snapshot.resolve({ protocol: 'pop3' }).greeting, 'base');
  const imap = snapshot.resolve({ protocol: 'imap' });
  assert.equal(imap.log_level, 'info');
  assert.equal(imap.greeting, 'imap', 'the later protocol imap block applies over the first');
});

test('nested filters apply only when every level matches, by IPv4 range', () => {
  const snapshot = load(FILTERED);
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '10.1.2.3' }).log_level, 'debug');
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '192.168.44.1' }).log_level, 'debug');
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '172.16.0.1' }).log_level, 'info', 'outside both ranges');
  assert.equal(snapshot.resolve({ protocol: 'lmtp', remote: '10.1.2.3' }).log_level, 'warn', 'the outer protocol filter does not match');
  assert.equal(snapshot.resolve({ remote: '10.1.2.3' }).log_level, 'warn');
});

test('local and remote filters match IPv6 addresses and ranges', () => {
  const snapshot = load(FILTERED);
  assert.equal(snapshot.resolve({ local: '2001:db8:0:1::25' }).greeting, 'v6');
  assert.equal(snapshot.resolve({ local: '2001:db9::25' }).greeting, 'base');
  assert.equal(snapshot.resolve({ local: '10.0.0.1' }).greeting, 'base');
  assert.equal(snapshot.resolve({ remote: '::1' }).mail_max_size, 1024 ** 3);
  assert.equal(snapshot.resolve({ remote: '::2' }).mail_max_size, 10 * 1024 * 1024);
  assert.equal(snapshot.resolve({ local: 'not an address' }).greeting, 'base');
});

test('a child filter applies over its parent even when the parent sets the key again later', () => {
  const snapshot = load(['protocol imap {', '  remote 10.0.0.0/8 {', '    greeting = inner', '  }', '  greeting = outer', '}'].join('\n'));
  assert.equal(snapshot.resolve({ protocol: 'imap' }).greeting, 'outer');
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '10.0.0.1' }).greeting, 'inner');
});

test('resolved settings are deep-frozen and cached per context', () => {
  const snapshot = load(FILTERED);
  const first = snapshot.resolve({ protocol: 'imap', remote: '10.1.2.3' });
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '10.1.2.3' }), first);
  assert.equal(snapshot.resolve({ protocol: 'imap', remote: '10.9.9.9' }), first, 'same filters matched, same object');
  assert.notEqual(snapshot.resolve({ protocol: 'pop3', remote: '10.1.2.3' }), first);
  assert.equal(snapshot.resolve({}), snapshot.base, 'no filter matched: the base itself');
  assert.ok(Object.isFrozen(first));
  assert.ok(Object.isFrozen(first.service));
  assert.ok(Object.isFrozen(snapshot.base));
  assert.ok(Object.isFrozen((snapshot.base.service as Record<string, unknown>).config));
  assert.ok(Object.isFrozen(snapshot.base.mail_plugins));
  assert.throws(() => {
    (first as Record<string, unknown>).log_level = 'trace';
  }, TypeError);
});

test('filters are kept as parsed, for output', () => {
  const snapshot = load(FILTERED);
  assert.deepEqual(snapshot.filters[0], {
    match: { protocol: ['imap', 'pop3'] },
    settings: { log_level: 'info' },
    children: [{ match: { remote: ['10.0.0.0/8', '192.168.0.0/16'] }, settings: { log_level: 'debug' }, children: [], file: CONF, line: 5 }],
    file: CONF,
    line: 3,
  });
  assert.equal(snapshot.filters.length, 4);
  assert.ok(Object.isFrozen(snapshot.filters[0].settings));
});
