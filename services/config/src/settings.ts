/** The config service's own settings: which plugins to load and how to sandbox them. */
import type { JSONSchemaType } from 'ajv';

export interface ConfigServiceSettings {
  plugins: string[];
  mail_plugins: string[];
  plugin_dir: string[];
  sandbox_user: string;
  plugin_sandbox_timeout: number;
  plugin_sandbox_memory: number;
}

export const configSettingsSchema: JSONSchemaType<ConfigServiceSettings> = {
  type: 'object',
  properties: {
    plugins: {
      type: 'array', items: { type: 'string' }, loftKind: 'list', default: [],
      description: 'Plugins for every service, by package name or path (relative paths: to the config file).',
    },
    mail_plugins: {
      type: 'array', items: { type: 'string' }, loftKind: 'list', default: [],
      description: 'Plugins for mail processes (imap, lmtp), by package name or path.',
    },
    plugin_dir: {
      type: 'array', items: { type: 'string' }, loftKind: 'list', default: [],
      description: 'Directories searched for plugins named without a path, before node_modules.',
    },
    sandbox_user: {
      type: 'string', default: 'nobody',
      description: 'Unprivileged user that reads plugin manifests in a throw-away sandbox process.',
    },
    plugin_sandbox_timeout: {
      type: 'integer', loftKind: 'duration', minimum: 100, maximum: 60_000, default: 5_000,
      description: 'How long a plugin may take, from the start of its import, to report its manifest before its sandbox is killed.',
    },
    plugin_sandbox_memory: {
      type: 'integer', loftKind: 'size', minimum: 16 * 1024 * 1024, maximum: 1024 * 1024 * 1024, default: 64 * 1024 * 1024,
      description: 'JavaScript heap limit of a plugin sandbox process.',
    },
  },
  required: ['plugins', 'mail_plugins', 'plugin_dir', 'sandbox_user', 'plugin_sandbox_timeout', 'plugin_sandbox_memory'],
  additionalProperties: false,
};
