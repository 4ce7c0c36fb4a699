/**
 * The config service's state: the last configuration that validated, its generation, and
 * the settings each process asks for. A reload that fails leaves all of it untouched.
 */
import path from 'node:path';
import { SchemaRegistry, formatConfError, loadConfig, type ConfigSnapshot } from '@loft/settings';
import type { ConfigForMaster, ConfigReloadResult, FilterContext, MasterSettings, ServiceSettingsReply } from '@loft/master-protocol';
import { masterSettingsSchema, type MasterOwnSettings } from '@loft/service-master/settings';
import { logSettingsSchema, type LogSettings } from '@loft/service-log/settings';

/** Every core declaration; plugins add theirs through the sandbox (next step). */
export function createRegistry(): SchemaRegistry {
  const registry = new SchemaRegistry();
  registry.register('master', masterSettingsSchema);
  registry.register('log', logSettingsSchema);
  return registry;
}

export interface ConfigStateOptions {
  file: string;
  /** loftd --base-dir, which wins over base_dir in the file. */
  baseDirOverride?: string;
}

export class ConfigState {
  private snapshot: ConfigSnapshot | undefined;
  private generation = 0;
  /** Errors of the initial load when it failed; loftd prints them and exits. */
  private initialErrors: string[] = [];

  constructor(private readonly registry: SchemaRegistry, private readonly options: ConfigStateOptions) {
    const result = this.reload();
    if (!result.ok) this.initialErrors = result.errors;
  }

  reload(): ConfigReloadResult {
    const next = loadConfig(this.options.file, this.registry);
    if (next.errors.length > 0) return { ok: false, errors: next.errors.map(formatConfError) };
    this.snapshot = next;
    this.generation++;
    return { ok: true, generation: this.generation };
  }

  forMaster(): ConfigForMaster {
    if (!this.snapshot) throw new Error(this.initialErrors.join('\n'));
    const base = this.snapshot.base as unknown as MasterOwnSettings & LogSettings;
    const settings: MasterSettings = {
      base_dir: this.baseDir(base.base_dir),
      log_path: base.log_path ? path.resolve(base.log_path) : '',
      log_level: base.log_level,
      shutdown_timeout: base.shutdown_timeout,
      service: structuredClone(base.service),
    };
    return { generation: this.generation, settings };
  }

  /** Global settings for one process: filters for its context applied, services left out. */
  forService(service: string, filter: FilterContext): ServiceSettingsReply {
    if (!this.snapshot) throw new Error('no valid configuration is loaded');
    const { service: _services, ...settings } = this.snapshot.resolve(filter) as Record<string, unknown>;
    settings.base_dir = this.baseDir(String(settings.base_dir));
    if (typeof settings.log_path === 'string' && settings.log_path) settings.log_path = path.resolve(settings.log_path);
    return { generation: this.generation, settings: { ...settings, service_name: service } };
  }

  private baseDir(fromFile: string): string {
    return path.resolve(this.options.baseDirOverride ?? fromFile);
  }
}
