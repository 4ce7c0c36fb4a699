// Shared pieces of npm run bench: free ports, polling with a bound, cleanup of everything
// the bench started (also on SIGINT/SIGTERM and on a crash), users as a passwd-file (each
// with its own uid, or all sharing the vmail uid as virtual hosting does), the client's
// CPU use over a workload, percentiles, and PSS of a process tree.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Ends a server started by the bench: SIGTERM, SIGKILL if it is still there after 10 s. */
export async function terminate(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function until(check, timeoutMs = 20_000, what = 'benchmark condition') {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} timed out after ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
export function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- cleanup: every server and temp dir is registered, and removed on any exit ----

const cleanups = new Set();
const stopping = new Set();

/**
 * Register an async cleanup; returns a function that runs it once and unregisters it. The
 * caller may await it, or let it run in the background (a server stopping while the next
 * one starts): quiesce() and cleanupAll() wait for those.
 */
export function onCleanup(fn) {
  let done;
  const run = () => {
    cleanups.delete(run);
    if (!done) {
      done = Promise.resolve().then(fn);
      stopping.add(done);
      done.then(() => stopping.delete(done), (err) => {
        stopping.delete(done);
        console.error(`bench: cleanup failed: ${err?.stack ?? err}`);
      });
    }
    return done;
  };
  cleanups.add(run);
  return run;
}

/** Wait until every cleanup started in the background has finished (before timing anything). */
export async function quiesce() {
  await Promise.allSettled([...stopping]);
}

/**
 * Run cleanups one after the other (e.g. a server's stop, then removing its users' homes)
 * without waiting for them; quiesce() does. Errors are printed.
 */
export function inBackground(...steps) {
  const done = (async () => {
    for (const step of steps) await step();
  })();
  stopping.add(done);
  done.then(() => stopping.delete(done), (err) => {
    stopping.delete(done);
    console.error(`bench: cleanup failed: ${err?.stack ?? err}`);
  });
}

export async function cleanupAll() {
  await Promise.allSettled([...cleanups].map((run) => run()));
  await quiesce();
}

let handlersInstalled = false;
export function installSignalHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, stopping the servers`);
      const timer = setTimeout(() => process.exit(130), 15_000);
      timer.unref();
      cleanupAll().finally(() => process.exit(130));
    });
  }
}

// ---- users ----

export const VMAIL_UID = 5000;

/**
 * The shared "vmail" uid of a virtual-user setup: uid 5000, created (user and group vmail)
 * if no account has it. Returns the uid.
 */
export function ensureVmail() {
  if (process.getuid?.() !== 0) return VMAIL_UID;
  try {
    execFileSync('getent', ['passwd', String(VMAIL_UID)], { stdio: 'ignore' });
    return VMAIL_UID;
  } catch {
    // missing: create it
  }
  try {
    execFileSync('getent', ['group', String(VMAIL_UID)], { stdio: 'ignore' });
  } catch {
    execFileSync('groupadd', ['-g', String(VMAIL_UID), 'vmail'], { stdio: 'ignore' });
  }
  execFileSync('useradd', ['-u', String(VMAIL_UID), '-g', String(VMAIL_UID), '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', 'vmail'], { stdio: 'ignore' });
  return VMAIL_UID;
}

/**
 * Users with homes they own, as a passwd-file: [{ user, password, uid }]. Returns
 * { dir, file, home(user), cleanup }; the cleanup also runs if the bench is interrupted.
 */
export function passwdFile(users, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  const lines = users.map(({ user, password, uid }) => {
    const home = path.join(dir, user);
    fs.mkdirSync(home, { mode: 0o700 });
    if (process.getuid?.() === 0) fs.chownSync(home, uid, uid);
    return `${user}:{PLAIN}${password}:${uid}:${uid}::${home}::`;
  });
  fs.writeFileSync(path.join(dir, 'users'), `${lines.join('\n')}\n`, { mode: 0o644 });
  const cleanup = onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, file: path.join(dir, 'users'), home: (user) => path.join(dir, user), cleanup };
}

// ---- measuring ----

/** The client's CPU over a stretch of wall time: stop() returns % of one core (all threads of this process). */
export function clientCpu() {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const { user, system } = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    return wallMs > 0 ? ((user + system) / 1000 / wallMs) * 100 : 0;
  };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** pid and every descendant of it, from /proc/<pid>/stat. */
export function processTree(rootPid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const out = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU time (user + system, ms) used so far by one process; 0 once it has exited. */
export function processCpuMs(pid) {
  const ticksMs = 1000 / 100; // USER_HZ, 100 on Linux
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * ticksMs;
  } catch {
    return 0; // exited meanwhile
  }
}

/** CPU time (user + system, ms) used so far by a process and all its living descendants. */
export function treeCpuMs(rootPid) {
  return processTree(rootPid).reduce((ms, pid) => ms + processCpuMs(pid), 0);
}

/** Summed PSS (KiB) of a process and all its descendants, and how many processes that is. */
export function treePssKiB(rootPid) {
  let kib = 0;
  let processes = 0;
  const byProcess = [];
  for (const pid of processTree(rootPid)) {
    try {
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
      const match = /^Pss:\s+(\d+) kB/m.exec(rollup);
      if (match) {
        kib += Number(match[1]);
        processes++;
        byProcess.push([fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0].replace(/ \[.*$/, ''), Number(match[1])]);
      }
    } catch {
      // exited meanwhile
    }
  }
  return { kib, processes, byProcess };
}

/**
 * Warnings and errors in a server's log (Loft's JSON lines at level >= 40, Dovecot's
 * "Warning:/Error:/Fatal:/Panic:" lines), printed before the log is removed: a count and
 * the first few distinct messages (numbers folded, so one message repeated counts once).
 */
const EXPECTED = [
  // Dovecot's master saying it was stopped (by us).
  /master: Warning: Killed with signal 15/,
];

export function reportLogProblems(name, text) {
  const problems = [];
  for (const line of text.split('\n')) {
    if (EXPECTED.some((re) => re.test(line))) continue;
    if (line.startsWith('{')) {
      try {
        const entry = JSON.parse(line);
        if (entry.level >= 40) problems.push(`${entry.service ?? ''}: ${entry.msg}${entry.err?.message ? ` (${entry.err.message})` : ''}`);
      } catch {
        // not JSON
      }
    } else if (/: (Warning|Error|Fatal|Panic): /.test(line)) {
      problems.push(line.replace(/^\w{3} \d+ [\d:]+ /, ''));
    }
  }
  if (problems.length === 0) return;
  const distinct = new Map();
  for (const p of problems) {
    const key = p.replace(/\d+/g, 'N');
    if (!distinct.has(key)) distinct.set(key, p);
  }
  console.error(`${name} log: ${problems.length} warnings/errors, ${distinct.size} distinct; first: ${[...distinct.values()].slice(0, 3).map((p) => p.slice(0, 240)).join(' | ')}`);
}
