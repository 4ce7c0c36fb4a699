/**
 * Settings the master reads: the base directory, shutdown bound, and every `service`
 * section (Dovecot's service { } blocks). The built-in services config and log are
 * default instances that a `service config { … }` block in loft.conf merges over.
 */
import type { JSONSchemaType } from 'ajv';
import type { InetListenerSettings, ServiceSettings, UnixListenerSettings } from '@loft/master-protocol';

export interface MasterOwnSettings {
  base_dir: string;
  shutdown_timeout: number;
  first_valid_uid: number;
  last_valid_uid: number;
  service: Record<string, ServiceSettings>;
}

const inetListenerSchema: JSONSchemaType<InetListenerSettings> = {
  type: 'object',
  properties: {
    address: { type: 'string', loftKind: 'ip', default: '127.0.0.1', description: 'Address to listen on; * for every IPv4 address, :: for every IPv6 one.' },
    port: { type: 'integer', loftKind: 'uint', minimum: 0, maximum: 65535, default: 0, description: 'TCP port; 0 disables the listener.' },
    ssl: { type: 'boolean', loftKind: 'bool', default: false, description: 'Connections start with TLS (imaps).' },
  },
  required: ['address', 'port', 'ssl'],
  additionalProperties: false,
};

const unixListenerSchema: JSONSchemaType<UnixListenerSettings> = {
  type: 'object',
  properties: {
    path: { type: 'string', loftKind: 'path', default: '', description: 'Socket path, relative to <base_dir>/run; empty means the listener name.' },
    mode: { type: 'integer', loftKind: 'octal', minimum: 0, maximum: 0o777, default: 0o600, description: 'Permission bits of the socket file.' },
    user: { type: 'string', default: '', description: 'Owner of the socket file; empty means the user loftd runs as.' },
    group: { type: 'string', default: '', description: 'Group of the socket file; empty means the primary group of its user.' },
  },
  required: ['path', 'mode', 'user', 'group'],
  additionalProperties: false,
};

export const SERVICE_DEFAULTS: Omit<ServiceSettings, 'inet_listener' | 'unix_listener'> = {
  executable: '',
  type: '',
  user: '',
  group: '',
  extra_groups: [],
  process_limit: 100,
  process_min_avail: 0,
  client_limit: 1000,
  service_count: 0,
  idle_kill: 60_000,
  vsz_limit: 256 * 1024 * 1024,
};

const serviceSchema: JSONSchemaType<ServiceSettings> = {
  type: 'object',
  properties: {
    executable: { type: 'string', loftKind: 'path', default: SERVICE_DEFAULTS.executable, description: 'Built-in service name, or an absolute path to a service module; empty means the section name.' },
    type: { type: 'string', loftKind: 'enum', enum: ['', 'login', 'mail'], default: SERVICE_DEFAULTS.type, description: 'login: pre-auth, hands clients over; mail: one process pool per user uid, started on demand.' },
    user: { type: 'string', default: SERVICE_DEFAULTS.user, description: 'User the processes run as; empty means the user loftd runs as.' },
    group: { type: 'string', default: SERVICE_DEFAULTS.group, description: 'Group the processes run as; empty means the primary group of user.' },
    extra_groups: { type: 'array', loftKind: 'list', items: { type: 'string' }, default: SERVICE_DEFAULTS.extra_groups, description: 'Supplementary groups the processes get beside their user\'s own, e.g. shadow for service auth with passdb shadow.' },
    process_limit: { type: 'integer', loftKind: 'uint', minimum: 1, default: SERVICE_DEFAULTS.process_limit, description: 'Most processes of this service at once.' },
    process_min_avail: { type: 'integer', loftKind: 'uint', minimum: 0, default: SERVICE_DEFAULTS.process_min_avail, description: 'Processes kept ready to accept clients (a service with listeners always keeps one). For a mail service (imap): spares started ahead with no user, each taken by the next user who needs a new process; while every login has been for one uid (virtual users) and its processes have room, none is kept.' },
    client_limit: { type: 'integer', loftKind: 'uint', minimum: 1, default: SERVICE_DEFAULTS.client_limit, description: 'Clients one process serves at once.' },
    service_count: { type: 'integer', loftKind: 'uint', minimum: 0, default: SERVICE_DEFAULTS.service_count, description: 'Connections a process serves before it retires; 0 means unlimited.' },
    idle_kill: { type: 'integer', loftKind: 'duration', minimum: 0, default: SERVICE_DEFAULTS.idle_kill, description: 'Stop a process idle this long when more than process_min_avail exist; 0 means never.' },
    vsz_limit: { type: 'integer', loftKind: 'size', minimum: 0, default: SERVICE_DEFAULTS.vsz_limit, description: 'JavaScript heap limit per process (--max-old-space-size); 0 means Node\'s default.' },
    inet_listener: { type: 'object', loftSection: 'named', required: [], additionalProperties: inetListenerSchema, default: {}, description: 'TCP listener: inet_listener NAME { address port ssl }.' },
    unix_listener: { type: 'object', loftSection: 'named', required: [], additionalProperties: unixListenerSchema, default: {}, description: 'UNIX socket listener: unix_listener NAME { path mode user group }.' },
  },
  required: ['executable', 'type', 'user', 'group', 'extra_groups', 'process_limit', 'process_min_avail', 'client_limit', 'service_count', 'idle_kill', 'vsz_limit', 'inet_listener', 'unix_listener'],
  additionalProperties: false,
};

/** Built-in services that every loftd runs; loft.conf may tune them, not remove them. */
export const CORE_SERVICES = ['config', 'log'] as const;

/**
 * Default instances of the built-in services (Dovecot keeps these beside each service; the
 * master owns the service section, so they are listed here). Users follow Dovecot's
 * split: `loftnull` owns nothing and runs pre-auth code, `loft` runs auth and anvil; create
 * both (see etc/production) or name others in loft.conf.
 */
export const BUILTIN_SERVICES = {
  config: { executable: 'config', process_limit: 1, idle_kill: 0, unix_listener: { config: { path: 'config.sock', mode: 0o600 } } },
  log: { executable: 'log', process_limit: 1, idle_kill: 0 },
  anvil: {
    executable: 'anvil', user: 'loft', process_limit: 1, idle_kill: 0,
    unix_listener: { anvil: { path: 'anvil.sock', mode: 0o600, user: 'loft' } },
  },
  auth: {
    executable: 'auth', user: 'loft', process_limit: 1, idle_kill: 0,
    unix_listener: {
      'auth-login': { path: 'auth-login.sock', mode: 0o600, user: 'loftnull' },
      'auth-userdb': { path: 'auth-userdb.sock', mode: 0o600 },
    },
  },
  'imap-login': {
    executable: 'imap-login', type: 'login', user: 'loftnull', process_limit: 16, client_limit: 1000,
    inet_listener: { imap: { address: '127.0.0.1', port: 143 }, imaps: { address: '127.0.0.1', port: 993, ssl: true } },
  },
  // One spare: a new user's first login finds a process with its code loaded, which drops
  // to the user's uid (Dovecot's process_min_avail for imap does the same).
  imap: { executable: 'imap', type: 'mail', process_limit: 1024, process_min_avail: 1, client_limit: 1000 },
  lmtp: { executable: 'lmtp', process_limit: 16, client_limit: 100, unix_listener: { lmtp: { path: 'lmtp.sock', mode: 0o666 } } },
  adm: { executable: 'adm', process_limit: 1, unix_listener: { adm: { path: 'adm.sock', mode: 0o600 } } },
} as const;

export const masterSettingsSchema: JSONSchemaType<MasterOwnSettings> = {
  type: 'object',
  properties: {
    base_dir: { type: 'string', loftKind: 'path', default: '/run/loft', description: 'Directory for run/ (sockets, pid file); relative paths are relative to loftd\'s working directory.' },
    shutdown_timeout: { type: 'integer', loftKind: 'duration', minimum: 0, default: 10_000, description: 'How long processes may take to finish on stop before they are killed.' },
    first_valid_uid: { type: 'integer', loftKind: 'uint', minimum: 0, default: 500, description: 'Lowest uid a user\'s mail may be accessed as (Dovecot\'s default keeps system accounts and root out).' },
    last_valid_uid: { type: 'integer', loftKind: 'uint', minimum: 0, default: 0, description: 'Highest uid a user\'s mail may be accessed as; 0 means no upper bound.' },
    service: {
      type: 'object',
      loftSection: 'named',
      required: [],
      additionalProperties: serviceSchema,
      // Partial instances: the settings package fills the rest from serviceSchema's defaults.
      default: BUILTIN_SERVICES as unknown as Record<string, ServiceSettings>,
      description: 'A service: service NAME { executable user process_limit client_limit … }.',
    },
  },
  required: ['base_dir', 'shutdown_timeout', 'first_valid_uid', 'last_valid_uid', 'service'],
  additionalProperties: false,
};
