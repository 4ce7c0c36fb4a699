import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { loadConfig, SchemaRegistry } from './index.js';
import { memoryFiles, testRegistry } from './test-support.js';

function declaration(properties: Record<string, unknown>): object {
  return { type: 'object', additionalProperties: false, properties };
}

function schemaError(register: () => void, pattern: RegExp): void {
  assert.throws(register, (err: unknown) => isLoftError(err, 'LOFT_E_CONF_SCHEMA') && pattern.test(err.message));
}

test('a property without a description or a default is refused, and nothing is registered', () => {
  const registry = new SchemaRegistry();
  schemaError(() => registry.register('log', declaration({ log_path: { type: 'string', default: '' } })), /log_path: missing description/);
  schemaError(() => registry.register('log', declaration({ log_path: { type: 'string', description: 'Log file.' } })), /log_path: missing default/);
  schemaError(
    () => registry.register('master', declaration({ service: { type: 'object', loftSection: 'named', description: 'A service.', additionalProperties: declaration({ user: { type: 'string', default: '' } }) } })),
    /service\/user: missing description/,
  );
  assert.deepEqual([...registry.owners()], []);
});

test('a name registered by another owner is refused; the same owner may declare more', () => {
  const registry = testRegistry();
  schemaError(() => registry.register('rogue-plugin', declaration({ log_path: { type: 'string', default: '', description: 'Mine now.' } })), /'log_path' is already registered by 'core'/);
  registry.register('core', declaration({ log_timestamp: { type: 'string', default: '%b %d', description: 'Timestamp format.' } }));
  assert.equal(registry.owners().get('log_path'), 'core');
  assert.equal(registry.owners().get('log_timestamp'), 'core');
  assert.equal(registry.owners().get('service'), 'master');
});

test('registerAll registers what register() would, and refuses what it would, naming the owner and registering none of them', () => {
  const logDeclaration = declaration({ log_path: { type: 'string', default: '', description: 'Log file.' } });
  const portDeclaration = declaration({ port: { type: 'integer', minimum: 1, default: 143, description: 'Port.' } });
  const together = new SchemaRegistry();
  together.registerAll([['log', logDeclaration], ['imap', portDeclaration]]);
  const oneByOne = new SchemaRegistry();
  oneByOne.register('log', logDeclaration);
  oneByOne.register('imap', portDeclaration);
  assert.deepEqual([...together.owners()], [...oneByOne.owners()]);
  assert.deepEqual(together.defaults(), { log_path: '', port: 143 });

  const registry = new SchemaRegistry();
  const badDefault = declaration({ workers: { type: 'integer', minimum: 1, default: 0, description: 'Workers.' } });
  schemaError(() => registry.registerAll([['log', logDeclaration], ['lmtp', badDefault]]), /settings of 'lmtp': default at '\/workers' is invalid/);
  schemaError(() => registry.registerAll([['log', logDeclaration], ['imap', logDeclaration]]), /'log_path' is already registered by 'log'/);
  const uncompilable = declaration({ port: { type: 'integer', minimum: 'one', default: 1, description: 'Port.' } });
  schemaError(() => registry.registerAll([['log', logDeclaration], ['imap', uncompilable]]), /settings of 'imap'/);
  assert.deepEqual([...registry.owners()], []);
  assert.deepEqual(registry.defaults(), {});
});

test('a fork has the declarations of its base, and what it registers stays in the fork', () => {
  const base = testRegistry();
  const fork = base.fork();
  assert.equal(fork.owners().get('log_path'), 'core');
  assert.deepEqual(fork.defaults(), base.defaults());
  schemaError(() => fork.register('rogue-plugin', declaration({ log_path: { type: 'string', default: '', description: 'Mine now.' } })), /'log_path' is already registered by 'core'/);
  fork.register('plugin', declaration({ plugin_level: { type: 'integer', minimum: 1, default: 3, description: 'A plugin setting.' } }));
  assert.equal(fork.defaults().plugin_level, 3);
  assert.equal(fork.complete({ plugin_level: 0 }).errors[0]?.instancePath, '/plugin_level');
  assert.equal(base.owners().has('plugin_level'), false);
  assert.equal(base.defaults().plugin_level, undefined);
  assert.match(base.complete({ plugin_level: 3 }).errors[0]?.message ?? '', /additional properties/);
});

test('filter names are reserved, and names must be writable in a conf file', () => {
  const registry = new SchemaRegistry();
  schemaError(() => registry.register('x', declaration({ protocol: { type: 'string', default: '', description: 'No.' } })), /'protocol' is reserved for filters/);
  schemaError(() => registry.register('x', declaration({ 'log path': { type: 'string', default: '', description: 'No.' } })), /cannot be written in a conf file/);
});

test('a kind that does not fit the type, an unknown keyword, or an invalid default is refused', () => {
  const registry = new SchemaRegistry();
  schemaError(() => registry.register('x', declaration({ max: { type: 'string', loftKind: 'size', default: '1M', description: 'x' } })), /loftKind 'size' needs type integer or number/);
  schemaError(() => registry.register('x', declaration({ ratio: { type: 'number', default: 0.5, description: 'x' } })), /set loftKind/);
  schemaError(() => registry.register('x', declaration({ name: { type: 'string', default: '', description: 'x', frobnicate: true } })), /ajv cannot compile it: .*frobnicate/);
  schemaError(() => registry.register('x', declaration({ port: { type: 'integer', minimum: 1, default: 0, description: 'x' } })), /default at '\/port' is invalid/);
});

test('describe and paths cover top-level settings, sections and their nested settings', () => {
  const registry = testRegistry();
  assert.deepEqual(registry.describe('mail_max_size'), {
    path: 'mail_max_size',
    owner: 'core',
    kind: 'size',
    type: 'integer',
    description: 'Largest message accepted.',
    default: 10 * 1024 * 1024,
    secret: false,
  });
  assert.equal(registry.describe('log_level')?.kind, 'enum');
  assert.deepEqual(registry.describe('log_level')?.enum, ['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
  assert.equal(registry.describe('verbose_proctitle')?.kind, 'bool', 'kind inferred from type boolean');
  assert.equal(registry.describe('mail_plugins')?.kind, 'list', 'kind inferred from type array');
  assert.equal(registry.describe('ssl_key_password')?.secret, true);
  assert.equal(registry.describe('service')?.kind, 'section');
  assert.equal(registry.describe('service/client_limit')?.owner, 'master');
  assert.equal(registry.describe('service/inet_listener/port')?.description, 'TCP port; 0 = disabled.');
  assert.equal(registry.describe('service/nope'), undefined);
  assert.equal(registry.describe('constructor'), undefined);
  const paths = registry.paths();
  assert.deepEqual(paths, [...paths].sort());
  assert.ok(paths.includes('service/unix_listener/mode'));
});

test('named-section default instances are deep-merged with user blocks, then filled with defaults', () => {
  const registry = testRegistry();
  const conf = '/loft.conf';
  const text = ['service config {', '  client_limit = 5', '  unix_listener config {', '    mode = 0666', '  }', '}', 'service imap {', '}'].join('\n');
  const { base, errors } = loadConfig(conf, registry, memoryFiles({ [conf]: text }));
  assert.deepEqual(errors, []);
  assert.deepEqual(base.service, {
    config: {
      executable: 'config',
      process_limit: 1,
      client_limit: 5,
      idle_kill: 60_000,
      inet_listener: {},
      unix_listener: { config: { path: 'config.sock', mode: 0o666 } },
    },
    imap: { executable: '', process_limit: 100, client_limit: 1, idle_kill: 60_000, inet_listener: {}, unix_listener: {} },
  });
  assert.deepEqual((registry.defaults().service as Record<string, unknown>).config, {
    executable: 'config',
    process_limit: 1,
    client_limit: 1,
    idle_kill: 60_000,
    inet_listener: {},
    unix_listener: { config: { path: 'config.sock', mode: 0o600 } },
  });
  assert.ok(Object.isFrozen(registry.defaults()));
});

test('lists replace their default rather than merging with it', () => {
  const registry = new SchemaRegistry();
  registry.register('x', declaration({ mail_plugins: { type: 'array', items: { type: 'string' }, default: ['quota'], description: 'Plugins.' } }));
  const { base } = loadConfig('/c', registry, memoryFiles({ '/c': 'mail_plugins = acl\n' }));
  assert.deepEqual(base.mail_plugins, ['acl']);
});
