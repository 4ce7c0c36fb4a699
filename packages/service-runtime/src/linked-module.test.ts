import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { linkedModule, UNLINKED_ENV } from './linked-module.js';

/** A service dist directory as `npm run build` leaves it: main.js, a dependency, and the linked pair. */
function fakeBuild(): { dir: string; main: string; dependency: string; linked: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-linked-'));
  const dist = path.join(dir, 'services', 'x', 'dist');
  const lib = path.join(dir, 'packages', 'y', 'dist');
  fs.mkdirSync(dist, { recursive: true });
  fs.mkdirSync(lib, { recursive: true });
  const main = path.join(dist, 'main.js');
  const dependency = path.join(lib, 'index.js');
  fs.writeFileSync(main, "import '../../../packages/y/dist/index.js';\n");
  fs.writeFileSync(dependency, 'export const y = 1;\n');
  const linked = path.join(dist, 'main.linked.js');
  fs.writeFileSync(linked, 'const y = 1;\n');
  const inputs: Record<string, { size: number; mtimeMs: number }> = {};
  for (const file of [main, dependency]) {
    const stat = fs.statSync(file);
    inputs[path.relative(dist, file)] = { size: stat.size, mtimeMs: stat.mtimeMs };
  }
  fs.writeFileSync(path.join(dist, 'main.linked.json'), JSON.stringify({ inputs }));
  return { dir, main, dependency, linked };
}

test('a service starts from its linked module while the files it was made from are unchanged', (t) => {
  const build = fakeBuild();
  t.after(() => fs.rmSync(build.dir, { recursive: true, force: true }));
  assert.deepEqual(linkedModule(build.main), { path: build.linked });
});

test('a module linked as CommonJS is found by the name its record gives, and only that one', (t) => {
  const build = fakeBuild();
  t.after(() => fs.rmSync(build.dir, { recursive: true, force: true }));
  const record = path.join(path.dirname(build.main), 'main.linked.json');
  const cjs = path.join(path.dirname(build.main), 'main.linked.cjs');
  fs.writeFileSync(record, JSON.stringify({ ...JSON.parse(fs.readFileSync(record, 'utf8')), output: 'main.linked.cjs' }));
  // Named but missing: the compiled module, not a .linked.js of an older link.
  assert.deepEqual(linkedModule(build.main), { path: build.main });
  fs.writeFileSync(cjs, 'const y = 1;\n');
  assert.deepEqual(linkedModule(build.main), { path: cjs });
});

test('a dependency compiled again after linking sends the service back to its compiled modules, with the reason', (t) => {
  const build = fakeBuild();
  t.after(() => fs.rmSync(build.dir, { recursive: true, force: true }));
  // tsc -b rewrote the dependency, and nobody linked again.
  fs.writeFileSync(build.dependency, 'export const y = 2;\n');
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(build.dependency, later, later);
  const result = linkedModule(build.main);
  assert.equal(result.path, build.main);
  assert.match(result.stale ?? '', /main\.linked\.js is older than .*packages\/y\/dist\/index\.js; run npm run build/);
});

test('a deleted dependency, a missing manifest and LOFT_UNLINKED=1 all start the compiled modules', (t) => {
  const build = fakeBuild();
  t.after(() => fs.rmSync(build.dir, { recursive: true, force: true }));
  process.env[UNLINKED_ENV] = '1';
  try {
    assert.deepEqual(linkedModule(build.main), { path: build.main });
  } finally {
    delete process.env[UNLINKED_ENV];
  }
  fs.rmSync(build.dependency);
  assert.equal(linkedModule(build.main).path, build.main);
  assert.ok(linkedModule(build.main).stale);
  fs.rmSync(path.join(path.dirname(build.main), 'main.linked.json'));
  assert.deepEqual(linkedModule(build.main), { path: build.main });
});
