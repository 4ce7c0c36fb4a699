/**
 * Section defaults, which ajv's useDefaults cannot do: a named section's default may
 * pre-declare instances (`service config { … }`), and a user block of the same name is
 * deep-merged over that instance rather than replacing it. Setting defaults inside each
 * instance are left to ajv.
 */
import { deepClone, deepMerge, isPlainObject, ownValue, setOwn, type PlainObject } from './objects.js';
import { instanceSchemaOf, type ObjectSchema } from './schema-model.js';

/** A copy of `user` in which every section of `scope` exists, merged over its default instances. */
export function withSectionDefaults(user: PlainObject, scope: ObjectSchema): PlainObject {
  const result = deepClone(user);
  for (const [name, property] of Object.entries(scope.properties)) {
    const instance = instanceSchemaOf(property);
    if (!instance || property.loftSection === undefined) continue;
    const merged = asObject(deepMerge(property.default ?? {}, ownValue(user, name) ?? {}));
    setOwn(result, name, property.loftSection === 'named' ? mapInstances(merged, instance) : withSectionDefaults(merged, instance));
  }
  return result;
}

function mapInstances(instances: PlainObject, instance: ObjectSchema): PlainObject {
  const result: PlainObject = {};
  for (const [name, value] of Object.entries(instances)) setOwn(result, name, withSectionDefaults(asObject(value), instance));
  return result;
}

/** Defaults and tree building only put objects at section names; anything else becomes empty. */
function asObject(value: unknown): PlainObject {
  return isPlainObject(value) ? value : {};
}
