/**
 * Plain-data helpers for settings trees. Conf files name section instances freely
 * (`service __proto__ { }`), so reads and writes go through own properties only.
 */

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value of an own property, never one inherited from Object.prototype. */
export function ownValue(obj: PlainObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Sets an own property; defineProperty keeps `__proto__` an ordinary key. */
export function setOwn(obj: PlainObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The own object at `key`, created empty when missing. */
export function childObject(obj: PlainObject, key: string): PlainObject {
  const existing = ownValue(obj, key);
  if (isPlainObject(existing)) return existing;
  const created: PlainObject = {};
  setOwn(obj, key, created);
  return created;
}

export function deepClone<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => deepClone(item)) as T;
  if (!isPlainObject(value)) return value;
  const copy: PlainObject = {};
  for (const [key, item] of Object.entries(value)) setOwn(copy, key, deepClone(item));
  return copy as T;
}

/** `over` merged into a copy of `base`: objects merge key by key, arrays and scalars replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return deepClone(over);
  const merged = deepClone(base);
  for (const [key, value] of Object.entries(over)) setOwn(merged, key, deepMerge(ownValue(merged, key), value));
  return merged;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
}

/** Freezes bottom-up, so an object that is already frozen is taken as frozen all the way down. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}

/** A shallow copy of `base` with the keys of `over` replacing its own: how a filter's settings apply. */
export function overlay(base: Readonly<PlainObject>, over: Readonly<PlainObject>): PlainObject {
  const result: PlainObject = {};
  for (const source of [base, over]) for (const [key, value] of Object.entries(source)) setOwn(result, key, value);
  return result;
}

/** A copy with object keys sorted at every level, so equal settings serialize identically whatever the conf's order. */
export function sortedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => sortedKeys(item)) as T;
  if (!isPlainObject(value)) return value;
  const sorted: PlainObject = {};
  for (const key of Object.keys(value).sort()) setOwn(sorted, key, sortedKeys(value[key]));
  return sorted as T;
}
