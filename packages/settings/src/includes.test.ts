import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatConfError, loadConfig, type ConfigSnapshot } from './index.js';
import { testRegistry } from './test-support.js';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'loft-settings-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes files under a fresh directory of the temp dir; returns that directory. */
function tree(name: string, files: Record<string, string>): string {
  const root = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function load(root: string): ConfigSnapshot {
  return loadConfig(join(root, 'loft.conf'), testRegistry());
}

test('!include with a glob reads the matching files in name order, relative to the including file', () => {
  const root = tree('glob', {
    'loft.conf': 'log_level = warn\n!include conf.d/*.conf\n',
    'conf.d/20-second.conf': 'log_level = debug\ngreeting = second\n',
    'conf.d/10-first.conf': 'log_level = error\nlog_path = /var/log/first\n',
    'conf.d/README': 'not a conf file {',
    'conf.d/.hidden.conf': 'not a conf file {',
  });
  const snapshot = load(root);
  assert.deepEqual(snapshot.errors, []);
  assert.equal(snapshot.base.log_level, 'debug', '20-second comes after 10-first');
  assert.equal(snapshot.base.log_path, '/var/log/first');
  assert.deepEqual(snapshot.files, [join(root, 'loft.conf'), join(root, 'conf.d/10-first.conf'), join(root, 'conf.d/20-second.conf')]);
});

test('a glob matching nothing is fine; a missing plain !include is an error at its line', () => {
  const root = tree('missing', {
    'loft.conf': '!include empty.d/*.conf\n!include_try local.conf\n!include absent.conf\nlog_level = debug\n',
  });
  const snapshot = load(root);
  assert.deepEqual(snapshot.errors.map(formatConfError), [`${join(root, 'loft.conf')}:3: cannot read include file '${join(root, 'absent.conf')}': ENOENT`]);
  assert.equal(snapshot.errors[0].code, 'LOFT_E_CONF_INCLUDE');
  assert.equal(snapshot.base.log_level, 'debug');
});

test('!include_try reads the file when it exists', () => {
  const root = tree('try', { 'loft.conf': '!include_try local.conf\n', 'local.conf': 'greeting = local\n' });
  assert.equal(load(root).base.greeting, 'local');
});

test('an include cycle is an error at the !include that closes it', () => {
  const root = tree('cycle', {
    'loft.conf': '!include a.conf\n',
    'a.conf': 'greeting = a\n!include b.conf\n',
    'b.conf': '\n!include a.conf\n',
  });
  const [error, ...rest] = load(root).errors;
  assert.deepEqual(rest, []);
  assert.equal(error.code, 'LOFT_E_CONF_INCLUDE');
  assert.equal(error.file, join(root, 'b.conf'));
  assert.equal(error.line, 2);
  assert.match(error.message, /include cycle: .*loft\.conf -> .*a\.conf -> .*b\.conf -> .*a\.conf/);
});

test('includes nested deeper than 20 levels are an error', () => {
  const files: Record<string, string> = { 'loft.conf': '!include 1.conf\n' };
  for (let i = 1; i <= 25; i++) files[`${i}.conf`] = `!include ${i + 1}.conf\n`;
  const errors = load(tree('deep', files)).errors;
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /nested deeper than 20 levels/);
  assert.equal(errors[0].file, join(dir, 'deep', '20.conf'));
});

test('includes may appear inside sections; errors point into the included file', () => {
  const root = tree('in-section', {
    'loft.conf': 'service imap {\n  !include imap.d/*.conf\n}\n',
    'imap.d/listeners.conf': 'inet_listener imap {\n  port = 143\n}\nclient_limt = 4\n',
  });
  const snapshot = load(root);
  const service = snapshot.base.service as Record<string, Record<string, Record<string, unknown>>>;
  assert.deepEqual(service.imap.inet_listener.imap, { address: '*', port: 143, ssl: false });
  assert.deepEqual(
    snapshot.errors.map((e) => [e.file, e.line, e.message, e.suggestion]),
    [[join(root, 'imap.d/listeners.conf'), 4, "unknown setting 'client_limt' in service imap", 'client_limit']],
  );
});

test('key = <file reads the value from a file, without its trailing newline', () => {
  const root = tree('value-file', {
    'loft.conf': 'ssl_key_password = <secrets/key-password\ngreeting = <greeting.txt\nlog_path = <missing.txt\n',
    'secrets/key-password': 'hunter2\n',
    'greeting.txt': 'line one\nline two\n',
  });
  const snapshot = load(root);
  assert.equal(snapshot.base.ssl_key_password, 'hunter2');
  assert.equal(snapshot.base.greeting, 'line one\nline two');
  assert.ok(snapshot.files.includes(join(root, 'secrets/key-password')));
  assert.deepEqual(
    snapshot.errors.map((e) => [e.line, e.code, e.message]),
    [[3, 'LOFT_E_CONF_INCLUDE', `cannot read file for log_path '${join(root, 'missing.txt')}': ENOENT`]],
  );
});
