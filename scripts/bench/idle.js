// Idle sessions: N connections that LOGIN, SELECT INBOX and IDLE (users × perUser, all
// users sharing one uid, as virtual hosting runs), then
//  - memory: PSS summed over the server's whole process tree (/proc/<pid>/smaps_rollup of
//    the master and every descendant) before the first connection, once the figure stops
//    changing, and with all N idling, twice: a second after the last opened, and once steady
//    (a garbage-collected server gives a burst's garbage back over the next seconds; what
//    is left then is what idle connections hold). --quick takes both a second after;
//  - IDLE latency: APPEND on another connection of a user, to the untagged EXISTS on each
//    of that user's idling sessions (several users' deliveries at once, in rounds).
// Opening and closing are bounded; every session is closed before returning.
import { performance } from 'node:perf_hooks';
import { ImapClient } from '../lib/imap-client.js';
import { bounded, clientCpu, percentile, treeCpuMs, treePssKiB } from '../lib/bench-util.js';
import { benchMessage } from './imap.js';

const OPEN_CONCURRENCY = 32;
const SETTLE_MS = 700;
/** Steady PSS: read every STEADY_STEP_MS; steady once STEADY_READINGS readings in a row lie within STEADY_SPREAD. */
const STEADY_STEP_MS = 2000;
const STEADY_READINGS = 6;
const STEADY_SPREAD = 0.01;
const EXISTS_TIMEOUT_MS = 10_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** PSS in MiB by process name, for LOFT_BENCH_VERBOSE. */
function byName(pss) {
  const names = new Map();
  for (const [name, kib] of pss.byProcess) {
    const [sum, count] = names.get(name) ?? [0, 0];
    names.set(name, [sum + kib, count + 1]);
  }
  return [...names].map(([name, [kib, count]]) => `${name}${count > 1 ? ` x${count}` : ''} ${(kib / 1024).toFixed(1)}`).join(', ');
}

/** PSS of the server's tree now, taken twice a moment apart (the later figure: after lazy work settles). */
async function settledPss(pid, what) {
  await sleep(SETTLE_MS);
  treePssKiB(pid);
  await sleep(300);
  const pss = treePssKiB(pid);
  if (process.env.LOFT_BENCH_VERBOSE) console.error(`idle: PSS ${what} (MiB): ${byName(pss)}`);
  return pss;
}

/**
 * PSS of the server's tree once it stops changing: the last STEADY_READINGS readings, 2 s
 * apart, differ by less than 1% of the total (and 512 KiB). `maxMs` bounds the wait; the
 * result says whether the figure steadied and how long that took.
 */
async function steadyPss(pid, what, maxMs) {
  const started = performance.now();
  const readings = [];
  for (;;) {
    const pss = treePssKiB(pid);
    readings.push(pss);
    if (readings.length > STEADY_READINGS) readings.shift();
    const kibs = readings.map((r) => r.kib);
    const spread = Math.max(...kibs) - Math.min(...kibs);
    const steady = readings.length === STEADY_READINGS && spread <= Math.max(512, STEADY_SPREAD * pss.kib);
    const waitedMs = performance.now() - started;
    if (steady || waitedMs >= maxMs) {
      if (process.env.LOFT_BENCH_VERBOSE) console.error(`idle: PSS ${what} ${steady ? 'steady' : 'NOT steady'} after ${(waitedMs / 1000).toFixed(0)} s (MiB): ${byName(pss)}`);
      return { ...pss, steady, waitedMs };
    }
    await sleep(STEADY_STEP_MS);
  }
}

async function openIdler(port, { user, password }, index) {
  const client = await ImapClient.connect(port);
  try {
    await client.login(user, password);
    const { untagged } = await client.command('SELECT INBOX', { collect: true });
    const exists = Number(untagged.map((line) => /^\* (\d+) EXISTS/.exec(line)).find(Boolean)?.[1] ?? NaN);
    const session = { client, index, exists, waiter: undefined };
    client.onUntagged = (line) => {
      const match = /^\* (\d+) EXISTS/.exec(line);
      if (!match) return;
      const count = Number(match[1]);
      if (count > session.exists) {
        session.exists = count;
        const waiter = session.waiter;
        session.waiter = undefined;
        waiter?.(performance.now());
      }
    };
    session.done = await client.idle();
    return session;
  } catch (err) {
    client.close();
    throw err;
  }
}

/**
 * `pid`: the server's master. `users`: [{ user, password }] with INBOXes ready.
 * `steadyMaxMs`: how long to wait for a steady PSS, before and with the sessions (0: take
 * both a second after). `idleCpuMs`: how long the server's CPU is summed while every session
 * idles.
 * Returns { connections, baseKiB, idleKiB, perConnectionKiB, processes, steady, openPerSecond,
 * idleCpuPercent, latency: { medianMs, p99Ms, samples, missed }, clientCpuPercent }: `idleKiB`
 * a second after the last session opened, `steady` { idleKiB, perConnectionKiB, waitedMs:
 * [before, with], steady } once that figure stopped changing (undefined without steadyMaxMs).
 */
export async function measureIdle({ port, pid, users, perUser, rounds, parallel, prepare, steadyMaxMs = 0, idleCpuMs }) {
  const before = steadyMaxMs > 0 ? await steadyPss(pid, 'before', steadyMaxMs) : await settledPss(pid, 'before');
  await prepare?.();
  const sessions = [];
  const byUser = users.map(() => []);
  const cpuOpen = clientCpu();
  const openStarted = performance.now();
  const jobs = [];
  for (let k = 0; k < perUser; k++) for (let u = 0; u < users.length; u++) jobs.push(u);
  let next = 0;
  let openError;
  try {
    await bounded(Promise.all(Array.from({ length: OPEN_CONCURRENCY }, async () => {
      while (next < jobs.length && !openError) {
        const u = jobs[next++];
        try {
          const session = await openIdler(port, users[u], u);
          sessions.push(session);
          byUser[u].push(session);
        } catch (err) {
          openError ??= new Error(`opening idle session ${sessions.length + 1} of ${jobs.length} (${users[u].user}): ${err.message}`);
        }
      }
    })), 30_000 + jobs.length * 200, `opening ${jobs.length} idle sessions`);
    if (openError) throw openError;
    const openSeconds = (performance.now() - openStarted) / 1000;
    const openCpu = cpuOpen();
    const during = await settledPss(pid, `with ${jobs.length} idle`);
    const steadyDuring = steadyMaxMs > 0 ? await steadyPss(pid, `with ${jobs.length} idle`, steadyMaxMs) : undefined;
    // CPU of the whole server while nothing happens but IDLE: timers, mailbox checks (after
    // the steady figure, the collector's clean-up of the logins is over by then).
    const cpuBefore = treeCpuMs(pid);
    await sleep(idleCpuMs);
    const idleCpuPercent = ((treeCpuMs(pid) - cpuBefore) / idleCpuMs) * 100;

    // Latency: `parallel` users get a message at once; each of their sessions times its EXISTS.
    const samples = [];
    let missed = 0;
    const cpuLatency = clientCpu();
    const appenders = new Map();
    try {
      for (let r = 0; r < rounds; r++) {
        const group = Array.from({ length: parallel }, (_, j) => (r * parallel + j) % users.length);
        await Promise.all(group.map(async (u) => {
          let appender = appenders.get(u);
          if (!appender) {
            appender = await ImapClient.connect(port);
            appenders.set(u, appender);
            await appender.login(users[u].user, users[u].password);
          }
          const waits = byUser[u].map((session) => new Promise((resolve) => {
            session.waiter = resolve;
            setTimeout(() => {
              if (session.waiter === resolve) session.waiter = undefined;
              resolve(undefined);
            }, EXISTS_TIMEOUT_MS);
          }));
          await sleep(20 + Math.floor(Math.random() * 30)); // not every round at the same instant
          const sent = performance.now();
          const append = appender.append('INBOX', benchMessage(900_000 + r * 1000 + u));
          const seen = await Promise.all(waits);
          await append; // bounded by the client's command timeout
          for (const at of seen) {
            if (at === undefined) missed++;
            else samples.push(at - sent);
          }
        }));
      }
    } finally {
      for (const appender of appenders.values()) await bounded(appender.logout(), 5000, 'LOGOUT').catch(() => appender.close());
    }
    const latencyCpu = cpuLatency();
    samples.sort((a, b) => a - b);
    return {
      connections: sessions.length,
      baseKiB: before.kib,
      baseProcesses: before.processes,
      idleKiB: during.kib,
      processes: during.processes,
      perConnectionKiB: (during.kib - before.kib) / sessions.length,
      steady: steadyDuring && {
        idleKiB: steadyDuring.kib,
        perConnectionKiB: (steadyDuring.kib - before.kib) / sessions.length,
        waitedMs: [before.waitedMs, steadyDuring.waitedMs],
        steady: before.steady && steadyDuring.steady,
      },
      openPerSecond: sessions.length / openSeconds,
      idleCpuPercent,
      latency: { medianMs: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99), samples: samples.length, missed },
      clientCpuPercent: { open: openCpu, latency: latencyCpu },
    };
  } finally {
    for (const session of sessions) session.client.close();
    await sleep(200);
  }
}
