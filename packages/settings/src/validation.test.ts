import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfError, loadConfig, SchemaRegistry, type ConfError, type ConfigSnapshot } from './index.js';
import { memoryFiles, testRegistry } from './test-support.js';

const CONF = '/etc/loft/loft.conf';

function load(text: string, registry = testRegistry()): ConfigSnapshot {
  return loadConfig(CONF, registry, memoryFiles({ [CONF]: text }));
}

function summary(errors: readonly ConfError[]): [number, string, string, string?][] {
  return errors.map((e) => (e.suggestion === undefined ? [e.line, e.code, e.message] : [e.line, e.code, e.message, e.suggestion]));
}

test('unknown settings suggest the nearest name in the same scope', () => {
  const { errors } = load(['log_pth = /var/log/loft', 'service imap {', '  proces_limit = 5', '}', 'servce pop3 {', '}'].join('\n'));
  assert.deepEqual(summary(errors), [
    [1, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'log_pth'", 'log_path'],
    [3, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'proces_limit' in service imap", 'process_limit'],
    [5, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown section type 'servce'", 'service'],
  ]);
  assert.equal(formatConfError(errors[0]), "/etc/loft/loft.conf:1: unknown setting 'log_pth' (did you mean 'log_path'?)");
});

test('a setting in the wrong scope says where it belongs', () => {
  const { errors } = load(['client_limit = 10', 'service imap {', '  log_level = debug', '  port = 143', '}', 'inet_listener imap {', '}'].join('\n'));
  assert.deepEqual(summary(errors), [
    [1, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'client_limit'", "'client_limit' belongs in a service { } section"],
    [3, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'log_level' in service imap", "'log_level' is a global setting; move it out of service imap"],
    [4, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'port' in service imap", "'port' belongs in a service { inet_listener { } } section"],
    [6, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown section type 'inet_listener'", "'inet_listener' belongs in a service { } section"],
  ]);
  assert.equal(formatConfError(errors[0]), "/etc/loft/loft.conf:1: unknown setting 'client_limit' ('client_limit' belongs in a service { } section)");
});

test('a name far from anything known gets no suggestion', () => {
  const [error] = load('completely_unrelated = 1').errors;
  assert.equal(error.suggestion, undefined);
  assert.equal(formatConfError(error), "/etc/loft/loft.conf:1: unknown setting 'completely_unrelated'");
});

test('bad values name the setting, the value and what is expected', () => {
  const { errors, base } = load(
    [
      'log_level = verbose', // 1: enum (ajv)
      'mail_max_size = huge', // 2: size
      'mail_max_size = 1', // 3: below minimum (ajv)
      'login_timeout = soon', // 4
      'verbose_proctitle = maybe', // 5
      'mail_umask = 0999', // 6
      'retry_count = 1.5', // 7
      'listen = localhost', // 8
      'login_trusted_networks = 10.0.0.0/33', // 9
      'service imap {', // 10
      '  process_limit = lots', // 11
      '  process_limit = 0', // 12: below minimum (ajv), in a section
      '  inet_listener imap { port = 99999 }', // 13
      '}',
    ].join('\n'),
  );
  assert.deepEqual(summary(errors), [
    [1, 'LOFT_E_CONF_BAD_VALUE', "log_level: 'verbose' is not one of fatal, error, warn, info, debug, trace"],
    [2, 'LOFT_E_CONF_BAD_VALUE', "mail_max_size: 'huge' is not a size (e.g. 512k, 10M, 1G)"],
    [3, 'LOFT_E_CONF_BAD_VALUE', "mail_max_size: '1' is less than the minimum, 1k"],
    [4, 'LOFT_E_CONF_BAD_VALUE', "login_timeout: 'soon' is not a duration (e.g. 100 ms, 30 secs, 5 mins, 1 hour)"],
    [5, 'LOFT_E_CONF_BAD_VALUE', "verbose_proctitle: 'maybe' is not yes or no"],
    [6, 'LOFT_E_CONF_BAD_VALUE', "mail_umask: '0999' is not an octal file mode (e.g. 0600)"],
    [7, 'LOFT_E_CONF_BAD_VALUE', "retry_count: '1.5' is not a whole number"],
    [8, 'LOFT_E_CONF_BAD_VALUE', "listen: 'localhost' is not an IP address, * or ::"],
    [9, 'LOFT_E_CONF_BAD_VALUE', "login_trusted_networks: '10.0.0.0/33' is not an IP address or CIDR range (e.g. 10.0.0.0/8)"],
    [11, 'LOFT_E_CONF_BAD_VALUE', "process_limit: 'lots' is not a whole number (0 or more)"],
    [12, 'LOFT_E_CONF_BAD_VALUE', "process_limit: '0' is less than the minimum, 1"],
    [13, 'LOFT_E_CONF_BAD_VALUE', "port: '99999' is more than the maximum, 65535"],
  ]);
  // Rejected values give way to their defaults, so the snapshot is still schema-valid.
  assert.equal(base.log_level, 'info');
  assert.equal(base.mail_max_size, 10 * 1024 * 1024);
  const imap = (base.service as Record<string, Record<string, unknown>>).imap;
  assert.equal(imap.process_limit, 100);
  assert.deepEqual((imap.inet_listener as Record<string, unknown>).imap, { address: '*', port: 0, ssl: false });
});

test('a secret value is never echoed in an error', () => {
  const registry = new SchemaRegistry();
  registry.register('auth', {
    type: 'object',
    additionalProperties: false,
    properties: { auth_token: { type: 'string', loftKind: 'secret', minLength: 8, default: 'unset-token', description: 'Shared token.' } },
  });
  const [error] = load('auth_token = hunter2', registry).errors;
  assert.equal(error.message, 'auth_token: the value must NOT have fewer than 8 characters');
});

test('sections and settings used as each other, and section names, are checked', () => {
  const { errors } = load(['service = imap', 'log_path /var/log {', '}', 'service {', '}', 'service imap pop3 {', '}'].join('\n'));
  assert.deepEqual(summary(errors), [
    [1, 'LOFT_E_CONF_INVALID', "'service' is a section, not a setting: write service NAME { … }"],
    [2, 'LOFT_E_CONF_INVALID', "'log_path' is a setting, not a section: write log_path = VALUE"],
    [4, 'LOFT_E_CONF_SYNTAX', 'service needs one name: write service NAME {'],
    [6, 'LOFT_E_CONF_SYNTAX', 'service needs one name: write service NAME {'],
  ]);
});

test('settings inside filters are validated; sections inside filters and filters inside sections are errors', () => {
  const { errors } = load(
    [
      'protocol imap {', // 1
      '  log_level = loud', // 2
      '  log_pth = x', // 3
      '  service imap {', // 4
      '  }',
      '  remote 10.0.0.0/8 {', // 6
      '    mail_max_size = 12', // 7
      '  }',
      '}',
      'service imap {', // 10
      '  protocol imap {', // 11
      '  }',
      '}',
      'remote 10.0.0.300 {', // 14
      '}',
    ].join('\n'),
  );
  assert.deepEqual(summary(errors), [
    [2, 'LOFT_E_CONF_BAD_VALUE', "log_level: 'loud' is not one of fatal, error, warn, info, debug, trace"],
    [3, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'log_pth'", 'log_path'],
    [4, 'LOFT_E_CONF_INVALID', 'service sections are not allowed inside a protocol filter'],
    [7, 'LOFT_E_CONF_BAD_VALUE', "mail_max_size: '12' is less than the minimum, 1k"],
    [11, 'LOFT_E_CONF_INVALID', 'protocol filters are only allowed at the top level or inside other filters, not in service imap'],
    [14, 'LOFT_E_CONF_BAD_VALUE', "remote filter: '10.0.0.300' is not an IP address or CIDR range"],
  ]);
});

test('every error is reported, in reading order across included files', () => {
  const files = {
    [CONF]: 'log_levl = debug\n!include extra.conf\nlog_level = nope\n',
    '/etc/loft/extra.conf': 'greting = hi\n',
  };
  const { errors } = loadConfig(CONF, testRegistry(), memoryFiles(files));
  assert.deepEqual(
    errors.map((e) => `${e.file}:${e.line}`),
    ['/etc/loft/loft.conf:1', '/etc/loft/extra.conf:1', '/etc/loft/loft.conf:3'],
  );
});

test('a reserved prefix names the plugin to load, until that plugin registers', () => {
  const registry = testRegistry();
  registry.reserve('last_login_', 'last-login');
  const conf = 'last_login_dict = proxy::lastlogin\n';
  assert.deepEqual(summary(load(conf, registry).errors), [
    [1, 'LOFT_E_CONF_UNKNOWN_SETTING', "setting 'last_login_dict' belongs to plugin 'last-login', which is not loaded (add it to mail_plugins)"],
  ]);
  registry.register('last-login', {
    type: 'object',
    additionalProperties: false,
    properties: { last_login_dict: { type: 'string', default: '', description: 'Dict where last logins are written.' } },
  });
  const snapshot = load(conf, registry);
  assert.deepEqual(snapshot.errors, []);
  assert.equal(snapshot.base.last_login_dict, 'proxy::lastlogin');
});

test('a plugin may declare a new section kind', () => {
  const registry = testRegistry();
  registry.register('quota', {
    type: 'object',
    additionalProperties: false,
    properties: {
      quota_rule: {
        type: 'object',
        loftSection: 'named',
        description: 'A quota rule.',
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          properties: { storage: { type: 'integer', loftKind: 'size', default: 0, description: 'Storage limit; 0 = none.' } },
        },
      },
    },
  });
  const snapshot = load('quota_rule default {\n  storage = 1G\n}\nquota_rule trash { storage = 100M }\n', registry);
  assert.deepEqual(snapshot.errors, []);
  assert.deepEqual(snapshot.base.quota_rule, { default: { storage: 1024 ** 3 }, trash: { storage: 100 * 1024 ** 2 } });
});

test('section names and keys like __proto__ stay ordinary data', () => {
  const { base, errors } = load('service __proto__ {\n  client_limit = 2\n}\nconstructor = 1\n');
  assert.deepEqual(summary(errors), [[4, 'LOFT_E_CONF_UNKNOWN_SETTING', "unknown setting 'constructor'"]]);
  const services = base.service as Record<string, Record<string, unknown>>;
  assert.ok(Object.hasOwn(services, '__proto__'));
  assert.equal(Object.getOwnPropertyDescriptor(services, '__proto__')?.value.client_limit, 2);
  assert.equal(({} as Record<string, unknown>).client_limit, undefined, 'Object.prototype untouched');
});
