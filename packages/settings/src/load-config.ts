/** loft.conf → a validated, frozen snapshot of settings that serves each filter context. */
import { readdirSync, readFileSync } from 'node:fs';
import { buildSettings } from './build-settings.js';
import { checkFilters, completeBase } from './check-values.js';
import { inReadingOrder, type ConfError } from './conf-error.js';
import type { ConfSource } from './conf-include.js';
import { parseConf } from './conf-parser.js';
import { deepFreeze, type PlainObject } from './objects.js';
import { propertyOf } from './schema-model.js';
import { FilterResolver, publicFilters, type ConfFilter, type FilterContext } from './resolve.js';
import type { SchemaRegistry } from './schema-registry.js';

export interface LoadOptions {
  /** Reads a file's text (tests, /dev/stdin); must throw an error with `code: 'ENOENT'` for a missing file. Default: fs.readFileSync. */
  readFile?: (path: string) => string;
  /** Lists a directory, for `!include dir/*.conf`; same error rule. Default: fs.readdirSync. */
  listDir?: (dir: string) => string[];
}

export interface ConfigSnapshot {
  /** Every problem found, in reading order (an included file's lines where its !include is). Empty = valid. */
  readonly errors: readonly ConfError[];
  /** Every file read, includes and `<file` values too. */
  readonly files: readonly string[];
  /** Settings with no filter applied: every default filled, deep-frozen. */
  readonly base: Readonly<Record<string, unknown>>;
  /** Base plus the filters matching `ctx` in file order, deep-frozen; the same object for the same matching filters. */
  resolve(ctx: FilterContext): Readonly<Record<string, unknown>>;
  /** The filter blocks as parsed, for output. */
  readonly filters: readonly ConfFilter[];
}

/**
 * Reads, checks and resolves a conf file. Never throws on bad input: every problem is in
 * `errors`, and the values that caused them are replaced by their defaults.
 */
export function loadConfig(path: string, registry: SchemaRegistry, options: LoadOptions = {}): ConfigSnapshot {
  const parsed = parseConf(path, confSource(options));
  const built = buildSettings(parsed.nodes, registry);
  const wholeFile = { file: parsed.root, line: 0, order: 0 };
  const { base, errors: valueErrors } = completeBase(built, registry, wholeFile);
  deepFreeze(base);
  const filterErrors = checkFilters(built.filters, topLevelSettings(base, registry), registry);
  const resolver = new FilterResolver(base, built.filters);
  return Object.freeze({
    errors: deepFreeze(inReadingOrder([...parsed.errors, ...built.errors, ...valueErrors, ...filterErrors])),
    files: Object.freeze([...parsed.files]),
    base,
    filters: Object.freeze(publicFilters(built.filters)),
    resolve: (ctx: FilterContext) => resolver.resolve(ctx),
  });
}

/** The base without its sections: all a filter can change, so all its checks need (a service tree can be large). */
function topLevelSettings(base: Readonly<PlainObject>, registry: SchemaRegistry): PlainObject {
  const root = registry.rootSchema();
  return Object.fromEntries(Object.entries(base).filter(([name]) => propertyOf(root, name)?.loftSection === undefined));
}

function confSource(options: LoadOptions): ConfSource {
  return {
    readFile: options.readFile ?? ((path) => readFileSync(path, 'utf8')),
    listDir: options.listDir ?? ((dir) => readdirSync(dir)),
  };
}
