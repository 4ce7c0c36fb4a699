// A private Dovecot 2.3 instance (Debian's dovecot-imapd / dovecot-lmtpd) for tests that
// proxy to it and for benchmarks that compare against it: its own base_dir, config, users
// and log in a temp dir, IMAP (and optionally LMTP) on 127.0.0.1 high ports, started in
// the foreground (from a shell that raises the fd limit to NOFILE) and stopped by pid,
// also when the process that started it is interrupted (onCleanup). Needs root (Dovecot
// drops to each user's uid).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, onCleanup, quiesce, reportLogProblems, terminate } from './bench-util.js';

const START_TIMEOUT_MS = 20_000;
const NOFILE = 65536;

/** Debian's packages the benchmarks compare against, and a file each one installs. */
const PACKAGES = [['dovecot-imapd', '/usr/lib/dovecot/imap'], ['dovecot-lmtpd', '/usr/lib/dovecot/lmtp']];

/**
 * As root on Debian, install dovecot-imapd and dovecot-lmtpd when they are missing, without
 * letting the packages start the system's Dovecot (it would take ports 143 and 993 and run
 * beside the private instance). Returns why nothing could be installed, or undefined when
 * both are there. Progress and apt-get's own errors go to stderr.
 */
export function installDovecot() {
  const missing = PACKAGES.filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
  if (missing.length === 0) return undefined;
  if (process.getuid?.() !== 0) return `${missing.join(' and ')} missing, and installing needs root`;
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return `${missing.join(' and ')} missing, and there is no apt-get`;
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\n# loft bench: no service starts while it installs packages\nexit 101\n', { mode: 0o755 });
  try {
    console.error(`bench: installing ${missing.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (update.status !== 0) return `apt-get update failed (exit ${update.status ?? update.signal})`;
    const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (install.status !== 0) return `apt-get install ${missing.join(' ')} failed (exit ${install.status ?? install.signal})`;
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  const still = PACKAGES.filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
  return still.length > 0 ? `${still.join(' and ')} still missing after apt-get install` : undefined;
}

/** Whether a private Dovecot can run here: the binaries exist and we are root. */
export function dovecotAvailable() {
  return process.getuid?.() === 0 && spawnSync('dovecot', ['--version'], { stdio: 'ignore' }).status === 0;
}

function waitForPort(port, child, log) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`dovecot exited (${child.exitCode}): ${log()}`));
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', () => { socket.destroy(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`dovecot did not listen on ${port}: ${log()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * users: [{ user, password, uid }] (PLAIN passwords). Homes are made under the instance
 * dir, owned by each uid. Returns { port, lmtpSocket, dir, conf, pid, started, log(), halt(),
 * stop() }: started is process.hrtime.bigint() right before the spawn; halt stops the
 * server and keeps dir, stop also removes it.
 */
export async function startDovecot({ users, lmtp = false, mailLocation = 'sdbox:~/mail', extraConf = '' }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-dovecot-'));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  const lines = users.map(({ user, password, uid }) => {
    const userHome = path.join(home, user);
    fs.mkdirSync(userHome, { recursive: true });
    fs.chownSync(userHome, uid, uid);
    return `${user}:{PLAIN}${password}:${uid}:${uid}::${userHome}::`;
  });
  fs.writeFileSync(path.join(dir, 'users'), `${lines.join('\n')}\n`, { mode: 0o644 });
  const lmtpSocket = path.join(dir, 'run', 'lmtp');
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, `# private instance for Loft tests and benchmarks
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = loft-${path.basename(dir)}
listen = 127.0.0.1
protocols = imap${lmtp ? ' lmtp' : ''}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = ${dir}/dovecot.log
mail_location = ${mailLocation}
first_valid_uid = 500
passdb {
  driver = passwd-file
  args = ${dir}/users
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
${extraConf}
`);
  fs.mkdirSync(path.join(dir, 'state'), { recursive: true });
  const started = process.hrtime.bigint();
  // exec keeps the pid: the shell only raises the fd limit (root may raise the hard limit).
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn); exec dovecot -F -c "$0"`, conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const log = () => `${stderr}${fs.existsSync(path.join(dir, 'dovecot.log')) ? fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8').slice(-2000) : ''}`;
  /** Stop the server, keeping its directory (homes) for the caller. */
  const halt = async () => {
    await terminate(child);
  };
  const stop = onCleanup(async () => {
    const t0 = Date.now();
    await halt();
    try {
      reportLogProblems(`dovecot (${path.basename(dir)})`, fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8'));
    } catch {
      // no log
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (process.env.LOFT_BENCH_VERBOSE) console.error(`dovecot stopped in ${Date.now() - t0} ms`);
  });
  try {
    await waitForPort(port, child, log);
  } catch (err) {
    await stop();
    throw err;
  }
  await quiesce(); // a server still stopping in the background must not share the measured time
  return { port, lmtpSocket, dir, conf, pid: child.pid, started, log, halt, stop };
}
