// A private loftd for the benchmarks: temp base dir, settings that suit any machine plus
// the caller's, started from a shell that raises the fd limit (as Dovecot's is), stopped
// by pid (SIGTERM, then SIGKILL) when the bench ends, fails or is interrupted.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpcClient } from '@loft/ipc';
import { onCleanup, quiesce, reportLogProblems, terminate, until } from './bench-util.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NOFILE = 65536;

export async function loftStatus(baseDir, service) {
  const client = await IpcClient.connect(path.join(baseDir, 'run', 'master.sock'));
  try {
    return await client.request('process-status', { service });
  } finally {
    client.close();
  }
}

/**
 * A loftd on a temp base dir; `conf` is appended to settings that suit any machine.
 * `reportLog`: print the warnings and errors of its log when it stops.
 */
export async function startLoft(conf, { reportLog = true } = {}) {
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
  // exec keeps the pid: the shell only raises the fd limit (root may raise the hard limit).
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`, process.execPath, path.join(root, 'services/master/bin/loftd.js'), '-c', file, '--base-dir', baseDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // As etc/loftd.service and `npm start` run loftd.
    env: { ...process.env, MALLOC_ARENA_MAX: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    if (stderr.length < 20_000) stderr += d;
  });
  const log = () => {
    let text = stderr;
    try {
      text += fs.readFileSync(path.join(baseDir, 'loft.log'), 'utf8').slice(-3000);
    } catch {
      // no log yet
    }
    return text.trim();
  };
  const stop = onCleanup(async () => {
    const t0 = Date.now();
    await terminate(child);
    try {
      if (reportLog) reportLogProblems(`loftd (${path.basename(baseDir)})`, fs.readFileSync(path.join(baseDir, 'loft.log'), 'utf8'));
    } catch {
      // no log
    }
    fs.rmSync(baseDir, { recursive: true, force: true });
    if (process.env.LOFT_BENCH_VERBOSE) console.error(`loftd stopped in ${Date.now() - t0} ms`);
  });
  return { baseDir, started, child, pid: child.pid, log, stop };
}

/** Wait until every named service has a ready process (bounded; the error carries loftd's log) and no other server is stopping. */
export async function loftReady(loft, services, timeoutMs = 30_000) {
  try {
    await until(async () => {
      if (loft.child.exitCode !== null) throw new Error(`loftd exited (${loft.child.exitCode})`);
      for (const service of services) if (!(await loftStatus(loft.baseDir, service)).some((p) => p.state === 'ready')) return false;
      return true;
    }, timeoutMs, `loftd services ${services.join(', ')} ready`);
    await quiesce(); // a server still stopping in the background must not share the measured time
  } catch (err) {
    throw new Error(`${err.message}; log: ${loft.log().slice(-1500)}`);
  }
}

/** The settings of a loftd serving IMAP on `port` to the users of passwd-file `usersFile`. */
export function loftImapConf({ port, usersFile, extraConf = '' }) {
  return `service imap-login {\n  inet_listener imap {\n    port = ${port}\n  }\n}\nmail_max_userip_connections = 0\npassdb bench {\n  driver = passwd-file\n  args = ${usersFile}\n}\nuserdb bench {\n  driver = passwd-file\n  args = ${usersFile}\n}\n${extraConf}`;
}

/** A loftd serving IMAP on a free port to the users of passwd-file `usersFile`. */
export async function startLoftImap({ port, usersFile, extraConf = '' }) {
  const loft = await startLoft(loftImapConf({ port, usersFile, extraConf }));
  try {
    const t0 = Date.now();
    await loftReady(loft, ['imap-login', 'auth']);
    if (process.env.LOFT_BENCH_VERBOSE) console.error(`loftd ready in ${Date.now() - t0} ms`);
  } catch (err) {
    await loft.stop();
    throw err;
  }
  return { ...loft, port };
}
