/**
 * Reading a plugin's manifest without trusting it. The config service runs as root and
 * never imports a plugin: a throw-away child does, as sandbox_user, with an empty
 * environment, a temporary working directory, Node's permission model (reads only under
 * the plugin's directory and Loft's install, no writes, no child processes, no workers),
 * a small heap, a timeout, capped output and, as root on Linux, no network (a new network
 * namespace via `unshare -n`; Node's permission model does not cover the network). The
 * child sends back plain data on fd 3 and exits; everything it says is checked later.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '@loft/errors';
import type { LocatedPlugin } from './plugin-locator.js';

const RESULT_MAX_BYTES = 1024 * 1024;
const OUTPUT_KEEP_BYTES = 4 * 1024;
const OUTPUT_MAX_BYTES = 1024 * 1024;
/** The runner's first byte on fd 3, before it imports the plugin. No JSON starts with it. */
const STARTED = '+';
/** How long Node itself may take to start, on a machine busy with other work. */
const BOOT_TIMEOUT_MS = 30_000;

/**
 * Runs in the sandbox via `node -e`, so that no file of Loft's needs to be readable by
 * sandbox_user. Network calls are made to fail loudly at once: the namespace stops them
 * anyway, but an admin deserves "tried to open a socket", not a late ENETUNREACH.
 */
const SANDBOX_RUNNER = `
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { pathToFileURL } from 'node:url';
const report = (value) => { try { fs.writeSync(3, JSON.stringify(value)); } finally { process.exit(0); } };
const denyNetwork = (what) => function () {
  const err = new Error('sandbox: ' + what + ' is not allowed');
  err.code = 'ERR_ACCESS_DENIED'; err.permission = 'Network'; err.resource = what;
  report({ ok: false, error: { code: err.code, permission: err.permission, resource: what, message: err.message } });
};
net.Socket.prototype.connect = denyNetwork('open a network connection');
net.Server.prototype.listen = denyNetwork('listen on a socket');
dgram.createSocket = denyNetwork('open a UDP socket');
globalThis.fetch = denyNetwork('fetch a URL');
process.on('uncaughtException', (err) => report({ ok: false, error: describe(err) }));
process.on('unhandledRejection', (err) => report({ ok: false, error: describe(err) }));
function describe(err) {
  return err && typeof err === 'object'
    ? { name: String(err.name), message: String(err.message), code: err.code === undefined ? undefined : String(err.code), permission: err.permission === undefined ? undefined : String(err.permission), resource: err.resource === undefined ? undefined : String(err.resource) }
    : { message: String(err) };
}
// One byte before the plugin's code runs: the parent's timeout covers the plugin, not how
// long a loaded machine took to start Node.
fs.writeSync(3, '${STARTED}');
try {
  const mod = await import(pathToFileURL(process.argv[1]).href);
  const manifest = mod.manifest ?? (mod.default && mod.default.manifest);
  // Functions (hooks) are dropped: only plain data leaves the sandbox.
  const plain = JSON.stringify(manifest === undefined ? null : manifest, (key, value) => (typeof value === 'function' ? undefined : value));
  report({ ok: true, manifest: plain === undefined ? null : JSON.parse(plain) });
} catch (err) {
  report({ ok: false, error: describe(err) });
}
`;

export interface SandboxIdentity {
  uid: number;
  gid: number;
}

export interface SandboxOptions {
  /** Drop to this user (root only); undefined: run as the current user (rootless). */
  identity?: SandboxIdentity;
  timeoutMs: number;
  heapBytes: number;
  /** Loft's install, readable by plugins that import Loft's packages. */
  loftRoot: string;
}

export interface SandboxResult {
  manifest: unknown;
  pid: number;
  isolatedNetwork: boolean;
}

let networkIsolation: boolean | undefined;

/** Can this process create a network namespace (root on Linux, with util-linux)? Asked once. */
function canIsolateNetwork(): boolean {
  networkIsolation ??= process.getuid?.() === 0 && spawnSync('unshare', ['-n', '--', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return networkIsolation;
}

function commandLine(plugin: LocatedPlugin, options: SandboxOptions): { command: string; args: string[]; isolated: boolean } {
  const readable = [...new Set([plugin.dir, options.loftRoot])];
  const nodeArgs = [
    '--experimental-permission',
    ...readable.map((dir) => `--allow-fs-read=${dir}`),
    `--max-old-space-size=${Math.max(16, Math.floor(options.heapBytes / 1024 / 1024))}`,
    '--no-warnings',
    '--input-type=module',
    '-e', SANDBOX_RUNNER,
    plugin.entry,
  ];
  let command = process.execPath;
  let args = nodeArgs;
  if (options.identity) {
    args = [`--reuid=${options.identity.uid}`, `--regid=${options.identity.gid}`, '--clear-groups', '--', command, ...args];
    command = 'setpriv';
  }
  const isolated = canIsolateNetwork();
  if (isolated) {
    args = ['-n', '--', command, ...args];
    command = 'unshare';
  }
  return { command, args, isolated };
}

export async function readManifestInSandbox(plugin: LocatedPlugin, options: SandboxOptions): Promise<SandboxResult> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-sandbox-'));
  try {
    if (options.identity) fs.chownSync(workDir, options.identity.uid, options.identity.gid);
    return await runSandbox(plugin, options, workDir);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function runSandbox(plugin: LocatedPlugin, options: SandboxOptions, workDir: string): Promise<SandboxResult> {
  const { command, args, isolated } = commandLine(plugin, options);
  const who = `plugin '${plugin.spec}' (${plugin.entry})`;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: workDir, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    const result: Buffer[] = [];
    let resultBytes = 0;
    let output = '';
    let outputBytes = 0;
    let failure: LoftError | undefined;
    const kill = (err: LoftError): void => {
      failure ??= err;
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL'); // the whole group, should it have made any
      } catch {
        child.kill('SIGKILL');
      }
    };
    // plugin_sandbox_timeout is the plugin's: it starts when the runner says it is about to
    // import it. Until then a separate, generous bound covers Node's own start.
    let started = false;
    let timer = setTimeout(() => kill(new LoftError('LOFT_E_PLUGIN_TIMEOUT', `the sandbox for ${who} did not start within ${BOOT_TIMEOUT_MS} ms`)), BOOT_TIMEOUT_MS);
    const pluginStarted = (): void => {
      started = true;
      clearTimeout(timer);
      timer = setTimeout(() => kill(new LoftError('LOFT_E_PLUGIN_TIMEOUT', `${who} did not report its manifest within ${options.timeoutMs} ms (does it loop or wait at import?)`)), options.timeoutMs);
    };
    const keepOutput = (chunk: Buffer): void => {
      outputBytes += chunk.length;
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP_BYTES);
      if (outputBytes > OUTPUT_MAX_BYTES) kill(new LoftError('LOFT_E_PLUGIN_BAD_OUTPUT', `${who} printed more than ${OUTPUT_MAX_BYTES} bytes while loading`));
    };
    child.stdout?.on('data', keepOutput);
    child.stderr?.on('data', keepOutput);
    const resultStream = child.stdio[3] as NodeJS.ReadableStream | null;
    resultStream?.on('data', (chunk: Buffer) => {
      if (!started && chunk[0] === STARTED.charCodeAt(0)) {
        pluginStarted();
        chunk = chunk.subarray(1);
      }
      resultBytes += chunk.length;
      if (resultBytes > RESULT_MAX_BYTES) kill(new LoftError('LOFT_E_PLUGIN_BAD_OUTPUT', `${who} sent more than ${RESULT_MAX_BYTES} bytes of manifest`));
      else result.push(chunk);
    });
    child.on('error', (err) => kill(new LoftError('LOFT_E_PLUGIN_CRASHED', `${who}: cannot start the sandbox (${err.message})`, { cause: err })));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      try {
        const manifest = interpret(who, Buffer.concat(result).toString('utf8'), code, signal, output);
        resolve({ manifest, pid: child.pid ?? 0, isolatedNetwork: isolated });
      } catch (err) {
        reject(err);
      }
    });
  });
}

interface SandboxError { name?: string; message?: string; code?: string; permission?: string; resource?: string }

const PERMISSION_WORDS: Record<string, string> = {
  FileSystemRead: 'read',
  FileSystemWrite: 'write',
  ChildProcess: 'start a child process',
  WorkerThreads: 'start a worker thread',
};

function interpret(who: string, text: string, code: number | null, signal: NodeJS.Signals | null, output: string): unknown {
  const tail = output.trim() ? `; its output ended with: ${output.trim().split('\n').slice(-3).join(' | ')}` : '';
  if (!text) {
    const how = signal ? `was killed by ${signal} (out of memory?)` : `exited with code ${code}`;
    throw new LoftError('LOFT_E_PLUGIN_CRASHED', `${who} ${how} before reporting its manifest${tail}`);
  }
  let reply: { ok?: unknown; manifest?: unknown; error?: SandboxError };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    throw new LoftError('LOFT_E_PLUGIN_BAD_OUTPUT', `${who} sent garbage instead of a manifest (${JSON.stringify(text.slice(0, 80))})`);
  }
  if (reply === null || typeof reply !== 'object' || (reply.ok !== true && reply.ok !== false)) {
    throw new LoftError('LOFT_E_PLUGIN_BAD_OUTPUT', `${who} sent something that is not a sandbox reply`);
  }
  if (reply.ok) return reply.manifest;
  const error = reply.error ?? {};
  if (error.code === 'ERR_ACCESS_DENIED') {
    // The runner's network guard names the action itself as the resource.
    const action = error.permission === 'Network' && error.resource ? error.resource : PERMISSION_WORDS[error.permission ?? ''] ?? `use ${error.permission ?? 'something'}`;
    const target = error.resource && error.permission !== 'Network' ? ` ${error.resource}` : '';
    throw new LoftError('LOFT_E_PLUGIN_FORBIDDEN', `${who} tried to ${action}${target}, which its sandbox forbids`);
  }
  throw new LoftError('LOFT_E_PLUGIN_CRASHED', `${who} threw while loading: ${error.name ? `${error.name}: ` : ''}${error.message ?? 'unknown error'}`);
}
