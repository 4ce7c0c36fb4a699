/**
 * Reading setting declarations: the JSON Schema shapes Loft uses, the kind of each property,
 * and walking from a settings path to its schema. Declarations are plain data (they may come
 * from a plugin sandbox), so everything here looks at own properties only.
 */
import { isPlainObject, ownValue } from './objects.js';
import { LOFT_KINDS, type LoftKind } from './value-kinds.js';

export type SectionKind = 'named' | 'single';

/** The JSON Schema keywords Loft reads; ajv checks the rest. */
export interface PropertySchema {
  type?: unknown;
  description?: unknown;
  default?: unknown;
  enum?: readonly unknown[];
  items?: PropertySchema;
  loftKind?: LoftKind;
  loftSection?: SectionKind;
  properties?: Record<string, PropertySchema>;
  additionalProperties?: unknown;
  required?: readonly string[];
}

/** An object whose properties are settings: the top level, or one section instance. */
export interface ObjectSchema extends PropertySchema {
  properties: Record<string, PropertySchema>;
}

export const SECTION_KINDS: readonly SectionKind[] = ['named', 'single'];

export function isObjectSchema(schema: unknown): schema is ObjectSchema {
  return isPlainObject(schema) && isPlainObject(schema.properties);
}

/** The declared property `name` of `scope` (never an inherited one like `constructor`). */
export function propertyOf(scope: ObjectSchema, name: string): PropertySchema | undefined {
  const property = ownValue(scope.properties, name);
  return isPlainObject(property) ? property : undefined;
}

export function sectionKindOf(property: PropertySchema): SectionKind | undefined {
  return SECTION_KINDS.find((kind) => kind === property.loftSection);
}

/** The schema of one instance's settings: `additionalProperties` of a named section, the section itself if single. */
export function instanceSchemaOf(property: PropertySchema): ObjectSchema | undefined {
  const instance = property.loftSection === 'named' ? property.additionalProperties : property;
  return isObjectSchema(instance) ? instance : undefined;
}

/** `loftKind`, or the kind the JSON type implies; undefined when neither says (e.g. type number). */
export function kindOf(property: PropertySchema): LoftKind | undefined {
  if (LOFT_KINDS.some((kind) => kind === property.loftKind)) return property.loftKind;
  switch (property.type) {
    case 'string':
      return property.enum ? 'enum' : 'string';
    case 'boolean':
      return 'bool';
    case 'integer':
      return 'int';
    case 'array':
      return 'list';
    default:
      return undefined;
  }
}

/** The property at a settings path of property names only: `service/inet_listener/port`. */
export function propertyAtPath(root: ObjectSchema, names: readonly string[]): PropertySchema | undefined {
  let scope: ObjectSchema | undefined = root;
  let property: PropertySchema | undefined;
  for (const name of names) {
    property = scope && propertyOf(scope, name);
    if (!property) return undefined;
    scope = instanceSchemaOf(property);
  }
  return property;
}

/**
 * The property a value path points at, where named sections put an instance name between
 * property names (`service`, `imap`, `process_limit`). Returns the property names walked.
 */
export function propertyAtValuePath(root: ObjectSchema, segments: readonly string[]): { property: PropertySchema; names: string[] } | undefined {
  let scope: ObjectSchema | undefined = root;
  let found: { property: PropertySchema; names: string[] } | undefined;
  for (let i = 0; i < segments.length && scope; i++) {
    const property = propertyOf(scope, segments[i]);
    if (!property) break;
    found = { property, names: [...(found?.names ?? []), segments[i]] };
    if (property.loftSection === 'named') i++;
    scope = instanceSchemaOf(property);
  }
  return found;
}
