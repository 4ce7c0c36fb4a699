/**
 * Whole-system test harness: starts a real loftd on a temporary base dir with a config the
 * test writes, talks to it with loftadm and raw sockets, and cleans up every process it
 * started even when the test fails. Waiting is always for a condition, with a deadline.
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { IpcClient } from '@loft/ipc';
import type { MasterControlProtocol, ProcessInfo } from '@loft/master-protocol';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LOFTD = path.join(REPO_ROOT, 'services/master/bin/loftd.js');
export const LOFTADM = path.join(REPO_ROOT, 'packages/cli/bin/loftadm.js');
export const LOFTCONF = path.join(REPO_ROOT, 'services/config/bin/loftconf.js');
export const FIXTURES = path.join(REPO_ROOT, 'test/fixtures');
export const IS_ROOT = process.getuid?.() === 0;

const POLL_INTERVAL_MS = 50;
const START_TIMEOUT_MS = 20_000;

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/**
 * Ports this process has handed out. The kernel may give a port again as soon as it is
 * closed, and a test that asks for two (plain and imaps) must get two: with one port for
 * both, the imaps client met the plain listener (WRONG_VERSION_NUMBER in a CI run).
 */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: chosen } = server.address() as net.AddressInfo;
        server.close(() => resolve(chosen));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runNode(script: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], { env: options.env ?? process.env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Loftd {
  readonly seenPids = new Set<number>();
  private stderrText = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly baseDir: string, readonly confPath: string, readonly logPath: string, readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => { this.stderrText += d; });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.exitInfo = { code, signal };
      resolve(this.exitInfo);
    }));
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get stderr(): string {
    return this.stderrText;
  }

  adm(...args: string[]): Promise<CommandResult> {
    return runNode(LOFTADM, ['--base-dir', this.baseDir, ...args]);
  }

  async control<K extends keyof MasterControlProtocol & string>(method: K, params: MasterControlProtocol[K]['params']): Promise<MasterControlProtocol[K]['result']> {
    const client = await IpcClient.connect<MasterControlProtocol>(path.join(this.baseDir, 'run', 'master.sock'), { timeoutMs: 30_000 });
    try {
      return await client.request(method, params);
    } finally {
      client.close();
    }
  }

  async processes(service?: string): Promise<ProcessInfo[]> {
    const list = await this.control('process-status', { service });
    for (const p of list) this.seenPids.add(p.pid);
    return list;
  }

  /** Ready processes of a service, once at least `count` exist. */
  waitForReady(service: string, count = 1, generation?: number): Promise<ProcessInfo[]> {
    return waitFor(`${count} ready ${service} process(es)`, async () => {
      const ready = (await this.processes(service)).filter((p) => p.state === 'ready' && (generation === undefined || p.generation === generation));
      return ready.length >= count ? ready : undefined;
    }, START_TIMEOUT_MS);
  }

  logLines(): Array<Record<string, unknown>> {
    let text = '';
    try {
      text = fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter(Boolean).map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { msg: line };
      }
    });
  }

  waitForLog(what: string, match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return waitFor(`log line: ${what}`, () => this.logLines().find(match), timeoutMs);
  }

  writeConf(text: string): void {
    fs.writeFileSync(this.confPath, confPreamble(this.logPath) + text);
  }

  /** SIGTERM and wait; returns how long the stop took. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    if (this.running) this.child.kill('SIGTERM');
    const result = await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`loftd did not stop within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { ...result, ms: Date.now() - started };
  }

  /** Last resort for cleanup: nothing this test started may outlive it. */
  killEverything(): void {
    if (this.running) this.child.kill('SIGKILL');
    for (const pid of this.seenPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/**
 * What every test config starts with: its own log file, and the built-in services made
 * safe for a test machine: accounts every Debian system has (the built-in defaults name
 * loft and loftnull, which a production install creates), and imap-login's listeners off
 * (a test that wants them sets ports of its own, later blocks win).
 */
export function confPreamble(logPath: string): string {
  return `log_path = ${logPath}
log_level = debug
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
`;
}

export interface StartOptions {
  /** Services that must have a ready process before the test goes on. */
  ready?: string[];
  /** Don't wait for anything: for tests of start-up failures. */
  noWait?: boolean;
  /** Run loftd itself as this uid/gid (rootless mode); the base dir is given to it. */
  as?: { uid: number; gid: number };
}

/** A fresh base dir and config, a loftd on them, and cleanup registered on `t`. */
export async function startLoftd(t: TestContext, conf: string, options: StartOptions = {}): Promise<Loftd> {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-test-'));
  // Services may run as nobody; they must be able to reach their sockets under the base dir.
  fs.chmodSync(baseDir, 0o755);
  const confPath = path.join(baseDir, 'loft.conf');
  const logPath = path.join(baseDir, 'loft.log');
  fs.writeFileSync(confPath, confPreamble(logPath) + conf);
  if (options.as) for (const file of [baseDir, confPath]) fs.chownSync(file, options.as.uid, options.as.gid);
  const child = spawn(process.execPath, [LOFTD, '-c', confPath, '--base-dir', baseDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.as ? { uid: options.as.uid, gid: options.as.gid, cwd: baseDir } : {}),
  });
  const loftd = new Loftd(baseDir, confPath, logPath, child);
  if (child.pid) loftd.seenPids.add(child.pid);
  t.after(async () => {
    if (loftd.running) {
      child.kill('SIGTERM');
      await Promise.race([loftd.exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }
    loftd.killEverything();
    fs.rmSync(baseDir, { recursive: true, force: true });
  });
  if (options.noWait) return loftd;
  await waitFor('master.sock', () => {
    if (!loftd.running) throw new Error(`loftd exited early: ${loftd.stderr}`);
    return fs.existsSync(path.join(baseDir, 'run', 'master.sock'));
  }, START_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}\nloftd stderr:\n${loftd.stderr}\nlog:\n${loftd.logLines().map((l) => JSON.stringify(l)).join('\n')}`);
  });
  for (const service of ['config', 'log', ...(options.ready ?? [])]) await loftd.waitForReady(service);
  return loftd;
}

/** A service section running one of test/fixtures' services on an inet listener; `extra` goes inside. */
export function fixtureService(name: string, fixture: string, port: number, extra = '', listener = name): string {
  return `service ${name} {
  executable = ${path.join(FIXTURES, fixture)}
  inet_listener ${listener} {
    address = 127.0.0.1
    port = ${port}
  }
${extra}}
`;
}

/** Connect to a TCP port and read the first line. */
export function connectAndGreet(port: number): Promise<{ socket: net.Socket; greeting: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no greeting on port ${port} within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    socket.once('data', () => clearTimeout(timer));
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('error', reject);
    socket.on('data', function onData(data: string) {
      buffer += data;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        socket.off('data', onData);
        resolve({ socket, greeting: buffer.slice(0, nl) });
      }
    });
  });
}

const ANSWER_TIMEOUT_MS = 30_000;

/** Send one line on an open connection and read one line back. */
export function ask(socket: net.Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`no answer to '${line}' within ${ANSWER_TIMEOUT_MS} ms (got ${JSON.stringify(buffer)})`)), ANSWER_TIMEOUT_MS);
    const onData = (data: Buffer | string): void => {
      buffer += String(data);
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(buffer.slice(0, nl));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`${line}\n`);
  });
}

export function readUid(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
  if (!match) throw new Error(`no Uid line in /proc/${pid}/status`);
  return Number(match[2]);
}

/** A self-signed certificate for localhost, made with openssl in `dir`. */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const result = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  return { cert, key };
}

/** Users for login tests: PLAIN passwords, distinct uids (no system accounts needed). */
export const TEST_USERS = [
  { user: 'alice', password: 'secret', uid: 5001 },
  { user: 'bob', password: 'hunter2', uid: 5002 },
] as const;

/**
 * Config for a loftd that serves IMAP logins: imap-login on `port` (and imaps on
 * `tlsPort` when given), a passwd-file passdb/userdb with TEST_USERS (plus `extraUsers`
 * lines), a TLS certificate.
 */
export function loginConf(dir: string, port: number, options: { tlsPort?: number; extraUsers?: string[]; extra?: string } = {}): string {
  const users = path.join(dir, 'users');
  const lines = TEST_USERS.map((u) => `${u.user}:{PLAIN}${u.password}:${u.uid}:${u.uid}::${dir}/home/${u.user}::`);
  // Mail processes run as each user's uid and keep their mail under the home directory.
  fs.mkdirSync(path.join(dir, 'home'), { recursive: true, mode: 0o755 });
  for (const u of TEST_USERS) {
    const home = path.join(dir, 'home', u.user);
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    if (IS_ROOT) fs.chownSync(home, u.uid, u.uid);
  }
  fs.writeFileSync(users, [...lines, ...(options.extraUsers ?? [])].join('\n') + '\n', { mode: 0o644 });
  const { cert, key } = makeCertificate(dir);
  fs.chmodSync(key, 0o600);
  return `service imap-login {
  inet_listener imap {
    port = ${port}
  }
  inet_listener imaps {
    port = ${options.tlsPort ?? 0}
  }
}
ssl_cert = <${cert}
ssl_key = <${key}
auth_failure_delay = 300ms
passdb users {
  driver = passwd-file
  args = ${users}
}
userdb users {
  driver = passwd-file
  args = ${users}
}
${options.extra ?? ''}`;
}

/** Run a Python snippet (the stdlib's imaplib is a real, independent client); returns stdout. */
export function python(code: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', code], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
