/**
 * Turning `plugins` / `mail_plugins` into checked manifests: locate each plugin, reuse the
 * manifest when its directory's content hash is unchanged (a reload forks nothing for
 * unchanged plugins), otherwise read it in the sandbox, validate it, and order plugins so
 * that dependencies come first. Every problem is collected; none stops the others.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeError, LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';
import { lookupUser } from '@loft/service-runtime';
import { hashPluginDir, locatePlugin, type LocatedPlugin, type LocateOptions } from './plugin-locator.js';
import { validateManifest, type PluginManifest } from './plugin-manifest.js';
import { readManifestInSandbox, type SandboxIdentity } from './plugin-sandbox.js';

export interface LoadedPlugin extends LocatedPlugin {
  manifest: PluginManifest;
  hash: string;
}

export interface PluginLoadSettings {
  sandboxUser: string;
  timeoutMs: number;
  heapBytes: number;
}

export class PluginLoader {
  /** entry path → what its sandbox said last time, with the directory hash it said it for. */
  private readonly cache = new Map<string, { hash: string; manifest: PluginManifest }>();
  /** Sandboxes started so far, for tests and `loftadm config` diagnostics. */
  sandboxRuns = 0;

  constructor(private readonly loftRoot: string, private readonly loftVersion: string, private readonly logger?: Logger) {}

  async load(specs: readonly string[], locate: LocateOptions, settings: PluginLoadSettings): Promise<{ plugins: LoadedPlugin[]; errors: string[] }> {
    const errors: string[] = [];
    const loaded: LoadedPlugin[] = [];
    let identity: SandboxIdentity | undefined;
    if (specs.length > 0 && process.getuid?.() === 0) {
      const user = await lookupUser(settings.sandboxUser);
      if (!user) return { plugins: [], errors: [`sandbox_user = ${settings.sandboxUser}: no such user; plugins cannot be read safely`] };
      identity = { uid: user.uid, gid: user.gid };
    }
    for (const spec of new Set(specs)) {
      try {
        loaded.push(await this.loadOne(spec, locate, settings, identity));
      } catch (err) {
        errors.push(err instanceof LoftError ? `${err.code}: ${err.detail}` : describeError(err));
      }
    }
    return { plugins: orderByDependencies(loaded, errors), errors };
  }

  private async loadOne(spec: string, locate: LocateOptions, settings: PluginLoadSettings, identity?: SandboxIdentity): Promise<LoadedPlugin> {
    const located = locatePlugin(spec, locate);
    if (identity && !readableBy(located.entry, identity)) {
      throw new LoftError('LOFT_E_PLUGIN_NOT_FOUND', `plugin '${spec}': ${located.entry} is not readable by sandbox_user ${settings.sandboxUser} (uid ${identity.uid}); make the plugin directory world-readable`);
    }
    const hash = hashPluginDir(located.dir);
    const cached = this.cache.get(located.entry);
    if (cached && cached.hash === hash) return { ...located, manifest: cached.manifest, hash };
    this.sandboxRuns++;
    const result = await readManifestInSandbox(located, { identity, timeoutMs: settings.timeoutMs, heapBytes: settings.heapBytes, loftRoot: this.loftRoot });
    const who = `plugin '${spec}' (${located.entry})`;
    const manifest = validateManifest(who, result.manifest, this.loftVersion);
    this.logger?.info({ plugin: manifest.name, entry: located.entry, sandboxPid: result.pid, uid: identity?.uid, networkIsolated: result.isolatedNetwork },
      `plugin ${manifest.name}: manifest read in a sandbox${identity ? ` as uid ${identity.uid}` : ''}${result.isolatedNetwork ? ', without network' : ''}`);
    this.cache.set(located.entry, { hash, manifest });
    return { ...located, manifest, hash };
  }
}

/** Dependencies first; a missing dependency or a cycle is an error naming both plugins. */
function orderByDependencies(plugins: LoadedPlugin[], errors: string[]): LoadedPlugin[] {
  const byName = new Map(plugins.map((p) => [p.manifest.name, p]));
  const ordered: LoadedPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done' | 'failed'>();
  const visit = (plugin: LoadedPlugin, chain: string[]): boolean => {
    const name = plugin.manifest.name;
    const seen = state.get(name);
    if (seen === 'done') return true;
    if (seen === 'failed') return false;
    if (seen === 'visiting') {
      errors.push(`LOFT_E_PLUGIN_DEPENDENCY: plugins depend on each other in a cycle: ${[...chain, name].join(' -> ')}`);
      return false;
    }
    state.set(name, 'visiting');
    for (const dependency of plugin.manifest.dependencies) {
      const target = byName.get(dependency);
      if (!target) {
        errors.push(`LOFT_E_PLUGIN_DEPENDENCY: plugin '${plugin.spec}' (${plugin.entry}) needs plugin '${dependency}', which is not in plugins or mail_plugins`);
        state.set(name, 'failed');
        return false;
      }
      if (!visit(target, [...chain, name])) {
        state.set(name, 'failed');
        return false;
      }
    }
    state.set(name, 'done');
    ordered.push(plugin);
    return true;
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}

/** Whether uid/gid may read `file` by its mode bits and traverse every directory above it. */
function readableBy(file: string, who: SandboxIdentity): boolean {
  const allowed = (target: string, bit: number): boolean => {
    const stat = fs.statSync(target);
    const shift = stat.uid === who.uid ? 6 : stat.gid === who.gid ? 3 : 0;
    return ((stat.mode >> shift) & bit) !== 0;
  };
  try {
    if (!allowed(file, 4)) return false;
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      if (!allowed(dir, 1)) return false;
      if (dir === path.dirname(dir)) return true;
    }
  } catch {
    return false;
  }
}
