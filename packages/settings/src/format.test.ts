import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConf, formatSettings, loadConfig, type ConfigSnapshot, type FilterContext, type FormatOptions } from './index.js';
import { memoryFiles, testRegistry } from './test-support.js';

const CONF = '/etc/loft/loft.conf';

const USER_CONF = [
  'log_level = warn',
  'greeting = "  #1 \\"mail\\" {server}  "',
  'mail_max_size = 20M',
  'login_timeout = 90s',
  'mail_plugins = quota, acl',
  'mail_umask = 0027',
  'ssl_key_password = hunter2',
  'service config {',
  '  client_limit = 5',
  '}',
  'service imap {',
  '  inet_listener imap { port = 143 }',
  '  inet_listener imaps { port = 993  ssl = yes }',
  '}',
  'service "mail relay" {',
  '}',
  'protocol imap {',
  '  log_level = debug',
  '  remote 10.0.0.0/8 {',
  '    login_timeout = 250ms',
  '  }',
  '}',
  'local ::1 {',
  '  greeting = local',
  '}',
].join('\n');

const CONTEXTS: FilterContext[] = [{ protocol: 'imap', remote: '10.2.3.4' }, { local: '::1', protocol: 'pop3' }];

function load(text: string, path = CONF): ConfigSnapshot {
  const snapshot = loadConfig(path, testRegistry(), memoryFiles({ [path]: text }));
  assert.deepEqual(snapshot.errors, [], text);
  return snapshot;
}

function roundTrip(snapshot: ConfigSnapshot, options: FormatOptions): ConfigSnapshot {
  return load(formatConf(snapshot, testRegistry(), options), '/tmp/loftconf-output.conf');
}

test('non-default output lists only what differs, sorted, with filters after the base', () => {
  const text = formatConf(load(USER_CONF), testRegistry(), { mode: 'non-default' });
  assert.equal(
    text,
    [
      'greeting = "  #1 \\"mail\\" {server}  "',
      'log_level = warn',
      'login_timeout = 90 secs',
      'mail_max_size = 20M',
      'mail_plugins = quota acl',
      'mail_umask = 0027',
      '# ssl_key_password: hidden, use -P',
      'service config {',
      '  client_limit = 5',
      '}',
      'service imap {',
      '  inet_listener imap {',
      '    port = 143',
      '  }',
      '  inet_listener imaps {',
      '    port = 993',
      '    ssl = yes',
      '  }',
      '}',
      'service "mail relay" {',
      '}',
      '',
      'protocol imap {',
      '  log_level = debug',
      '  remote 10.0.0.0/8 {',
      '    login_timeout = 250 ms',
      '  }',
      '}',
      '',
      'local ::1 {',
      '  greeting = local',
      '}',
      '',
    ].join('\n'),
  );
});

test('round trip: each mode loads back to the same base and the same resolved settings', () => {
  const original = load(USER_CONF);
  for (const mode of ['non-default', 'all'] as const) {
    const reloaded = roundTrip(original, { mode, showSecrets: true });
    assert.deepEqual(reloaded.base, original.base, mode);
    for (const ctx of CONTEXTS) assert.deepEqual(reloaded.resolve(ctx), original.resolve(ctx), `${mode} ${JSON.stringify(ctx)}`);
  }
  const empty = load('');
  const defaults = roundTrip(original, { mode: 'defaults' });
  assert.deepEqual(defaults.base, empty.base);
  for (const ctx of CONTEXTS) assert.deepEqual(defaults.resolve(ctx), empty.resolve(ctx));
});

test('all mode prints every setting and every section instance, defaults included', () => {
  const text = formatConf(load('log_level = warn'), testRegistry(), { mode: 'all' });
  assert.match(text, /^base_dir = \/var\/run\/loft$/m);
  assert.match(text, /^log_path = ""$/m);
  assert.match(text, /^mail_plugins =$/m);
  assert.match(text, /^retry_count = -1$/m);
  assert.match(text, /^service config \{\n {2}client_limit = 1\n {2}executable = config\n {2}idle_kill = 1 min\n {2}process_limit = 1\n {2}unix_listener config \{\n {4}mode = 0600\n {4}path = config\.sock\n {2}\}\n\}$/m);
});

test('defaults mode prints the declared defaults whatever the conf says', () => {
  const text = formatConf(load(USER_CONF), testRegistry(), { mode: 'defaults' });
  assert.match(text, /^log_level = info$/m);
  assert.match(text, /^mail_max_size = 10M$/m);
  assert.doesNotMatch(text, /imap/);
});

test('secrets are hidden unless asked for; a hidden secret reads back as its default', () => {
  const snapshot = load(USER_CONF);
  const hidden = formatConf(snapshot, testRegistry(), { mode: 'non-default' });
  assert.doesNotMatch(hidden, /hunter2/);
  assert.match(hidden, /^# ssl_key_password: hidden, use -P$/m);
  assert.equal(load(hidden).base.ssl_key_password, '');
  assert.match(formatConf(snapshot, testRegistry(), { mode: 'non-default', showSecrets: true }), /^ssl_key_password = hunter2$/m);
});

test('formatSettings prints one resolved context without filter blocks', () => {
  const snapshot = load(USER_CONF);
  const text = formatSettings(snapshot.resolve({ protocol: 'imap', remote: '10.0.0.1' }), testRegistry(), { mode: 'non-default' });
  assert.match(text, /^log_level = debug$/m);
  assert.match(text, /^login_timeout = 250 ms$/m);
  assert.doesNotMatch(text, /protocol|remote/);
  assert.equal(formatSettings(load('').base, testRegistry(), { mode: 'non-default' }), '');
});
