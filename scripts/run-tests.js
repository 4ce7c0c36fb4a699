#!/usr/bin/env node
// Runs every compiled test with Node's own test runner: unit tests next to their code
// (packages/*/dist, services/*/dist) and whole-system tests (test/dist). Node 20's
// `--test` takes no globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;

function findTests(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) findTests(full, out);
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = [];
for (const group of ['packages', 'services']) {
  for (const pkg of readdirSync(join(root, group))) findTests(join(root, group, pkg, 'dist'), files);
}
findTests(join(root, 'test', 'dist'), files);
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  console.error('run-tests: no test files found (did `tsc -b` run?)');
  process.exit(1);
}
// A test that hangs fails by name after this long rather than stalling the whole run.
const TEST_TIMEOUT_MS = 180_000;
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, ...selected], { stdio: 'inherit' });
process.exit(result.status ?? 1);
