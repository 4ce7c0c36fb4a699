/**
 * The error for a name that is not declared where it was written, with the most useful
 * hint we can give: a close name in the same scope, the scope where the name belongs, or
 * the plugin that would declare it.
 */
import { confError, type OrderedConfError, type OrderedLocation } from './conf-error.js';
import type { ObjectSchema } from './schema-model.js';
import { FILTER_TYPES, type SchemaRegistry } from './schema-registry.js';
import { nearest } from './suggest.js';

/** Where in the settings a name was written. */
export interface NameScope {
  schema: ObjectSchema;
  /** Section property names from the top: [] at top level and in filters, ['service'] in a service. */
  names: readonly string[];
  /** `service imap` for messages; undefined at top level. */
  label?: string;
}

export type NameUse = 'setting' | 'section type';

export function unknownNameError(at: OrderedLocation, use: NameUse, name: string, scope: NameScope, registry: SchemaRegistry): OrderedConfError {
  const plugin = registry.unloadedPluginFor(name);
  if (plugin !== undefined) {
    const what = use === 'setting' ? 'setting' : 'section';
    return confError(at, 'LOFT_E_CONF_UNKNOWN_SETTING', `${what} '${name}' belongs to plugin '${plugin}', which is not loaded (add it to mail_plugins)`);
  }
  const where = scope.label === undefined ? '' : ` in ${scope.label}`;
  return confError(at, 'LOFT_E_CONF_UNKNOWN_SETTING', `unknown ${use} '${name}'${where}`, suggestionFor(name, use, scope, registry));
}

function suggestionFor(name: string, use: NameUse, scope: NameScope, registry: SchemaRegistry): string | undefined {
  const filters = use === 'section type' && scope.names.length === 0 ? FILTER_TYPES : [];
  const close = nearest(name, [...Object.keys(scope.schema.properties), ...filters], (candidate) => candidate);
  if (close) return close.candidate;
  const here = scope.names.join('/');
  const elsewhere = registry.paths().filter((path) => parentPath(path) !== here);
  const found = nearest(name, elsewhere, (path) => path.slice(path.lastIndexOf('/') + 1));
  return found && whereItBelongs(found.candidate, scope);
}

/** "'client_limit' belongs in a service { } section" */
function whereItBelongs(path: string, scope: NameScope): string {
  const sections = path.split('/');
  const name = sections.pop();
  if (sections.length === 0) return `'${name}' is a global setting; move it out of ${scope.label ?? 'this section'}`;
  const blocks = sections.reduceRight((inner, section) => `${section} { ${inner === '' ? '' : `${inner} `}}`, '');
  return `'${name}' belongs in ${/^[aeiou]/i.test(blocks) ? 'an' : 'a'} ${blocks} section`;
}

function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}
