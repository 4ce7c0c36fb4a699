/**
 * Parsed conf nodes → typed settings trees: the values the user wrote (no defaults yet), the
 * filter blocks with their own settings, and where every value came from. Names are checked
 * against the declarations here, values converted by their kind; ajv's checks come later
 * (check-values.ts), on the completed trees.
 */
import { confError, type OrderedConfError, type OrderedLocation } from './conf-error.js';
import type { ConfNode, ConfSectionNode, ConfSettingNode } from './conf-parser.js';
import { parseCidr } from './ip-address.js';
import { childObject, setOwn, type PlainObject } from './objects.js';
import { instanceSchemaOf, kindOf, propertyOf, type PropertySchema } from './schema-model.js';
import { FILTER_TYPES, type SchemaRegistry } from './schema-registry.js';
import { unknownNameError, type NameScope } from './unknown-name.js';
import { ValueSources } from './value-sources.js';
import { coerceValue } from './value-kinds.js';

export type FilterType = (typeof FILTER_TYPES)[number];

export type FilterMatch = { [type in FilterType]?: string[] };

/** One `protocol … { }`, `local … { }` or `remote … { }` block. */
export interface FilterBlock extends OrderedLocation {
  match: FilterMatch;
  /** Top-level settings only; sections are not allowed in filters. */
  settings: PlainObject;
  sources: ValueSources;
  /** Filters nested in this one: they apply only when this one matches too. */
  children: FilterBlock[];
}

export interface BuiltSettings {
  /** What the conf files set outside filters, typed, without defaults. */
  settings: PlainObject;
  sources: ValueSources;
  filters: FilterBlock[];
  errors: OrderedConfError[];
}

/** Where the nodes being visited write their values. */
interface Scope extends NameScope {
  target: PlainObject;
  /** Path of `target` inside its tree (the base settings, or one filter's settings). */
  pointer: string[];
  sources: ValueSources;
  /** The innermost filter block around this scope. */
  filter?: { block: FilterBlock; type: FilterType };
}

export function buildSettings(nodes: readonly ConfNode[], registry: SchemaRegistry): BuiltSettings {
  const builder = new SettingsBuilder(registry);
  const settings: PlainObject = {};
  const sources = new ValueSources();
  builder.visit(nodes, { schema: registry.rootSchema(), names: [], target: settings, pointer: [], sources });
  return { settings, sources, filters: builder.filters, errors: builder.errors };
}

class SettingsBuilder {
  readonly filters: FilterBlock[] = [];
  readonly errors: OrderedConfError[] = [];

  constructor(private readonly registry: SchemaRegistry) {}

  visit(nodes: readonly ConfNode[], scope: Scope): void {
    for (const node of nodes) {
      if (node.kind === 'setting') this.visitSetting(node, scope);
      else if ((FILTER_TYPES as readonly string[]).includes(node.sectionType)) this.visitFilter(node, node.sectionType as FilterType, scope);
      else this.visitSection(node, scope);
    }
  }

  /** Later lines replace earlier ones for the same key, as in Dovecot. */
  private visitSetting(node: ConfSettingNode, scope: Scope): void {
    const property = propertyOf(scope.schema, node.key);
    if (!property) return this.report(unknownNameError(node, 'setting', node.key, scope, this.registry));
    if (property.loftSection !== undefined) {
      const name = property.loftSection === 'named' ? ' NAME' : '';
      return this.fail(node, 'LOFT_E_CONF_INVALID', `'${node.key}' is a section, not a setting: write ${node.key}${name} { … }`);
    }
    const kind = kindOf(property) ?? 'string';
    const coerced = coerceValue(kind, node.value);
    if (!coerced.ok) {
      const shown = kind === 'secret' ? 'the value' : `'${node.value}'`;
      return this.fail(node, 'LOFT_E_CONF_BAD_VALUE', `${node.key}: ${shown} is not ${coerced.expected}`);
    }
    setOwn(scope.target, node.key, coerced.value);
    scope.sources.set([...scope.pointer, node.key], { file: node.file, line: node.line, order: node.order, raw: node.value });
  }

  private visitSection(node: ConfSectionNode, scope: Scope): void {
    const type = node.sectionType;
    const property = propertyOf(scope.schema, type);
    if (!property) return this.report(unknownNameError(node, 'section type', type, scope, this.registry));
    const instance = instanceSchemaOf(property);
    if (property.loftSection === undefined || !instance) {
      return this.fail(node, 'LOFT_E_CONF_INVALID', `'${type}' is a setting, not a section: write ${type} = VALUE`);
    }
    if (scope.filter) return this.fail(node, 'LOFT_E_CONF_INVALID', `${type} sections are not allowed inside a ${scope.filter.type} filter`);
    const place = this.instancePlace(node, property, scope);
    if (!place) return;
    scope.sources.set(place.pointer, { file: node.file, line: node.line, order: node.order, raw: node.args.join(' ') });
    this.visit(node.children, { ...scope, ...place, schema: instance, names: [...scope.names, type] });
  }

  /** Where a section's values go: `service imap` → settings.service.imap; `plugin` → settings.plugin. */
  private instancePlace(node: ConfSectionNode, property: PropertySchema, scope: Scope): Pick<Scope, 'target' | 'pointer' | 'label'> | undefined {
    const type = node.sectionType;
    const within = scope.label === undefined ? '' : ` in ${scope.label}`;
    if (property.loftSection === 'single') {
      if (node.args.length > 0) return this.fail(node, 'LOFT_E_CONF_SYNTAX', `${type} takes no name: write ${type} {`);
      return { target: childObject(scope.target, type), pointer: [...scope.pointer, type], label: `${type}${within}` };
    }
    if (node.args.length !== 1) return this.fail(node, 'LOFT_E_CONF_SYNTAX', `${type} needs one name: write ${type} NAME {`);
    const name = node.args[0];
    const target = childObject(childObject(scope.target, type), name);
    return { target, pointer: [...scope.pointer, type, name], label: `${type} ${name}${within}` };
  }

  private visitFilter(node: ConfSectionNode, type: FilterType, scope: Scope): void {
    if (scope.names.length > 0) {
      return this.fail(node, 'LOFT_E_CONF_INVALID', `${type} filters are only allowed at the top level or inside other filters, not in ${scope.label}`);
    }
    const values = node.args.flatMap((arg) => arg.split(/[\s,]+/)).filter((value) => value !== '');
    if (values.length === 0) this.fail(node, 'LOFT_E_CONF_SYNTAX', `${type} filter needs a value: write ${type} VALUE {`);
    const bad = values.find((value) => !isFilterValue(type, value));
    if (bad !== undefined) this.fail(node, 'LOFT_E_CONF_BAD_VALUE', `${type} filter: '${bad}' is not ${type === 'protocol' ? 'a protocol name' : 'an IP address or CIDR range'}`);
    const block: FilterBlock = { match: { [type]: values }, settings: {}, sources: new ValueSources(), children: [], file: node.file, line: node.line, order: node.order };
    // A filter with a bad header is still checked inside, but never applied.
    if (values.length > 0 && bad === undefined) (scope.filter?.block.children ?? this.filters).push(block);
    const filterScope: Scope = { schema: this.registry.rootSchema(), names: [], target: block.settings, pointer: [], sources: block.sources, filter: { block, type } };
    this.visit(node.children, filterScope);
  }

  private report(error: OrderedConfError): void {
    this.errors.push(error);
  }

  private fail(at: OrderedLocation, code: OrderedConfError['code'], message: string): undefined {
    this.errors.push(confError(at, code, message));
    return undefined;
  }
}

function isFilterValue(type: FilterType, value: string): boolean {
  return type === 'protocol' ? /^[A-Za-z0-9_-]+$/.test(value) : parseCidr(value) !== undefined;
}
