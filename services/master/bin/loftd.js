#!/usr/bin/env node
// loftd runs from its linked module, the master and what it imports in one file (see
// scripts/link-services.js), while that is as new as the files it was made from: Node's
// module loader then does not resolve, read and compile ~115 files (~0.1 s of CPU at each
// start). LOFT_UNLINKED=1 runs the compiled modules, for stack traces with file names.
import { fileURLToPath } from 'node:url';
import { linkedModule } from '@loft/service-runtime/linked-module';

const main = linkedModule(fileURLToPath(new URL('../dist/main.js', import.meta.url)));
if (main.stale) process.stderr.write(`loftd: running the compiled modules: ${main.stale}\n`);
await import(main.path);
