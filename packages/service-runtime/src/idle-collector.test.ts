import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MODULE = new URL('./idle-collector.js', import.meta.url).href;

/**
 * Runs `body` in a fresh node (the collector sets V8 flags) after a burst that leaves one
 * object in twenty alive, spread over the whole heap; prints the JSON `body` resolves to.
 */
async function inChild(body: string): Promise<Record<string, number>> {
  const script = `
    import v8 from 'node:v8';
    import { startIdleCollector } from ${JSON.stringify(MODULE)};
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const heap = () => v8.getHeapStatistics().total_heap_size;
    let all = [];
    for (let i = 0; i < 300000; i++) all.push({ i, s: 'item ' + i });
    const kept = all.filter((_, i) => i % 20 === 0);
    all = undefined;
    const result = await (async () => { ${body} })();
    process.stdout.write(JSON.stringify({ ...result, kept: kept.length }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

test('a process that falls quiet after a burst collects once and gives the pages back', async () => {
  const r = await inChild(`
    const before = heap();
    const collector = startIdleCollector({ intervalMs: 100, growthBytes: 1024 * 1024 });
    const deadline = Date.now() + 10_000;
    while (collector.collections === 0 && Date.now() < deadline) await sleep(50);
    await sleep(300); // two more looks: nothing has grown, so no second collection
    collector.stop();
    return { before, after: heap(), collections: collector.collections };
  `);
  assert.equal(r.collections, 1, 'one collection after the burst, none while nothing grows');
  assert.ok(r.after < r.before * 0.7, `the heap shrank: ${r.before} -> ${r.after} bytes`);
  assert.equal(r.kept, 15000, 'live objects survive');
});

test('a busy process is left to V8', async () => {
  const r = await inChild(`
    const collector = startIdleCollector({ intervalMs: 100, growthBytes: 1024 * 1024 });
    // Busy: the event loop works most of each interval for a second.
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      const spin = Date.now() + 20;
      while (Date.now() < spin);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const busy = collector.collections;
    collector.stop();
    return { busy };
  `);
  assert.equal(r.busy, 0, 'no collection while the event loop is busy');
});
