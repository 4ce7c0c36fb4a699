/**
 * loftd's brain: starts config first and learns the settings from it, takes the pid file,
 * creates every listener, starts log and then every other service, serves the control
 * socket, and handles reload and stop. Listener handles belong to the master for the life
 * of the daemon; processes come and go around them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { LoftError, describeError } from '@loft/errors';
import { IpcServer } from '@loft/ipc';
import { createLogger, type Logger, type LogLevel } from '@loft/log';
import {
  ENV, RUN_FILES, type AnvilSession, type ChildToMaster, type ConfigForMaster, type ConfigReloadResult, type LogErrorEntry, type MasterControlProtocol,
  type MasterSettings, type ProcessInfo, type ServiceInfo, type ServiceSettings,
} from '@loft/master-protocol';
import { CORE_SERVICES, SERVICE_DEFAULTS } from './settings.js';
import { checkInetListeners, closeListener, createInetHandle, createUnixHandle, inetListenerKey, unixListenerKey, type ListenerHandle } from './listeners.js';
import { LogRelay } from './log-relay.js';
import { acquirePidFile, type PidFile } from './pid-file.js';
import { ServicePool, type PoolHost, type ProcessEntry } from './service-pool.js';
import { AuthUserdbClient } from './auth-userdb-client.js';
import { HandoffBroker, type HandoffHost } from './handoff.js';
import { resolveExecutable, resolveIdentity, resolveSocketOwner } from './identity.js';
import { UNLINKED_ENV } from '@loft/service-runtime';

const CORE_STOP_GRACE_MS = 5_000;
/**
 * At start, what a login needs is forked first: these, the login services and the mail
 * services' spares; the rest (lmtp, adm, ...) once these are ready, or after
 * LATER_SERVICES_WAIT_MS. Each service is a Node process that takes ~0.2 s of CPU to start,
 * and on two cores the login path waited behind the others (cold start to the first login
 * 1.8 s with everything at once; see docs/benchmark-notes.md). Their listeners are open
 * from the start, so a delivery that comes meanwhile waits in the backlog.
 */
const LOGIN_PATH_SERVICES: readonly string[] = ['log', 'auth', 'anvil'];
const LATER_SERVICES_WAIT_MS = 3_000;
const MASTER_SOCKET_MODE = 0o600;

export interface MasterOptions {
  configFile: string;
  /** --base-dir: overrides base_dir from the config. */
  baseDir?: string;
  /** Called once everything has stopped (SIGTERM or loftadm stop). */
  onStopped?: () => void;
}

export class Master implements PoolHost, HandoffHost {
  readonly relay = new LogRelay();
  readonly logger: Logger;
  private settings!: MasterSettings;
  private generation = 0;
  private readonly rootless = process.getuid?.() !== 0;
  private readonly pools = new Map<string, ServicePool>();
  /** Mail services' pools, one per uid: `service:uid`. Created when a user first logs in. */
  private mailPools = new Map<string, ServicePool>();
  /** Per mail service with process_min_avail: spares that wait for a user (see ServicePool.takeSpare). */
  private sparePools = new Map<string, ServicePool>();
  /** Per mail service, the module its processes run: resolved at start and reload, not per uid (a stat per linked file). */
  private mailModules = new Map<string, string>();
  /** Per mail service, the uid of all its logins so far, or 'several' (see spareWanted). */
  private readonly loginUid = new Map<string, number | 'several'>();
  readonly auth = new AuthUserdbClient(() => this.listenerPath('auth-userdb'));
  private readonly broker = new HandoffBroker(this);
  /** Older generations still draining their clients. */
  private readonly draining = new Set<ServicePool>();
  private listeners = new Map<string, ListenerHandle>();
  private pidFile: PidFile | undefined;
  private control: IpcServer<MasterControlProtocol> | undefined;
  /** At start, the login path's pools not ready yet, and what starts the rest (see LOGIN_PATH_SERVICES). */
  private loginPath: { waiting: Set<ServicePool>; startRest: () => void; timer: NodeJS.Timeout } | undefined;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<number> | undefined;
  /** A service's linked module is older than its compiled files (see resolveExecutable). */
  private readonly warnStale = (message: string): void => this.logger.warn(message);

  constructor(private readonly options: MasterOptions) {
    const relay = this.relay;
    const destination = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) relay.push({ service: 'master', pid: process.pid, line });
        done();
      },
    });
    this.logger = createLogger({ service: 'master', destination });
  }

  private get runDir(): string {
    return path.join(this.settings.base_dir, 'run');
  }

  baseEnvironment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      [ENV.LOG_LEVEL]: this.settings?.log_level ?? 'info',
    };
    if (process.env.TZ) env.TZ = process.env.TZ;
    // lmtp starts its delivery children itself (see linkedModule).
    if (process.env[UNLINKED_ENV]) env[UNLINKED_ENV] = process.env[UNLINKED_ENV];
    if (this.settings) {
      env[ENV.BASE_DIR] = this.settings.base_dir;
      env[ENV.CONFIG_SOCKET] = path.join(this.runDir, RUN_FILES.CONFIG_SOCKET);
    }
    return env;
  }

  /** config keeps loftd's own directory: a relative base_dir in loft.conf is relative to it. */
  workingDirectory(): string | undefined {
    return this.settings?.base_dir;
  }

  onProcessReady(entry: ProcessEntry): void {
    if (entry.pool.name === 'log') this.relay.setSink(entry.child);
    if (this.loginPath?.waiting.delete(entry.pool) && this.loginPath.waiting.size === 0) this.loginPath.startRest();
  }

  onProcessExit(entry: ProcessEntry): void {
    if (entry.pool.name === 'log') this.relay.setSink(undefined);
    if (entry.pool.settings.type === 'mail') {
      this.broker.processGone(entry);
      this.onMailPoolChange(entry.pool);
    }
    if (!entry.pool.current && entry.pool.processes.size === 0) this.draining.delete(entry.pool);
  }

  onHandoff(entry: ProcessEntry, message: Extract<ChildToMaster, { type: 'handoff' }>, socket: unknown): void {
    void this.broker.handoff(entry, message, socket);
  }

  onSessionStart(entry: ProcessEntry, sessionId: string): void {
    this.broker.sessionStarted(entry, sessionId);
  }

  onSessionEnd(entry: ProcessEntry, sessionId: string): void {
    this.broker.sessionEnded(entry, sessionId);
  }

  takeSpare(service: string): ChildProcess | undefined {
    return this.sparePools.get(service)?.takeSpare();
  }

  /**
   * Whether mail service `service` keeps its spares (process_min_avail) now. A spare serves
   * the first login of a uid that has no process with a free slot. While every login so far
   * came for one uid (virtual users: most servers run all mail as one uid), that uid's
   * process takes the next logins, and a spare would wait for nothing, holding a Node
   * process's memory (~20 MiB). It is wanted again as soon as a second uid logs in, or the
   * one uid's processes are gone or nearly full.
   */
  spareWanted(service: string): boolean {
    const uid = this.loginUid.get(service);
    if (uid === undefined || uid === 'several') return true;
    return !(this.mailPools.get(`${service}:${uid}`)?.hasRoom() ?? false);
  }

  /** A user's mail pool changed (a process reported its clients, or exited): its spares may be wanted again, or no longer. */
  onMailPoolChange(pool: ServicePool): void {
    if (!pool.spares) this.sparePools.get(pool.name)?.ensure();
  }

  /** Starts the spares of mail service `name` (process_min_avail of them), if it wants any. */
  private startSpares(name: string, service: ServiceSettings): void {
    const modulePath = this.mailModules.get(name);
    if (service.process_min_avail <= 0 || !modulePath) return;
    const pool = new ServicePool(name, service, this.generation, [], {}, modulePath, this, { [ENV.SPARE]: '1' });
    this.sparePools.set(name, pool);
    pool.ensure();
  }

  mailPool(service: string, uid: number, gid: number): ServicePool | undefined {
    const settings = this.settings.service[service];
    const modulePath = this.mailModules.get(service);
    if (!settings || settings.type !== 'mail' || !modulePath) return undefined;
    const key = `${service}:${uid}`;
    const seen = this.loginUid.get(service);
    if (seen !== uid && seen !== 'several') this.loginUid.set(service, seen === undefined ? uid : 'several');
    let pool = this.mailPools.get(key);
    if (!pool) {
      const identity = this.rootless ? {} : { uid, gid };
      pool = new ServicePool(service, settings, this.generation, [], identity, modulePath, this);
      this.mailPools.set(key, pool);
    }
    return pool;
  }

  validUid(uid: number): boolean {
    if (this.rootless) return true; // every process runs as the invoking user anyway
    return uid >= this.settings.first_valid_uid && (this.settings.last_valid_uid === 0 || uid <= this.settings.last_valid_uid);
  }

  async countSessions(user: string, remoteIp: string): Promise<{ count: number; limit: number }> {
    const anvil = this.readyProcess('anvil');
    if (!anvil) return { count: 0, limit: 0 };
    return anvil.channel.request<{ count: number; limit: number }>('anvil-count', { user, remoteIp });
  }

  notifyAnvil(event: 'start' | 'end', session: AnvilSession): void {
    const anvil = this.readyProcess('anvil');
    if (anvil?.child.connected) anvil.child.send({ type: 'anvil-session', event, session }, () => undefined);
  }

  /** Path of the unix listener with this name, in whichever service declares it. */
  private listenerPath(name: string): string | undefined {
    for (const service of Object.values(this.settings?.service ?? {})) {
      const listener = service.unix_listener[name];
      if (listener) return path.resolve(this.runDir, listener.path || name);
    }
    return undefined;
  }

  private async who(user?: string): Promise<AnvilSession[]> {
    const anvil = this.readyProcess('anvil');
    if (!anvil) throw new LoftError('LOFT_E_MASTER_UNKNOWN_SERVICE', 'the anvil service is not running');
    return anvil.channel.request<AnvilSession[]>('anvil-who', { user });
  }

  private kick(user: string): { kicked: number } {
    const kicked = this.broker.sessionsOf(user);
    for (const pid of this.broker.pidsOf(user)) {
      for (const pool of this.mailPoolsAll()) {
        for (const entry of pool.processes) if (entry.pid === pid && entry.child.connected) entry.child.send({ type: 'kick', user }, () => undefined);
      }
    }
    return { kicked };
  }

  private mailPoolsAll(): ServicePool[] {
    return [...this.mailPools.values(), ...[...this.draining].filter((p) => p.settings.type === 'mail')];
  }

  async start(): Promise<void> {
    process.title = 'loft/master';
    const configPool = this.bootstrapConfig();
    const initial = await this.fetchConfig(configPool);
    checkInetListeners(initial.settings.service);
    this.settings = initial.settings;
    this.generation = initial.generation;
    this.logger.level = this.settings.log_level as LogLevel;
    fs.mkdirSync(this.runDir, { recursive: true, mode: 0o755 });
    this.pidFile = await acquirePidFile(this.runDir, (err) => this.logger.error({ err }, 'pid file lock was compromised'));
    if (this.rootless) {
      this.logger.warn(`not running as root (uid ${process.getuid?.()}): rootless mode, every service runs as this user and user/group settings are ignored`);
    }
    configPool.settings = this.settings.service.config;
    for (const handle of await this.openListeners('config', this.settings.service.config, this.listeners, this.listeners)) {
      configPool.addListener(handle);
    }
    // Every pool's users and listeners first, side by side (a user lookup is a getent process,
    // and one after another they held back the last service's fork by half a second), then
    // the forks: log first, so that the others' first lines have somewhere to go, and the
    // login path before the rest.
    const services = Object.entries(this.settings.service).filter(([name, service]) => name !== 'config' && service.type !== 'mail');
    services.sort(([a], [b]) => Number(b === 'log') - Number(a === 'log'));
    const pools = await settleAll(services.map(([name, service]) => this.preparePool(name, service, this.generation, this.listeners)));
    const loginPath = pools.filter((pool) => LOGIN_PATH_SERVICES.includes(pool.name) || pool.settings.type === 'login');
    for (const pool of pools) this.pools.set(pool.name, pool);
    for (const pool of loginPath) pool.ensure();
    for (const [name, service] of Object.entries(this.settings.service)) {
      if (service.type !== 'mail' || (CORE_SERVICES as readonly string[]).includes(name)) continue;
      this.mailModules.set(name, resolveExecutable(name, service, this.warnStale)); // started per user on demand
      this.startSpares(name, service);
    }
    this.startAfterLoginPath(loginPath, pools.filter((pool) => !loginPath.includes(pool)));
    await this.startControl();
    this.logger.info({ generation: this.generation, base_dir: this.settings.base_dir }, `loftd started (generation ${this.generation}, ${this.pools.size} services)`);
  }

  /** Start `rest` once every pool of `loginPath` has a ready process, or after LATER_SERVICES_WAIT_MS. */
  private startAfterLoginPath(loginPath: ServicePool[], rest: ServicePool[]): void {
    const startRest = (): void => {
      clearTimeout(timer);
      this.loginPath = undefined;
      for (const pool of rest) pool.ensure(); // a no-op for a pool that a reload or stop retired meanwhile
    };
    const timer = setTimeout(startRest, LATER_SERVICES_WAIT_MS);
    this.loginPath = { waiting: new Set(loginPath), startRest, timer };
    if (loginPath.length === 0) startRest();
  }

  /** Config runs before anything else is known; its listener comes once base_dir is. */
  private bootstrapConfig(): ServicePool {
    const settings: ServiceSettings = { ...SERVICE_DEFAULTS, process_limit: 1, idle_kill: 0, inet_listener: {}, unix_listener: {} };
    const extraEnv: NodeJS.ProcessEnv = { [ENV.CONFIG_FILE]: this.options.configFile };
    if (this.options.baseDir) extraEnv[ENV.BASE_DIR] = this.options.baseDir;
    const pool = new ServicePool('config', settings, 1, [], {}, resolveExecutable('config', settings, this.warnStale), this, extraEnv);
    this.pools.set('config', pool);
    pool.ensure();
    return pool;
  }

  private async fetchConfig(pool: ServicePool): Promise<ConfigForMaster> {
    const entry = [...pool.processes][0];
    if (!entry) throw new LoftError('LOFT_E_MASTER_CONFIG', 'the config service could not be started');
    try {
      return await entry.channel.request<ConfigForMaster>('config-master');
    } catch (err) {
      throw new LoftError('LOFT_E_MASTER_CONFIG', describeError(err), { cause: err });
    }
  }

  /** A pool of `generation`, not started: its user resolved, its listeners open and recorded in `opened`. */
  private async preparePool(name: string, service: ServiceSettings, generation: number, opened: Map<string, ListenerHandle>): Promise<ServicePool> {
    const [identity, listeners] = await Promise.allSettled([resolveIdentity(name, service, this.rootless), this.openListeners(name, service, this.listeners, opened)]);
    if (identity.status === 'rejected') throw identity.reason;
    if (listeners.status === 'rejected') throw listeners.reason;
    return new ServicePool(name, service, generation, listeners.value, identity.value, resolveExecutable(name, service, this.warnStale), this);
  }

  /**
   * The listeners a service's settings ask for: taken from `available` when the same one
   * exists (a reload keeps its sockets), else created; each is recorded in `opened`, even
   * when another of them fails, so that the caller can close them all.
   */
  private async openListeners(name: string, service: ServiceSettings, available: Map<string, ListenerHandle>, opened: Map<string, ListenerHandle>): Promise<ListenerHandle[]> {
    const record = (handle: ListenerHandle): ListenerHandle => {
      opened.set(handle.key, handle);
      return handle;
    };
    const inet = Object.entries(service.inet_listener).filter(([, listener]) => listener.port !== 0).map(async ([listenerName, listener]) => {
      const key = inetListenerKey(name, listenerName, listener.address, listener.port, listener.ssl);
      return record(available.get(key) ?? await createInetHandle(name, listenerName, listener.address, listener.port, listener.ssl));
    });
    const unix = Object.entries(service.unix_listener).map(async ([listenerName, listener]) => {
      const socketPath = path.resolve(this.runDir, listener.path || listenerName);
      const existing = available.get(unixListenerKey(name, listenerName, socketPath, listener.mode));
      return record(existing ?? createUnixHandle(name, listenerName, socketPath, listener.mode, await resolveSocketOwner(listener.user, listener.group, this.rootless)));
    });
    return settleAll([...inet, ...unix]);
  }

  private async startControl(): Promise<void> {
    const control = new IpcServer<MasterControlProtocol>({
      'process-status': ({ service }) => this.processStatus(service),
      'service-status': () => this.serviceStatus(),
      'service-stop': ({ service }) => this.stopService(service),
      reload: async () => ({ generation: await this.reload() }),
      stop: () => {
        setImmediate(() => void this.stop());
        return { ok: true as const };
      },
      'log-errors': ({ since }) => this.logErrors(since),
      'log-reopen': () => {
        this.reopenLog();
        return { ok: true as const };
      },
      who: ({ user }) => this.who(user),
      kick: ({ user }) => this.kick(user),
      'auth-test': ({ user, password, service }) => this.auth.request('auth-test', { user, password, service: service ?? 'imap' }),
      'user-lookup': ({ user, service }) => this.auth.request('user-lookup', { user, service: service ?? 'imap' }),
      'config-dump': async (params) => {
        const config = this.readyProcess('config');
        if (!config) throw new LoftError('LOFT_E_MASTER_CONFIG', 'the config service is not running');
        return { text: await config.channel.request<string>('config-dump', params), generation: this.generation };
      },
    }, { logger: this.logger, name: RUN_FILES.MASTER_SOCKET });
    await control.listen(path.join(this.runDir, RUN_FILES.MASTER_SOCKET), MASTER_SOCKET_MODE);
    this.control = control;
  }

  private allPools(): ServicePool[] {
    return [...this.pools.values(), ...this.mailPools.values(), ...this.sparePools.values(), ...this.draining];
  }

  processStatus(service?: string): ProcessInfo[] {
    const result: ProcessInfo[] = [];
    for (const pool of this.allPools()) {
      if (service && pool.name !== service) continue;
      for (const entry of pool.processes) {
        result.push({
          pid: entry.pid, service: pool.name,
          uid: pool.identity.uid ?? process.getuid?.() ?? 0, gid: pool.identity.gid ?? process.getgid?.() ?? 0,
          generation: entry.generation, clients: entry.clients, available: entry.available,
          state: entry.state === 'starting' && pool.spares ? 'spare' : entry.state, started: entry.started,
        });
      }
    }
    return result.sort((a, b) => a.service.localeCompare(b.service) || a.pid - b.pid);
  }

  serviceStatus(): ServiceInfo[] {
    return [...this.pools.values()].map((pool) => ({
      name: pool.name,
      executable: pool.settings.executable || pool.name,
      processes: pool.processes.size,
      process_limit: pool.settings.process_limit,
      process_min_avail: pool.settings.process_min_avail,
      client_limit: pool.settings.client_limit,
      clients: pool.clients,
      throttled_until: pool.throttledUntilMs,
      listeners: pool.listeners.map((l) => `${l.kind}:${l.name}=${l.where}`),
    }));
  }

  /** Stop a service's processes; new ones start as they are needed (doveadm service stop). */
  private async stopService(service: string): Promise<{ stopped: number }> {
    const pool = this.pools.get(service);
    if (!pool) throw new LoftError('LOFT_E_MASTER_UNKNOWN_SERVICE', service);
    const entries = [...pool.processes].filter((e) => e.state !== 'stopping');
    for (const entry of entries) pool.stopProcess(entry, this.settings.shutdown_timeout);
    await Promise.all(entries.map((e) => e.exited));
    return { stopped: entries.length };
  }

  private async logErrors(since?: number): Promise<LogErrorEntry[]> {
    const log = this.readyProcess('log');
    if (!log) throw new LoftError('LOFT_E_MASTER_UNKNOWN_SERVICE', 'the log service is not running');
    return log.channel.request<LogErrorEntry[]>('log-errors', { since });
  }

  reopenLog(): void {
    const log = this.readyProcess('log');
    if (log) log.child.send({ type: 'log-reopen' }, () => undefined);
  }

  private readyProcess(service: string): ProcessEntry | undefined {
    const pool = this.pools.get(service);
    return pool ? [...pool.processes].find((e) => e.state === 'ready') : undefined;
  }

  /** SIGHUP / loftadm reload. Concurrent calls share one reload. */
  reload(): Promise<number> {
    this.reloading ??= this.doReload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async doReload(): Promise<number> {
    const config = this.readyProcess('config');
    if (!config) throw new LoftError('LOFT_E_MASTER_CONFIG', 'the config service is not running');
    const result = await config.channel.request<ConfigReloadResult>('config-reload');
    if (!result.ok) {
      for (const error of result.errors) this.logger.error(`reload: ${error}`);
      this.logger.error(`reload failed: configuration has ${result.errors.length} error(s); generation ${this.generation} keeps running`);
      throw new LoftError('LOFT_E_CONF_INVALID', result.errors.join('\n'));
    }
    const next = await config.channel.request<ConfigForMaster>('config-master');
    try {
      await this.applyGeneration(next);
    } catch (err) {
      this.logger.error({ err }, `reload failed: ${describeError(err)}; generation ${this.generation} keeps running`);
      throw err;
    }
    return this.generation;
  }

  private async applyGeneration(next: ConfigForMaster): Promise<void> {
    const settings = next.settings;
    if (settings.base_dir !== this.settings.base_dir) {
      this.logger.warn(`base_dir changed to ${settings.base_dir}; it takes effect only after a restart`);
      settings.base_dir = this.settings.base_dir;
    }
    // Resolve everything that can fail before touching the running generation.
    checkInetListeners(settings.service);
    const mailModules = new Map<string, string>();
    for (const [name, service] of Object.entries(settings.service)) {
      if (service.type === 'mail' && !(CORE_SERVICES as readonly string[]).includes(name)) mailModules.set(name, resolveExecutable(name, service, this.warnStale));
    }
    // Open the new generation's listeners (reusing identical ones) before retiring the old.
    const opened = new Map<string, ListenerHandle>();
    for (const core of CORE_SERVICES) for (const l of this.pools.get(core)?.listeners ?? []) opened.set(l.key, l);
    let fresh: ServicePool[];
    try {
      const services = Object.entries(settings.service).filter(([name, service]) => service.type !== 'mail' && !(CORE_SERVICES as readonly string[]).includes(name));
      fresh = await settleAll(services.map(([name, service]) => this.preparePool(name, service, next.generation, opened)));
    } catch (err) {
      for (const [key, listener] of opened) if (!this.listeners.has(key)) closeListener(listener);
      throw err;
    }
    this.settings = settings;
    this.generation = next.generation;
    this.logger.level = settings.log_level as LogLevel;
    for (const core of CORE_SERVICES) {
      const pool = this.pools.get(core);
      if (pool) pool.settings = { ...settings.service[core], inet_listener: pool.settings.inet_listener, unix_listener: pool.settings.unix_listener };
    }
    for (const [name, pool] of this.pools) {
      if ((CORE_SERVICES as readonly string[]).includes(name)) continue;
      pool.retire();
      this.pools.delete(name);
      if (pool.processes.size > 0) this.draining.add(pool);
    }
    for (const pool of [...this.mailPools.values(), ...this.sparePools.values()]) {
      pool.retire();
      if (pool.processes.size > 0) this.draining.add(pool);
    }
    this.mailPools = new Map();
    this.mailModules = mailModules;
    // Spares hold the old generation's settings: new ones start with the new settings.
    this.sparePools = new Map();
    for (const [name, service] of Object.entries(settings.service)) if (service.type === 'mail') this.startSpares(name, service);
    for (const pool of fresh) {
      this.pools.set(pool.name, pool);
      pool.ensure();
    }
    for (const [key, listener] of this.listeners) if (!opened.has(key)) closeListener(listener);
    this.listeners = opened;
    const log = this.readyProcess('log');
    if (log) void log.channel.request('log-reload').catch((err) => this.logger.error({ err }, 'log service did not reload its settings'));
    this.logger.info(`reloaded: generation ${this.generation} started`);
  }

  /** SIGTERM / loftadm stop: stop accepting, let children finish within a bound, clean up. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop().finally(() => this.options.onStopped?.());
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.logger.info('stopping');
    clearTimeout(this.loginPath?.timer); // the rest, not started yet, need not start now
    this.loginPath = undefined;
    await this.control?.close().catch(() => undefined);
    const grace = this.settings?.shutdown_timeout ?? CORE_STOP_GRACE_MS;
    const others = this.allPools().filter((p) => p.name !== 'log' && p.name !== 'config');
    await Promise.all(others.map((pool) => pool.stopAll(grace)));
    this.auth.close();
    await this.pools.get('config')?.stopAll(CORE_STOP_GRACE_MS);
    // Closed before log stops: a log process still starting up must find config.sock refused,
    // not a listening socket that nobody accepts on any more.
    for (const listener of this.listeners.values()) closeListener(listener);
    this.listeners.clear();
    this.logger.info('stopped');
    await this.flushLogThenStop();
    await this.pidFile?.release();
    this.relay.drainToStderr();
  }

  private async flushLogThenStop(): Promise<void> {
    const log = this.pools.get('log');
    if (!log) return;
    // Give the relay a turn to hand over the last lines, then stop log last.
    await new Promise((resolve) => setImmediate(resolve));
    await log.stopAll(CORE_STOP_GRACE_MS);
  }
}

/**
 * Promise.all that waits for every promise to settle before it rejects (with the first
 * failure), so that nothing is still opening a listener when the caller cleans up.
 */
async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
