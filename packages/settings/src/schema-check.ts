/**
 * What the registry asks of a declaration beyond what ajv checks: every property has a
 * one-line description, every setting a default and a kind that fits its JSON type, and
 * every name can be written in a conf file. Returns problems; the registry throws.
 */
import { isPlainObject } from './objects.js';
import { instanceSchemaOf, isObjectSchema, kindOf, SECTION_KINDS, type ObjectSchema, type PropertySchema } from './schema-model.js';
import { KIND_TYPES } from './value-kinds.js';

const CONF_NAME = /^[A-Za-z0-9_][\w.-]*$/;

export function declarationProblems(schema: unknown): string[] {
  if (!isObjectSchema(schema) || schema.type !== 'object') return ["a declaration must be { type: 'object', properties: { … } }"];
  return scopeProblems(schema, '');
}

function scopeProblems(scope: ObjectSchema, prefix: string): string[] {
  return Object.entries(scope.properties).flatMap(([name, property]) => propertyProblems(`${prefix}${name}`, name, property));
}

function propertyProblems(path: string, name: string, property: unknown): string[] {
  if (!isPlainObject(property)) return [`${path}: not a schema object`];
  const problems: string[] = [];
  if (!CONF_NAME.test(name) || name === '__proto__') problems.push(`${path}: '${name}' cannot be written in a conf file`);
  if (typeof property.description !== 'string' || property.description.trim() === '') problems.push(`${path}: missing description`);
  const checks = property.loftSection === undefined ? settingProblems : sectionProblems;
  return [...problems, ...checks(path, property)];
}

function settingProblems(path: string, property: PropertySchema): string[] {
  const problems: string[] = [];
  if (!Object.hasOwn(property, 'default')) problems.push(`${path}: missing default`);
  const kind = kindOf(property);
  if (kind === undefined) problems.push(`${path}: set loftKind, the type '${String(property.type)}' does not say how to read the value`);
  else if (!KIND_TYPES[kind].includes(String(property.type))) problems.push(`${path}: loftKind '${kind}' needs type ${KIND_TYPES[kind].join(' or ')}`);
  return problems;
}

function sectionProblems(path: string, property: PropertySchema): string[] {
  if (!SECTION_KINDS.includes(property.loftSection as never)) return [`${path}: loftSection must be 'named' or 'single'`];
  if (property.type !== 'object') return [`${path}: a section needs type 'object'`];
  if (property.default !== undefined && !isPlainObject(property.default)) return [`${path}: a section's default must be an object`];
  const instance = instanceSchemaOf(property);
  if (!instance) {
    const where = property.loftSection === 'named' ? 'additionalProperties' : 'the section';
    return [`${path}: ${where} must be an object schema with properties`];
  }
  return scopeProblems(instance, `${path}/`);
}
