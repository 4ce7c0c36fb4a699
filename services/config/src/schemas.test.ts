/**
 * Every registered schema, core or plugin: its defaults validate, an unknown key is
 * rejected in every scope, and it uses only the keywords a plugin may use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SchemaRegistry, loadConfig } from '@loft/settings';
import { ALLOWED_SCHEMA_KEYWORDS, validateManifest } from './plugin-manifest.js';
import { BUILTIN_DECLARATIONS, LOFT_ROOT, LOFT_VERSION, createRegistry } from './config-state.js';

const exampleManifest = (await import(pathToFileURL(path.join(LOFT_ROOT, 'etc/plugins/last-login/index.js')).href)).manifest as { name: string; settings: object };

const declarations: ReadonlyArray<readonly [string, object]> = [
  ...BUILTIN_DECLARATIONS,
  ['plugin last-login', validateManifest('last-login', exampleManifest, LOFT_VERSION).settings],
];

function keywords(node: unknown, out: Set<string>): Set<string> {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return out;
  for (const [key, value] of Object.entries(node)) {
    out.add(key);
    if (key === 'properties' || key === '$defs') for (const sub of Object.values(value as object)) keywords(sub, out);
    if ((key === 'additionalProperties' || key === 'items') && typeof value === 'object') keywords(value, out);
  }
  return out;
}

/** A conf that puts a bogus key into every scope a schema declares. */
function unknownKeyConfs(schema: { properties: Record<string, Record<string, unknown>> }): string[] {
  const confs = ['no_such_setting_here = 1\n'];
  for (const [name, property] of Object.entries(schema.properties)) {
    if (property.loftSection === 'named') confs.push(`${name} probe {\n  no_such_setting_here = 1\n}\n`);
    if (property.loftSection === 'single') confs.push(`${name} {\n  no_such_setting_here = 1\n}\n`);
  }
  return confs;
}

for (const [owner, schema] of declarations) {
  test(`schema of ${owner}: defaults validate, unknown keys are rejected, only allowed keywords`, () => {
    const registry = new SchemaRegistry();
    assert.deepEqual(registry.check(owner, schema), { schema: [], defaults: [] });
    registry.register(owner, schema);
    const empty = loadConfig('/virtual/loft.conf', registry, { readFile: () => '' });
    assert.deepEqual(empty.errors, []);
    for (const conf of unknownKeyConfs(schema as never)) {
      const loaded = loadConfig('/virtual/loft.conf', registry, { readFile: () => conf });
      assert.equal(loaded.errors.length, 1, `expected one error for:\n${conf}`);
      assert.equal(loaded.errors[0].code, 'LOFT_E_CONF_UNKNOWN_SETTING');
    }
    const extra = [...keywords(schema, new Set())].filter((k) => !ALLOWED_SCHEMA_KEYWORDS.has(k));
    assert.deepEqual(extra, [], `keywords outside the allowed set in ${owner}`);
  });
}

test('the core registry holds every core declaration', () => {
  const owners = new Set(createRegistry().owners().values());
  assert.deepEqual([...owners].sort(), ['adm', 'anvil', 'auth', 'config', 'imap', 'imap-login', 'lmtp', 'log', 'master', 'storage']);
});
