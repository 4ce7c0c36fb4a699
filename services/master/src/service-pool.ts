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
  /** Supplementary gids beside the user's own (extra_groups). */
  extraGids?: number[];
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
  /** Removes this pool's listeners from the child (a spare handed to a user's pool). */
  detach(): void;
}

/** What a pool needs from the master. */
export interface PoolHost {
  readonly logger: Logger;
  readonly relay: LogRelay;
  /** Environment every child gets (PATH, base dir, config socket, log level). */
  baseEnvironment(): NodeJS.ProcessEnv;
  /** Children run in base_dir, as Dovecot's do: relative paths in settings are relative to it. */
  workingDirectory(): string | undefined;
  onProcessReady(entry: ProcessEntry): void;
  onProcessExit(entry: ProcessEntry): void;
  /** A login process hands over an authenticated client (only type = login services may). */
  onHandoff(entry: ProcessEntry, message: Extract<ChildToMaster, { type: 'handoff' }>, socket: unknown): void;
  /** A mail process took a session passed to it (only type = mail services may). */
  onSessionStart(entry: ProcessEntry, sessionId: string): void;
  /** A mail process says a session ended (only type = mail services may). */
  onSessionEnd(entry: ProcessEntry, sessionId: string): void;
  /** A waiting spare of mail service `service`, taken out of its pool, if there is one. */
  takeSpare?(service: string): ChildProcess | undefined;
  /** Whether mail service `service`'s spare pool keeps process_min_avail spares now (default: yes). */
  spareWanted?(service: string): boolean;
  /** A process of a mail pool reported its clients (free slots changed). */
  onMailPoolChange?(pool: ServicePool): void;
}

/** How long a hand-off may wait for a process of the user's uid to have a free slot. */
const ACQUIRE_TIMEOUT_MS = 30_000;

/**
 * V8's tier-up budgets, in bytes of bytecode run per tick (V8's default: 66 KiB, several
 * ticks per function). A mail process serves one uid, so with many users each sees a small
 * share of the commands, and at the default its command paths reached optimised code only
 * after about a minute of load. The price of a lower budget is compiling more, and sooner.
 *
 * IMAP (mail processes), 20 users on 20 uids running the bench's mix, server CPU per command
 * 60-80 s after login: 0.341 / 0.305 ms at the default, 0.287 at 32 KiB, 0.260 / 0.275 at
 * 16 KiB (8 KiB: 0.268). But an imap process serving 1,000 idle sessions keeps the code it
 * optimised for their logins: idle PSS per connection 46.5 KiB at the default, 47.8 at
 * 32 KiB, 49.1 / 51.0 at 16 KiB, against a target of a tenth of Dovecot's 502. And the
 * first 10 s of the mix ran ~30% fewer commands at 16 KiB.
 *
 * lmtp (its delivery children inherit it), 50 users, server CPU per delivery, seteuid, 25-33 s
 * into the load: 1.78 / 1.94 ms at the default, 1.61 / 1.56 at 16 KiB; fork, 60-68 s in:
 * 2.12 -> 1.78 (but 25-33 s in, 842 -> 642 deliveries/s: 50 processes, one per uid, still
 * compiling).
 */
const MAIL_INTERRUPT_BUDGET = 32 * 1024;
const LMTP_INTERRUPT_BUDGET = 16 * 1024;

/**
 * Mail processes collect garbage on their own thread. By default V8 spreads a scavenge over
 * helper threads and marks concurrently, which pays when a process has cores to itself. A
 * mail server runs many busy processes on few cores: a helper waits for a core while the
 * main thread waits for the helper (--trace-gc in the mix: median scavenge 2.5 ms of wall
 * time for a 2 MiB young generation), and helpers took 14% of an imap process's CPU.
 * The bench's mix (20 uids, 2 cores), server CPU per command 50-75 s after login, three
 * rounds: 0.273 / 0.246 / 0.247 ms with helpers, 0.237 / 0.225 / 0.230 without; commands
 * per second 6,219 / 6,785 / 6,720 against 7,034 / 7,346 / 7,250. lmtp showed no
 * difference (1,183 / 1,056 against 1,157 / 1,067 deliveries/s) and keeps the default.
 */
const MAIL_GC_FLAG = '--single-threaded-gc';
/**
 * No allocation-site pretenuring, in every service. Once most objects of an allocation site
 * survive a scavenge, V8 allocates that site's objects straight in the old generation, and
 * a site that once made long-lived objects keeps doing so for short-lived ones: in an imap
 * process that had taken 2,500 APPENDs, SEARCH BODY over 100,000 messages promoted ~23 MiB
 * a second and ran a full mark-compact every ~150 ms (2.9-3.3 s a search; 2.0-2.1 s and no
 * mark-compact between rounds without pretenuring, Dovecot 2.4 s). In the IMAP mix (20
 * uids, 30-52 s after login) the imap processes ran 20 mark-compacts (3.9 s of CPU) and now
 * run none: server CPU per command 0.945 / 0.993 ms -> 0.832 / 0.860, commands per second
 * 1,891 / 1,792 -> 2,126 / 2,049, alternating. Later (60-80 s) the sites have settled and
 * the mix shows no difference beyond the machine's noise (0.795 / 0.807 ms without, 0.724 /
 * 0.891 with); nor does lmtp, nor idle memory (50.3 KiB per connection against 48.2).
 */
const PRETENURING_FLAG = '--no-allocation-site-pretenuring';
/** Each of the young generation's two halves, for every service (see spawn()). */
const YOUNG_SEMI_SPACE_MIB = 1;

export class ServicePool {
  readonly processes = new Set<ProcessEntry>();
  /** False once a newer generation replaced this pool: it only drains. */
  current = true;
  private failures = 0;
  private throttledUntil = 0;
  private throttleTimer: NodeJS.Timeout | undefined;
  private limitLogged = false;
  /** Hand-offs waiting for a free slot (on-demand pools). */
  private readonly waiters: Array<{ resolve(entry: ProcessEntry): void; reject(err: Error): void; timer: NodeJS.Timeout }> = [];

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

  /**
   * Processes this pool keeps at least: process_min_avail, and never zero for a service
   * that accepts on listeners (see DESIGN §2); a per-uid mail pool starts on demand.
   */
  private get minimum(): number {
    // A mail service's process_min_avail is the number of spares (its spare pool's minimum),
    // kept while a new process may be needed (see Master.spareWanted).
    if (this.settings.type === 'mail' && !this.spares) return 0;
    if (this.spares && this.host.spareWanted?.(this.name) === false) return 0;
    const floor = this.settings.type === 'mail' ? 0 : 1;
    return Math.min(this.settings.process_limit, Math.max(floor, this.settings.process_min_avail));
  }

  /**
   * Whether this is a mail service's spare pool: processes started with no user (ENV.SPARE),
   * which wait for a user's pool to take them (takeSpare) rather than for clients.
   */
  get spares(): boolean {
    return this.extraEnv[ENV.SPARE] === '1';
  }

  /**
   * Whether a login could be served without starting a process: one is starting, or one has
   * a tenth of its client slots (at least one) free.
   */
  hasRoom(): boolean {
    const spareSlots = Math.max(1, Math.ceil(this.settings.client_limit / 10));
    return this.liveProcesses().some((e) => e.state === 'starting' || (e.state === 'ready' && e.available >= spareSlots));
  }

  /**
   * A spare for a user's pool: out of this pool, its listeners removed; another is started
   * in its place when one is wanted. Only one whose IPC channel is still open.
   */
  takeSpare(): ChildProcess | undefined {
    if (!this.spares || !this.current) return undefined;
    for (const entry of this.processes) {
      if (entry.state !== 'starting' || !entry.child.connected) continue;
      this.processes.delete(entry);
      entry.detach();
      setImmediate(() => this.ensure());
      return entry.child;
    }
    return undefined;
  }

  /**
   * A ready process with a free client slot, forking one when none has (mail pools). The
   * slot is taken at once, so two hand-offs in a row cannot both take the last one.
   */
  acquire(): Promise<ProcessEntry> {
    const entry = this.freeProcess();
    if (entry) return Promise.resolve(entry);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`service(${this.name}): no process had a free slot within ${ACQUIRE_TIMEOUT_MS} ms (process_limit ${this.settings.process_limit}, client_limit ${this.settings.client_limit})`));
      }, ACQUIRE_TIMEOUT_MS);
      this.waiters.push({ resolve, reject, timer });
      this.growForWaiters();
    });
  }

  private freeProcess(): ProcessEntry | undefined {
    for (const entry of this.processes) {
      if (entry.state === 'ready' && entry.available > 0 && entry.child.connected) {
        entry.available--;
        entry.clients++;
        return entry;
      }
    }
    return undefined;
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const entry = this.freeProcess();
      if (!entry) break;
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(entry);
    }
    if (this.waiters.length > 0) this.growForWaiters();
  }

  /** One more process when hand-offs wait and none is starting. */
  private growForWaiters(): void {
    const live = this.liveProcesses();
    if (live.some((e) => e.state === 'starting')) return;
    if (this.cannotFork(live.length, 'sessions wait for a free slot', () => this.growForWaiters())) return;
    this.spawn();
  }

  /**
   * Whether forking must wait: at process_limit (said once in the log, with what waits), or
   * while start-up failures throttle the service (then `retry` runs when the wait is over).
   */
  private cannotFork(live: number, whatWaits: string, retry: () => void): boolean {
    if (live >= this.settings.process_limit) {
      if (!this.limitLogged) {
        this.host.logger.warn(`service(${this.name}): process_limit (${this.settings.process_limit}) reached, ${whatWaits}`);
        this.limitLogged = true;
      }
      return true;
    }
    if (this.throttledUntil > Date.now()) {
      this.throttleTimer ??= setTimeout(() => {
        this.throttleTimer = undefined;
        retry();
      }, this.throttledUntil - Date.now());
      return true;
    }
    return false;
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
    if (this.cannotFork(live.length, 'client connections are queued', () => this.ensure())) return;
    const room = this.settings.process_limit - live.length;
    for (let i = 0; i < Math.min(wanted, room); i++) this.spawn();
  }

  private spawn(): void {
    const { settings, identity } = this;
    if (settings.type === 'mail' && !this.spares) {
      // A spare has loaded its code already: it drops to the user and starts (see ENV.SPARE).
      const child = this.host.takeSpare?.(this.name);
      if (child) {
        this.track(child, false);
        sendSafe(child, { type: 'assume', ...identity });
        return;
      }
    }
    const env: NodeJS.ProcessEnv = {
      ...this.host.baseEnvironment(),
      ...this.extraEnv,
      [ENV.SERVICE]: this.name,
      [ENV.GENERATION]: String(this.generation),
      [ENV.CLIENT_LIMIT]: String(settings.client_limit),
      [ENV.SERVICE_COUNT]: String(settings.service_count),
    };
    // One malloc arena: in glibc each thread that mallocs gets an arena of its own, and V8's
    // compiler threads leave 1-4 MiB in theirs after a burst, never given back (measured
    // after 1,000 logins: auth +3.9 MiB, imap-login +1.9, anvil +1.7; with one arena, none).
    // Mail processes keep the default: they run the IMAP commands, where threads contend.
    // (loftd itself gets it from etc/loftd.service and `npm start`.)
    if (settings.type !== 'mail') env.MALLOC_ARENA_MAX = '1';
    if (identity.uid !== undefined && identity.gid !== undefined) {
      env[ENV.UID] = String(identity.uid);
      env[ENV.GID] = String(identity.gid);
      if (identity.user) env[ENV.USER] = identity.user;
      if (identity.extraGids?.length) env[ENV.EXTRA_GIDS] = identity.extraGids.join(',');
    }
    // A small young generation: V8 lets it grow to 16 MiB per semi-space, which in a dozen
    // mostly idle processes is memory that serves nothing (measured: idle PSS per IMAP
    // connection 153 -> 73 KiB, no change in IMAP throughput). Mail processes had 2 MiB
    // until they collected on one thread (MAIL_GC_FLAG); since then 1 MiB runs the mix as
    // fast (three rounds: 6,814 / 5,821 / 6,766 commands/s against 6,617 / 5,804 / 6,769)
    // and idle PSS per connection is ~1 KiB lower (49.65 / 47.84 against 50.41 / 49.26).
    // --expose-gc: for the idle collector (service-runtime), which otherwise needs a context
    // of its own (~145 KiB) to reach gc().
    const execArgv = [`--max-semi-space-size=${YOUNG_SEMI_SPACE_MIB}`, '--expose-gc', PRETENURING_FLAG];
    if (settings.type === 'mail') execArgv.push(`--interrupt-budget=${MAIL_INTERRUPT_BUDGET}`, MAIL_GC_FLAG);
    else if (this.name === 'lmtp') execArgv.push(`--interrupt-budget=${LMTP_INTERRUPT_BUDGET}`);
    if (settings.vsz_limit > 0) execArgv.push(`--max-old-space-size=${Math.max(16, Math.floor(settings.vsz_limit / BYTES_PER_MIB))}`);
    let child: ChildProcess;
    try {
      // The log service writes to loftd's own stderr; relaying its output to itself would loop.
      const stdio = this.name === 'log' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'];
      // detached: a process group of its own, so Ctrl-C or a group-wide SIGTERM reaches only the
      // master, which stops services in order. A child whose master dies exits on 'disconnect'.
      child = fork(this.modulePath, [], { env, execArgv, stdio: stdio as ('ignore' | 'pipe' | 'inherit' | 'ipc')[], serialization: 'json', detached: true, cwd: this.name === 'config' ? undefined : this.host.workingDirectory() });
    } catch (err) {
      this.host.logger.error({ err }, `service(${this.name}): fork failed`);
      this.startFailed();
      return;
    }
    const entry = this.track(child);
    for (const listener of this.listeners) this.sendListener(entry, listener);
  }

  /** Watches a child of this pool; `relay`: attach its output to the log (not again for an adopted spare). */
  private track(child: ChildProcess, relay = true): ProcessEntry {
    const pid = child.pid ?? 0;
    let markExited!: () => void;
    const onMessage = (message: unknown, handle: unknown): void => this.onMessage(entry, message, handle);
    const onError = (err: Error): void => this.host.logger.debug({ err, pid }, `service(${this.name}): IPC error`);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      this.onExit(entry, code, signal);
      markExited();
    };
    const entry: ProcessEntry = {
      child, pid, pool: this, generation: this.generation, started: Date.now(),
      channel: new ChildChannel(child, `service(${this.name}) pid ${pid}`),
      state: 'starting', clients: 0, available: 0,
      exited: new Promise<void>((resolve) => { markExited = resolve; }),
      detach: () => {
        child.off('message', onMessage);
        child.off('error', onError);
        child.off('exit', onExit);
        entry.channel.close();
      },
    };
    this.processes.add(entry);
    if (relay) this.host.relay.attach(child, this.name);
    child.on('message', onMessage);
    child.on('error', onError);
    child.once('exit', onExit);
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

  private onMessage(entry: ProcessEntry, message: unknown, handle?: unknown): void {
    const msg = message as ChildToMaster;
    switch (msg?.type) {
      case 'handoff':
        if (this.settings.type !== 'login' || !isCount(msg.handoffId) || typeof msg.ticket !== 'string' || typeof msg.tag !== 'string' ||
          typeof msg.service !== 'string' || typeof msg.pending !== 'string' || typeof msg.client !== 'object' || msg.client === null) break;
        this.host.onHandoff(entry, msg, handle);
        return;
      case 'session-start':
        if (this.settings.type !== 'mail' || typeof msg.sessionId !== 'string') break;
        this.host.onSessionStart(entry, msg.sessionId);
        return;
      case 'session-end':
        if (this.settings.type !== 'mail' || typeof msg.sessionId !== 'string') break;
        this.host.onSessionEnd(entry, msg.sessionId);
        return;
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
        this.serveWaiters();
        if (this.settings.type === 'mail') this.host.onMailPoolChange?.(this);
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
    if (this.waiters.length > 0) this.growForWaiters();
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
    this.failWaiters('a new configuration generation started');
    for (const entry of this.processes) {
      if (entry.state === 'stopping') continue;
      entry.state = 'stopping';
      clearTimeout(entry.idleTimer);
      sendSafe(entry.child, { type: 'stop-accepting' });
    }
  }

  private failWaiters(reason: string): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(reason));
    }
  }

  /** Stop every process, waiting for all of them (each is killed after graceMs). */
  async stopAll(graceMs: number): Promise<void> {
    this.current = false;
    clearTimeout(this.throttleTimer);
    this.failWaiters('loftd is stopping');
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
