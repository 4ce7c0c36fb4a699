/**
 * Settings → conf text (loftconf -n / -a / -d). The output is itself a valid conf file:
 * loading it gives back the same settings, so it can be kept, diffed or edited.
 */
import type { ConfigSnapshot } from './load-config.js';
import { formatSectionName, formatValue } from './format-value.js';
import { deepEqual, isPlainObject, ownValue, type PlainObject } from './objects.js';
import type { ConfFilter } from './resolve.js';
import { instanceSchemaOf, kindOf, type ObjectSchema, type PropertySchema } from './schema-model.js';
import type { SchemaRegistry } from './schema-registry.js';

export { formatValue } from './format-value.js';

export interface FormatOptions {
  /** `non-default`: only what differs from the defaults; `all`: everything; `defaults`: the defaults alone. */
  mode: 'non-default' | 'all' | 'defaults';
  /** Print secrets' values instead of a comment saying they are hidden. */
  showSecrets?: boolean;
}

const INDENT = '  ';

/** The snapshot's base settings, then its filter blocks in file order (except in `defaults` mode). */
export function formatConf(snapshot: ConfigSnapshot, registry: SchemaRegistry, options: FormatOptions): string {
  const base = formatSettings(snapshot.base, registry, options);
  if (options.mode === 'defaults') return base;
  const filters = snapshot.filters.map((filter) => joinLines(filterLines(filter, registry.rootSchema(), 0, options)));
  return [base, ...filters].filter((part) => part !== '').join('\n');
}

/** One already-resolved settings object (loftconf -f protocol=imap): no filter blocks. In `defaults` mode `settings` is not used. */
export function formatSettings(settings: Readonly<Record<string, unknown>>, registry: SchemaRegistry, options: FormatOptions): string {
  const values = options.mode === 'defaults' ? registry.defaults() : settings;
  const printer = new BlockPrinter(registry, options);
  return joinLines(printer.lines(values, options.mode === 'non-default' ? registry.defaults() : undefined, registry.rootSchema(), 0));
}

class BlockPrinter {
  constructor(
    private readonly registry: SchemaRegistry,
    private readonly options: FormatOptions,
  ) {}

  /** The lines of one block: settings sorted by name, then sections. `defaults` set = print only what differs. */
  lines(values: Readonly<PlainObject>, defaults: Readonly<PlainObject> | undefined, scope: ObjectSchema, depth: number): string[] {
    const names = Object.keys(scope.properties).filter((name) => Object.hasOwn(values, name)).sort();
    const settings = names.filter((name) => scope.properties[name].loftSection === undefined);
    const sections = names.filter((name) => scope.properties[name].loftSection !== undefined);
    return [
      ...settings.flatMap((name) => {
        const value = values[name];
        if (defaults && deepEqual(value, ownValue(defaults, name))) return [];
        return [settingLine(name, value, scope.properties[name], depth, this.options)];
      }),
      ...sections.flatMap((name) => this.sectionLines(name, values[name], defaults && ownValue(defaults, name), scope.properties[name], depth)),
    ];
  }

  private sectionLines(name: string, value: unknown, defaults: unknown, property: PropertySchema, depth: number): string[] {
    const instance = instanceSchemaOf(property);
    if (!instance || !isPlainObject(value)) return [];
    const printAll = defaults === undefined;
    if (property.loftSection === 'single') {
      return this.instanceLines(name, value, printAll ? undefined : asObject(defaults), printAll, instance, depth);
    }
    return Object.keys(value)
      .sort()
      .flatMap((instanceName) => {
        const header = `${name} ${formatSectionName(instanceName)}`;
        if (printAll) return this.instanceLines(header, value[instanceName], undefined, true, instance, depth);
        const declared = ownValue(asObject(defaults), instanceName);
        // A block the user made is printed even when empty: that it exists is not a default.
        if (!isPlainObject(declared)) return this.instanceLines(header, value[instanceName], this.registry.complete({}, instance).value, true, instance, depth);
        return this.instanceLines(header, value[instanceName], declared, false, instance, depth);
      });
  }

  private instanceLines(header: string, value: unknown, defaults: PlainObject | undefined, printEmpty: boolean, instance: ObjectSchema, depth: number): string[] {
    if (!isPlainObject(value)) return [];
    const body = this.lines(value, defaults, instance, depth + 1);
    if (body.length === 0 && !printEmpty) return [];
    return [`${INDENT.repeat(depth)}${header} {`, ...body, `${INDENT.repeat(depth)}}`];
  }
}

function asObject(value: unknown): PlainObject {
  return isPlainObject(value) ? value : {};
}

function filterLines(filter: ConfFilter, root: ObjectSchema, depth: number, options: FormatOptions): string[] {
  const headers = (['protocol', 'local', 'remote'] as const).flatMap((type) => (filter.match[type] ? [`${type} ${filter.match[type].join(' ')}`] : []));
  const inner = depth + headers.length;
  const names = Object.keys(filter.settings).filter((name) => Object.hasOwn(root.properties, name)).sort();
  const body = [
    ...names.map((name) => settingLine(name, filter.settings[name], root.properties[name], inner, options)),
    ...filter.children.flatMap((child) => filterLines(child, root, inner, options)),
  ];
  const open = headers.map((header, i) => `${INDENT.repeat(depth + i)}${header} {`);
  const close = headers.map((_, i) => `${INDENT.repeat(depth + i)}}`).reverse();
  return [...open, ...body, ...close];
}

/** `key = value`; a secret is a comment unless asked for, so the output can be shared. */
function settingLine(name: string, value: unknown, property: PropertySchema, depth: number, options: FormatOptions): string {
  const kind = kindOf(property) ?? 'string';
  const indent = INDENT.repeat(depth);
  if (kind === 'secret' && value !== '' && !options.showSecrets) return `${indent}# ${name}: hidden, use -P`;
  const text = formatValue(value, kind);
  return text === '' ? `${indent}${name} =` : `${indent}${name} = ${text}`;
}

function joinLines(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
