/**
 * The processes of one service in one configuration generation: forks them, keeps enough
 * of them ready, retires idle ones, throttles a service that keeps failing at start-up,
 * and reaps the dead. Everything a child says arrives here and is checked first, so a
 * misbehaving child can at worst get itself killed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from '@loft/log';
import { ENV, type ChildToMaster, type MasterToChild, type ServiceSettings } from '@loft/master-protocol';
import { ChildChannel } from './child-channel.js';
import type { ListenerHandle } from './listeners.js';
import type { LogRelay } from './log-relay.js';

export const RESTART_BACKOFF_INITIAL_MS = 500;
export const RESTART_BACKOFF_MAX_MS = 60_000;
const BYTES_PER_MIB = 1024 * 1024;

/** Who the processes run as; undefined fields: the user loftd runs as (rootless, or no user set). */
export interface ServiceIdentity {
  uid?: number;
  gid?: number;
  user?: string;
}

export interface ProcessEntry {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly pool: ServicePool;
  readonly generation: number;
  readonly started: number;
  readonly channel: ChildChannel;
  state: 'starting' | 'ready' | 'stopping';
  clients: number;
  available: number;
  idleTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  exited: Promise<void>;
}

/** What a pool needs from the master. */
export interface PoolHost {
  readonly logger: Logger;
  readonly relay: LogRelay;
  /** Environment every child gets (PATH, base dir, config socket, log level). */
  baseEnvironment(): NodeJS.ProcessEnv;
  onProcessReady(entry: ProcessEntry): void;
  onProcessExit(entry: ProcessEntry): void;
}

export class ServicePool {
  readonly processes = new Set<ProcessEntry>();
  /** False once a newer generation replaced this pool: it only drains. */
  current = true;
  private failures = 0;
  private throttledUntil = 0;
  private throttleTimer: NodeJS.Timeout | undefined;
  private limitLogged = false;

  constructor(
    readonly name: string,
    public settings: ServiceSettings,
    readonly generation: number,
    readonly listeners: ListenerHandle[],
    readonly identity: ServiceIdentity,
    readonly modulePath: string,
    private readonly host: PoolHost,
    private readonly extraEnv: NodeJS.ProcessEnv = {},
  ) {}

  get throttledUntilMs(): number {
    return this.throttledUntil > Date.now() ? this.throttledUntil : 0;
  }

  get clients(): number {
    let sum = 0;
    for (const entry of this.processes) sum += entry.clients;
    return sum;
  }

  /** Processes this pool keeps at least: process_min_avail, and never zero (see DESIGN §2). */
  private get minimum(): number {
    return Math.min(this.settings.process_limit, Math.max(1, this.settings.process_min_avail));
  }

  private liveProcesses(): ProcessEntry[] {
    return [...this.processes].filter((e) => e.state !== 'stopping');
  }

  /** Fork what is missing: up to the minimum, or one more when every process is full. */
  ensure(): void {
    if (!this.current) return;
    const live = this.liveProcesses();
    const accepting = live.filter((e) => e.state === 'starting' || e.available > 0).length;
    let wanted = Math.max(0, this.minimum - live.length);
    if (wanted === 0 && this.listeners.length > 0 && accepting < this.minimum) wanted = 1;
    if (wanted === 0) {
      this.limitLogged = false;
      return;
    }
    const room = this.settings.process_limit - live.length;
    if (room <= 0) {
      if (!this.limitLogged) {
        this.host.logger.warn(`service(${this.name}): process_limit (${this.settings.process_limit}) reached, client connections are queued`);
        this.limitLogged = true;
      }
      return;
    }
    if (this.throttledUntil > Date.now()) {
      this.throttleTimer ??= setTimeout(() => {
        this.throttleTimer = undefined;
        this.ensure();
      }, this.throttledUntil - Date.now());
      return;
    }
    for (let i = 0; i < Math.min(wanted, room); i++) this.spawn();
  }

  private spawn(): void {
    const { settings, identity } = this;
    const env: NodeJS.ProcessEnv = {
      ...this.host.baseEnvironment(),
      ...this.extraEnv,
      [ENV.SERVICE]: this.name,
      [ENV.GENERATION]: String(this.generation),
      [ENV.CLIENT_LIMIT]: String(settings.client_limit),
      [ENV.SERVICE_COUNT]: String(settings.service_count),
    };
    if (identity.uid !== undefined && identity.gid !== undefined) {
      env[ENV.UID] = String(identity.uid);
      env[ENV.GID] = String(identity.gid);
      if (identity.user) env[ENV.USER] = identity.user;
    }
    const execArgv = settings.vsz_limit > 0 ? [`--max-old-space-size=${Math.max(16, Math.floor(settings.vsz_limit / BYTES_PER_MIB))}`] : [];
    let child: ChildProcess;
    try {
      // The log service writes to loftd's own stderr; relaying its output to itself would loop.
      const stdio = this.name === 'log' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'];
      // detached: a process group of its own, so Ctrl-C or a group-wide SIGTERM reaches only the
      // master, which stops services in order. A child whose master dies exits on 'disconnect'.
      child = fork(this.modulePath, [], { env, execArgv, stdio: stdio as ('ignore' | 'pipe' | 'inherit' | 'ipc')[], serialization: 'json', detached: true });
    } catch (err) {
      this.host.logger.error({ err }, `service(${this.name}): fork failed`);
      this.startFailed();
      return;
    }
    const entry = this.track(child);
    for (const listener of this.listeners) this.sendListener(entry, listener);
  }

  private track(child: ChildProcess): ProcessEntry {
    const pid = child.pid ?? 0;
    let markExited!: () => void;
    const entry: ProcessEntry = {
      child, pid, pool: this, generation: this.generation, started: Date.now(),
      channel: new ChildChannel(child, `service(${this.name}) pid ${pid}`),
      state: 'starting', clients: 0, available: 0,
      exited: new Promise<void>((resolve) => { markExited = resolve; }),
    };
    this.processes.add(entry);
    this.host.relay.attach(child, this.name);
    child.on('message', (message: unknown) => this.onMessage(entry, message));
    child.on('error', (err) => this.host.logger.debug({ err, pid }, `service(${this.name}): IPC error`));
    child.once('exit', (code, signal) => {
      this.onExit(entry, code, signal);
      markExited();
    });
    return entry;
  }

  /** A listener created after processes started (config's, once base_dir is known). */
  addListener(listener: ListenerHandle): void {
    this.listeners.push(listener);
    for (const entry of this.processes) if (entry.state !== 'stopping') this.sendListener(entry, listener);
  }

  private sendListener(entry: ProcessEntry, listener: ListenerHandle): void {
    const message: MasterToChild = { type: 'listener', kind: listener.kind, name: listener.name, ssl: listener.ssl };
    try {
      entry.child.send(message, listener.handle as never, { keepOpen: true } as never, () => undefined);
    } catch (err) {
      this.host.logger.debug({ err, pid: entry.pid }, 'sending a listener failed');
    }
  }

  private onMessage(entry: ProcessEntry, message: unknown): void {
    const msg = message as ChildToMaster;
    switch (msg?.type) {
      case 'ready':
        if (entry.state !== 'starting') return;
        entry.state = 'ready';
        this.failures = 0;
        this.throttledUntil = 0;
        // No ensure() here: its first status follows at once and says how many slots it has.
        this.host.onProcessReady(entry);
        return;
      case 'status':
        if (!isCount(msg.clients) || !isCount(msg.available)) break;
        entry.clients = msg.clients;
        entry.available = msg.available;
        this.updateIdleTimer(entry);
        this.ensure();
        return;
      case 'want-listeners':
        if (entry.state !== 'stopping') for (const listener of this.listeners) this.sendListener(entry, listener);
        return;
      case 'reply':
        if (!isCount(msg.id)) break;
        entry.channel.onReply(msg.id, msg.result, msg.error);
        return;
    }
    this.host.logger.error({ pid: entry.pid, message: summarize(message) }, `service(${this.name}): child ${entry.pid} broke the master protocol; killing it`);
    entry.child.kill('SIGKILL');
  }

  private updateIdleTimer(entry: ProcessEntry): void {
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    const idleKillMs = this.settings.idle_kill;
    if (entry.clients > 0 || entry.state !== 'ready' || idleKillMs <= 0 || !this.current) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.clients === 0 && entry.state === 'ready' && this.liveProcesses().length > this.minimum) {
        this.host.logger.debug(`service(${this.name}): stopping idle process ${entry.pid} (idle_kill ${idleKillMs} ms)`);
        this.stopProcess(entry, this.settings.idle_kill);
      }
    }, idleKillMs);
    entry.idleTimer.unref();
  }

  private onExit(entry: ProcessEntry, code: number | null, signal: NodeJS.Signals | null): void {
    this.processes.delete(entry);
    clearTimeout(entry.idleTimer);
    clearTimeout(entry.killTimer);
    const who = `service(${this.name}): child ${entry.pid}`;
    const expected = entry.state === 'stopping' || !this.current;
    if (signal) this.host.logger.error({ pid: entry.pid, signal }, `${who} killed with signal ${signal}`);
    else if (code !== 0) this.host.logger.error({ pid: entry.pid, code }, `${who} returned error ${code}`);
    else if (!expected) this.host.logger.info({ pid: entry.pid }, `${who} exited`);
    if (entry.state === 'starting' && !expected) this.startFailed(code, signal);
    this.host.onProcessExit(entry);
    this.ensure();
  }

  private startFailed(code?: number | null, signal?: NodeJS.Signals | null): void {
    this.failures++;
    const delay = Math.min(RESTART_BACKOFF_INITIAL_MS * 2 ** (this.failures - 1), RESTART_BACKOFF_MAX_MS);
    this.throttledUntil = Date.now() + delay;
    if (this.failures === 1) {
      const how = signal ? `signal ${signal}` : `exit code ${code ?? 'none'}`;
      this.host.logger.error(
        `service(${this.name}): process failed at start-up (${how}); throttling restarts: ${RESTART_BACKOFF_INITIAL_MS} ms, doubling up to RESTART_BACKOFF_MAX_MS (${RESTART_BACKOFF_MAX_MS} ms) while it keeps failing`,
      );
    }
  }

  /** Ask one process to finish; killed when it has not after `graceMs`. */
  stopProcess(entry: ProcessEntry, graceMs: number): void {
    if (entry.state === 'stopping') return;
    entry.state = 'stopping';
    clearTimeout(entry.idleTimer);
    sendSafe(entry.child, { type: 'shutdown', graceMs });
    entry.killTimer = setTimeout(() => {
      this.host.logger.warn(`service(${this.name}): child ${entry.pid} still running ${graceMs} ms after shutdown; killing it`);
      entry.child.kill('SIGKILL');
    }, graceMs);
  }

  /** A newer generation took over: processes stop accepting and exit when their clients leave. */
  retire(): void {
    this.current = false;
    clearTimeout(this.throttleTimer);
    for (const entry of this.processes) {
      if (entry.state === 'stopping') continue;
      entry.state = 'stopping';
      clearTimeout(entry.idleTimer);
      sendSafe(entry.child, { type: 'stop-accepting' });
    }
  }

  /** Stop every process, waiting for all of them (each is killed after graceMs). */
  async stopAll(graceMs: number): Promise<void> {
    this.current = false;
    clearTimeout(this.throttleTimer);
    const all = [...this.processes];
    for (const entry of all) {
      if (entry.state === 'stopping' && !entry.killTimer) {
        entry.state = 'ready'; // retired processes get a real shutdown with a bound now
      }
      this.stopProcess(entry, graceMs);
    }
    await Promise.all(all.map((e) => e.exited));
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function sendSafe(child: ChildProcess, message: MasterToChild): void {
  if (!child.connected) return;
  try {
    child.send(message, undefined, {}, () => undefined);
  } catch {
    // the child is exiting; its exit is handled by the reaper
  }
}

function summarize(message: unknown): string {
  try {
    return JSON.stringify(message).slice(0, 200);
  } catch {
    return typeof message;
  }
}
