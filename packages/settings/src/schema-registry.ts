/**
 * Every setting Loft knows, declared by its owner (a service, 'master', a plugin) as JSON
 * Schema with Loft's keywords, checked when registered and compiled with ajv.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LoftError } from '@loft/errors';
import { deepClone, deepFreeze, setOwn, sortedKeys, type PlainObject } from './objects.js';
import { declarationProblems } from './schema-check.js';
import { instanceSchemaOf, kindOf, propertyAtPath, SECTION_KINDS, type ObjectSchema, type PropertySchema } from './schema-model.js';
import { withSectionDefaults } from './section-defaults.js';
import { LOFT_KINDS, type LoftKind } from './value-kinds.js';

export type { LoftKind } from './value-kinds.js';

/** Section types the conf syntax keeps for filters; nothing may be declared under these names. */
export const FILTER_TYPES = ['protocol', 'local', 'remote'] as const;

export interface SettingDescription {
  /** `log_path`, `service`, `service/inet_listener/port` */
  path: string;
  /** Owner of the top-level name the path starts with. */
  owner: string;
  kind: LoftKind | 'section';
  /** The JSON Schema type: `string`, `integer`, `boolean`, `array`, `object`. */
  type: string;
  description: string;
  /** Typed default (bytes, milliseconds…); a section's default instances, or {}. */
  default: unknown;
  enum?: readonly unknown[];
  secret: boolean;
}

/** What ajv reported, with defaults filled into `value`. */
export interface Completed {
  value: PlainObject;
  errors: ErrorObject[];
}

export class SchemaRegistry {
  private ajvInstance: Ajv | undefined;
  private readonly declared = new Map<string, { owner: string; property: PropertySchema }>();
  private readonly reservedPrefixes = new Map<string, string>();
  private readonly validators = new WeakMap<ObjectSchema, ValidateFunction>();
  /** The registry this one was forked from, whose compiled validators this one reuses. */
  private base: SchemaRegistry | undefined;
  private root: ObjectSchema = composeRoot([]);
  private defaultsCache: Readonly<PlainObject> | undefined;

  /**
   * A registry with this one's declarations, that reuses what this one has compiled: the
   * config service checks and compiles its built-in settings once and forks that registry
   * for each load, instead of compiling them again (~0.2 s of CPU a load). What the fork
   * registers does not reach this one; what it compiles goes to its own ajv, freed with it.
   */
  fork(): SchemaRegistry {
    const fork = new SchemaRegistry();
    for (const [name, entry] of this.declared) fork.declared.set(name, entry);
    for (const [prefix, plugin] of this.reservedPrefixes) fork.reservedPrefixes.set(prefix, plugin);
    fork.base = this;
    fork.root = this.root;
    fork.defaultsCache = this.defaultsCache;
    return fork;
  }

  /**
   * Add top-level settings and sections owned by `owner`. `schema` is `{ type: 'object',
   * properties, additionalProperties: false }`. Throws LOFT_E_CONF_SCHEMA, naming every
   * problem, and changes nothing, if a name is another owner's, a property lacks its
   * description or default, ajv cannot compile it, or its defaults do not validate.
   */
  register(owner: string, schema: object): void {
    // Checked and kept as our own copy: the owner (or a plugin sandbox's reply) cannot change it later.
    const declaration = deepClone(schema);
    const { schema: schemaProblems, defaults } = this.check(owner, declaration);
    const problems = [...schemaProblems, ...defaults];
    if (problems.length > 0) throw new LoftError('LOFT_E_CONF_SCHEMA', `settings of '${owner}': ${problems.join('; ')}`);
    for (const [name, property] of Object.entries((declaration as ObjectSchema).properties)) this.declared.set(name, { owner, property });
    this.root = composeRoot([...this.declared]);
    this.defaultsCache = undefined;
  }

  /**
   * register() for each of `declarations`, with one compile: Loft's own settings. register()
   * compiles a declaration and its section instances on their own, to name a plugin's
   * problems; here the root schema of them all is compiled once and its defaults checked,
   * which the config service, that every other service waits for at start, needs anyway
   * (~100 ms less CPU in its start). If that finds a problem, they are registered one by
   * one instead, so that the error names the owner as register() does.
   */
  registerAll(declarations: ReadonlyArray<readonly [owner: string, schema: object]>): void {
    const before = [...this.declared];
    const restore = (): void => {
      this.declared.clear();
      for (const [name, entry] of before) this.declared.set(name, entry);
      this.root = composeRoot(before);
      this.defaultsCache = undefined;
    };
    if (this.registeredAtOnce(declarations)) return;
    restore();
    try {
      for (const [owner, schema] of declarations) this.register(owner, schema);
    } catch (err) {
      restore(); // all or nothing, as register() is for one
      throw err;
    }
  }

  private registeredAtOnce(declarations: ReadonlyArray<readonly [string, object]>): boolean {
    for (const [owner, schema] of declarations) {
      const declaration = deepClone(schema);
      if (declarationProblems(declaration).length > 0 || this.nameProblems(owner, declaration as ObjectSchema).length > 0) return false;
      for (const [name, property] of Object.entries((declaration as ObjectSchema).properties)) this.declared.set(name, { owner, property });
    }
    this.root = composeRoot([...this.declared]);
    let completed: Completed;
    try {
      completed = this.complete({});
    } catch {
      return false; // ajv cannot compile it: register() says which owner's
    }
    if (completed.errors.length > 0) return false;
    this.defaultsCache = deepFreeze(completed.value);
    return true;
  }

  /**
   * What register() would refuse, without registering: problems with the declaration
   * itself, and defaults that do not validate against it (a plugin reports them apart).
   */
  check(owner: string, schema: object): { schema: string[]; defaults: string[] } {
    const problems = declarationProblems(schema);
    if (problems.length > 0) return { schema: problems, defaults: [] };
    const structural = [...this.nameProblems(owner, schema as ObjectSchema), ...this.compileProblems(schema as ObjectSchema)];
    if (structural.length > 0) return { schema: structural, defaults: [] };
    return { schema: [], defaults: this.defaultProblems(schema as ObjectSchema) };
  }

  /**
   * Settings starting with `prefix` belong to plugin `pluginName`: until that plugin is
   * registered, using one is reported as "plugin not loaded" rather than as a typo.
   */
  reserve(prefix: string, pluginName: string): void {
    this.reservedPrefixes.set(prefix, pluginName);
  }

  /** The plugin that reserved a prefix of `name` and has registered nothing yet. */
  unloadedPluginFor(name: string): string | undefined {
    const loaded = new Set(this.owners().values());
    for (const [prefix, plugin] of this.reservedPrefixes) if (name.startsWith(prefix) && !loaded.has(plugin)) return plugin;
    return undefined;
  }

  /** Every registered top-level name → owner. */
  owners(): ReadonlyMap<string, string> {
    return new Map([...this.declared].map(([name, { owner }]) => [name, owner]));
  }

  /** Description of a setting by path: `log_path`, `service`, `service/inet_listener/port`. */
  describe(path: string): SettingDescription | undefined {
    const names = path.split('/');
    const property = propertyAtPath(this.root, names);
    const owner = this.declared.get(names[0])?.owner;
    return property && owner !== undefined ? describeProperty(path, owner, property) : undefined;
  }

  /** All settings paths, sorted. */
  paths(): string[] {
    return collectPaths(this.root, '').sort();
  }

  /** The schema of the whole settings object: every owner's properties together. */
  rootSchema(): ObjectSchema {
    return this.root;
  }

  /** `value` with section instances merged over their defaults, every setting default filled and keys sorted, and what ajv rejected. */
  complete(value: PlainObject, scope: ObjectSchema = this.root): Completed {
    const completed = withSectionDefaults(value, scope);
    const validate = this.validatorFor(scope);
    validate(completed);
    return { value: sortedKeys(completed), errors: validate.errors ?? [] };
  }

  /** The settings of an empty conf file, deep-frozen. */
  defaults(): Readonly<PlainObject> {
    this.defaultsCache ??= deepFreeze(this.complete({}).value);
    return this.defaultsCache;
  }

  private nameProblems(owner: string, schema: ObjectSchema): string[] {
    return Object.keys(schema.properties).flatMap((name) => {
      if ((FILTER_TYPES as readonly string[]).includes(name)) return [`'${name}' is reserved for filters`];
      const other = this.declared.get(name)?.owner;
      return other !== undefined && other !== owner ? [`'${name}' is already registered by '${other}'`] : [];
    });
  }

  /** Compiles the declaration and each section instance schema on its own (the formatter needs their defaults), then checks the defaults. */
  private compileProblems(schema: ObjectSchema): string[] {
    try {
      for (const scope of objectSchemas(schema)) this.validatorFor(scope);
    } catch (err) {
      return [`ajv cannot compile it: ${err instanceof Error ? err.message : String(err)}`];
    }
    return [];
  }

  private defaultProblems(schema: ObjectSchema): string[] {
    const { errors } = this.complete({}, schema);
    return errors.map((error) => `default at '${error.instancePath || '/'}' is invalid: ${error.message ?? error.keyword}`);
  }

  private validatorFor(scope: ObjectSchema): ValidateFunction {
    let validate = this.compiled(scope);
    if (!validate) {
      this.ajvInstance ??= createAjv();
      validate = this.ajvInstance.compile(scope);
      this.validators.set(scope, validate);
    }
    return validate;
  }

  private compiled(scope: ObjectSchema): ValidateFunction | undefined {
    return this.validators.get(scope) ?? this.base?.compiled(scope);
  }
}

/**
 * ajv with Loft's keywords. `useDefaults` fills setting defaults; `verbose` keeps the
 * rejected data for messages. The generated code is not optimised: a validator runs once
 * per load or reload, and ajv's optimising passes took half of the time compiling.
 */
function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, code: { optimize: false } });
  ajv.addKeyword({ keyword: 'loftKind', schemaType: 'string', metaSchema: { enum: [...LOFT_KINDS] } });
  ajv.addKeyword({ keyword: 'loftSection', schemaType: 'string', metaSchema: { enum: [...SECTION_KINDS] } });
  return ajv;
}

/** Every property has a default, so the owners' `required` lists are always met at the top level and are not carried over. */
function composeRoot(entries: readonly (readonly [string, { property: PropertySchema }])[]): ObjectSchema {
  const properties: Record<string, PropertySchema> = {};
  for (const [name, { property }] of entries) setOwn(properties, name, property);
  return { type: 'object', properties, additionalProperties: false };
}

/** `schema` and every section instance schema inside it. */
function objectSchemas(schema: ObjectSchema): ObjectSchema[] {
  const nested = Object.values(schema.properties).flatMap((property) => {
    const instance = property.loftSection === undefined ? undefined : instanceSchemaOf(property);
    return instance ? objectSchemas(instance) : [];
  });
  return [schema, ...nested];
}

function collectPaths(scope: ObjectSchema, prefix: string): string[] {
  return Object.entries(scope.properties).flatMap(([name, property]) => {
    const instance = property.loftSection === undefined ? undefined : instanceSchemaOf(property);
    return [`${prefix}${name}`, ...(instance ? collectPaths(instance, `${prefix}${name}/`) : [])];
  });
}

function describeProperty(path: string, owner: string, property: PropertySchema): SettingDescription {
  const section = property.loftSection !== undefined;
  const kind = section ? 'section' : (kindOf(property) ?? 'string');
  const allowed = property.enum ?? property.items?.enum;
  const description: SettingDescription = {
    path,
    owner,
    kind,
    type: String(property.type),
    description: String(property.description),
    // A copy: the declaration belongs to its owner.
    default: deepClone(section ? (property.default ?? {}) : property.default),
    secret: kind === 'secret',
  };
  if (allowed) description.enum = allowed;
  return description;
}
