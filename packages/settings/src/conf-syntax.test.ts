import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfError, loadConfig, type ConfigSnapshot } from './index.js';
import { memoryFiles, testRegistry } from './test-support.js';

const CONF = '/etc/loft/loft.conf';

function load(text: string): ConfigSnapshot {
  return loadConfig(CONF, testRegistry(), memoryFiles({ [CONF]: text }));
}

function loadClean(text: string): ConfigSnapshot {
  const snapshot = load(text);
  assert.deepEqual(snapshot.errors.map(formatConfError), []);
  return snapshot;
}

test('key = value takes the rest of the line, trimmed; empty values are allowed', () => {
  const { base } = loadClean('greeting =   Loft at your service   \nlog_path =\n');
  assert.equal(base.greeting, 'Loft at your service');
  assert.equal(base.log_path, '');
});

test('quoted values: double quotes take \\" and \\\\ escapes, single quotes are literal', () => {
  const { base } = loadClean(['greeting = "  say \\"hi\\" \\\\ "', "log_path = '/var/log/a \\ b'"].join('\n'));
  assert.equal(base.greeting, '  say "hi" \\ ');
  assert.equal(base.log_path, '/var/log/a \\ b');
});

test('# starts a comment only as the first non-blank character', () => {
  const { base } = loadClean(['# a comment', '   # an indented comment', 'greeting = We are #1', 'log_path = /var/log/loft#x'].join('\n'));
  assert.equal(base.greeting, 'We are #1');
  assert.equal(base.log_path, '/var/log/loft#x');
});

test('duplicate keys in one block: the last one wins', () => {
  const { base } = loadClean('log_level = warn\nlog_level = debug\n');
  assert.equal(base.log_level, 'debug');
});

test('sections nest, and one-line braces hold one or several settings', () => {
  const { base } = loadClean(
    [
      'service imap {',
      '  client_limit = 10',
      '  inet_listener imap { port = 143 }',
      '  inet_listener imaps { address = 127.0.0.1  port = 993 ssl = yes }',
      '  unix_listener login {',
      '    mode = 0660',
      '  }',
      '}',
      'service pop3 { }',
    ].join('\n'),
  );
  const service = base.service as Record<string, Record<string, unknown>>;
  assert.equal(service.imap.client_limit, 10);
  assert.deepEqual(service.imap.inet_listener, {
    imap: { address: '*', port: 143, ssl: false },
    imaps: { address: '127.0.0.1', port: 993, ssl: true },
  });
  assert.deepEqual(service.imap.unix_listener, { login: { path: '', mode: 0o660 } });
  assert.equal(service.pop3.process_limit, 100);
});

test('a one-line section may hold quoted values with spaces and braces', () => {
  const { base } = loadClean('service imap { executable = "/opt/loft/imap {x}.js" }');
  assert.equal((base.service as Record<string, Record<string, unknown>>).imap.executable, '/opt/loft/imap {x}.js');
});

test('syntax errors name the line and parsing carries on', () => {
  const snapshot = load(
    [
      'log_level = debug', // 1
      'service imap', // 2: no brace
      'greeting = "unterminated', // 3
      '}', // 4: nothing to close
      'service pop3 { client_limit = 5', // 5: one-line form without }
      '!inclde foo.conf', // 6
      'service lmtp {', // 7: never closed
      '  client_limit = 2',
    ].join('\n'),
  );
  assert.deepEqual(
    snapshot.errors.map((e) => [e.line, e.code]),
    [
      [2, 'LOFT_E_CONF_SYNTAX'],
      [3, 'LOFT_E_CONF_SYNTAX'],
      [4, 'LOFT_E_CONF_SYNTAX'],
      [5, 'LOFT_E_CONF_SYNTAX'],
      [6, 'LOFT_E_CONF_SYNTAX'],
      [7, 'LOFT_E_CONF_SYNTAX'],
    ],
  );
  assert.ok(snapshot.errors.every((e) => e.file === CONF));
  assert.match(formatConfError(snapshot.errors[1]), /^\/etc\/loft\/loft\.conf:3: greeting: missing closing quote$/);
  assert.match(snapshot.errors[5].message, /section 'service' is not closed/);
  assert.equal(snapshot.base.log_level, 'debug', 'good lines still count');
});

test('a missing config file is one error naming it, and the snapshot holds the defaults', () => {
  const registry = testRegistry();
  const snapshot = loadConfig('/nowhere/loft.conf', registry, memoryFiles({}));
  assert.equal(snapshot.errors.length, 1);
  assert.equal(snapshot.errors[0].code, 'LOFT_E_CONF_INCLUDE');
  assert.equal(formatConfError(snapshot.errors[0]), "/nowhere/loft.conf: cannot read config file '/nowhere/loft.conf': ENOENT");
  assert.deepEqual(snapshot.base, registry.defaults());
});

test('/dev/stdin keeps its name in errors', () => {
  const snapshot = loadConfig('/dev/stdin', testRegistry(), { readFile: () => 'log_levl = debug\n' });
  assert.equal(snapshot.errors[0].file, '/dev/stdin');
  assert.deepEqual(snapshot.files, ['/dev/stdin']);
});
