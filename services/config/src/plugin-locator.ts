/**
 * Finding a plugin from its name in loft.conf, without running any of it: an absolute or
 * ./relative path (relative to the config file), else a directory in plugin_dir, else a
 * package in node_modules. A plugin is a directory (or npm package) with an ESM entry.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoftError } from '@loft/errors';

export interface LocatedPlugin {
  /** As written in plugins / mail_plugins. */
  spec: string;
  /** The plugin's directory (real path): the sandbox may read here and nowhere else. */
  dir: string;
  /** The ESM entry module (real path, inside dir). */
  entry: string;
}

export interface LocateOptions {
  configDir: string;
  pluginDirs: readonly string[];
  /** node_modules roots searched last (Loft's own install, the config dir). */
  moduleRoots: readonly string[];
}

const HASH_MAX_FILES = 2000;
const HASH_MAX_BYTES = 32 * 1024 * 1024;

export function locatePlugin(spec: string, options: LocateOptions): LocatedPlugin {
  const isPath = spec.startsWith('/') || spec.startsWith('./') || spec.startsWith('../');
  const candidates = isPath
    ? [path.resolve(options.configDir, spec)]
    : [...options.pluginDirs.map((dir) => path.join(path.resolve(options.configDir, dir), spec)), ...options.moduleRoots.map((root) => path.join(root, 'node_modules', spec))];
  if (!isPath && !/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(spec)) {
    throw new LoftError('LOFT_E_PLUGIN_NOT_FOUND', `plugin '${spec}': not a package name or a path (use ./ for a relative path)`);
  }
  for (const candidate of candidates) {
    const found = fromCandidate(spec, candidate);
    if (found) return found;
  }
  throw new LoftError('LOFT_E_PLUGIN_NOT_FOUND', `plugin '${spec}': not found (looked in ${candidates.join(', ')})`);
}

function fromCandidate(spec: string, candidate: string): LocatedPlugin | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(candidate);
  } catch {
    for (const ext of ['.js', '.mjs']) {
      if (fs.existsSync(candidate + ext)) return fromCandidate(spec, candidate + ext);
    }
    return undefined;
  }
  if (stat.isFile()) {
    const entry = fs.realpathSync(candidate);
    return { spec, dir: path.dirname(entry), entry };
  }
  const dir = fs.realpathSync(candidate);
  const entry = fs.realpathSync(path.resolve(dir, packageEntry(spec, dir)));
  if (!entry.startsWith(dir + path.sep)) {
    throw new LoftError('LOFT_E_PLUGIN_NOT_FOUND', `plugin '${spec}': its entry ${entry} lies outside its directory ${dir}`);
  }
  return { spec, dir, entry };
}

/** package.json `exports` ('.' → import/default) or `main`, else index.js. */
function packageEntry(spec: string, dir: string): string {
  const pkg = readPackageJson(dir);
  const exported = pkg?.exports;
  const dot = typeof exported === 'object' && exported !== null && !Array.isArray(exported) ? (exported as Record<string, unknown>)['.'] ?? exported : exported;
  const target = typeof dot === 'string' ? dot : pickCondition(dot) ?? (typeof pkg?.main === 'string' ? pkg.main : 'index.js');
  if (!fs.existsSync(path.resolve(dir, target))) throw new LoftError('LOFT_E_PLUGIN_NOT_FOUND', `plugin '${spec}': entry ${target} does not exist in ${dir}`);
  return target;
}

function pickCondition(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const conditions = value as Record<string, unknown>;
  for (const key of ['import', 'node', 'default']) {
    const v = conditions[key];
    if (typeof v === 'string') return v;
    const nested = pickCondition(v);
    if (nested) return nested;
  }
  return undefined;
}

export function readPackageJson(dir: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Settings prefixes of plugins available in plugin_dir, from package.json's static `loft` field. */
export function availablePrefixes(pluginDirs: readonly string[], configDir: string): Map<string, string> {
  const prefixes = new Map<string, string>();
  for (const dir of pluginDirs) {
    const root = path.resolve(configDir, dir);
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names) {
      const loft = readPackageJson(path.join(root, name))?.loft as { settingsPrefix?: unknown } | undefined;
      if (typeof loft?.settingsPrefix === 'string' && loft.settingsPrefix) prefixes.set(loft.settingsPrefix, name);
    }
  }
  return prefixes;
}

/** Content hash of a plugin directory: a changed file means its manifest is read again. */
export function hashPluginDir(dir: string): string {
  const hash = crypto.createHash('sha256');
  let files = 0;
  let bytes = 0;
  const walk = (current: string): void => {
    for (const name of fs.readdirSync(current).sort()) {
      if (name === 'node_modules' || name === '.git') continue;
      const full = path.join(current, name);
      const stat = fs.lstatSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        if (++files > HASH_MAX_FILES || (bytes += stat.size) > HASH_MAX_BYTES) {
          throw new LoftError('LOFT_E_PLUGIN_MANIFEST', `plugin directory ${dir} is too large (over ${HASH_MAX_FILES} files or ${HASH_MAX_BYTES} bytes)`);
        }
        hash.update(path.relative(dir, full)).update('\0').update(fs.readFileSync(full)).update('\0');
      } else if (stat.isSymbolicLink()) {
        hash.update(path.relative(dir, full)).update('\0->').update(fs.readlinkSync(full)).update('\0');
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}
