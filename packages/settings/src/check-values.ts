/**
 * ajv's verdict on the completed settings, turned into conf errors at the line that set the
 * rejected value. A rejected value is dropped so its default takes its place: the snapshot
 * stays schema-valid even when it has errors.
 */
import type { ErrorObject } from 'ajv';
import { confError, type OrderedConfError, type OrderedLocation } from './conf-error.js';
import type { BuiltSettings, FilterBlock } from './build-settings.js';
import { formatValue } from './format-value.js';
import { isPlainObject, overlay, type PlainObject } from './objects.js';
import { kindOf, propertyAtValuePath } from './schema-model.js';
import type { SchemaRegistry } from './schema-registry.js';
import type { LoftKind } from './value-kinds.js';
import { fromPointer, type ValueSources } from './value-sources.js';

/** The base settings: what the conf set, sections merged over their defaults, every default filled. */
export function completeBase(built: BuiltSettings, registry: SchemaRegistry, fallback: OrderedLocation): { base: PlainObject; errors: OrderedConfError[] } {
  const first = registry.complete(built.settings);
  if (first.errors.length === 0) return { base: first.value, errors: [] };
  const errors = first.errors.map((error) => {
    const found = built.sources.nearest(error.instancePath);
    if (found) deleteAt(built.settings, fromPointer(found.pointer));
    return toConfError(error, built.sources, fallback, registry);
  });
  return { base: registry.complete(built.settings).value, errors };
}

/**
 * Each filter's settings checked as they would apply: over the base and the filters around
 * it. Only errors at this filter's own values are reported; its ancestors' were reported
 * (and dropped) before.
 */
export function checkFilters(filters: readonly FilterBlock[], under: Readonly<PlainObject>, registry: SchemaRegistry): OrderedConfError[] {
  return filters.flatMap((block) => {
    const errors: OrderedConfError[] = [];
    for (const error of registry.complete(overlay(under, block.settings)).errors) {
      const found = block.sources.nearest(error.instancePath);
      if (!found) continue;
      deleteAt(block.settings, fromPointer(found.pointer));
      errors.push(toConfError(error, block.sources, block, registry));
    }
    return [...errors, ...checkFilters(block.children, overlay(under, block.settings), registry)];
  });
}

function toConfError(error: ErrorObject, sources: ValueSources, fallback: OrderedLocation, registry: SchemaRegistry): OrderedConfError {
  const found = sources.nearest(error.instancePath);
  const segments = fromPointer(error.instancePath);
  const target = propertyAtValuePath(registry.rootSchema(), segments);
  const name = target?.names.at(-1) ?? segments.at(-1) ?? 'settings';
  const kind = target && kindOf(target.property);
  const written = found?.pointer === error.instancePath ? found.source.raw : undefined;
  const shown = kind === 'secret' ? 'the value' : `'${written ?? displayData(error.data, kind)}'`;
  return confError(found?.source ?? fallback, 'LOFT_E_CONF_BAD_VALUE', `${name}: ${shown} ${complaint(error, kind)}`);
}

/** What is wrong, in the words of the conf file rather than of JSON Schema. */
function complaint(error: ErrorObject, kind: LoftKind | undefined): string {
  const params = error.params as { limit?: unknown; allowedValues?: unknown[]; type?: unknown };
  const limit = typeof params.limit === 'number' && kind ? formatValue(params.limit, kind) : String(params.limit);
  switch (error.keyword) {
    case 'enum':
      return `is not one of ${(params.allowedValues ?? []).join(', ')}`;
    case 'minimum':
      return `is less than the minimum, ${limit}`;
    case 'exclusiveMinimum':
      return `must be more than ${limit}`;
    case 'maximum':
      return `is more than the maximum, ${limit}`;
    case 'exclusiveMaximum':
      return `must be less than ${limit}`;
    case 'type':
      return `is not ${TYPE_NAMES.get(String(params.type)) ?? `of type ${String(params.type)}`}`;
    default:
      return error.message ?? `fails the schema's '${error.keyword}' check`;
  }
}

const TYPE_NAMES: ReadonlyMap<string, string> = new Map([
  ['integer', 'a whole number'],
  ['number', 'a number'],
  ['string', 'a string'],
  ['boolean', 'yes or no'],
  ['array', 'a list'],
  ['object', 'a section'],
]);

function displayData(data: unknown, kind: LoftKind | undefined): string {
  if (typeof data === 'string') return data;
  if ((typeof data === 'number' || typeof data === 'boolean') && kind && kind !== 'list') return formatValue(data, kind);
  return JSON.stringify(data);
}

function deleteAt(tree: PlainObject, segments: readonly string[]): void {
  const parent = segments.slice(0, -1).reduce<unknown>((node, segment) => (isPlainObject(node) && Object.hasOwn(node, segment) ? node[segment] : undefined), tree);
  const last = segments.at(-1);
  if (isPlainObject(parent) && last !== undefined) delete parent[last];
}
