/**
 * Test support: a small declaration, written the way services write theirs: typed against
 * its settings interface with ajv's JSONSchemaType. Not part of the package's API.
 */
import type { JSONSchemaType } from 'ajv';
import { SchemaRegistry } from './schema-registry.js';

export interface TestInetListener { address: string; port: number; ssl: boolean }
export interface TestUnixListener { path: string; mode: number }
export interface TestService {
  executable: string;
  process_limit: number;
  client_limit: number;
  idle_kill: number;
  inet_listener: Record<string, TestInetListener>;
  unix_listener: Record<string, TestUnixListener>;
}
export interface TestGlobals {
  base_dir: string;
  log_path: string;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  ssl_key_password: string;
  mail_max_size: number;
  login_timeout: number;
  verbose_proctitle: boolean;
  mail_umask: number;
  retry_count: number;
  mail_plugins: string[];
  listen: string;
  login_trusted_networks: string;
  greeting: string;
}

const inetListener: JSONSchemaType<TestInetListener> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    address: { type: 'string', loftKind: 'ip', default: '*', description: 'Address to listen on.' },
    port: { type: 'integer', loftKind: 'uint', minimum: 0, maximum: 65535, default: 0, description: 'TCP port; 0 = disabled.' },
    ssl: { type: 'boolean', default: false, description: 'Speak TLS from the first byte.' },
  },
};

const unixListener: JSONSchemaType<TestUnixListener> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    path: { type: 'string', loftKind: 'path', default: '', description: 'Socket path, relative to base_dir/run.' },
    mode: { type: 'integer', loftKind: 'octal', default: 0o600, description: 'Permission bits of the socket.' },
  },
};

const service: JSONSchemaType<TestService> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    executable: { type: 'string', default: '', description: 'Builtin service name or module path.' },
    process_limit: { type: 'integer', loftKind: 'uint', minimum: 1, default: 100, description: 'Most processes at once.' },
    client_limit: { type: 'integer', loftKind: 'uint', minimum: 1, default: 1, description: 'Clients one process serves at once.' },
    idle_kill: { type: 'integer', loftKind: 'duration', default: 60_000, description: 'Idle processes beyond the minimum stop after this long.' },
    inet_listener: {
      type: 'object',
      loftSection: 'named',
      required: [],
      additionalProperties: inetListener,
      default: {},
      description: 'TCP listeners of the service.',
    },
    unix_listener: {
      type: 'object',
      loftSection: 'named',
      required: [],
      additionalProperties: unixListener,
      default: {},
      description: 'UNIX socket listeners of the service.',
    },
  },
};

export const masterSchema: JSONSchemaType<{ base_dir: string; service: Record<string, TestService> }> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    base_dir: { type: 'string', loftKind: 'path', default: '/var/run/loft', description: 'Base directory for runtime files.' },
    service: {
      type: 'object',
      loftSection: 'named',
      required: [],
      additionalProperties: service,
      // Default instances are partial (the rest comes from each property's default), which
      // JSONSchemaType cannot express: it wants a whole TestService, hence the cast.
      default: {
        config: { executable: 'config', process_limit: 1, unix_listener: { config: { path: 'config.sock', mode: 0o600 } } },
      } as unknown as Record<string, TestService>,
      description: 'A service: processes started by the master.',
    },
  },
};

export const globalsSchema: JSONSchemaType<Omit<TestGlobals, 'base_dir'>> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    log_path: { type: 'string', loftKind: 'path', default: '', description: 'Log file; empty = stderr.' },
    log_level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info', description: 'Least severe level logged.' },
    ssl_key_password: { type: 'string', loftKind: 'secret', default: '', description: 'Password of the TLS key.' },
    mail_max_size: { type: 'integer', loftKind: 'size', minimum: 1024, default: 10 * 1024 * 1024, description: 'Largest message accepted.' },
    login_timeout: { type: 'integer', loftKind: 'duration', default: 300_000, description: 'Time a client has to log in.' },
    verbose_proctitle: { type: 'boolean', default: false, description: 'Show client state in ps output.' },
    mail_umask: { type: 'integer', loftKind: 'octal', default: 0o077, description: 'umask for created mail files.' },
    retry_count: { type: 'integer', loftKind: 'int', default: -1, description: 'Retries; -1 = unlimited.' },
    mail_plugins: { type: 'array', items: { type: 'string' }, default: [], description: 'Plugins loaded for mail processes.' },
    listen: { type: 'string', loftKind: 'ip', default: '*', description: 'Default listen address.' },
    login_trusted_networks: { type: 'string', loftKind: 'cidr', default: '127.0.0.0/8', description: 'Network allowed to pass client addresses.' },
    greeting: { type: 'string', default: 'Loft ready.', description: 'Banner sent to clients.' },
  },
};

/** A registry with the test declarations, as 'master' and 'log' would register theirs. */
export function testRegistry(): SchemaRegistry {
  const registry = new SchemaRegistry();
  registry.register('master', masterSchema);
  registry.register('core', globalsSchema);
  return registry;
}

/** LoadOptions reading from a map of absolute path → text; other paths are missing (ENOENT). */
export function memoryFiles(files: Readonly<Record<string, string>>): { readFile: (path: string) => string; listDir: (dir: string) => string[] } {
  return {
    readFile(path) {
      if (Object.hasOwn(files, path)) return files[path];
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    },
    listDir(dir) {
      const names = Object.keys(files).filter((path) => path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).includes('/'));
      if (names.length === 0) throw Object.assign(new Error(`ENOENT: no such file or directory, scandir '${dir}'`), { code: 'ENOENT' });
      return names.map((path) => path.slice(dir.length + 1));
    },
  };
}
