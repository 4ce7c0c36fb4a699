// Logins: connect, LOGIN, SELECT INBOX, LOGOUT in a loop from several concurrent clients, against Loft
// and against Dovecot on the same machine, as logins per second; plus the login round
// trip (LOGIN sent -> tagged OK) and, for Loft, auth alone, so the hand-off's share shows.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * One login cycle on a raw socket (connect, LOGIN, SELECT INBOX, LOGOUT): the load generator
 * must cost less than the servers. Resolves with the LOGIN round trip in ms.
 */
export function loginOnce(port, user, password) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    let stage = 'greeting';
    let sentAt = 0;
    let loginMs = 0;
    socket.setNoDelay(true);
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer within 15 s during ${stage}`)));
    socket.on('error', reject);
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      if (stage === 'greeting' && buffer.includes('\r\n')) {
        stage = 'login';
        buffer = '';
        sentAt = performance.now();
        socket.write(`a LOGIN ${user} ${password}\r\n`);
      } else if (stage === 'login' && /^a (OK|NO|BAD)/m.test(buffer)) {
        if (!/^a OK/m.test(buffer)) {
          socket.destroy();
          return reject(new Error(`login failed: ${buffer.trim()}`));
        }
        loginMs = performance.now() - sentAt;
        stage = 'select';
        buffer = '';
        socket.write('s SELECT INBOX\r\n');
      } else if (stage === 'select' && /^s (OK|NO|BAD)/m.test(buffer)) {
        if (!/^s OK/m.test(buffer)) {
          socket.destroy();
          return reject(new Error(`SELECT failed: ${buffer.trim().split('\n').pop()}`));
        }
        stage = 'logout';
        buffer = '';
        socket.write('b LOGOUT\r\n');
      } else if (stage === 'logout' && /^b OK/m.test(buffer)) {
        stage = 'done';
        socket.end();
      }
    });
    socket.on('close', () => (stage === 'done' ? resolve(loginMs) : reject(new Error(`closed during ${stage}`))));
  });
}

/** Logins per second over `durationMs` with `concurrency` clients; and the median login round trip. */
export async function measureLogins({ port, user, password, concurrency, durationMs }) {
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  const roundTrips = [];
  let errors = 0;
  let firstError;
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        roundTrips.push(await loginOnce(port, user, password));
      } catch (err) {
        errors++;
        firstError ??= err.message;
        await new Promise((resolve) => setTimeout(resolve, 10)); // a failing server is not a busy loop
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  roundTrips.sort((a, b) => a - b);
  return {
    loginsPerSecond: roundTrips.length / seconds,
    medianLoginMs: roundTrips[Math.floor(roundTrips.length / 2)] ?? NaN,
    p99LoginMs: roundTrips[Math.floor(roundTrips.length * 0.99)] ?? NaN,
    errors,
    firstError,
  };
}

/** Median of `count` sequential calls of an async function, in ms. */
export async function medianMs(count, fn) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
