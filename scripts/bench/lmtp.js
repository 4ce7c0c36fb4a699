// LMTP: deliveries per second with several persistent connections, each sending one
// message after another to a random one of many users, against Loft (each privsep mode)
// and Dovecot's LMTP on the same machine.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** A small LMTP client: one connection, transactions in sequence, replies read line by line. */
class LmtpConnection {
  constructor(socket) {
    this.socket = socket;
    this.buffer = '';
    this.waiters = [];
    socket.setNoDelay?.(true);
    socket.on('data', (d) => {
      this.buffer += d.toString('latin1');
      this.deliver();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(target) {
    return new Promise((resolve, reject) => {
      const socket = typeof target === 'string' ? net.connect(target) : net.connect(target.port, '127.0.0.1');
      const timer = setTimeout(() => socket.destroy(new Error('LMTP connect: no connection within 30 s')), 30_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new LmtpConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** The next complete reply (multi-line replies end at "ddd "). */
  reply() {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.deliver();
    });
  }

  deliver() {
    while (this.waiters.length > 0) {
      const match = /^(\d{3}) .*\r?\n/m.exec(this.buffer);
      if (!match) return;
      const end = match.index + match[0].length;
      const text = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      this.waiters.shift().resolve({ code: Number(match[1]), text });
    }
  }

  fail(err) {
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }

  async command(line, expect) {
    this.socket.write(`${line}\r\n`);
    const reply = await this.reply();
    if (Math.floor(reply.code / 100) !== expect) throw new Error(`${line.split(' ')[0]}: ${reply.text.trim()}`);
    return reply;
  }

  async deliverOne(recipient, body) {
    await this.command('MAIL FROM:<bench@example.org>', 2);
    await this.command(`RCPT TO:<${recipient}>`, 2);
    await this.command('DATA', 3);
    this.socket.write(body);
    const reply = await this.reply();
    if (reply.code !== 250) throw new Error(`DATA: ${reply.text.trim()}`);
  }
}

function message(i) {
  const body = `From: bench@example.org\r\nTo: user@example.org\r\nSubject: bench ${i}\r\nMessage-ID: <${i}.${Date.now()}@bench>\r\n\r\n${'A line of ordinary mail text, repeated to make a typical small message.\r\n'.repeat(40)}.\r\n`;
  return body;
}

/** Deliveries per second over `durationMs` with `connections` LMTP connections to `target` (socket path or {port}). */
export async function measureDeliveries({ target, users, connections, durationMs }) {
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  let delivered = 0;
  let failed = 0;
  let firstError;
  const open = new Set();
  // A bound on the whole run: 30 s past the end every connection is closed, so a reply that never comes fails.
  const watchdog = setTimeout(() => {
    firstError ??= new Error('a reply had not come 30 s after the end of the run');
    for (const conn of open) conn.socket.destroy();
  }, durationMs + 30_000);
  const worker = async (w) => {
    const conn = await LmtpConnection.open(target);
    open.add(conn);
    await conn.reply(); // greeting
    await conn.command('LHLO bench.example.org', 2);
    let i = 0;
    while (performance.now() < deadline) {
      const user = users[(w * 7919 + i++) % users.length];
      try {
        await conn.deliverOne(user, message(`${w}-${i}`));
        delivered++;
      } catch (err) {
        failed++;
        firstError ??= err;
        if (conn.socket.destroyed) break;
      }
    }
    conn.socket.end('QUIT\r\n');
  };
  try {
    await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  } finally {
    clearTimeout(watchdog);
    for (const conn of open) if (!conn.socket.writableEnded) conn.socket.destroy();
  }
  return { deliveriesPerSecond: delivered / ((performance.now() - started) / 1000), delivered, failed, firstError: firstError?.message };
}

/**
 * Unmeasured warm-up: one delivery to every user, `connections` at a time, so that each
 * user's first delivery (in fork privsep, the start of a process for its uid) is not timed.
 * Returns how many failed.
 */
export async function deliverToEach({ target, users, connections }) {
  let failed = 0;
  await Promise.all(Array.from({ length: connections }, async (_, w) => {
    const conn = await LmtpConnection.open(target);
    try {
      await conn.reply(); // greeting
      await conn.command('LHLO bench.example.org', 2);
      for (let i = w; i < users.length; i += connections) {
        try {
          await conn.deliverOne(users[i], message(`warm-${w}-${i}`));
        } catch {
          failed++;
          if (conn.socket.destroyed) break;
        }
      }
      conn.socket.end('QUIT\r\n');
    } finally {
      if (!conn.socket.writableEnded) conn.socket.destroy();
    }
  }));
  return failed;
}
