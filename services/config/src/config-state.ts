/**
 * Loading a configuration, and the config service's state: the last configuration that
 * validated, its generation, and the settings each process asks for. A reload that fails
 * leaves all of it untouched.
 *
 * Loading is two passes, because which plugins to load is itself a setting: the first pass
 * reads the core settings (plugins, mail_plugins, plugin_dir, sandbox_user); then the
 * plugins' manifests are read in their sandboxes and their schemas registered; the second
 * pass validates everything, plugin settings included, exactly like core ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@loft/log';
import { SchemaRegistry, formatConf, formatConfError, formatSettings, loadConfig, type ConfigSnapshot, type FormatOptions } from '@loft/settings';
import type { ConfigForMaster, ConfigReloadResult, FilterContext, MasterSettings, ServiceSettingsReply } from '@loft/master-protocol';
import { masterSettingsSchema, type MasterOwnSettings } from '@loft/service-master/settings';
import { logSettingsSchema, type LogSettings } from '@loft/service-log/settings';
import { anvilSettingsSchema } from '@loft/service-anvil/settings';
import { authSettingsSchema } from '@loft/service-auth/settings';
import { imapLoginSettingsSchema } from '@loft/service-imap-login/settings';
import { imapSettingsSchema } from '@loft/service-imap/settings';
import { lmtpSettingsSchema } from '@loft/service-lmtp/settings';
import { admSettingsSchema } from '@loft/service-adm/settings';
import { checkStorageSettings, storageSettingsSchema, type StorageSettings } from '@loft/storage';
import { configSettingsSchema, type ConfigServiceSettings } from './settings.js';
import { PluginLoader, type LoadedPlugin } from './plugin-loader.js';
import { availablePrefixes } from './plugin-locator.js';

/** Loft's install: the sandbox may read it, and plugin packages may live in its node_modules. */
export const LOFT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const LOFT_VERSION = String((JSON.parse(fs.readFileSync(path.join(LOFT_ROOT, 'package.json'), 'utf8')) as { version: unknown }).version);

/** Every core declaration; plugins add theirs in the second pass. */
let builtins: SchemaRegistry | undefined;

/**
 * A registry of every built-in setting: a fork of one made (checked and compiled) once per
 * process, so a load, its second pass with plugins and each reload compile only what the
 * plugins add.
 */
export function createRegistry(): SchemaRegistry {
  builtins ??= registerBuiltins();
  return builtins.fork();
}

/** Every built-in owner of settings and its declaration. */
export const BUILTIN_DECLARATIONS: ReadonlyArray<readonly [owner: string, schema: object]> = [
  ['master', masterSettingsSchema],
  ['log', logSettingsSchema],
  ['config', configSettingsSchema],
  ['anvil', anvilSettingsSchema],
  ['auth', authSettingsSchema],
  ['imap-login', imapLoginSettingsSchema],
  ['imap', imapSettingsSchema],
  ['lmtp', lmtpSettingsSchema],
  ['adm', admSettingsSchema],
  ['storage', storageSettingsSchema],
];

function registerBuiltins(): SchemaRegistry {
  const registry = new SchemaRegistry();
  registry.registerAll(BUILTIN_DECLARATIONS); // compiles the root schema once, which forks without plugins reuse
  return registry;
}

export interface LoadedConfiguration {
  snapshot: ConfigSnapshot;
  registry: SchemaRegistry;
  plugins: LoadedPlugin[];
  /** Every problem, formatted for people: plugin errors first, then file:line ones. */
  errors: string[];
}

export async function loadConfiguration(file: string, loader: PluginLoader): Promise<LoadedConfiguration> {
  // Each file is read once: /dev/stdin cannot be read twice, and both passes must see the same text.
  const texts = new Map<string, string>();
  const readFile = (p: string): string => {
    let text = texts.get(p);
    if (text === undefined) {
      // fd 0 rather than the path: /dev/stdin cannot be opened when stdin is a socket.
      text = fs.readFileSync(p === '/dev/stdin' ? 0 : p, 'utf8');
      texts.set(p, text);
    }
    return text;
  };
  const first = loadConfig(file, createRegistry(), { readFile });
  const core = first.base as unknown as ConfigServiceSettings;
  const configDir = file.startsWith('/dev/') || file.startsWith('/proc/') ? process.cwd() : path.dirname(file);
  const { plugins, errors } = await loader.load([...core.plugins, ...core.mail_plugins], {
    configDir,
    pluginDirs: core.plugin_dir,
    moduleRoots: [LOFT_ROOT, configDir],
  }, { sandboxUser: core.sandbox_user, timeoutMs: core.plugin_sandbox_timeout, heapBytes: core.plugin_sandbox_memory });

  const registry = createRegistry();
  for (const [prefix, name] of availablePrefixes(core.plugin_dir, configDir)) registry.reserve(prefix, name);
  for (const plugin of plugins) {
    const { name, settings, settingsPrefix } = plugin.manifest;
    const who = `plugin '${plugin.spec}' (${plugin.entry})`;
    const check = registry.check(name, settings);
    if (check.schema.length > 0) errors.push(`LOFT_E_PLUGIN_SCHEMA: ${who}: ${check.schema.join('; ')}`);
    else if (check.defaults.length > 0) errors.push(`LOFT_E_PLUGIN_DEFAULTS: ${who}: ${check.defaults.join('; ')}`);
    else {
      registry.register(name, settings);
      registry.reserve(settingsPrefix, name);
    }
  }
  const snapshot = loadConfig(file, registry, { readFile });
  // What the schemas cannot say, checked here rather than at each user's first login.
  const crossField = snapshot.errors.length > 0 ? [] : checkStorageSettings(snapshot.base as unknown as StorageSettings).map((problem) => `LOFT_E_CONF_INVALID: ${file}: ${problem}`);
  return { snapshot, registry, plugins, errors: [...errors, ...snapshot.errors.map(formatConfError), ...crossField] };
}

export interface ConfigStateOptions {
  file: string;
  /** loftd --base-dir, which wins over base_dir in the file. */
  baseDirOverride?: string;
  logger?: Logger;
}

export interface DumpOptions {
  mode: FormatOptions['mode'];
  showSecrets: boolean;
  filter?: FilterContext;
}

export class ConfigState {
  private current: LoadedConfiguration | undefined;
  private generation = 0;
  /** Errors of the initial load when it failed; loftd prints them and exits. */
  private initialErrors: string[] = [];
  readonly loader: PluginLoader;

  private constructor(private readonly options: ConfigStateOptions) {
    this.loader = new PluginLoader(LOFT_ROOT, LOFT_VERSION, options.logger);
  }

  static async create(options: ConfigStateOptions): Promise<ConfigState> {
    const state = new ConfigState(options);
    const result = await state.reload();
    if (!result.ok) state.initialErrors = result.errors;
    return state;
  }

  async reload(): Promise<ConfigReloadResult> {
    const next = await loadConfiguration(this.options.file, this.loader);
    if (next.errors.length > 0) return { ok: false, errors: next.errors };
    this.current = next;
    this.generation++;
    return { ok: true, generation: this.generation };
  }

  private get snapshot(): ConfigSnapshot {
    if (!this.current) throw new Error(this.initialErrors.join('\n') || 'no valid configuration is loaded');
    return this.current.snapshot;
  }

  forMaster(): ConfigForMaster {
    const base = this.snapshot.base as unknown as MasterOwnSettings & LogSettings;
    const settings: MasterSettings = {
      base_dir: this.baseDir(base.base_dir),
      log_path: base.log_path ? path.resolve(base.log_path) : '',
      log_level: base.log_level,
      shutdown_timeout: base.shutdown_timeout,
      first_valid_uid: base.first_valid_uid,
      last_valid_uid: base.last_valid_uid,
      service: structuredClone(base.service),
    };
    return { generation: this.generation, settings };
  }

  /** Global settings for one process: filters for its context applied, services left out. */
  forService(service: string, filter: FilterContext): ServiceSettingsReply {
    const { service: services, ...settings } = this.snapshot.resolve(filter) as Record<string, unknown>;
    // A process sees its own service section (its listeners, e.g. for proxy loop checks), not others'.
    const own = (services as Record<string, unknown>)[service];
    if (own) settings.service = { [service]: own };
    settings.base_dir = this.baseDir(String(settings.base_dir));
    if (typeof settings.log_path === 'string' && settings.log_path) settings.log_path = path.resolve(settings.log_path);
    return { generation: this.generation, settings: { ...settings, service_name: service } };
  }

  /** `loftadm config`: what `loftconf` prints, from the running configuration. */
  dump(options: DumpOptions): string {
    const registry = this.current?.registry;
    if (!registry) throw new Error('no valid configuration is loaded');
    const format = { mode: options.mode, showSecrets: options.showSecrets };
    return options.filter ? formatSettings(this.snapshot.resolve(options.filter), registry, format) : formatConf(this.snapshot, registry, format);
  }

  private baseDir(fromFile: string): string {
    return path.resolve(this.options.baseDirOverride ?? fromFile);
  }
}
