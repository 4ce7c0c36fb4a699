// The IMAP mix: a weighted mix of LIST, STATUS, SELECT, FETCH (flags, envelope, body),
// STORE, EXPUNGE, APPEND and IDLE, counted per command type, each client its own user.
// Two shapes: persistent sessions (log in once, then commands until the end), and short
// sessions (connect, LOGIN, SELECT INBOX, a few commands of the mix, LOGOUT, reconnect),
// which also counts logins per second. The same raw-socket client, the same seeded
// command sequence, against Loft and Dovecot.
import { performance } from 'node:perf_hooks';
import { ImapClient } from '../lib/imap-client.js';
import { clientCpu } from '../lib/bench-util.js';

export function benchMessage(i) {
  return Buffer.from(`From: Sender ${i % 17} <sender${i % 17}@example.org>\r\nTo: user@example.org\r\nSubject: Report number ${i}\r\nDate: Mon, 2 Nov 2026 10:${String(i % 60).padStart(2, '0')}:00 +0000\r\nMessage-ID: <imap-bench-${i}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'Quarterly figures follow, as discussed in the meeting.\r\n'.repeat(30)}`);
}

/** Log in, and give each user an INBOX with `messages` messages (one MULTIAPPEND each, as a client would). */
export async function prepareUsers({ port, users, messages }) {
  await Promise.all(users.map(async ({ user, password }) => {
    const client = await ImapClient.connect(port);
    try {
      await client.login(user, password);
      if (messages > 0) await client.append('INBOX', Array.from({ length: messages }, (_, i) => benchMessage(i)), '\\Seen');
      await client.logout();
    } finally {
      client.close();
    }
  }));
}

const MIX = [
  ['FETCH FLAGS', 20], ['FETCH ENVELOPE', 15], ['FETCH BODY', 10], ['STORE', 15], ['SELECT', 5],
  ['STATUS', 10], ['LIST', 5], ['APPEND', 8], ['EXPUNGE', 4], ['IDLE', 8],
];
/** Messages each EXPUNGE of the mix removes: APPEND's weight over EXPUNGE's. */
const EXPUNGED_PER_EXPUNGE = 2;
export const MIX_NAMES = MIX.map(([name]) => name);
const MIX_TOTAL = MIX.reduce((sum, [, w]) => sum + w, 0);
/** Commands of the mix per short session (after LOGIN and SELECT INBOX). */
export const COMMANDS_PER_SESSION = 5;

function pick(random) {
  let r = random() * MIX_TOTAL;
  for (const [name, weight] of MIX) if ((r -= weight) < 0) return name;
  return MIX[0][0];
}

/** A small deterministic generator, so both servers get the same command sequence. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** SELECT INBOX; returns its EXISTS count. */
async function select(client) {
  const { untagged } = await client.command('SELECT INBOX', { collect: true });
  const exists = untagged.map((line) => /^\* (\d+) EXISTS/.exec(line)).find(Boolean);
  if (!exists) throw new Error('SELECT INBOX answered without EXISTS');
  return Number(exists[1]);
}

async function runOne(client, name, counter) {
  const n = 1 + Math.floor(counter.random() * counter.exists);
  switch (name) {
    case 'FETCH FLAGS': return client.command('FETCH 1:* (FLAGS)');
    case 'FETCH ENVELOPE': return client.command(`FETCH ${n}:${Math.min(counter.exists, n + 9)} (ENVELOPE)`);
    case 'FETCH BODY': return client.command(`FETCH ${n} (BODY.PEEK[])`);
    case 'STORE': return client.command(`STORE ${n} ${counter.random() < 0.5 ? '+' : '-'}FLAGS.SILENT (\\Flagged)`);
    case 'SELECT':
      counter.exists = await select(client);
      return undefined;
    case 'STATUS': return client.command('STATUS INBOX (MESSAGES UNSEEN UIDNEXT)');
    case 'LIST': return client.command('LIST "" "*"');
    case 'APPEND':
      counter.exists++;
      return client.append('INBOX', benchMessage(counter.appended++));
    case 'EXPUNGE':
      // The two newest go: EXPUNGE comes half as often as APPEND, so the mailbox keeps its
      // size and the mix is the same work at the end of a run as at the start.
      if (counter.exists <= 20) return client.command('NOOP');
      await client.command(`STORE ${counter.exists - EXPUNGED_PER_EXPUNGE + 1}:${counter.exists} +FLAGS.SILENT (\\Deleted)`);
      counter.exists -= EXPUNGED_PER_EXPUNGE;
      return client.command('EXPUNGE');
    case 'IDLE': {
      const done = await client.idle();
      return done();
    }
    default: throw new Error(name);
  }
}

/** A bound on the whole run: past it every client socket is closed, so nothing waits forever. */
function watchdog(clients, ms, onFire) {
  const timer = setTimeout(() => {
    onFire();
    for (const client of clients) client.close();
  }, ms);
  return () => clearTimeout(timer);
}

function summary(counts, seconds, extra) {
  const perSecond = Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count / seconds]));
  const total = Object.values(counts).reduce((a, b) => a + b, 0) / seconds;
  return { total, perSecond, ...extra };
}

/** The cold rows: the first window after login, and the first COLD_WINDOWS windows together. */
const COLD_WINDOWS = 10;

/**
 * Persistent sessions: commands per second by type, `users.length` sessions for `durationMs`.
 * The same sessions first run the mix unmeasured for `warmup.ms`, in windows of
 * `warmup.windowMs` whose rates are returned (the warm-up timeline), with the first window's
 * rate and the mean of the first COLD_WINDOWS (sessions just logged in, processes cold), so
 * the cold figures are not hidden.
 *
 * The warm-up is a fixed time, the same for both servers, rather than "until the rate stops
 * changing": Loft's rate climbs in steps for about a minute (each uid's process compiles its
 * code as it gets hot; in one 150 s run 2,300/s at 10 s, 3,300-3,800 at 20-40 s, 4,400-5,200
 * from 45 s on), and a rule that stopped at the first flat stretch of a few seconds measured
 * one of those steps. On the slower machine of 2026-11-30 the climb lasts longer: 2,000-2,400/s
 * from 20 to 90 s, then 2,900-3,300 from about 100 s on, at the same CPU use. So, with
 * `laterAtMs`, the same sessions go on unmeasured after the measured stretch until
 * `laterAtMs` from the first command, and a second stretch of `durationMs` is measured there
 * (returned as `later`).
 */
export async function measureImapMix({ port, users, durationMs, warmup = { ms: 0, windowMs: 1000 }, laterAtMs = 0 }) {
  const counts = Object.fromEntries(MIX_NAMES.map((name) => [name, 0]));
  let errors = 0;
  let firstError;
  const clients = [];
  const counters = await Promise.all(users.map(async ({ user, password }, i) => {
    const client = await ImapClient.connect(port);
    clients.push(client);
    await client.login(user, password);
    return { client, random: generator(i + 1), exists: await select(client), appended: 100_000 + i * 10_000 };
  }));
  let measuring = warmup.ms <= 0;
  let stopped = false;
  const stopWatchdog = watchdog(clients, Math.max(warmup.ms + durationMs, laterAtMs + durationMs) + 30_000, () => { firstError ??= 'a command had no answer 30 s after the end of the run'; });
  const loops = Promise.all(counters.map(async (counter) => {
    while (!stopped) {
      const name = pick(counter.random);
      try {
        await runOne(counter.client, name, counter);
        counts[name]++;
      } catch (err) {
        errors++;
        firstError ??= err.message;
        if (counter.client.socket.destroyed) return;
      }
    }
  }));
  const sum = () => Object.values(counts).reduce((a, b) => a + b, 0);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const windows = [];
  const warmStarted = performance.now();
  while (!measuring) {
    const before = sum();
    const t0 = performance.now();
    await sleep(warmup.windowMs);
    windows.push((sum() - before) / ((performance.now() - t0) / 1000));
    if (performance.now() - warmStarted >= warmup.ms) measuring = true;
  }
  const stretch = async () => {
    for (const name of MIX_NAMES) counts[name] = 0;
    const errorsBefore = errors;
    const cpu = clientCpu();
    const started = performance.now();
    await sleep(durationMs);
    const snapshot = { ...counts };
    const seconds = (performance.now() - started) / 1000;
    return { snapshot, seconds, clientCpuPercent: cpu(), errors: errors - errorsBefore };
  };
  const first = await stretch();
  let later;
  if (laterAtMs > 0) {
    await sleep(Math.max(0, laterAtMs - (performance.now() - warmStarted)));
    const second = await stretch();
    later = summary(second.snapshot, second.seconds, { errors: second.errors, clientCpuPercent: second.clientCpuPercent, atSeconds: laterAtMs / 1000 });
  }
  stopped = true;
  await loops;
  stopWatchdog();
  for (const client of clients) client.close();
  const cold = windows.slice(0, COLD_WINDOWS);
  const coldMean = cold.length > 0 ? cold.reduce((a, b) => a + b, 0) / cold.length : undefined;
  return summary(first.snapshot, first.seconds, { errors: first.errors + (later?.errors ?? 0), firstError, clientCpuPercent: first.clientCpuPercent, firstWindow: windows[0], coldMean, coldWindows: cold.length, windows, later });
}

/**
 * Short sessions: each of `users.length` clients connects, LOGINs, SELECTs INBOX, runs
 * COMMANDS_PER_SESSION commands of the mix, LOGOUTs and starts again, for `durationMs`.
 * Commands per second by type (LOGIN and the session's SELECT INBOX included, as LOGIN and
 * SELECT), and logins per second.
 */
export async function measureImapSessions({ port, users, durationMs }) {
  const counts = { LOGIN: 0, ...Object.fromEntries(MIX_NAMES.map((name) => [name, 0])), LOGOUT: 0 };
  let errors = 0;
  let firstError;
  const live = new Set();
  const cpu = clientCpu();
  const started = performance.now();
  const deadline = started + durationMs;
  const stopWatchdog = watchdog(live, durationMs + 30_000, () => { firstError ??= 'a command had no answer 30 s after the end of the run'; });
  let timedOut = false;
  await Promise.all(users.map(async ({ user, password }, i) => {
    const counter = { random: generator(i + 1), exists: 0, appended: 200_000 + i * 10_000 };
    while (performance.now() < deadline && !timedOut) {
      let client;
      try {
        client = await ImapClient.connect(port);
        live.add(client);
        await client.login(user, password);
        counts.LOGIN++;
        counter.exists = await select(client);
        counts.SELECT++;
        for (let k = 0; k < COMMANDS_PER_SESSION && performance.now() < deadline; k++) {
          const name = pick(counter.random);
          await runOne(client, name, counter);
          counts[name]++;
        }
        await client.command('LOGOUT');
        counts.LOGOUT++;
      } catch (err) {
        errors++;
        firstError ??= err.message;
        if (performance.now() > deadline + 30_000) timedOut = true;
        await new Promise((resolve) => setTimeout(resolve, 10)); // a failing server is not a busy loop
      } finally {
        client?.close();
        live.delete(client);
      }
    }
  }));
  stopWatchdog();
  const seconds = (performance.now() - started) / 1000;
  const clientCpuPercent = cpu();
  return { ...summary(counts, seconds, { errors, firstError, clientCpuPercent }), loginsPerSecond: counts.LOGIN / seconds };
}
