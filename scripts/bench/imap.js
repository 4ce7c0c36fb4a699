// The IMAP mix: persistent sessions, each its own user, running a weighted mix of LIST,
// STATUS, SELECT, FETCH (flags, envelope, body), STORE, EXPUNGE, APPEND and IDLE, counted
// per command type. The same raw-socket client and workload run against Loft and Dovecot.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** A minimal IMAP client: tagged commands, responses read with their literals skipped. */
class ImapClient {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.pending = undefined;
    this.next = 1;
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
      this.scan();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(port) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const client = new ImapClient(socket);
      client.pending = { match: (line) => line.startsWith('* '), resolve, reject, value: client };
      socket.once('error', reject);
    });
  }

  fail(err) {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }

  /** Walk complete lines; a line ending in {n} or {n+} carries n literal bytes that are skipped. */
  scan() {
    let offset = 0;
    for (;;) {
      const nl = this.buffer.indexOf(0x0a, offset);
      if (nl < 0) break;
      const line = this.buffer.subarray(offset, nl).toString('latin1');
      const literal = /\{(\d+)\+?\}\r?$/.exec(line);
      if (literal) {
        const end = nl + 1 + Number(literal[1]);
        if (end > this.buffer.length) break;
        offset = end;
        continue;
      }
      offset = nl + 1;
      const pending = this.pending;
      if (pending?.match(line)) {
        this.pending = undefined;
        pending.resolve(pending.value ?? line);
      }
    }
    this.buffer = this.buffer.subarray(offset);
  }

  /** Send a command (with optional raw bytes appended) and wait for its tagged reply. */
  command(text, literal) {
    const tag = `t${this.next++}`;
    return new Promise((resolve, reject) => {
      this.pending = { match: (line) => line.startsWith(`${tag} `), resolve, reject };
      this.socket.write(literal ? Buffer.concat([Buffer.from(`${tag} ${text}{${literal.length}+}\r\n`), literal, Buffer.from('\r\n')]) : `${tag} ${text}\r\n`);
    }).then((line) => {
      if (!line.startsWith(`${tag} OK`)) throw new Error(`${text.split(' ')[0]}: ${line}`);
      return line;
    });
  }

  /** IDLE, then DONE as soon as the server says it is idling. */
  idle() {
    const tag = `t${this.next++}`;
    return new Promise((resolve, reject) => {
      this.pending = {
        match: (line) => line.startsWith('+'),
        resolve: () => {
          this.pending = { match: (line) => line.startsWith(`${tag} `), resolve, reject };
          this.socket.write('DONE\r\n');
        },
        reject,
      };
      this.socket.write(`${tag} IDLE\r\n`);
    });
  }

  close() {
    this.socket.destroy();
  }
}

export function benchMessage(i) {
  return Buffer.from(`From: Sender ${i % 17} <sender${i % 17}@example.org>\r\nTo: user@example.org\r\nSubject: Report number ${i}\r\nDate: Mon, 2 Nov 2026 10:${String(i % 60).padStart(2, '0')}:00 +0000\r\nMessage-ID: <imap-bench-${i}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'Quarterly figures follow, as discussed in the meeting.\r\n'.repeat(30)}`);
}

/** Log in, and give each user an INBOX with `messages` messages (through APPEND, like any client). */
export async function prepareUsers({ port, users, messages }) {
  await Promise.all(users.map(async ({ user, password }) => {
    const client = await ImapClient.connect(port);
    await client.command(`LOGIN ${user} ${password}`);
    for (let i = 0; i < messages; i++) await client.command('APPEND INBOX (\\Seen) ', benchMessage(i));
    await client.command('LOGOUT').catch(() => undefined);
    client.close();
  }));
}

const MIX = [
  ['FETCH FLAGS', 20], ['FETCH ENVELOPE', 15], ['FETCH BODY', 10], ['STORE', 15], ['SELECT', 5],
  ['STATUS', 10], ['LIST', 5], ['APPEND', 8], ['EXPUNGE', 4], ['IDLE', 8],
];
const MIX_TOTAL = MIX.reduce((sum, [, w]) => sum + w, 0);

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

async function runOne(client, name, counter) {
  const n = 1 + Math.floor(counter.random() * counter.exists);
  switch (name) {
    case 'FETCH FLAGS': return client.command(`FETCH 1:* (FLAGS)`);
    case 'FETCH ENVELOPE': return client.command(`FETCH ${n}:${Math.min(counter.exists, n + 9)} (ENVELOPE)`);
    case 'FETCH BODY': return client.command(`FETCH ${n} (BODY.PEEK[])`);
    case 'STORE': return client.command(`STORE ${n} ${counter.random() < 0.5 ? '+' : '-'}FLAGS.SILENT (\\Flagged)`);
    case 'SELECT': return client.command('SELECT INBOX');
    case 'STATUS': return client.command('STATUS INBOX (MESSAGES UNSEEN UIDNEXT)');
    case 'LIST': return client.command('LIST "" "*"');
    case 'APPEND':
      counter.exists++;
      return client.command('APPEND INBOX ', benchMessage(counter.appended++));
    case 'EXPUNGE':
      if (counter.exists <= 20) return client.command('NOOP');
      await client.command(`STORE ${counter.exists} +FLAGS.SILENT (\\Deleted)`);
      counter.exists--;
      return client.command('EXPUNGE');
    case 'IDLE': return client.idle();
    default: throw new Error(name);
  }
}

/** Commands per second by type, with `users.length` concurrent sessions for `durationMs`. */
export async function measureImapMix({ port, users, messages, durationMs }) {
  const counts = Object.fromEntries(MIX.map(([name]) => [name, 0]));
  let errors = 0;
  let firstError;
  const clients = await Promise.all(users.map(async ({ user, password }) => {
    const client = await ImapClient.connect(port);
    await client.command(`LOGIN ${user} ${password}`);
    await client.command('SELECT INBOX');
    return client;
  }));
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(clients.map(async (client, i) => {
    const counter = { random: generator(i + 1), exists: messages, appended: 100_000 + i * 10_000 };
    while (performance.now() < deadline) {
      const name = pick(counter.random);
      try {
        await runOne(client, name, counter);
        counts[name]++;
      } catch (err) {
        errors++;
        firstError ??= err.message;
        if (client.socket.destroyed) return;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const client of clients) client.close();
  const perSecond = Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count / seconds]));
  const total = Object.values(counts).reduce((a, b) => a + b, 0) / seconds;
  return { total, perSecond, errors, firstError };
}
