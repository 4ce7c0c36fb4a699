/**
 * What every service's main does, in this order: read the environment the master set,
 * fetch settings from config (still privileged: config.sock is root-only), drop
 * privileges, take listeners from the master, serve, report free client slots, and shut
 * down gracefully. A service supplies only the parts that are its own.
 */
import net from 'node:net';
import { ENV, EXIT, type ChildToMaster, type ConfigProtocol, type FilterContext, type MasterToChild, type SessionHandoff } from '@loft/master-protocol';
import { IpcClient } from '@loft/ipc';
import { createLogger, isLogLevel, type Logger } from '@loft/log';
import type { DestinationStream } from 'pino';
import { dropPrivileges } from './privileges.js';
import { answerMasterRequest, isMasterMessage, sendToMaster } from './master-channel.js';
import { startIdleCollector } from './idle-collector.js';

const SETTINGS_FETCH_TIMEOUT_MS = 10_000;

export interface ListenerInfo {
  kind: 'inet' | 'unix';
  name: string;
  ssl: boolean;
}

export interface ServiceContext {
  readonly name: string;
  readonly generation: number;
  readonly baseDir: string;
  readonly logger: Logger;
  /** This service's settings from config (empty when the service fetches none). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The settings as `protocol NAME { }` filters make them, for each of the definition's `protocols`. */
  readonly protocolSettings: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly clientLimit: number;
  /** Count a client until its socket closes; the master learns the free slots. */
  trackClient(socket: net.Socket): void;
  /** Process title detail: `loft/<service> [detail]`. */
  setTitle(detail?: string): void;
  /**
   * Login services: give an authenticated client to the master (DESIGN §3). The socket is
   * paused here; after the call this process no longer owns it, and once it has left, it
   * no longer counts as a client here (it emits 'close'). A socket the master gives back
   * must be tracked again.
   */
  handoff(message: Omit<Extract<ChildToMaster, { type: 'handoff' }>, 'type'>, socket: net.Socket): void;
}

export interface ServiceDefinition {
  /** Fetch settings from config before dropping privileges (false only for config itself). */
  fetchSettings?: false | FilterContext;
  /**
   * Also fetch the settings as seen by these protocols (auth answers imap and lmtp alike,
   * and `protocol lmtp { }` may set its own auth_username_format). Fetched with the rest,
   * before the privilege drop: config.sock is root's.
   */
  protocols?: readonly string[];
  /** Where log lines go; default stderr (relayed by the master to the log service). */
  logDestination?: DestinationStream;
  /**
   * false: no idle collector (see idle-collector.ts). imap opts out: its compacting
   * collection after a quiet spell cost the next ~8 s of load a quarter of its rate
   * (docs/benchmark-notes.md, 2026-12-02 evening), for ~1 KiB of idle memory a session.
   */
  idleCollector?: boolean;
  /** Runs after the privilege drop and before `ready`. */
  start?(ctx: ServiceContext): Promise<void> | void;
  /** A connection accepted on one of this service's listeners; it is already tracked. */
  onConnection?(socket: net.Socket, listener: ListenerInfo, ctx: ServiceContext): void;
  /** A request from the master; the result goes back as the reply. */
  onRequest?(method: string, params: unknown, ctx: ServiceContext): Promise<unknown> | unknown;
  /** Master messages that are not the runtime's own (log-lines, log-reopen, handoff-failed, kick…); `handle` is a socket when one came along. */
  onMessage?(message: MasterToChild, ctx: ServiceContext, handle?: unknown): void;
  /** Mail services: an authenticated client handed over by the master; already tracked, its end reported. */
  onSession?(socket: net.Socket, session: SessionHandoff, ctx: ServiceContext): void;
  /** Stop serving: end clients politely. The process exits once no client is left. */
  onShutdown?(ctx: ServiceContext): Promise<void> | void;
}

interface Acceptor {
  server: net.Server;
  info: ListenerInfo;
}

export async function runService(definition: ServiceDefinition): Promise<ServiceContext> {
  const name = process.env[ENV.SERVICE] ?? 'unknown';
  const env = readEnvironment();
  const level = process.env[ENV.LOG_LEVEL];
  const logger = createLogger({
    service: name,
    level: isLogLevel(level) ? level : 'info',
    destination: definition.logDestination,
  });
  installCrashHandlers(logger);
  process.title = `loft/${name}`;

  // Listener handles and requests can arrive before start-up finishes: hold them until then.
  const early: Array<[MasterToChild, unknown]> = [];
  const route: { to?: Runtime } = {};
  const isSpare = process.env[ENV.SPARE] === '1';
  const spare = spareWaiter(isSpare);
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isMasterMessage(message)) {
      logger.error({ message }, 'ignoring malformed message from master');
      return;
    }
    if (message.type === 'assume') {
      if (!spare.assign(message)) logger.error({ message }, 'ignoring an assume message: this process is not a waiting spare');
      return;
    }
    // A spare nobody took is stopped before it has anything to finish.
    if (spare.waiting && (message.type === 'shutdown' || message.type === 'stop-accepting')) exitNow(EXIT.OK);
    if (route.to) route.to.onMasterMessage(message, handle);
    else early.push([message, handle]);
  });
  process.on('disconnect', () => {
    logger.warn('master process went away, exiting');
    exitNow(EXIT.OK);
  });

  let settings: Readonly<Record<string, unknown>> = Object.freeze({});
  const protocolSettings: Record<string, Readonly<Record<string, unknown>>> = {};
  if (definition.fetchSettings !== false) {
    settings = await fetchSettings(name, definition.fetchSettings ?? {}, logger);
    for (const protocol of definition.protocols ?? []) protocolSettings[protocol] = await fetchSettings(name, { ...definition.fetchSettings, protocol }, logger);
  }
  if (isSpare) {
    // A spare: code and settings are loaded; the user comes with the master's assume (it
    // may have come already).
    const who = await spare.assigned;
    env.uid = who.uid;
    env.gid = who.gid;
    env.user = who.user;
    if (process.getuid?.() === 0 && (env.uid === undefined || env.uid === 0)) {
      logger.fatal({ uid: env.uid }, 'a spare was given no user, or root, while running as root; it will not serve anyone as root');
      exitNow(EXIT.PRIVILEGES);
    }
  }
  if (env.uid !== undefined && env.gid !== undefined) {
    try {
      dropPrivileges({ uid: env.uid, gid: env.gid, user: env.user, extraGids: env.extraGids });
    } catch (err) {
      logger.fatal({ err, uid: env.uid, gid: env.gid }, `cannot drop privileges to uid ${env.uid}`);
      exitNow(EXIT.PRIVILEGES);
    }
  }

  const runtime = new Runtime(name, env, logger, settings, protocolSettings, definition);
  await definition.start?.(runtime.context);
  route.to = runtime;
  for (const [message, handle] of early) runtime.onMasterMessage(message, handle);
  sendToMaster({ type: 'ready' });
  runtime.reportStatus();
  if (definition.idleCollector !== false) startIdleCollector();
  return runtime.context;
}

/**
 * A spare's wait for its user: `assign` takes the master's one assume (uid and gid whole
 * numbers, or neither), `assigned` gives it to start-up.
 */
function spareWaiter(isSpare: boolean): { readonly waiting: boolean; assign(message: Extract<MasterToChild, { type: 'assume' }>): boolean; assigned: Promise<{ uid?: number; gid?: number; user?: string }> } {
  let resolve!: (who: { uid?: number; gid?: number; user?: string }) => void;
  const assigned = new Promise<{ uid?: number; gid?: number; user?: string }>((r) => {
    resolve = r;
  });
  let waiting = isSpare;
  const id = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  return {
    get waiting() {
      return waiting;
    },
    assign(message) {
      if (!waiting) return false;
      const both = id(message.uid) && id(message.gid);
      if (!both && (message.uid !== undefined || message.gid !== undefined)) return false;
      waiting = false;
      resolve(both ? { uid: message.uid, gid: message.gid, ...(typeof message.user === 'string' ? { user: message.user } : {}) } : {});
      return true;
    },
    assigned,
  };
}

interface RuntimeEnv {
  generation: number;
  baseDir: string;
  clientLimit: number;
  serviceCount: number;
  uid?: number;
  gid?: number;
  user?: string;
  extraGids?: number[];
}

function readEnvironment(): RuntimeEnv {
  const int = (key: string, fallback: number): number => {
    const value = Number.parseInt(process.env[key] ?? '', 10);
    return Number.isSafeInteger(value) ? value : fallback;
  };
  const uid = process.env[ENV.UID];
  const gid = process.env[ENV.GID];
  return {
    generation: int(ENV.GENERATION, 0),
    baseDir: process.env[ENV.BASE_DIR] ?? process.cwd(),
    clientLimit: Math.max(1, int(ENV.CLIENT_LIMIT, 1000)),
    serviceCount: Math.max(0, int(ENV.SERVICE_COUNT, 0)),
    uid: uid ? Number(uid) : undefined,
    gid: gid ? Number(gid) : undefined,
    user: process.env[ENV.USER] || undefined,
    extraGids: (process.env[ENV.EXTRA_GIDS] ?? '').split(',').filter((gid) => /^\d+$/.test(gid)).map(Number),
  };
}

/** Ask config for a service's settings. Needs access to config.sock (root, or rootless). */
export async function requestSettings(service: string, filter: FilterContext): Promise<Readonly<Record<string, unknown>>> {
  const path = process.env[ENV.CONFIG_SOCKET];
  if (!path) throw new Error(`${ENV.CONFIG_SOCKET} is not set; was this process started by loftd?`);
  const client = await IpcClient.connect<ConfigProtocol>(path, { timeoutMs: SETTINGS_FETCH_TIMEOUT_MS });
  try {
    const reply = await client.request('get-settings', { service, filter });
    return Object.freeze(reply.settings);
  } finally {
    client.close();
  }
}

async function fetchSettings(service: string, filter: FilterContext, logger: Logger): Promise<Readonly<Record<string, unknown>>> {
  try {
    return await requestSettings(service, filter);
  } catch (err) {
    logger.fatal({ err, socket: process.env[ENV.CONFIG_SOCKET] }, 'cannot fetch settings from the config service');
    return exitNow(EXIT.CONFIG);
  }
}

function installCrashHandlers(logger: Logger): void {
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception, exiting');
    exitNow(EXIT.FATAL);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection, exiting');
    exitNow(EXIT.FATAL);
  });
}

function exitNow(code: number): never {
  process.exit(code);
}

class Runtime {
  readonly context: ServiceContext;
  private readonly acceptors: Acceptor[] = [];
  private clients = 0;
  private served = 0;
  /** At client_limit: listeners closed until a slot frees. */
  private full = false;
  /** Old generation, service_count reached, or shutting down: never accept again. */
  private retiring = false;
  private statusQueued = false;

  constructor(
    readonly name: string,
    private readonly env: RuntimeEnv,
    readonly logger: Logger,
    settings: Readonly<Record<string, unknown>>,
    protocolSettings: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
    private readonly definition: ServiceDefinition,
  ) {
    this.context = {
      name,
      generation: env.generation,
      baseDir: env.baseDir,
      logger,
      settings,
      protocolSettings,
      clientLimit: env.clientLimit,
      trackClient: (socket) => this.trackClient(socket),
      setTitle: (detail) => {
        process.title = detail ? `loft/${name} [${detail}]` : `loft/${name}`;
      },
      handoff: (message, socket) => {
        socket.pause();
        if (!process.send) {
          this.logger.error('hand-off impossible: no channel to the master');
          socket.destroy();
          return;
        }
        process.send({ type: 'handoff', ...message }, socket, undefined, (err) => {
          if (err) this.logger.error({ err }, 'hand-off to the master failed');
          // Sent, the descriptor has left this process: Node took the handle out of the socket
          // object, which therefore never closes by itself, and a tracked client would count
          // forever (a stop would wait for it until SIGKILL). Destroying the empty object only
          // emits its 'close'; on an error it also closes the connection, which nobody serves.
          socket.destroy();
        });
      },
    };
  }

  onMasterMessage(message: MasterToChild, handle: unknown): void {
    switch (message.type) {
      case 'listener':
        this.listen(message, handle);
        return;
      case 'stop-accepting':
        this.retire('stopping accepting: a newer generation took over');
        return;
      case 'shutdown':
        void this.shutdown();
        return;
      case 'request':
        void answerMasterRequest(message, (method, params) =>
          this.definition.onRequest
            ? this.definition.onRequest(method, params, this.context)
            : Promise.reject(new Error(`${this.name} does not handle ${method}`)));
        return;
      case 'connection':
        this.acceptSession(message.session, handle);
        return;
      default:
        this.definition.onMessage?.(message, this.context, handle);
    }
  }

  private acceptSession(session: SessionHandoff, handle: unknown): void {
    if (!(handle instanceof net.Socket) || !this.definition.onSession) {
      this.logger.error({ session: session.id }, 'session message without a socket, or this service takes no sessions');
      if (handle instanceof net.Socket) handle.destroy();
      return;
    }
    const socket = handle;
    // First, before anything is read from the client or said to it: the master keeps its copy
    // of the socket until it hears this, and would give the session to another process.
    sendToMaster({ type: 'session-start', sessionId: session.id });
    this.trackClient(socket);
    // 'close' comes once: on() rather than once(), which wraps each listener (~200 bytes a client).
    socket.on('close', () => sendToMaster({ type: 'session-end', sessionId: session.id }));
    this.definition.onSession(socket, session, this.context);
  }

  private listen(message: Extract<MasterToChild, { type: 'listener' }>, handle: unknown): void {
    if (!handle) {
      this.logger.error({ listener: message.name }, 'listener message arrived without a handle');
      return;
    }
    if (this.retiring || this.full) return;
    const info: ListenerInfo = { kind: message.kind, name: message.name, ssl: message.ssl };
    const server = net.createServer((socket) => this.onConnection(socket, info));
    server.on('error', (err) => this.logger.error({ err, listener: info.name }, `listener ${info.name} failed`));
    // A raw bound handle from the master: listen() starts accepting on the shared socket.
    server.listen(handle as net.Server);
    this.acceptors.push({ server, info });
  }

  private onConnection(socket: net.Socket, info: ListenerInfo): void {
    if (this.retiring) {
      socket.destroy();
      return;
    }
    this.served++;
    this.trackClient(socket);
    if (this.env.serviceCount > 0 && this.served >= this.env.serviceCount) {
      this.retire(`service_count (${this.env.serviceCount}) reached`);
    }
    if (this.definition.onConnection) this.definition.onConnection(socket, info, this.context);
    else socket.destroy();
  }

  private trackClient(socket: net.Socket): void {
    this.clients++;
    socket.on('close', () => this.clientGone());
    if (!this.full && !this.retiring && this.clients >= this.env.clientLimit) {
      this.full = true;
      this.closeListeners();
    }
    this.reportStatus();
  }

  private clientGone(): void {
    this.clients--;
    if (this.retiring) {
      if (this.clients === 0) this.finish();
    } else if (this.full && this.clients < this.env.clientLimit) {
      this.full = false;
      sendToMaster({ type: 'want-listeners' });
    }
    this.reportStatus();
  }

  private retire(reason: string): void {
    if (this.retiring) return;
    this.retiring = true;
    this.logger.debug(`retiring: ${reason}`);
    this.closeListeners();
    this.reportStatus();
    if (this.clients === 0) this.finish();
  }

  private async shutdown(): Promise<void> {
    this.retire('shutdown requested');
    try {
      await this.definition.onShutdown?.(this.context);
    } catch (err) {
      this.logger.error({ err }, 'shutdown hook failed');
    }
    if (this.clients === 0) this.finish();
  }

  /** `loft/imap-login [12 clients]`, `[idle]`, `[full]`, `[retiring, 3 clients]`: what ps shows. */
  private stateTitle(): string {
    const clients = this.clients === 0 ? 'idle' : `${this.clients} client${this.clients === 1 ? '' : 's'}`;
    if (this.retiring) return `retiring, ${clients}`;
    return this.full ? `full, ${clients}` : clients;
  }

  private closeListeners(): void {
    for (const { server } of this.acceptors.splice(0)) server.close();
  }

  private finish(): void {
    // Let the last status and log lines leave before exiting.
    setImmediate(() => exitNow(EXIT.OK));
  }

  reportStatus(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      const accepting = !this.retiring && !this.full;
      const available = accepting ? Math.max(0, this.env.clientLimit - this.clients) : 0;
      sendToMaster({ type: 'status', clients: this.clients, available });
      this.context.setTitle(this.stateTitle());
    });
  }
}
