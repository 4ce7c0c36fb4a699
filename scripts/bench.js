#!/usr/bin/env node
// npm run bench [-- --quick]: Loft's figures beside Dovecot 2.3's on the same machine in
// the same run, as one table (metric, Loft, Dovecot, ratio), also written as JSON to
// bench-results/. Parts: IPC, supervision, logins, LMTP, the IMAP mix, storage (100,000 messages;
// 10,000 with --quick). Dovecot's side needs root and
// Debian's dovecot-imapd; without them that column says why it is empty.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIpcBench } from '@loft/ipc/bench';
import { runStorageComparison } from '@loft/storage/bench';
import { IpcClient } from '@loft/ipc';
import { dovecotAvailable, startDovecot } from './lib/dovecot.js';
import { measureLogins, medianMs } from './bench/logins.js';
import { measureDeliveries } from './bench/lmtp.js';
import { measureImapMix, prepareUsers } from './bench/imap.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const rows = [];
/** higherIsBetter: ratio = loft / dovecot; otherwise dovecot / loft, so > 1 always means Loft wins. */
const record = (part, metric, unit, loft, dovecot, higherIsBetter = true) => {
  const ratio = typeof dovecot === 'number' && dovecot > 0 && loft > 0 ? (higherIsBetter ? loft / dovecot : dovecot / loft) : undefined;
  rows.push({ part, metric, unit, loft: round(loft), dovecot: typeof dovecot === 'number' ? round(dovecot) : dovecot ?? '-', ratio: ratio === undefined ? '-' : round(ratio) });
};
const round = (x) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('benchmark condition timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function status(baseDir, service) {
  const client = await IpcClient.connect(path.join(baseDir, 'run', 'master.sock'));
  try {
    return await client.request('process-status', { service });
  } finally {
    client.close();
  }
}

/** A loftd on a temp base dir; `conf` is appended to settings that suit any machine. */
async function startLoft(conf) {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-bench-'));
  fs.chmodSync(baseDir, 0o755);
  const file = path.join(baseDir, 'loft.conf');
  fs.writeFileSync(file, `log_path = ${baseDir}/loft.log
service anvil {
  user = nobody
  unix_listener anvil {
    user = nobody
  }
}
service auth {
  user = nobody
  unix_listener auth-login {
    user = nobody
  }
}
service imap-login {
  user = nobody
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 0
  }
}
${conf}`);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [path.join(root, 'services/master/bin/loftd.js'), '-c', file, '--base-dir', baseDir], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(baseDir, { recursive: true, force: true });
  };
  return { baseDir, started, child, stop };
}

async function benchSupervision(rounds) {
  const starts = [];
  const replacements = [];
  for (let i = 0; i < rounds; i++) {
    const port = await freePort();
    const loft = await startLoft(`service echo {\n  executable = ${root}/test/fixtures/echo-service.js\n  inet_listener echo {\n    port = ${port}\n  }\n}\n`);
    try {
      const first = await until(async () => (await status(loft.baseDir, 'echo')).find((p) => p.state === 'ready'));
      starts.push(Number(process.hrtime.bigint() - loft.started) / 1e6);
      const killed = process.hrtime.bigint();
      process.kill(first.pid, 'SIGKILL');
      await until(async () => (await status(loft.baseDir, 'echo')).find((p) => p.state === 'ready' && p.pid !== first.pid));
      replacements.push(Number(process.hrtime.bigint() - killed) / 1e6);
    } finally {
      await loft.stop();
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  record('supervision', 'cold start to a ready service (median)', 'ms', median(starts), undefined, false);
  record('supervision', 'kill -9 to a ready replacement (median)', 'ms', median(replacements), undefined, false);
}

const BENCH_USER = { user: 'benchuser', password: 'benchpass', uid: 5090 };

async function benchLogins(durationMs, concurrency) {
  const port = await freePort();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-bench-home-'));
  fs.chmodSync(home, 0o755);
  if (process.getuid?.() === 0) fs.chownSync(home, BENCH_USER.uid, BENCH_USER.uid);
  const users = path.join(home, '..', `${path.basename(home)}.users`);
  fs.writeFileSync(users, `${BENCH_USER.user}:{PLAIN}${BENCH_USER.password}:${BENCH_USER.uid}:${BENCH_USER.uid}::${home}::\n`, { mode: 0o644 });
  const loft = await startLoft(`service imap-login {\n  inet_listener imap {\n    port = ${port}\n  }\n}\nmail_max_userip_connections = 0\npassdb bench {\n  driver = passwd-file\n  args = ${users}\n}\nuserdb bench {\n  driver = passwd-file\n  args = ${users}\n}\n`);
  let loftResult;
  let authMs;
  try {
    await until(async () => (await status(loft.baseDir, 'imap-login')).some((p) => p.state === 'ready') && (await status(loft.baseDir, 'auth')).some((p) => p.state === 'ready'));
    await measureLogins({ port, ...BENCH_USER, concurrency, durationMs: 500 }); // warm-up: imap processes, JIT
    loftResult = await measureLogins({ port, ...BENCH_USER, concurrency, durationMs });
    const auth = await IpcClient.connect(path.join(loft.baseDir, 'run', 'auth-login.sock'));
    const client = { remoteIp: '127.0.0.1', remotePort: 1, localIp: '127.0.0.1', localPort: port, secured: true, tls: false };
    authMs = await medianMs(200, () => auth.request('login', { user: BENCH_USER.user, password: BENCH_USER.password, mechanism: 'PLAIN', service: 'imap', client, selfTargets: [] }));
    auth.close();
  } finally {
    await loft.stop();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(users, { force: true });
  }
  let dovecotResult = 'needs root + dovecot-imapd';
  if (dovecotAvailable()) {
    const dovecot = await startDovecot({ users: [BENCH_USER] });
    try {
      await measureLogins({ port: dovecot.port, ...BENCH_USER, concurrency, durationMs: 500 });
      dovecotResult = await measureLogins({ port: dovecot.port, ...BENCH_USER, concurrency, durationMs });
    } finally {
      await dovecot.stop();
    }
  }
  const dc = (key) => (typeof dovecotResult === 'object' ? dovecotResult[key] : dovecotResult);
  record('logins', `logins per second (${concurrency} clients: connect, LOGIN, LOGOUT)`, '/s', loftResult.loginsPerSecond, dc('loginsPerSecond'));
  record('logins', 'login round trip, LOGIN to OK (median)', 'ms', loftResult.medianLoginMs, dc('medianLoginMs'), false);
  record('logins', 'login round trip (p99)', 'ms', loftResult.p99LoginMs, dc('p99LoginMs'), false);
  record('logins', 'of which auth alone (median; the rest is the hand-off)', 'ms', authMs, undefined, false);
  if (loftResult.errors > 0) console.error(`logins: ${loftResult.errors} Loft login cycles failed`);
}

const LMTP_USERS = Array.from({ length: 50 }, (_, i) => ({ user: `lmtpuser${i}`, password: 'x', uid: 6000 + i }));

/** 50 users with homes they own, as a passwd-file; returns its path and a cleanup. */
function lmtpUsers() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-bench-lmtp-'));
  fs.chmodSync(dir, 0o755);
  const lines = LMTP_USERS.map(({ user, uid }) => {
    const home = path.join(dir, user);
    fs.mkdirSync(home, { mode: 0o700 });
    if (process.getuid?.() === 0) fs.chownSync(home, uid, uid);
    return `${user}:{PLAIN}x:${uid}:${uid}::${home}::`;
  });
  fs.writeFileSync(path.join(dir, 'users'), `${lines.join('\n')}\n`, { mode: 0o644 });
  return { file: path.join(dir, 'users'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function benchLmtp(durationMs, connections) {
  const names = LMTP_USERS.map((u) => u.user);
  const results = {};
  for (const mode of ['fork', 'seteuid']) {
    const users = lmtpUsers();
    const loft = await startLoft(`lmtp_privsep = ${mode}\nmail_fsync = optimized\npassdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\nuserdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\n`);
    try {
      await until(async () => (await status(loft.baseDir, 'lmtp')).some((p) => p.state === 'ready') && (await status(loft.baseDir, 'auth')).some((p) => p.state === 'ready'));
      const target = path.join(loft.baseDir, 'run', 'lmtp.sock');
      await measureDeliveries({ target, users: names, connections, durationMs: 500 });
      results[mode] = await measureDeliveries({ target, users: names, connections, durationMs });
      if (results[mode].failed > 0) console.error(`lmtp ${mode}: ${results[mode].failed} deliveries failed (${results[mode].firstError})`);
    } finally {
      await loft.stop();
      users.cleanup();
    }
  }
  let dovecot = 'needs root + dovecot-lmtpd';
  if (dovecotAvailable() && fs.existsSync('/usr/lib/dovecot/lmtp')) {
    const instance = await startDovecot({ users: LMTP_USERS, lmtp: true, extraConf: 'mail_fsync = optimized\n' });
    try {
      await measureDeliveries({ target: instance.lmtpSocket, users: names, connections, durationMs: 500 });
      dovecot = (await measureDeliveries({ target: instance.lmtpSocket, users: names, connections, durationMs })).deliveriesPerSecond;
    } finally {
      await instance.stop();
    }
  }
  record('lmtp', `deliveries per second, lmtp_privsep = fork (${connections} connections, 50 users)`, '/s', results.fork.deliveriesPerSecond, dovecot);
  record('lmtp', `deliveries per second, lmtp_privsep = seteuid (${connections} connections, 50 users)`, '/s', results.seteuid.deliveriesPerSecond, dovecot);
}

const IMAP_USERS = Array.from({ length: 20 }, (_, i) => ({ user: `imapuser${i}`, password: `pw${i}`, uid: 7000 + i }));

/** Users with homes they own, as a passwd-file; returns its path and a cleanup. */
function passwdFile(users, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  const lines = users.map(({ user, password, uid }) => {
    const home = path.join(dir, user);
    fs.mkdirSync(home, { mode: 0o700 });
    if (process.getuid?.() === 0) fs.chownSync(home, uid, uid);
    return `${user}:{PLAIN}${password}:${uid}:${uid}::${home}::`;
  });
  fs.writeFileSync(path.join(dir, 'users'), `${lines.join('\n')}\n`, { mode: 0o644 });
  return { file: path.join(dir, 'users'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function benchImap(durationMs, messages) {
  const port = await freePort();
  const users = passwdFile(IMAP_USERS, 'loft-bench-imap-');
  const loft = await startLoft(`service imap-login {\n  inet_listener imap {\n    port = ${port}\n  }\n}\nmail_fsync = optimized\npassdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\nuserdb bench {\n  driver = passwd-file\n  args = ${users.file}\n}\n`);
  let loftResult;
  try {
    await until(async () => (await status(loft.baseDir, 'imap-login')).some((p) => p.state === 'ready') && (await status(loft.baseDir, 'auth')).some((p) => p.state === 'ready'));
    await prepareUsers({ port, users: IMAP_USERS, messages });
    loftResult = await measureImapMix({ port, users: IMAP_USERS, messages, durationMs });
  } finally {
    await loft.stop();
    users.cleanup();
  }
  let dovecotResult;
  if (dovecotAvailable()) {
    const dovecot = await startDovecot({ users: IMAP_USERS, extraConf: 'mail_fsync = optimized\n' });
    try {
      await prepareUsers({ port: dovecot.port, users: IMAP_USERS, messages });
      dovecotResult = await measureImapMix({ port: dovecot.port, users: IMAP_USERS, messages, durationMs });
    } finally {
      await dovecot.stop();
    }
  }
  const missing = 'needs root + dovecot-imapd';
  record('imap', `mixed commands per second (${IMAP_USERS.length} sessions, ${messages} messages each)`, '/s', loftResult.total, dovecotResult?.total ?? missing);
  for (const name of Object.keys(loftResult.perSecond)) {
    record('imap', `  ${name}`, '/s', loftResult.perSecond[name], dovecotResult?.perSecond[name] ?? missing);
  }
  if (loftResult.errors > 0) console.error(`imap mix: ${loftResult.errors} Loft commands failed (${loftResult.firstError})`);
  if (dovecotResult?.errors > 0) console.error(`imap mix: ${dovecotResult.errors} Dovecot commands failed (${dovecotResult.firstError})`);
}

const ipc = await runIpcBench({ durationMs: quick ? 1500 : 6000 });
record('ipc', 'sequential round trips', '/s', ipc.roundTripsPerSecond);
record('ipc', 'pipelined round trips (64 in flight)', '/s', ipc.pipelinedRoundTripsPerSecond);
record('ipc', 'streamed 64 KiB chunks', 'MB/s', ipc.streamMegabytesPerSecond);
await benchSupervision(quick ? 3 : 7);
await benchLogins(quick ? 3000 : 10_000, 8);
await benchLmtp(quick ? 3000 : 10_000, 8);
await benchImap(quick ? 4000 : 15_000, quick ? 100 : 300);
const storage = await runStorageComparison({ quick });
for (const row of storage.rows) {
  record('storage', `${row.metric} (${storage.messages} messages)`, row.unit, row.loft, row.dovecot ?? storage.dovecotError ?? '-', row.unit.endsWith('/s'));
}

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
};
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}`;
const software = `Node ${process.version}, Loft ${JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version}, Dovecot ${version('dovecot', ['--version'])}`;
const head = ['metric', 'unit', 'Loft', 'Dovecot', 'ratio (>1: Loft better)'];
const table = rows.map((r) => [`${r.part}: ${r.metric}`, r.unit, String(r.loft), String(r.dovecot), String(r.ratio)]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`Loft benchmark, ${new Date().toISOString()}${quick ? ' (quick)' : ''}\n${machine}\n${software}\n`);
console.log(line(head));
for (const row of table) console.log(line(row));
const outDir = path.join(root, 'bench-results');
fs.mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `bench-${Date.now()}.json`);
fs.writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), machine, software, quick, rows }, null, 2));
console.log(`\nwritten to ${path.relative(root, outFile)}`);
