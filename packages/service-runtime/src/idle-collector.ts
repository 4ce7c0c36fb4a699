/**
 * A full garbage collection when a process falls quiet after a burst.
 *
 * V8 collects the young generation often and the old one only when it nears a limit, or
 * when its memory reducer runs, and that runs only after a full collection armed it. A
 * burst of logins promotes short-lived objects (a login's buffers, closures, promises) to
 * the old generation; if no full collection follows, those pages stay resident for as long
 * as the process stays idle: in imap-login, auth, anvil and the master, 3 to 10 MiB each
 * after 1,000 logins, with nothing alive in them. A browser collects in idle time for the
 * same reason.
 *
 * Every CHECK_INTERVAL_MS the collector looks at two numbers. If the heap grew by
 * GROWTH_BYTES or more since the last look after a collection, and the event loop was busy
 * under QUIET_UTILIZATION of the interval, it collects once (a few milliseconds for the heap
 * of a service). A busy process is left to V8; an idle one that has not grown costs a timer.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

const CHECK_INTERVAL_MS = 5000;
const GROWTH_BYTES = 2 * 1024 * 1024;
const QUIET_UTILIZATION = 0.02;

/** V8's gc(): global when node ran with --expose-gc, else from a context made after the flag is set. */
function exposedGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: () => void }).gc;
  if (typeof global === 'function') return global;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export interface IdleCollector {
  /** Collections made so far. */
  readonly collections: number;
  stop(): void;
}

export function startIdleCollector(options: { intervalMs?: number; growthBytes?: number } = {}): IdleCollector {
  const intervalMs = options.intervalMs ?? CHECK_INTERVAL_MS;
  const growthBytes = options.growthBytes ?? GROWTH_BYTES;
  const gc = exposedGc();
  let collections = 0;
  // The heap's size once the last collection's sweeping is over (undefined: take it at the
  // next look), or the least seen since; 0 at first, so start-up's garbage goes at the
  // first quiet look.
  let floor: number | undefined = 0;
  let utilization: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, utilization).utilization;
    utilization = now;
    const size = v8.getHeapStatistics().total_heap_size;
    if (floor === undefined || size < floor) {
      floor = size;
      return;
    }
    if (size - floor < growthBytes || busy >= QUIET_UTILIZATION || !gc) return;
    // Compacting: after a burst the survivors are spread thin over many pages, and a
    // collection that only sweeps keeps every page that holds one of them.
    v8.setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
    }
    collections++;
    floor = undefined;
  }, intervalMs);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
