/**
 * What a plugin's sandbox sent back is untrusted data. Before any of it reaches ajv or the
 * registry it must be a manifest of the documented shape, its schema must use only the
 * keywords below (no remote $ref, bounded depth and size), every setting must carry the
 * plugin's prefix, and the host version range must include this Loft.
 */
import semver from 'semver';
import { LoftError } from '@loft/errors';

export interface PluginManifest {
  /** Lower-case package-like name; what other plugins name in `dependencies`. */
  name: string;
  version: string;
  description?: string;
  /** semver range of Loft versions the plugin works with, e.g. `^0.1.0`. */
  loft: string;
  /** Plugin names that must be loaded too (and are loaded first). */
  dependencies: string[];
  /** Every setting and section kind of the plugin starts with this, e.g. `last_login_`. */
  settingsPrefix: string;
  /** JSON Schema `{ type: 'object', properties, additionalProperties: false }` in Loft's dialect. */
  settings: { type: 'object'; properties: Record<string, unknown>; [keyword: string]: unknown };
}

const SCHEMA_MAX_BYTES = 256 * 1024;
const SCHEMA_MAX_DEPTH = 16;
const PATTERN_MAX_CHARS = 200;
const MANIFEST_KEYS = new Set(['name', 'version', 'description', 'loft', 'dependencies', 'settingsPrefix', 'settings']);

/** Keywords a plugin schema may use: validation and annotation only, nothing that loads or runs. */
export const ALLOWED_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'default',
  'description', 'title', 'examples', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'multipleOf', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems',
  'minProperties', 'maxProperties', '$ref', '$defs', 'loftKind', 'loftSection',
]);
/** Keywords whose values are data, not subschemas. */
const DATA_KEYWORDS = new Set(['default', 'enum', 'const', 'examples', 'required', 'description', 'title']);

export function validateManifest(who: string, value: unknown, loftVersion: string): PluginManifest {
  const fail = (detail: string): never => {
    throw new LoftError('LOFT_E_PLUGIN_MANIFEST', `${who}: ${detail}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('it exports no `manifest` object');
  const m = value as Record<string, unknown>;
  for (const key of Object.keys(m)) if (!MANIFEST_KEYS.has(key)) fail(`manifest has an unknown field '${key}' (allowed: ${[...MANIFEST_KEYS].join(', ')})`);
  if (typeof m.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(m.name)) fail('manifest.name must be a lower-case name');
  if (typeof m.version !== 'string' || !semver.valid(m.version)) fail('manifest.version must be a semver version');
  if (m.description !== undefined && typeof m.description !== 'string') fail('manifest.description must be a string');
  if (typeof m.loft !== 'string' || !semver.validRange(m.loft)) fail('manifest.loft must be a semver range of Loft versions');
  const dependencies = m.dependencies ?? [];
  if (!Array.isArray(dependencies) || !dependencies.every((d) => typeof d === 'string')) fail('manifest.dependencies must be a list of plugin names');
  if (typeof m.settingsPrefix !== 'string' || !/^[a-z][a-z0-9]*(_[a-z0-9]+)*_$/.test(m.settingsPrefix)) fail('manifest.settingsPrefix must look like `name_`');
  const manifest = { ...m, dependencies } as PluginManifest;
  checkSettingsSchema(who, manifest);
  if (!semver.satisfies(loftVersion, manifest.loft, { includePrerelease: true })) {
    throw new LoftError('LOFT_E_PLUGIN_VERSION', `${who}: needs Loft ${manifest.loft}, this is Loft ${loftVersion}`);
  }
  return manifest;
}

function checkSettingsSchema(who: string, manifest: PluginManifest): void {
  const fail = (detail: string): never => {
    throw new LoftError('LOFT_E_PLUGIN_SCHEMA', `${who}: settings schema: ${detail}`);
  };
  const schema = manifest.settings as unknown;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return fail('manifest.settings must be a JSON Schema object');
  if (JSON.stringify(schema).length > SCHEMA_MAX_BYTES) fail(`larger than ${SCHEMA_MAX_BYTES} bytes`);
  const s = schema as Record<string, unknown>;
  if (s.type !== 'object' || s.properties === null || typeof s.properties !== 'object') fail("the top level must be { type: 'object', properties: { … } }");
  for (const name of Object.keys(s.properties as object)) {
    if (!name.startsWith(manifest.settingsPrefix)) fail(`'${name}' does not start with the plugin's prefix '${manifest.settingsPrefix}'`);
  }
  const problem = schemaProblem(schema, '', 0);
  if (problem) fail(problem);
}

/** The first disallowed thing in a schema, walking subschemas only. */
function schemaProblem(node: unknown, at: string, depth: number): string | undefined {
  if (depth > SCHEMA_MAX_DEPTH) return `nested deeper than ${SCHEMA_MAX_DEPTH} levels at ${at || '/'}`;
  if (typeof node === 'boolean') return undefined;
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return `${at || '/'} is not a schema object`;
  for (const [keyword, value] of Object.entries(node)) {
    const here = `${at}/${keyword}`;
    if (!ALLOWED_SCHEMA_KEYWORDS.has(keyword)) return `keyword '${keyword}' at ${at || '/'} is not allowed`;
    if (keyword === '$ref' && (typeof value !== 'string' || !value.startsWith('#/'))) return `$ref ${JSON.stringify(value)} at ${at || '/'} is not allowed: only local references (#/…)`;
    if (keyword === 'pattern' && (typeof value !== 'string' || value.length > PATTERN_MAX_CHARS)) return `pattern at ${at || '/'} must be a string of at most ${PATTERN_MAX_CHARS} characters`;
    if (DATA_KEYWORDS.has(keyword)) continue;
    if (keyword === 'properties' || keyword === '$defs') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${here} must be an object of schemas`;
      for (const [name, sub] of Object.entries(value)) {
        const problem = schemaProblem(sub, `${here}/${name}`, depth + 1);
        if (problem) return problem;
      }
    } else if (keyword === 'additionalProperties' || keyword === 'items') {
      const problem = schemaProblem(value, here, depth + 1);
      if (problem) return problem;
    }
  }
  return undefined;
}
