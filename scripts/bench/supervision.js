// Supervision, as a user meets it: from the spawn of the server's master (loftd, or
// `dovecot -F`) to the first login that succeeds (connect, LOGIN, SELECT INBOX, LOGOUT),
// and from kill -9 of the imap process serving a busy user to that user's next successful
// login. Loft's imap process serves every session of its uid, so the kill ends them all
// and the next login waits for a replacement; Dovecot's serves one connection, so the kill
// ends one session and the next login gets a process of its own as usual. The figure is
// what each design costs the user whose process died.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ImapClient } from '../lib/imap-client.js';
import { processCpuMs, processTree } from '../lib/bench-util.js';
import { loginOnce } from './logins.js';
import { prepareUsers } from './imap.js';

/** A failed attempt is retried after this long (a refused connection fails at once). */
const RETRY_MS = 5;

/**
 * Try full login cycles until one succeeds; returns the ms from `since` (an hrtime bigint)
 * to its end, and how many attempts failed before it. Gives up after `timeoutMs`.
 */
export async function firstLogin({ port, user, password, since, timeoutMs = 60_000 }) {
  const deadline = performance.now() + timeoutMs;
  let failed = 0;
  let lastError;
  for (;;) {
    try {
      await loginOnce(port, user, password);
      return { ms: Number(process.hrtime.bigint() - since) / 1e6, failed };
    } catch (err) {
      failed++;
      lastError = err;
    }
    if (performance.now() > deadline) throw new Error(`no login succeeded within ${timeoutMs} ms (${failed} attempts; last: ${lastError?.message})`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/**
 * `sessions` sessions of one user, each SELECTs INBOX and loops FETCH 1:* (FLAGS ENVELOPE)
 * and NOOP until stop() (or until the server drops it). Resolves once every session has
 * run `warmCommands` commands.
 */
export async function busyUser({ port, user, password, sessions, warmCommands = 20 }) {
  let stopping = false;
  const clients = [];
  const warm = [];
  const loops = [];
  for (let i = 0; i < sessions; i++) {
    const client = await ImapClient.connect(port);
    clients.push(client);
    await client.login(user, password);
    await client.command('SELECT INBOX');
    let resolveWarm;
    warm.push(new Promise((resolve) => (resolveWarm = resolve)));
    loops.push((async () => {
      for (let n = 0; !stopping; n++) {
        if (n === warmCommands) resolveWarm();
        await client.command(n % 2 === 0 ? 'FETCH 1:* (FLAGS ENVELOPE)' : 'NOOP', { timeoutMs: 30_000 });
      }
    })().catch((err) => {
      resolveWarm();
      if (!stopping && !client.closed) throw err;
    }));
  }
  await Promise.all(warm);
  return {
    async stop() {
      stopping = true;
      for (const client of clients) client.close();
      await Promise.allSettled(loops);
    },
  };
}

function uidOf(pid) {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1]);
  } catch {
    return undefined; // exited
  }
}

/** The process under `rootPid` running as `uid` that has used the most CPU: the busy user's imap process. */
export function busiestProcessOf(rootPid, uid) {
  const candidates = processTree(rootPid).filter((pid) => pid !== rootPid && uidOf(pid) === uid).map((pid) => ({ pid, cpu: processCpuMs(pid) }));
  if (candidates.length === 0) throw new Error(`no process of uid ${uid} under pid ${rootPid}`);
  return candidates.reduce((a, b) => (b.cpu > a.cpu ? b : a)).pid;
}

/**
 * One round against a server just spawned (`server.started`, its master's `pid`): the cold
 * start to the first login; then `messages` messages, a busy user in `sessions` sessions,
 * kill -9 of their imap process and the time to the user's next successful login.
 */
export async function superviseRound({ server, user, password, uid, messages = 200, sessions = 4 }) {
  const cold = await firstLogin({ port: server.port, user, password, since: server.started });
  await prepareUsers({ port: server.port, users: [{ user, password }], messages });
  const load = await busyUser({ port: server.port, user, password, sessions });
  try {
    const victim = busiestProcessOf(server.pid, uid);
    const killed = process.hrtime.bigint();
    process.kill(victim, 'SIGKILL');
    const next = await firstLogin({ port: server.port, user, password, since: killed, timeoutMs: 30_000 });
    return { coldStartMs: cold.ms, killToLoginMs: next.ms, failedAfterKill: next.failed };
  } finally {
    await load.stop();
  }
}
