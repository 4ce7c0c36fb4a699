#!/usr/bin/env node
// npm run bench [-- --quick]: Loft's figures beside Dovecot 2.3's on the same machine in
// the same run, as one table (metric, Loft, Dovecot, ratio, client CPU), also written as
// JSON to bench-results/. Parts: IPC, supervision, logins (connect, LOGIN, SELECT INBOX,
// LOGOUT), LMTP, the IMAP mix in persistent sessions and in short sessions (login/logout
// per session), idle sessions (memory per connection and IDLE latency, virtual users on
// one uid), a large mailbox over IMAP (100,000 messages; 5,000 with --quick) and, in
// full mode, the storage library beside doveadm. Dovecot's side needs root and Debian's
// dovecot-imapd/-lmtpd, which it installs with apt-get when they are missing; without them
// that column says why it is empty. Every workload is
// bounded in time; a part that fails prints its cause in its rows and the run goes on.
// Both servers are stopped (and temp dirs removed) at the end, on failure and on SIGINT/SIGTERM.
// Dovecot's large mailbox, once filled, is kept in /var/tmp/loft-bench-cache (keyed by message
// count, the messages and Dovecot's version; --refill ignores it); Loft's is filled afresh
// through its storage library each run; progress and failures go to stderr. Options: --quick, --refill, --only=part,part.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { runIpcBench } from '@loft/ipc/bench';
import { MailUser } from '@loft/storage';
import { benchMessage as storageBenchMessage, runStorageComparison } from '@loft/storage/bench';
import { IpcClient } from '@loft/ipc';
import { dovecotAvailable, installDovecot, startDovecot } from './lib/dovecot.js';
import { bounded, cleanupAll, clientCpu, ensureVmail, freePort, inBackground, installSignalHandlers, median, passwdFile, until } from './lib/bench-util.js';
import { loftImapConf, loftReady, loftStatus, startLoft, startLoftImap } from './lib/loft.js';
import { superviseRound } from './bench/supervision.js';
import { measureLogins, medianMs } from './bench/logins.js';
import { deliverToEach, measureDeliveries } from './bench/lmtp.js';
import { COMMANDS_PER_SESSION, measureImapMix, measureImapSessions, prepareUsers } from './bench/imap.js';
import { measureIdle } from './bench/idle.js';
import { cacheEntry, inboxCount, measureMailbox, populate, restoreHome, saveHome } from './bench/mailbox.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// 1,000 idle sessions need more descriptors than a login shell may give: as root, run
// again from a shell that raises the limit (the servers raise their own the same way).
const NOFILE_NEEDED = 8192;
const softNofile = Number(/^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1].replace('unlimited', 'Infinity'));
if (softNofile < NOFILE_NEEDED && process.getuid?.() === 0 && !process.env.LOFT_BENCH_NOFILE) {
  const again = spawnSync('/bin/sh', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn) 2>/dev/null; exec "$0" "$@"', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, LOFT_BENCH_NOFILE: '1' } });
  process.exit(again.status ?? 1);
} else if (softNofile < NOFILE_NEEDED) {
  console.error(`bench: the fd limit (ulimit -n) is ${softNofile}; the idle part needs about ${NOFILE_NEEDED} and may fail`);
}
const quick = process.argv.includes('--quick');
/** --refill: ignore Dovecot's cached large mailbox (fill it again and cache that). */
const refill = process.argv.includes('--refill');
/** --only=logins,idle: run just those parts (for working on the bench). */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const runStarted = performance.now();
const rows = [];
const clientCpuNotes = [];
const installProblem = installDovecot();
if (installProblem) console.error(`bench: Dovecot's column stays empty: ${installProblem}`);
const haveDovecot = dovecotAvailable();
const NO_DOVECOT = installProblem ?? 'needs root + dovecot-imapd';

/** higherIsBetter: ratio = loft / dovecot; false: dovecot / loft, so > 1 always means Loft wins; null: no ratio. */
const record = (part, metric, unit, loft, dovecot, higherIsBetter = true, cpu = '') => {
  const ratio = higherIsBetter !== null && typeof dovecot === 'number' && dovecot > 0 && typeof loft === 'number' && loft > 0 ? (higherIsBetter ? loft / dovecot : dovecot / loft) : undefined;
  rows.push({ part, metric, unit, loft: round(loft) ?? '-', dovecot: typeof dovecot === 'number' ? round(dovecot) : dovecot ?? '-', ratio: ratio === undefined ? '-' : round(ratio), clientCpu: cpu });
};
const round = (x) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(4)) : x);
const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${Math.round(x)}%` : '-');
/** The client CPU cell: Loft's run / Dovecot's run, % of one core. */
const cpuCell = (loft, dovecot) => `${pct(loft)} / ${pct(dovecot)}`;
const noteCpu = (what, loft, dovecot) => clientCpuNotes.push({ what, loft, dovecot });
const elapsed = () => `${((performance.now() - runStarted) / 1000).toFixed(1)}s`;
const progress = (text) => console.error(`[${elapsed()}] ${text}`);

/** Run one part; a failure becomes a row that says why, and the run goes on. */
async function part(name, fn) {
  if (only && !only.includes(name)) return;
  const t0 = performance.now();
  progress(`${name} ...`);
  try {
    await fn();
  } catch (err) {
    const reason = (err?.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 300);
    console.error(`${name}: failed: ${err?.stack ?? err}`);
    rows.push({ part: name, metric: `failed: ${reason}`, unit: '', loft: '-', dovecot: '-', ratio: '-', clientCpu: '' });
  }
  progress(`${name} done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
}

/** Dovecot's result, or the reason it is missing as the cell text (a failure prints its cause). */
async function dovecotSide(fn) {
  if (!haveDovecot) return NO_DOVECOT;
  try {
    return await fn();
  } catch (err) {
    return dovecotFailed(err);
  }
}

/** What the table shows in Dovecot's column when its side failed (the stack goes to stderr). */
function dovecotFailed(err) {
  console.error(`dovecot: failed: ${err?.stack ?? err}`);
  return `failed: ${(err?.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 200)}`;
}
const field = (result, key) => (typeof result === 'object' && result !== null ? result[key] : result);

// ---------------------------------------------------------------------------------------

const BENCH_USER = { user: 'benchuser', password: 'benchpass', uid: 5090 };

/**
 * Supervision (scripts/bench/supervision.js), rounds alternating between the servers, each
 * on a fresh instance: cold start to the first login, kill -9 of a busy user's imap process
 * to that user's next login. Then loftd's own figures: a service's replacement as the
 * master sees it (an echo service, no users).
 */
async function benchSupervision(rounds) {
  const results = { loft: [], dovecot: [] };
  let dovecotError = haveDovecot ? undefined : NO_DOVECOT;
  for (let i = 0; i < rounds; i++) {
    const users = passwdFile([BENCH_USER], 'loft-bench-supervision-');
    try {
      const port = await freePort();
      const loft = await startLoft(loftImapConf({ port, usersFile: users.file }));
      try {
        results.loft.push(await bounded(superviseRound({ server: { ...loft, port }, ...BENCH_USER }), 120_000, 'loft supervision round'));
      } catch (err) {
        throw new Error(`${err.message}; log: ${loft.log().slice(-1500)}`);
      } finally {
        await loft.stop();
      }
    } finally {
      users.cleanup();
    }
    if (dovecotError) continue;
    const dovecot = await startDovecot({ users: [BENCH_USER] }).catch((err) => {
      dovecotError = dovecotFailed(err);
    });
    if (!dovecot) continue;
    try {
      results.dovecot.push(await bounded(superviseRound({ server: dovecot, ...BENCH_USER }), 120_000, 'dovecot supervision round'));
    } catch (err) {
      dovecotError = dovecotFailed(new Error(`${err.message}; log: ${dovecot.log().slice(-1500)}`));
    } finally {
      await dovecot.stop();
    }
  }
  if (process.env.LOFT_BENCH_VERBOSE) {
    for (const server of ['loft', 'dovecot']) {
      for (const r of results[server]) console.error(`supervision ${server}: cold start ${r.coldStartMs.toFixed(0)} ms, kill to login ${r.killToLoginMs.toFixed(0)} ms, ${r.failedAfterKill} failed`);
    }
  }
  const med = (server, key) => (server === 'dovecot' && dovecotError) || median(results[server].map((r) => r[key]));
  const label = `median of ${rounds}`;
  record('supervision', `cold start: server spawned to its first login (connect, LOGIN, SELECT INBOX, LOGOUT), ${label}`, 'ms', med('loft', 'coldStartMs'), med('dovecot', 'coldStartMs'), false);
  record('supervision', `kill -9 of a busy user's imap process (4 sessions) to that user's next login, ${label}`, 'ms', med('loft', 'killToLoginMs'), med('dovecot', 'killToLoginMs'), false);
  const failed = (server) => results[server].reduce((sum, r) => sum + r.failedAfterKill, 0);
  record('supervision', 'login attempts that failed after the kill, in all rounds', 'count', failed('loft'), dovecotError ?? failed('dovecot'), null);

  const replacements = [];
  for (let i = 0; i < rounds; i++) {
    const port = await freePort();
    const loft = await startLoft(`service echo {\n  executable = ${root}/test/fixtures/echo-service.js\n  inet_listener echo {\n    port = ${port}\n  }\n}\n`, { reportLog: false }); // it kills a child, and has no users, on purpose
    try {
      const first = await until(async () => (await loftStatus(loft.baseDir, 'echo')).find((p) => p.state === 'ready'));
      const killed = process.hrtime.bigint();
      process.kill(first.pid, 'SIGKILL');
      await until(async () => (await loftStatus(loft.baseDir, 'echo')).find((p) => p.state === 'ready' && p.pid !== first.pid));
      replacements.push(Number(process.hrtime.bigint() - killed) / 1e6);
    } finally {
      await loft.stop();
    }
  }
  record('supervision', `loftd: kill -9 of a service process to its ready replacement (no users), ${label}`, 'ms', median(replacements), undefined, false);
}

async function benchLogins(durationMs, concurrency) {
  const users = passwdFile([BENCH_USER], 'loft-bench-logins-');
  let loftResult;
  let authMs;
  try {
    const loft = await startLoftImap({ port: await freePort(), usersFile: users.file });
    try {
      await measureLogins({ port: loft.port, ...BENCH_USER, concurrency, durationMs: 500 }); // warm-up: imap processes, JIT
      const cpu = clientCpu();
      loftResult = await measureLogins({ port: loft.port, ...BENCH_USER, concurrency, durationMs });
      loftResult.cpu = cpu();
      const auth = await IpcClient.connect(path.join(loft.baseDir, 'run', 'auth-login.sock'));
      const client = { remoteIp: '127.0.0.1', remotePort: 1, localIp: '127.0.0.1', localPort: loft.port, secured: true, tls: false };
      authMs = await medianMs(200, () => auth.request('login', { user: BENCH_USER.user, password: BENCH_USER.password, mechanism: 'PLAIN', service: 'imap', client, selfTargets: [] }));
      auth.close();
    } finally {
      inBackground(loft.stop, users.cleanup);
    }
  } finally {
    if (!loftResult) users.cleanup(); // not started: nothing to wait for
  }
  const dovecotResult = await dovecotSide(async () => {
    const dovecot = await startDovecot({ users: [BENCH_USER] });
    try {
      await measureLogins({ port: dovecot.port, ...BENCH_USER, concurrency, durationMs: 500 });
      const cpu = clientCpu();
      const result = await measureLogins({ port: dovecot.port, ...BENCH_USER, concurrency, durationMs });
      result.cpu = cpu();
      if (result.errors > 0) console.error(`logins: ${result.errors} Dovecot login cycles failed (${result.firstError})`);
      return result;
    } finally {
      inBackground(dovecot.stop);
    }
  });
  const dc = (key) => field(dovecotResult, key);
  record('logins', `logins per second (${concurrency} clients: connect, LOGIN, SELECT INBOX, LOGOUT)`, '/s', loftResult.loginsPerSecond, dc('loginsPerSecond'), true, cpuCell(loftResult.cpu, dc('cpu')));
  record('logins', 'login round trip, LOGIN to OK (median)', 'ms', loftResult.medianLoginMs, dc('medianLoginMs'), false);
  record('logins', 'login round trip (p99)', 'ms', loftResult.p99LoginMs, dc('p99LoginMs'), false);
  record('logins', 'of which auth alone (median; the rest is the hand-off)', 'ms', authMs, undefined, false);
  noteCpu('logins', loftResult.cpu, dc('cpu'));
  if (loftResult.errors > 0 || dc('errors') > 0) record('logins', `login cycles that failed (first: ${loftResult.firstError ?? dc('firstError')})`, 'count', loftResult.errors, dc('errors'), null);
  if (loftResult.errors > 0) console.error(`logins: ${loftResult.errors} Loft login cycles failed (${loftResult.firstError})`);
}

const LMTP_USERS = Array.from({ length: quick ? 10 : 50 }, (_, i) => ({ user: `lmtpuser${i}`, password: 'x', uid: 6000 + i }));

/**
 * The LMTP load's unmeasured warm-up, as long as the IMAP mix's. Loft's delivery processes
 * speed up as V8 compiles their code (seteuid: 425/s in the first 5 s, ~850 from 25 s on;
 * Dovecot 880, then ~1,150, in one run of 5 s windows), and in fork mode 50 processes, one
 * per uid, each with a fiftieth of the load, compile for longer: at 25-33 s 642/s, at
 * 60-68 s 962/s in one run each (see LMTP_INTERRUPT_BUDGET in service-pool.ts). A figure
 * taken sooner measures the compiler; the cold rows show the first seconds.
 */
const LMTP_WARMUP_MS = quick ? 1000 : 60_000;
/** The cold row: the rate in this long a stretch right after the first delivery to each user. */
const LMTP_COLD_MS = quick ? 1000 : 5000;

/**
 * Unmeasured: a delivery to every user (fork privsep starts a process per uid), then
 * LMTP_WARMUP_MS of load. Returns the deliveries per second of the load's first LMTP_COLD_MS.
 */
async function warmLmtp(target, names, connections, what) {
  const failed = await bounded(deliverToEach({ target, users: names, connections }), 120_000, `lmtp warm-up (${what})`);
  if (failed > 0) console.error(`lmtp ${what}: ${failed} warm-up deliveries failed`);
  const cold = await measureDeliveries({ target, users: names, connections, durationMs: LMTP_COLD_MS });
  if (LMTP_WARMUP_MS > LMTP_COLD_MS) await measureDeliveries({ target, users: names, connections, durationMs: LMTP_WARMUP_MS - LMTP_COLD_MS });
  return cold.deliveriesPerSecond;
}

/**
 * The measured LMTP load runs in turns: fork, seteuid, Dovecot, and again, LMTP_TURNS times,
 * each a LMTP_TURNS-th of the duration. This machine has fast and slow stretches of minutes
 * for both servers' disk and CPU: measured once each, minutes apart, the same code read 0.83
 * (274 / 330 deliveries/s) and, two hours later, 1.30 (500 / 386). Taking turns gives each
 * server its share of both. Between its turns a server idles while the others are measured
 * (and, before the first, while the others warm up for minutes), so Loft's delivery
 * processes linger longer than lmtp_privsep_linger's default (1 min), which under a steady
 * load they never reach.
 */
const LMTP_TURNS = 3;
/**
 * Unmeasured load right before each turn. A server that idled through the others' turns
 * (and, the first time, their minutes of warm-up) starts slow: fork's 50 processes read
 * 137-227 deliveries/s in their first turn and 270-319 in their third, in three runs.
 */
const LMTP_TURN_WARM_MS = quick ? 0 : 3000;
const LMTP_BENCH_LINGER = '10 mins';

async function benchLmtp(durationMs, connections) {
  const names = LMTP_USERS.map((u) => u.user);
  const results = {};
  /** In turn order, with what their turns add up. */
  const servers = [];
  const addServer = (key, target, cold) => servers.push({ key, target, cold, delivered: 0, failed: 0, firstError: undefined, seconds: 0, cpuSeconds: 0 });
  // Both privsep modes' servers start together (each is idle while the other is measured).
  const instances = [];
  let dovecotInstance;
  let dovecot = haveDovecot && fs.existsSync('/usr/lib/dovecot/lmtp') ? undefined : 'needs root + dovecot-lmtpd';
  try {
    for (const mode of ['fork', 'seteuid']) {
      const users = passwdFile(LMTP_USERS, `loft-bench-lmtp-${mode}-`);
      instances.push({ mode, users, loft: await startLoft(`lmtp_privsep = ${mode}\nlmtp_privsep_linger = ${LMTP_BENCH_LINGER}\nmail_fsync = optimized\npassdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\nuserdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\n`) });
    }
    await Promise.all(instances.map(({ loft }) => loftReady(loft, ['lmtp', 'auth'])));
    for (const { mode, loft } of instances) {
      const target = path.join(loft.baseDir, 'run', 'lmtp.sock');
      addServer(mode, target, await warmLmtp(target, names, connections, `loft ${mode}`));
    }
    if (dovecot === undefined) {
      dovecot = await dovecotSide(async () => {
        dovecotInstance = await startDovecot({ users: LMTP_USERS, lmtp: true, extraConf: 'mail_fsync = optimized\n' });
        addServer('dovecot', dovecotInstance.lmtpSocket, await warmLmtp(dovecotInstance.lmtpSocket, names, connections, 'dovecot'));
        return undefined;
      });
    }
    for (let turn = 0; turn < LMTP_TURNS; turn++) {
      for (const server of servers) {
        if (LMTP_TURN_WARM_MS > 0) await measureDeliveries({ target: server.target, users: names, connections, durationMs: LMTP_TURN_WARM_MS }).catch(() => undefined);
        const cpu = clientCpu();
        const t0 = performance.now();
        let result;
        try {
          result = await measureDeliveries({ target: server.target, users: names, connections, durationMs: durationMs / LMTP_TURNS });
        } catch (err) {
          if (server.key !== 'dovecot') throw err;
          dovecot = dovecotFailed(err);
          servers.splice(servers.indexOf(server), 1);
          break;
        }
        const seconds = (performance.now() - t0) / 1000;
        server.cpuSeconds += (cpu() / 100) * seconds;
        server.delivered += result.delivered;
        server.failed += result.failed;
        server.firstError ??= result.firstError;
        server.seconds += seconds;
        if (process.env.LOFT_BENCH_VERBOSE) console.error(`lmtp turn ${turn + 1} ${server.key}: ${(result.delivered / seconds).toFixed(1)} deliveries/s`);
      }
    }
    for (const server of servers) {
      const result = { deliveriesPerSecond: server.delivered / server.seconds, failed: server.failed, firstError: server.firstError, cold: server.cold, cpu: (server.cpuSeconds / server.seconds) * 100 };
      if (server.key === 'dovecot') {
        if (typeof dovecot !== 'string') dovecot = result;
      } else {
        results[server.key] = result;
      }
      if (server.failed > 0) console.error(`lmtp ${server.key}: ${server.failed} deliveries failed (${server.firstError})`);
    }
  } finally {
    for (const { loft, users } of instances) inBackground(loft.stop, users.cleanup);
    if (dovecotInstance) inBackground(dovecotInstance.stop);
  }
  const rate = field(dovecot, 'deliveriesPerSecond');
  const warm = `after ${LMTP_WARMUP_MS / 1000} s of load; ${LMTP_TURNS} turns of ${(durationMs / LMTP_TURNS / 1000).toFixed(1)} s`;
  record('lmtp', `deliveries per second, lmtp_privsep = fork (${connections} connections, ${LMTP_USERS.length} users, ${warm})`, '/s', results.fork.deliveriesPerSecond, rate, true, cpuCell(results.fork.cpu, field(dovecot, 'cpu')));
  record('lmtp', `deliveries per second, lmtp_privsep = seteuid (${connections} connections, ${LMTP_USERS.length} users, ${warm})`, '/s', results.seteuid.deliveriesPerSecond, rate, true, cpuCell(results.seteuid.cpu, field(dovecot, 'cpu')));
  for (const mode of ['fork', 'seteuid']) {
    record('lmtp', `  ${mode}: the first ${LMTP_COLD_MS / 1000} s of load (processes cold)`, '/s', results[mode].cold, field(dovecot, 'cold'));
  }
  noteCpu('lmtp (fork, seteuid)', Math.max(results.fork.cpu, results.seteuid.cpu), field(dovecot, 'cpu'));
  for (const mode of ['fork', 'seteuid']) {
    if (results[mode].failed > 0) record('lmtp', `deliveries that failed, ${mode} (first: ${results[mode].firstError})`, 'count', results[mode].failed, undefined, null);
  }
  if (field(dovecot, 'failed') > 0) record('lmtp', `deliveries that failed, Dovecot (first: ${dovecot.firstError})`, 'count', 0, dovecot.failed, null);
}

/**
 * The IMAP mix's unmeasured warm-up, and when its second stretch is measured (see
 * measureImapMix): Loft's processes are not yet steady after a minute on a slow machine.
 */
const IMAP_WARMUP_MS = quick ? 4000 : 60_000;
const IMAP_LATER_AT_MS = quick ? 0 : 180_000;
const IMAP_USERS = Array.from({ length: quick ? 10 : 20 }, (_, i) => ({ user: `imapuser${i}`, password: `pw${i}`, uid: 7000 + i }));

/**
 * Both servers up at once (the one not measured is idle), both mixes on each, in the order
 * Loft, Dovecot (persistent sessions), Dovecot, Loft (short sessions), so a change in the
 * machine's load during the part falls on both.
 */
async function benchImap(durationMs, messages) {
  const users = passwdFile(IMAP_USERS, 'loft-bench-imap-');
  const servers = [];
  const loftResult = {};
  let dovecotResult = haveDovecot ? {} : NO_DOVECOT;
  try {
    const loft = await startLoftImap({ port: await freePort(), usersFile: users.file, extraConf: 'mail_fsync = optimized\n' });
    servers.push(loft);
    await prepareUsers({ port: loft.port, users: IMAP_USERS, messages });
    const dovecot = await dovecotSide(async () => {
      const instance = await startDovecot({ users: IMAP_USERS, extraConf: 'mail_fsync = optimized\n' });
      servers.push(instance);
      await prepareUsers({ port: instance.port, users: IMAP_USERS, messages });
      return instance;
    });
    if (typeof dovecot === 'string') dovecotResult = dovecot;
    // Persistent sessions run the mix unmeasured for a fixed time (see measureImapMix), on
    // both servers alike; the first second's rate and the first 10 s's are rows too.
    const warmup = { ms: IMAP_WARMUP_MS, windowMs: 1000 };
    const measure = (shape, server) => (shape === 'persistent' ? measureImapMix : measureImapSessions)({ port: server.port, users: IMAP_USERS, durationMs, warmup, laterAtMs: IMAP_LATER_AT_MS });
    const runDovecot = async (shape) => {
      if (typeof dovecotResult !== 'object') return; // missing, or failed already
      try {
        dovecotResult[shape] = await measure(shape, dovecot);
      } catch (err) {
        console.error(`imap: dovecot: ${err.stack ?? err}`);
        dovecotResult = `failed: ${err.message}`;
      }
    };
    loftResult.persistent = await measure('persistent', loft);
    await runDovecot('persistent');
    const windows = (r) => (typeof r === 'object' && r.windows ? r.windows.map(Math.round).join(' ') : '-');
    progress(`imap: warm-up windows (commands/s): Loft ${windows(loftResult.persistent)}; Dovecot ${windows(dovecotResult.persistent)}`);
    await runDovecot('sessions');
    loftResult.sessions = await measure('sessions', loft);
  } finally {
    inBackground(...servers.map((server) => server.stop), users.cleanup);
  }
  for (const shape of ['persistent', 'sessions']) {
    const l = loftResult[shape];
    const d = typeof dovecotResult === 'object' ? dovecotResult[shape] : dovecotResult;
    const title = shape === 'persistent'
      ? `mixed commands per second (${IMAP_USERS.length} persistent sessions, ${messages} messages each, after ${IMAP_WARMUP_MS / 1000} s of warm-up)`
      : `mixed commands per second (${IMAP_USERS.length} clients, a session each: LOGIN, SELECT, ${COMMANDS_PER_SESSION} commands, LOGOUT)`;
    const part = shape === 'persistent' ? 'imap' : 'imap-sessions';
    record(part, title, '/s', l.total, field(d, 'total'), true, cpuCell(l.clientCpuPercent, field(d, 'clientCpuPercent')));
    if (shape === 'persistent') {
      if (l.later) {
        const dl = field(d, 'later');
        record(part, `  the same ${durationMs / 1000} s, ${l.later.atSeconds} s after login`, '/s', l.later.total, field(dl, 'total'), true, cpuCell(l.later.clientCpuPercent, field(dl, 'clientCpuPercent')));
      }
      record(part, '  first second after login (processes cold)', '/s', l.firstWindow, field(d, 'firstWindow'));
      record(part, `  first ${l.coldWindows} s after login`, '/s', l.coldMean, field(d, 'coldMean'));
    }
    if (shape === 'sessions') record(part, '  logins per second', '/s', l.loginsPerSecond, field(d, 'loginsPerSecond'));
    for (const name of Object.keys(l.perSecond)) {
      if (shape === 'sessions' && name === 'LOGIN') continue; // the row above
      record(part, `  ${name}`, '/s', l.perSecond[name], typeof d === 'object' ? d.perSecond[name] : d);
    }
    noteCpu(`imap mix, ${shape === 'persistent' ? 'persistent sessions' : 'short sessions'}`, l.clientCpuPercent, field(d, 'clientCpuPercent'));
    if (l.errors > 0) console.error(`imap mix (${shape}): ${l.errors} Loft commands failed (${l.firstError})`);
    if (d?.errors > 0) console.error(`imap mix (${shape}): ${d.errors} Dovecot commands failed (${d.firstError})`);
    if (l.errors > 0 || d?.errors > 0) record(part, `  commands that failed (first: ${l.firstError ?? d?.firstError})`, 'count', l.errors, field(d, 'errors'), null);
  }
}

// ---- idle sessions: memory per connection and IDLE latency, virtual users on one uid ----

/** Raise fs.inotify.max_user_instances: with 1,000 imap processes of one uid Dovecot needs one instance each. */
function raiseInotifyInstances(needed) {
  const file = '/proc/sys/fs/inotify/max_user_instances';
  try {
    const current = Number(fs.readFileSync(file, 'utf8'));
    if (current < needed) {
      fs.writeFileSync(file, String(needed));
      progress(`raised ${file} from ${current} to ${needed} (left raised)`);
    }
  } catch (err) {
    progress(`could not raise ${file}: ${err.message}; Dovecot's IDLE may fall back to polling`);
  }
}

/** The mix on virtual users: less warm-up, as one process for the uid sees every session's commands. */
const VMAIL_MIX_WARMUP_MS = quick ? 2000 : 30_000;

/**
 * The persistent-session mix again, with the same clients (20; 10 with --quick) as virtual
 * users on one uid (vmail, as the idle part's): how most passwd-file and SQL setups run.
 * Dovecot still gives each session a process of its own (its default); Loft serves a uid's
 * sessions in one process (up to client_limit), so this row shows the other side of the
 * one-uid-per-user row above.
 */
async function benchImapVmail(durationMs, messages) {
  const uid = ensureVmail();
  const users = IMAP_USERS.map(({ user, password }) => ({ user: `v${user}`, password, uid }));
  const file = passwdFile(users, 'loft-bench-vmail-');
  const servers = [];
  const warmup = { ms: VMAIL_MIX_WARMUP_MS, windowMs: 1000 };
  let loftResult;
  let dovecotResult;
  try {
    const loft = await startLoftImap({ port: await freePort(), usersFile: file.file, extraConf: 'mail_fsync = optimized\n' });
    servers.push(loft);
    await prepareUsers({ port: loft.port, users, messages });
    const running = measureImapMix({ port: loft.port, users, durationMs, warmup });
    // How many imap processes hold the sessions, read while they are all logged in.
    const processes = new Promise((resolve) => setTimeout(resolve, warmup.ms))
      .then(() => loftStatus(loft.baseDir, 'imap'))
      .then((status) => status.filter((p) => p.clients > 0).length, (err) => {
        console.error(`imap-vmail: reading loftd's process status failed: ${err.message}`);
        return 'unknown';
      });
    loftResult = await running;
    loftResult.processes = await processes;
    dovecotResult = await dovecotSide(async () => {
      const instance = await startDovecot({ users, extraConf: 'mail_fsync = optimized\n' });
      servers.push(instance);
      await prepareUsers({ port: instance.port, users, messages });
      return measureImapMix({ port: instance.port, users, durationMs, warmup });
    });
  } finally {
    inBackground(...servers.map((server) => server.stop), file.cleanup);
  }
  const title = `mixed commands per second (the same ${users.length} persistent sessions, virtual users on one uid, after ${VMAIL_MIX_WARMUP_MS / 1000} s of warm-up)`;
  record('imap-vmail', title, '/s', loftResult.total, field(dovecotResult, 'total'), true, cpuCell(loftResult.clientCpuPercent, field(dovecotResult, 'clientCpuPercent')));
  record('imap-vmail', `  first ${loftResult.coldWindows} s after login`, '/s', loftResult.coldMean, field(dovecotResult, 'coldMean'));
  record('imap-vmail', '  Loft imap processes serving the sessions', 'count', loftResult.processes, undefined, null);
  noteCpu('imap mix, virtual users', loftResult.clientCpuPercent, field(dovecotResult, 'clientCpuPercent'));
  if (loftResult.errors > 0 || dovecotResult?.errors > 0) {
    record('imap-vmail', `  commands that failed (first: ${loftResult.firstError ?? dovecotResult?.firstError})`, 'count', loftResult.errors, field(dovecotResult, 'errors'), null);
  }
}

/** How long the idle part reads the server's CPU while the sessions idle. */
const IDLE_CPU_MS = quick ? 2000 : 10_000;

/** `steadyMaxMs`: how long each side may take to reach a steady PSS (0: only the figures a second after opening). */
async function benchIdle(usersCount, perUser, rounds, steadyMaxMs) {
  const uid = ensureVmail();
  const connections = usersCount * perUser;
  const users = Array.from({ length: usersCount }, (_, i) => ({ user: `vuser${i}`, password: `vpw${i}`, uid }));
  const parallel = Math.min(5, usersCount);
  const prepare = (port) => () => prepareUsers({ port, users, messages: 20 });
  const opts = { users, perUser, rounds, parallel, steadyMaxMs, idleCpuMs: IDLE_CPU_MS };
  const file = passwdFile(users, 'loft-bench-idle-');
  let loftResult;
  try {
    const loft = await startLoftImap({ port: await freePort(), usersFile: file.file, extraConf: 'mail_fsync = optimized\n' });
    try {
      loftResult = await measureIdle({ port: loft.port, pid: loft.pid, prepare: prepare(loft.port), ...opts });
    } finally {
      inBackground(loft.stop, file.cleanup);
    }
  } finally {
    if (!loftResult) file.cleanup();
  }
  const dovecotResult = await dovecotSide(async () => {
    raiseInotifyInstances(connections + 512);
    const dovecot = await startDovecot({
      users,
      extraConf: `mail_fsync = optimized
mail_max_userip_connections = ${connections + 100}
default_client_limit = ${connections + 1000}
service imap {
  process_limit = ${connections + 100}
}
service imap-login {
  process_limit = 256
}
`,
    });
    try {
      return await measureIdle({ port: dovecot.port, pid: dovecot.pid, prepare: prepare(dovecot.port), ...opts });
    } finally {
      inBackground(dovecot.stop);
    }
  });
  const d = (key) => field(dovecotResult, key);
  const n = `${connections} idle`;
  const shape = `${usersCount} users x ${perUser}, one uid`;
  const ds = (key) => field(d('steady'), key);
  /** KiB as MiB; Dovecot's cell may be the reason it is missing instead. */
  const mib = (kib) => (typeof kib === 'number' ? kib / 1024 : kib);
  if (loftResult.steady) {
    const waited = (r) => (typeof r === 'object' ? (r.steady.waitedMs[0] + r.steady.waitedMs[1]) / 1000 : r);
    const unsteady = [loftResult, dovecotResult].some((r) => typeof r === 'object' && !r.steady.steady);
    record('idle', `PSS per idle connection, steady (with ${n} − before) / ${connections} (${shape})`, 'KiB', loftResult.steady.perConnectionKiB, ds('perConnectionKiB'), false);
    record('idle', `  PSS of all server processes with ${n} connections, steady`, 'MiB', mib(loftResult.steady.idleKiB), mib(ds('idleKiB')), false);
    record('idle', `  time until the PSS was steady, before + with${unsteady ? ' (NOT steady within the limit)' : ''}`, 's', waited(loftResult), waited(dovecotResult), null);
  }
  const steadyBase = loftResult.steady ? ', steady' : ', a second after start';
  record('idle', `${loftResult.steady ? '  ' : ''}PSS per idle connection, a second after opening (with ${n} − before) / ${connections}${loftResult.steady ? '' : ` (${shape})`}`, 'KiB', loftResult.perConnectionKiB, d('perConnectionKiB'), false);
  record('idle', `  PSS of all server processes before connecting${steadyBase}`, 'MiB', mib(loftResult.baseKiB), mib(d('baseKiB')), false);
  record('idle', `  PSS of all server processes with ${n} connections, a second after opening`, 'MiB', mib(loftResult.idleKiB), mib(d('idleKiB')), false);
  record('idle', `  server processes with ${n} connections`, 'count', loftResult.processes, d('processes'), null);
  record('idle', `  server CPU while the ${n} sessions idle (${IDLE_CPU_MS / 1000} s${loftResult.steady ? ', once steady' : ''}, % of one core)`, '%', loftResult.idleCpuPercent, d('idleCpuPercent'), false);
  record('idle', `  idle sessions opened per second (LOGIN, SELECT, IDLE; 32 at a time)`, '/s', loftResult.openPerSecond, d('openPerSecond'), true, cpuCell(loftResult.clientCpuPercent.open, d('clientCpuPercent')?.open));
  const ll = loftResult.latency;
  const dl = d('latency');
  const samples = `${ll.samples}${typeof dl === 'object' ? ` / ${dl.samples}` : ''} samples`;
  record('idle', `IDLE latency, APPEND on another connection to EXISTS (median; ${samples})`, 'ms', ll.medianMs, field(dl, 'medianMs'), false, cpuCell(loftResult.clientCpuPercent.latency, d('clientCpuPercent')?.latency));
  record('idle', 'IDLE latency (p99)', 'ms', ll.p99Ms, field(dl, 'p99Ms'), false);
  if (ll.missed > 0 || field(dl, 'missed') > 0) {
    record('idle', 'IDLE sessions that saw no EXISTS within 10 s', 'count', ll.missed, field(dl, 'missed'), false);
  }
  noteCpu('idle: opening sessions', loftResult.clientCpuPercent.open, d('clientCpuPercent')?.open);
  noteCpu('idle: latency rounds', loftResult.clientCpuPercent.latency, d('clientCpuPercent')?.latency);
}

// ---- a large mailbox over IMAP ----

/** `user`'s INBOX with messages 0..count-1 of the storage benchmark, written by Loft's storage library as root, then chowned. */
async function fillWithLoftLibrary(home, user, count) {
  const mail = await MailUser.open({ user: user.user, home, settings: { mail_fsync: 'never' } });
  try {
    const box = await mail.openMailbox('INBOX');
    for (let done = 0; done < count; done += 1000) {
      const txn = box.transaction();
      for (let i = done; i < Math.min(count, done + 1000); i++) await txn.save(storageBenchMessage(i));
      await txn.commit();
    }
  } finally {
    await mail.close();
  }
  execFileSync('chown', ['-R', `${user.uid}:${user.uid}`, home]);
}

/**
 * Both servers at once, each with user bigbox's INBOX of `count` messages (restored from
 * the cache, or filled through IMAP and then cached) and a fresh user appender for the
 * APPEND rates; the query rounds alternate the servers.
 */
/**
 * Reads every file under `dir` (returns the bytes read), so that a server's first round
 * finds its mailbox in the page cache, as the other's. The fills and the APPEND runs take
 * minutes, and this machine's kernel pages out file pages unused for about a minute: in the
 * full run at 19c1c7d Loft, filled first and idle through Dovecot's fill, took 53.5 ms for
 * its first SELECT and Dovecot 17.6; `--only=mailbox` right after, with Dovecot restored
 * from its cache, 7.1 against 19.4 ms (first FETCH 1:* (FLAGS) 50.2 / 45.1 and 32.4 / 50.7).
 */
function readTree(dir) {
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += readTree(at);
    else if (entry.isFile()) bytes += fs.readFileSync(at).length;
  }
  return bytes;
}

async function benchMailbox(count, rounds, single) {
  const uid = ensureVmail();
  const big = { user: 'bigbox', password: 'bigpw', uid };
  const appender = { user: 'appender', password: 'apppw', uid };
  const file = passwdFile([big, appender], 'loft-bench-mailbox-');
  const dovecotVersion = version('dovecot', ['--version']);
  const servers = [];
  let dovecotError = haveDovecot ? undefined : NO_DOVECOT;
  const starters = {
    loft: async () => {
      const loft = await startLoftImap({ port: await freePort(), usersFile: file.file, extraConf: 'mail_fsync = optimized\n' });
      return { name: 'loft', port: loft.port, home: file.home(big.user), halt: loft.stop, stop: loft.stop };
    },
    dovecot: async () => {
      const dovecot = await startDovecot({ users: [big, appender], extraConf: 'mail_fsync = optimized\n' });
      return { name: 'dovecot', port: dovecot.port, home: path.join(dovecot.dir, 'home', big.user), halt: dovecot.halt, stop: dovecot.stop };
    },
  };
  const fills = {};
  /**
   * A server with bigbox's INBOX of `count` messages, just started on it, so every run
   * queries the same state. Loft's is filled before its server starts, through its storage
   * library (what loftadm import and the imap service save with), in transactions of
   * 1,000, then given to the vmail uid: as fast as a restore from a cache, and never stale
   * while the storage code changes. Dovecot's is restored from the cache, or filled through
   * IMAP (MULTIAPPEND), saved to the cache with the server stopped (a consistent copy,
   * before any query wrote cache files) and the server started again on it.
   */
  const bigServer = async (name) => {
    if (name === 'loft') {
      const t0 = performance.now();
      await fillWithLoftLibrary(file.home(big.user), big, count);
      progress(`mailbox: filled loft's INBOX with ${count} messages (storage library) in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      const server = await starters.loft();
      servers.push(server);
      server.source = 'filled';
      const found = await inboxCount({ port: server.port, user: big.user, password: big.password });
      if (found !== count) throw new Error(`Loft's INBOX has ${found} messages after the fill, not ${count}`);
      return;
    }
    const cache = cacheEntry(name, count, dovecotVersion);
    let server = await starters[name]();
    servers.push(server);
    let source = 'from the cache';
    if (refill) fs.rmSync(cache, { recursive: true, force: true });
    if (!restoreHome(cache, server.home)) {
      const t0 = performance.now();
      await populate({ port: server.port, user: big.user, password: big.password, count, single: 0 });
      progress(`mailbox: filled ${name} with ${count} messages (IMAP MULTIAPPEND) in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      await server.halt();
      saveHome(cache, server.home);
      await server.stop();
      servers.splice(servers.indexOf(server), 1);
      server = await starters[name]();
      servers.push(server);
      restoreHome(cache, server.home);
      source = 'filled and cached';
    }
    const found = await inboxCount({ port: server.port, user: big.user, password: big.password });
    if (found !== count) {
      fs.rmSync(cache, { recursive: true, force: true });
      throw new Error(`the mailbox ${source} (${cache}) had ${found} messages, not ${count}; the cache entry is removed`);
    }
    server.source = source;
  };
  try {
    await Promise.all(['loft', ...(haveDovecot ? ['dovecot'] : [])].map(async (name) => {
      try {
        await bigServer(name);
      } catch (err) {
        if (name === 'dovecot') dovecotError = `failed: ${err.message}`;
        fills[name] = `failed: ${err.message}`;
        console.error(`mailbox: ${name}: ${err.stack ?? err}`);
      }
    }));
    servers.sort((a, b) => b.name.localeCompare(a.name)); // loft, dovecot: the first round's order
    progress(`mailbox: ${count} messages in each server (${servers.map((s) => `${s.name} ${s.source}`).join(', ')})`);
    // APPEND rates, one server after the other, into a fresh user's INBOX. Each starts with
    // the disk's write-back done: the fills above leave up to 100,000 files' data dirty, and
    // an APPEND's fsync waits behind it (the first server measured here saw 265 messages/s
    // against 670 with the disk settled).
    const appends = {};
    for (const server of servers) {
      try {
        execFileSync('sync');
        appends[server.name] = await populate({ port: server.port, user: appender.user, password: appender.password, count: single + 2 * 1000, single });
      } catch (err) {
        appends[server.name] = `failed: ${err.message}`;
      }
    }
    const ready = servers.filter((s) => !fills[s.name]);
    for (const server of ready) {
      const t0 = performance.now();
      const bytes = readTree(server.home);
      progress(`mailbox: read ${server.name}'s ${(bytes / 1024 / 1024).toFixed(0)} MiB of mail files in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    }
    const result = await measureMailbox({ servers: ready.map((s) => ({ ...s, ...big })), count, rounds });
    const cell = (name, pick) => {
      if (name === 'dovecot' && dovecotError) return dovecotError;
      if (fills[name]) return fills[name];
      if (result[name]?.error) return `failed: ${result[name].error}`;
      return pick(result[name]);
    };
    const appendCell = (name, key) => (name === 'dovecot' && dovecotError ? dovecotError : field(appends[name], key));
    const label = `(${count} messages)`;
    record('mailbox', `APPEND, one message per command (${single} into an empty INBOX)`, 'msg/s', appendCell('loft', 'singlePerSecond'), appendCell('dovecot', 'singlePerSecond'), true, cpuCell(field(appends.loft, 'clientCpuPercent'), field(appends.dovecot, 'clientCpuPercent')));
    record('mailbox', 'MULTIAPPEND, 1,000 messages per command (2 commands, pipelined)', 'msg/s', appendCell('loft', 'batchedPerSecond'), appendCell('dovecot', 'batchedPerSecond'));
    const ops = ['SELECT INBOX', 'FETCH 1:* (FLAGS)', 'SEARCH SUBJECT', 'SEARCH BODY', 'SORT (DATE)', 'SORT (SUBJECT)', 'THREAD REFERENCES'];
    for (const op of ops) {
      const cpu = op === 'SELECT INBOX' ? cpuCell(result.loft?.clientCpuPercent, result.dovecot?.clientCpuPercent) : '';
      record('mailbox', `${op}, first round (cold) ${label}`, 'ms', cell('loft', (r) => r.first[op]), cell('dovecot', (r) => r.first[op]), false, cpu);
      record('mailbox', `${op}, median of ${rounds} later rounds ${label}`, 'ms', cell('loft', (r) => r.median?.[op]), cell('dovecot', (r) => r.median?.[op]), false);
    }
    noteCpu('mailbox: APPEND', field(appends.loft, 'clientCpuPercent'), field(appends.dovecot, 'clientCpuPercent'));
    noteCpu('mailbox: queries (worst round)', result.loft?.clientCpuPercent, result.dovecot?.clientCpuPercent);
  } finally {
    inBackground(...servers.map((server) => server.stop), file.cleanup);
  }
}

async function benchStorageLibrary() {
  const storage = await bounded(runStorageComparison({ quick }), 15 * 60_000, 'the storage library comparison');
  for (const row of storage.rows) {
    record('storage', `${row.metric} (library, ${storage.messages} messages)`, row.unit, row.loft, row.dovecot ?? storage.dovecotError ?? '-', row.unit.endsWith('/s'));
  }
}

// ---- the run ----

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
};

function loftVersion() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const commit = version('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  let dirty = '';
  try {
    dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'services', 'packages'], { encoding: 'utf8' }).trim() ? ' + uncommitted changes' : '';
  } catch {
    // not a git checkout
  }
  return `${pkg} (commit ${commit}${dirty})`;
}

const cpus = os.cpus();
const machine = `${cpus.length} x ${cpus[0]?.model?.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at start`;
const software = `Node ${process.version}, Loft ${loftVersion()}, Dovecot ${version('dovecot', ['--version'])}`;

installSignalHandlers();
try {
  await part('ipc', async () => {
    const ipc = await runIpcBench({ durationMs: quick ? 1000 : 6000 });
    record('ipc', 'sequential round trips', '/s', ipc.roundTripsPerSecond);
    record('ipc', 'pipelined round trips (64 in flight)', '/s', ipc.pipelinedRoundTripsPerSecond);
    record('ipc', 'streamed 64 KiB chunks', 'MB/s', ipc.streamMegabytesPerSecond);
  });
  await part('supervision', () => benchSupervision(quick ? 1 : 5));
  await part('logins', () => benchLogins(quick ? 2000 : 10_000, 8));
  await part('lmtp', () => benchLmtp(quick ? 2000 : 15_000, 8));
  await part('imap', () => benchImap(quick ? 2000 : 15_000, quick ? 50 : 300));
  await part('imap-vmail', () => benchImapVmail(quick ? 2000 : 15_000, quick ? 50 : 300));
  await part('idle', () => (quick ? benchIdle(5, 20, 2, 0) : benchIdle(50, 20, 10, 60_000)));
  await part('mailbox', () => (quick ? benchMailbox(5000, 3, 100) : benchMailbox(100_000, 3, 500)));
  if (!quick) await part('storage', benchStorageLibrary);
} finally {
  await cleanupAll();
}

const wall = (performance.now() - runStarted) / 1000;
const head = ['metric', 'unit', 'Loft', 'Dovecot', 'ratio (>1: Loft better)', 'client CPU L / D'];
const table = rows.map((r) => [`${r.part}: ${r.metric}`, r.unit, String(r.loft), String(r.dovecot), String(r.ratio), r.clientCpu]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`Loft benchmark, ${new Date().toISOString()}${quick ? ' (quick)' : ''}, ${wall.toFixed(0)} s\n${machine}\n${software}\n`);
console.log(line(head));
for (const row of table) console.log(line(row));
const cpuFigures = clientCpuNotes.flatMap((n) => [n.loft, n.dovecot]).filter((x) => typeof x === 'number' && Number.isFinite(x));
if (cpuFigures.length > 0) {
  const maxCpu = Math.max(...cpuFigures);
  console.log(`\nclient CPU: the load generator's own CPU time over each timed workload / wall time, % of one core (Loft's run / Dovecot's run); highest ${pct(maxCpu)}${maxCpu > 70 ? ' - above 70%: that workload may be limited by the client' : ', so the client was not the bottleneck'}.`);
  for (const note of clientCpuNotes) console.log(`  ${note.what}: ${pct(note.loft)} / ${pct(note.dovecot)}`);
}
const outDir = path.join(root, 'bench-results');
fs.mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `bench-${Date.now()}.json`);
fs.writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), machine, software, quick, wallSeconds: wall, rows, clientCpu: clientCpuNotes }, null, 2));
console.log(`\nwritten to ${path.relative(root, outFile)}`);
