// A large mailbox over IMAP (issue 8): one user's INBOX with the storage benchmark's
// messages (@loft/storage/bench: threads, out-of-order dates, a unique body token each);
// populate() fills one through APPEND (some one per command, the rest MULTIAPPEND 1,000
// per command, LITERAL+) and times both; the cache helpers keep a filled home between runs.
// measureMailbox() times, on a fresh connection each round: SELECT INBOX, FETCH 1:* (FLAGS),
// SEARCH SUBJECT, SEARCH BODY, SORT (DATE), SORT (SUBJECT), THREAD REFERENCES, each timed
// from command to tagged OK with the answer checked. Rounds alternate the servers' order.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchMessage, benchSearchTerms } from '@loft/storage/bench';
import { ImapClient } from '../lib/imap-client.js';
import { clientCpu, median } from '../lib/bench-util.js';

const BATCH = 1000;
/** Filled mailboxes kept between runs: a user's home per server, message count and version. */
export const CACHE_DIR = '/var/tmp/loft-bench-cache';

/**
 * The cache entry for `server` with `count` messages. The key covers the messages (the
 * generator's code and output) and the on-disk format (the server's version).
 */
export function cacheEntry(server, count, version) {
  const hash = createHash('sha256').update(String(count)).update(benchMessage.toString()).update(benchMessage(count - 1)).update(version ?? '');
  return path.join(CACHE_DIR, `${server}-${count}-${hash.digest('hex').slice(0, 16)}`);
}

/** Copy a cached home into `home` (owner and modes kept); false if there is no such entry. */
export function restoreHome(entry, home) {
  if (!fs.existsSync(path.join(entry, 'complete'))) return false;
  execFileSync('cp', ['-a', `${path.join(entry, 'home')}/.`, `${home}/`]);
  return true;
}

/** Save `home` (its server stopped) as the cache entry, replacing older entries of that server and count. */
export function saveHome(entry, home) {
  const prefix = path.basename(entry).split('-').slice(0, 2).join('-');
  fs.mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
  for (const old of fs.readdirSync(CACHE_DIR)) if (old.startsWith(`${prefix}-`)) fs.rmSync(path.join(CACHE_DIR, old), { recursive: true, force: true });
  fs.mkdirSync(path.join(entry, 'home'), { recursive: true });
  execFileSync('cp', ['-a', `${home}/.`, path.join(entry, 'home')]);
  fs.writeFileSync(path.join(entry, 'complete'), `${new Date().toISOString()}\n`);
}

/** Messages in INBOX (SELECT's EXISTS), to check a restored mailbox. */
export async function inboxCount({ port, user, password }) {
  const client = await ImapClient.connect(port);
  try {
    await client.login(user, password);
    const { untagged } = await client.command('EXAMINE INBOX', { collect: true, timeoutMs: COMMAND_TIMEOUT_MS });
    await client.logout();
    return Number(untagged.map((l) => /^\* (\d+) EXISTS/.exec(l)).find(Boolean)?.[1]);
  } finally {
    client.close();
  }
}
const COMMAND_TIMEOUT_MS = 180_000;

/**
 * Fill `user`'s INBOX with messages 0..count-1: `single` APPENDs one per command (timed
 * alone), then MULTIAPPEND batches. Returns { singlePerSecond, batchedPerSecond, clientCpuPercent }.
 */
export async function populate({ port, user, password, count, single }) {
  const client = await ImapClient.connect(port);
  try {
    await client.login(user, password);
    const cpu = clientCpu();
    let t0 = performance.now();
    for (let i = 0; i < single; i++) await client.append('INBOX', benchMessage(i), '', { timeoutMs: COMMAND_TIMEOUT_MS });
    const singlePerSecond = single / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    // Two batches in flight, so neither side waits for the other between commands.
    let inFlight = Promise.resolve();
    for (let done = single; done < count; done += BATCH) {
      const n = Math.min(BATCH, count - done);
      const batch = Array.from({ length: n }, (_, k) => benchMessage(done + k));
      const previous = inFlight;
      inFlight = client.append('INBOX', batch, '', { timeoutMs: COMMAND_TIMEOUT_MS });
      await previous;
    }
    await inFlight;
    const batchedPerSecond = (count - single) / ((performance.now() - t0) / 1000);
    const clientCpuPercent = cpu();
    await client.logout();
    return { singlePerSecond, batchedPerSecond, clientCpuPercent };
  } finally {
    client.close();
  }
}

/**
 * Readers of a command's untagged lines in place (ImapClient's `each`), with no string per
 * line: collecting the 100,000 lines of a FETCH 1:* as strings cost the client 45-105 ms of
 * CPU a command (more in the first round, its code not yet optimised), more than either
 * server spent answering (Loft 13-23 ms, Dovecot 55-61), so the row measured the client.
 * Each reader checks what it reads; problem() is the error text, or undefined.
 */

/** `* <seq> FETCH (...` lines: every sequence number 1..count must come. */
function fetchLines(count) {
  const seen = new Uint8Array(count + 1);
  let distinct = 0;
  let other = 0;
  return {
    each(buffer, start, end) {
      let at = start + 2;
      let seq = 0;
      while (at < end && buffer[at] >= 0x30 && buffer[at] <= 0x39) seq = seq * 10 + buffer[at++] - 0x30;
      if (seq < 1 || seq > count || !startsAt(buffer, at, end, FETCH_OPEN)) {
        other++;
        return;
      }
      if (seen[seq] === 0) distinct++;
      seen[seq] = 1;
    },
    problem: () => (distinct === count ? undefined : `FETCH responses for ${distinct} of ${count} messages (${other} other untagged lines)`),
  };
}
const FETCH_OPEN = Buffer.from(' FETCH (');

/** A `* SEARCH` or `* SORT` line (`prefix`): how many numbers it holds must satisfy `expect`. */
function numberLine(prefix, expect) {
  const head = Buffer.from(prefix);
  let found;
  return {
    each(buffer, start, end) {
      if (!startsAt(buffer, start, end, head)) return;
      let n = 0;
      for (let at = start + head.length; at + 1 < end; at++) if (buffer[at] === 0x20 && buffer[at + 1] >= 0x30 && buffer[at + 1] <= 0x39) n++;
      found = n;
    },
    problem: () => (found === undefined ? `no ${prefix.slice(2)} response` : expect(found)),
  };
}

/** Some line that starts with `prefix`. */
function someLine(prefix) {
  const head = Buffer.from(prefix);
  let found = false;
  return {
    each(buffer, start, end) {
      found ||= startsAt(buffer, start, end, head);
    },
    problem: () => (found ? undefined : `no ${prefix.slice(2)} response`),
  };
}

function startsAt(buffer, at, end, bytes) {
  if (end - at < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buffer[at + i] !== bytes[i]) return false;
  return true;
}

/** The timed operations: [row name, command, reader of its untagged lines (see fetchLines)]. */
function operations(count) {
  const terms = benchSearchTerms(count);
  const sorted = (n) => (n === count ? undefined : `sorted ${n} messages`);
  return [
    ['FETCH 1:* (FLAGS)', 'FETCH 1:* (FLAGS)', () => fetchLines(count)],
    ['SEARCH SUBJECT', `SEARCH SUBJECT "${terms.subject}"`, () => numberLine('* SEARCH', (n) => (n > 0 ? undefined : 'found nothing'))],
    ['SEARCH BODY', `SEARCH BODY "${terms.body}"`, () => numberLine('* SEARCH', (n) => (n === 1 ? undefined : `found ${n} messages, expected 1`))],
    ['SORT (DATE)', 'SORT (DATE) US-ASCII ALL', () => numberLine('* SORT', sorted)],
    ['SORT (SUBJECT)', 'SORT (SUBJECT) US-ASCII ALL', () => numberLine('* SORT', sorted)],
    ['THREAD REFERENCES', 'THREAD REFERENCES US-ASCII ALL', () => someLine('* THREAD')],
  ];
}

async function oneRound(server, count) {
  const times = {};
  const client = await ImapClient.connect(server.port);
  try {
    await client.login(server.user, server.password);
    let t0 = performance.now();
    const { untagged } = await client.command('SELECT INBOX', { collect: true, timeoutMs: COMMAND_TIMEOUT_MS });
    times['SELECT INBOX'] = performance.now() - t0;
    const exists = Number(untagged.map((l) => /^\* (\d+) EXISTS/.exec(l)).find(Boolean)?.[1]);
    if (exists !== count) throw new Error(`SELECT INBOX: ${exists} messages, expected ${count}`);
    for (const [name, command, reader] of operations(count)) {
      const lines = reader();
      t0 = performance.now();
      await client.command(command, { each: lines.each, timeoutMs: COMMAND_TIMEOUT_MS });
      times[name] = performance.now() - t0;
      const problem = lines.problem();
      if (problem) throw new Error(`${command}: ${problem}`);
    }
    await client.logout();
  } finally {
    client.close();
  }
  return times;
}

/**
 * Runs the client's side of the rounds (ImapClient's reading and the readers above) over
 * made-up answers for `count` messages, on no socket, before the first round: that round
 * is the servers' cold code, and with its own code cold the client took ~45 ms of CPU for
 * the first FETCH 1:* of 100,000 lines (~10 once optimised), paid by whichever server came
 * first.
 */
async function warmClient(count) {
  const socket = Object.assign(new EventEmitter(), { setNoDelay() {}, write() {}, destroy() {} });
  const client = new ImapClient(socket);
  const answer = async (command, reader, lines) => {
    const reply = client.command(command, { each: reader.each });
    for (let from = 0; from < lines.length; from += WARM_CHUNK_BYTES) socket.emit('data', lines.subarray(from, from + WARM_CHUNK_BYTES));
    socket.emit('data', Buffer.from(`t${client.next - 1} OK done\r\n`));
    await reply;
    const problem = reader.problem();
    if (problem) throw new Error(`the client's reading of a made-up ${command}: ${problem}`);
  };
  const readers = new Map(operations(count).map(([name, , reader]) => [name, reader]));
  const seqs = Array.from({ length: count }, (_, i) => i + 1);
  await answer('FETCH 1:* (FLAGS)', readers.get('FETCH 1:* (FLAGS)')(), Buffer.from(seqs.map((seq) => `* ${seq} FETCH (FLAGS (\\Seen))\r\n`).join('')));
  await answer('SORT (DATE) US-ASCII ALL', readers.get('SORT (DATE)')(), Buffer.from(`* SORT ${seqs.join(' ')}\r\n`));
}
const WARM_CHUNK_BYTES = 64 * 1024;

/**
 * servers: [{ name, port, user, password }] with the mailbox populated. Runs a first round
 * (cold: nothing of the mailbox is cached in the server yet) and then `rounds` more, the
 * servers' order alternating. Returns per server { first: {op: ms}, median: {op: ms} of the
 * later rounds, error?, clientCpuPercent }; a server that fails keeps its error and is
 * skipped after. (The median of all rounds would mix the cold round in: with two rounds it
 * is the mean of a cold and a warm time.)
 */
export async function measureMailbox({ servers, count, rounds }) {
  const results = Object.fromEntries(servers.map((s) => [s.name, { runs: [], error: undefined, cpu: [] }]));
  await warmClient(count);
  for (let r = 0; r <= rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const result = results[server.name];
      if (result.error) continue;
      const cpu = clientCpu();
      try {
        const t0 = performance.now();
        const run = await oneRound(server, count);
        result.runs.push(run);
        if (process.env.LOFT_BENCH_VERBOSE) {
          const ops = Object.entries(run).map(([op, ms]) => `${op} ${ms.toFixed(1)}`).join(', ');
          console.error(`mailbox round ${r} on ${server.name}: ${Math.round(performance.now() - t0)} ms (${ops})`);
        }
        result.cpu.push(cpu());
      } catch (err) {
        result.error = err.message;
      }
    }
  }
  const out = {};
  for (const [name, result] of Object.entries(results)) {
    const ops = result.runs[0] ? Object.keys(result.runs[0]) : [];
    out[name] = {
      error: result.error,
      first: result.runs[0],
      median: result.runs.length > 1 ? Object.fromEntries(ops.map((op) => [op, median(result.runs.slice(1).map((run) => run[op]))])) : undefined,
      clientCpuPercent: result.cpu.length ? Math.max(...result.cpu) : undefined,
    };
  }
  return out;
}
