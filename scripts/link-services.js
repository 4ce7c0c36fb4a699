#!/usr/bin/env node
// Links each forked service into one module, services/<name>/dist/<entry>.linked.js, the way
// Dovecot's services are linked executables. A service started from its compiled modules
// spends most of its start in Node's module loader (resolving, reading and compiling ~120
// files: imap 0.32 s of CPU against 0.10 for a bare node) and keeps the loader's records
// for good; the mail services are started per user. Runs after `tsc -b` (npm run build).
//
// Beside each linked module, <entry>.linked.json names it (<entry>.linked.js, or .linked.cjs
// for an entry linked as CommonJS, see COMMONJS_ENTRIES) and lists the files it was made from, with
// their sizes and times: the master (linkedModule() in @loft/service-runtime) runs the
// linked module only while they are unchanged, so a `tsc -b` on its own never leaves loftd
// running old code.
import { readdirSync, readFileSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Dependencies that stay separate packages: native addons (a .node file per platform), and
 * pg (the sql passdb, in auth only), whose two DatabaseError classes (pg's, pg-protocol's)
 * one module would hold as DatabaseError and DatabaseError2.
 */
const SEPARATE_PACKAGES = ['@node-rs/*', 'pg', 'pg-native'];

/** Every service's main (the master's too: loftd starts from it), and lmtp's delivery child. */
function entries() {
  const out = [];
  for (const name of readdirSync(join(root, 'services'))) {
    const main = join(root, 'services', name, 'dist', 'main.js');
    if (existsSync(main)) out.push(main);
  }
  out.push(join(root, 'services', 'lmtp', 'dist', 'delivery-child.js'));
  return out;
}

/**
 * Modules that find files beside themselves (`new URL('./x.js', import.meta.url)`, a
 * createRequire of their own location): linked into a service they would look beside the
 * linked module instead. They stay separate modules, unless they sit beside it anyway.
 */
function locatingModules() {
  const out = new Set();
  for (const group of ['packages', 'services']) {
    for (const pkg of readdirSync(join(root, group))) {
      const dist = join(root, group, pkg, 'dist');
      if (!existsSync(dist)) continue;
      for (const file of readdirSync(dist)) {
        if (!file.endsWith('.js') || file.endsWith('.linked.js')) continue;
        if (readFileSync(join(dist, file), 'latin1').includes('import.meta.url')) out.add(join(dist, file));
      }
    }
  }
  return out;
}

function keepLocatingModulesApart(entryDir, locating) {
  return {
    name: 'keep-locating-modules-apart',
    setup(b) {
      b.onResolve({ filter: /^(\.\.?\/|@loft\/)/ }, async (args) => {
        if (args.pluginData === 'resolving') return undefined;
        const found = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
        if (found.errors.length > 0 || !locating.has(found.path) || dirname(found.path) === entryDir) return undefined;
        let path = relative(entryDir, found.path);
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

/**
 * Linked as CommonJS (<entry>.linked.cjs): a seteuid delivery child. Node's ES module loader
 * reads a module's source with an asynchronous readFile, which starts libuv's thread pool; a
 * CommonJS module is read synchronously, and a child that makes no other call through the
 * pool (its storage runs with blocking I/O) then never starts the pool's thread. Every
 * set*id() call of the child stops each of its threads in turn (glibc's setxid broadcast),
 * and the child makes two or three for each delivery.
 */
const COMMONJS_ENTRIES = new Set([join(root, 'services', 'lmtp', 'dist', 'delivery-child.js')]);

async function link(entry, locating) {
  const dir = dirname(entry);
  const commonJs = COMMONJS_ENTRIES.has(entry);
  const outfile = entry.replace(/\.js$/, commonJs ? '.linked.cjs' : '.linked.js');
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: commonJs ? 'cjs' : 'esm',
    target: 'node20',
    // No keepNames: it gives every function, closures included, an own `name` property,
    // which cost each idle IMAP session 1.5 KiB (1,000 sessions: 27.6 MiB of heap against
    // 24.4). esbuild renames only top-level names that two modules share (a second
    // `Decoder` becomes `Decoder2`), and none is an Error class, whose name logs show.
    keepNames: false,
    // CommonJS dependencies (pino, msgpackr, proper-lockfile) call require() for Node's modules.
    banner: {
      js: commonJs
        ? "const loftLinkedModuleUrl = require('node:url').pathToFileURL(__filename).href;"
        : "import { createRequire as loftLinkedRequire } from 'node:module';\nconst require = loftLinkedRequire(import.meta.url);",
    },
    define: commonJs ? { 'import.meta.url': 'loftLinkedModuleUrl' } : {},
    external: SEPARATE_PACKAGES,
    metafile: true,
    logLevel: 'warning',
    plugins: [keepLocatingModulesApart(dir, locating)],
  });
  asciiOnly(outfile);
  // An Error class renamed would log under the new name (pino's err.type).
  const renamed = /\bvar ([A-Za-z_$][\w$]*?\d+) = class extends [\w$.]*Error\b/.exec(readFileSync(outfile, 'latin1'));
  if (renamed) throw new Error(`${relative(root, outfile)}: esbuild renamed the Error class ${renamed[1]} (two modules define its name); rename one of them`);
  const inputs = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const full = resolve(root, input);
    const stat = statSync(full);
    inputs[relative(dir, full)] = { size: stat.size, mtimeMs: stat.mtimeMs };
  }
  writeFileSync(entry.replace(/\.js$/, '.linked.json'), `${JSON.stringify({ output: basename(outfile), inputs }, null, 1)}\n`);
  return { outfile, bytes: statSync(outfile).size, inputs: Object.keys(inputs).length };
}

/**
 * V8 keeps a module's source in the heap for as long as the process lives, and one character
 * above U+00FF makes it a two-byte string: the imap module's 0.8 MB took 1.6 MB of every imap
 * process. esbuild writes strings, regular expressions and names in ASCII (its default
 * charset); what it leaves are comments (a `§` or `…` in a doc comment), which are rewritten
 * here as `\u{…}` text. A character outside a comment line stops the build.
 */
const NON_ASCII = /[\u{80}-\u{10ffff}]/u;

function asciiOnly(outfile) {
  const text = readFileSync(outfile, 'utf8');
  if (!NON_ASCII.test(text)) return;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!NON_ASCII.test(lines[i])) continue;
    const code = lines[i].trimStart();
    if (!(code.startsWith('*') || code.startsWith('/*') || code.startsWith('//'))) {
      throw new Error(`${relative(root, outfile)}:${i + 1}: a character outside ASCII that is not in a comment: ${code.slice(0, 120)}`);
    }
    lines[i] = lines[i].replace(new RegExp(NON_ASCII.source, 'gu'), (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  }
  writeFileSync(outfile, lines.join('\n'));
}

const locating = locatingModules();
const started = Date.now();
const linked = await Promise.all(entries().map((entry) => link(entry, locating)));
console.log(`linked ${linked.length} services in ${Date.now() - started} ms: ${linked.map((l) => `${relative(root, l.outfile)} (${l.inputs} files, ${Math.round(l.bytes / 1024)} KiB)`).join(', ')}`);
