/**
 * The whole contract between loftd (the master) and the processes it forks, and between
 * loftadm and the master. Nothing else invents these names: a message, an environment
 * variable or an exit code that crosses a process boundary is declared here, with who
 * writes it and who reads it.
 */

// ---------------------------------------------------------------------------------------
// Environment of a forked service process (written by master, read by service-runtime).
// The master starts children with an otherwise empty environment (PATH and TZ aside).
// ---------------------------------------------------------------------------------------
export const ENV = {
  /** Service name, e.g. `imap-login`. */
  SERVICE: 'LOFT_SERVICE',
  /** Absolute base directory; sockets live in `<base>/run`. */
  BASE_DIR: 'LOFT_BASE_DIR',
  /** Configuration generation this process was started for (decimal). */
  GENERATION: 'LOFT_GENERATION',
  /** Path of the config service's socket. */
  CONFIG_SOCKET: 'LOFT_CONFIG_SOCKET',
  /** Config file path (read by the config service only). */
  CONFIG_FILE: 'LOFT_CONFIG_FILE',
  /** uid/gid/user name to drop to after start-up; unset in rootless mode. */
  UID: 'LOFT_UID',
  GID: 'LOFT_GID',
  USER: 'LOFT_USER',
  /** Comma-separated supplementary gids the process adds when it drops to LOFT_UID. */
  EXTRA_GIDS: 'LOFT_EXTRA_GIDS',
  /** Clients one process may serve at once (`client_limit`). */
  CLIENT_LIMIT: 'LOFT_CLIENT_LIMIT',
  /** Connections before the process retires (`service_count`, 0 = unlimited). */
  SERVICE_COUNT: 'LOFT_SERVICE_COUNT',
  /** pino level for this process. */
  LOG_LEVEL: 'LOFT_LOG_LEVEL',
  /**
   * `1`: a mail service's spare, started ahead (process_min_avail) with no user yet. It loads
   * its code and settings, then waits for `assume` before it drops privileges and starts.
   */
  SPARE: 'LOFT_SPARE',
} as const;

// ---------------------------------------------------------------------------------------
// Exit codes of service processes (written by the child, read by master's reaper).
// ---------------------------------------------------------------------------------------
export const EXIT = {
  /** Normal exit: idle, service_count reached, or asked to stop. */
  OK: 0,
  /** Settings were invalid or could not be fetched (EX_CONFIG). */
  CONFIG: 78,
  /** Dropping privileges to the service user failed. */
  PRIVILEGES: 77,
  /** Any other fatal error during start-up or run. */
  FATAL: 89,
} as const;

// ---------------------------------------------------------------------------------------
// Settings the master needs about each service (served by config, read by master).
// Units are in the field names' comments; durations are milliseconds, sizes bytes.
// ---------------------------------------------------------------------------------------
export interface InetListenerSettings {
  address: string;
  /** TCP port, 1..65535. */
  port: number;
  ssl: boolean;
}

export interface UnixListenerSettings {
  /** Relative paths are relative to `<base_dir>/run`. */
  path: string;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  /** Owner; empty = the user loftd runs as. */
  user: string;
  group: string;
}

export interface ServiceSettings {
  /** Builtin service name (`config`, `log`, …) or an absolute path to a JS module. */
  executable: string;
  /**
   * '' (an ordinary service), 'login' (pre-auth: may hand authenticated clients to the
   * master), 'mail' (serves authenticated users: one pool of processes per uid, started on
   * demand when a client is handed over). As Dovecot's service `type`.
   */
  type: '' | 'login' | 'mail';
  /** User the processes run as; empty = the user loftd runs as. */
  user: string;
  group: string;
  /** Supplementary groups beside user's own (names or gids), e.g. shadow for auth. */
  extra_groups: string[];
  /** Most processes of this service at once (>= 1). */
  process_limit: number;
  /** Processes kept ready to accept clients. */
  process_min_avail: number;
  /** Clients one process serves at once (>= 1). */
  client_limit: number;
  /** Connections a process serves before it retires; 0 = unlimited. */
  service_count: number;
  /** A process idle this long (ms) is stopped when more than process_min_avail exist; 0 = never. */
  idle_kill: number;
  /** Heap limit in bytes (becomes --max-old-space-size); 0 = Node's default. */
  vsz_limit: number;
  inet_listener: Record<string, InetListenerSettings>;
  unix_listener: Record<string, UnixListenerSettings>;
}

export interface MasterSettings {
  /** Absolute base directory. */
  base_dir: string;
  /** Log file; empty = stderr. */
  log_path: string;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** How long (ms) stopping children may take before they are killed. */
  shutdown_timeout: number;
  /** Mail processes never run with a uid outside this range (0 = no upper bound). */
  first_valid_uid: number;
  last_valid_uid: number;
  service: Record<string, ServiceSettings>;
}

// ---------------------------------------------------------------------------------------
// Master -> child messages, over the child_process IPC channel.
// ---------------------------------------------------------------------------------------
export type MasterToChild =
  /** A listener handle comes with this message; the child listens (accepts) on it. */
  | { type: 'listener'; kind: 'inet' | 'unix'; name: string; ssl: boolean }
  /** Stop accepting new clients (old generation, or service_count reached). */
  | { type: 'stop-accepting' }
  /** Finish: stop accepting, let clients finish, exit. Master kills after `graceMs`. */
  | { type: 'shutdown'; graceMs: number }
  /** Log service only: a batch of lines from other processes. */
  | { type: 'log-lines'; lines: LogLine[] }
  /**
   * Log service only: a child's output pipe comes with this message; read its lines as the
   * given service and pid, the first beginning with `partial` (the master read that much).
   */
  | { type: 'log-pipe'; service: string; pid: number; partial: string; discarding: boolean }
  /** Log service only: reopen the log file (logrotate). */
  | { type: 'log-reopen' }
  /** A request that expects a `reply` with the same id. */
  | { type: 'request'; id: number; method: ChildRequestMethod; params: unknown }
  /** Mail service (imap): an authenticated client; its socket comes with this message. */
  | { type: 'connection'; session: SessionHandoff }
  /** Login service: the master could not hand this client over; its socket comes back with this message. */
  | { type: 'handoff-failed'; handoffId: number; reason: string; temporary: boolean }
  /** Login service: this client is with its mail process now; nothing more will come about it. */
  | { type: 'handoff-done'; handoffId: number }
  /** Mail service: end every session of this user (loftadm kick). */
  | { type: 'kick'; user: string }
  /** anvil only: a session began or ended (the master saw the hand-off / the end). */
  | { type: 'anvil-session'; event: 'start' | 'end'; session: AnvilSession }
  /** A spare (ENV.SPARE): become the process of this uid/gid (none in rootless mode), then start. */
  | { type: 'assume'; uid?: number; gid?: number; user?: string };

export type ChildRequestMethod =
  /** Config service: re-read the config file. Result: ConfigReloadResult. */
  | 'config-reload'
  /** Config service: the settings the master needs. Result: ConfigForMaster. */
  | 'config-master'
  /** Config service: the running configuration as conf text. Params: ConfigDumpParams. Result: string. */
  | 'config-dump'
  /** Log service: recent error lines. Result: LogErrorEntry[]. */
  | 'log-errors'
  /** Log service: re-read settings after a reload. Result: null. */
  | 'log-reload'
  /** anvil: sessions, optionally of one user. Params: { user?: string }. Result: AnvilSession[]. */
  | 'anvil-who'
  /** anvil: sessions of this user and remote IP so far. Params: { user, remoteIp }. Result: number. */
  | 'anvil-count';

/** Who a client is, as the login process saw the connection (not trusted for identity). */
export interface ClientInfo {
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  /** TLS (imaps or STARTTLS), or a local connection. */
  secured: boolean;
  /** TLS terminated in the login process, which relays plaintext over the socket passed on. */
  tls: boolean;
}

/** What a mail process gets with an authenticated client; every field but `client`/`tag`/`pending` comes from auth. */
export interface SessionHandoff {
  /** Unique per session, for anvil and session-end. */
  id: string;
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** mail_location override from userdb, if any. */
  mail?: string;
  /** userdb's quota_rule, overriding the global one, if it gives one. */
  quotaRule?: string;
  /** Tag of the LOGIN/AUTHENTICATE command, answered by the mail process. */
  tag: string;
  client: ClientInfo;
  /** Bytes the client sent after the login command, base64. */
  pending: string;
  /** Set when mail_max_userip_connections is exceeded: refuse the session with this limit. */
  overLimit?: number;
}

export interface AnvilSession {
  id: string;
  user: string;
  service: string;
  pid: number;
  remoteIp: string;
  /** ms since the epoch */
  started: number;
}

export interface LogLine {
  service: string;
  pid: number;
  /** One line as the child wrote it (normally pino JSON), without the newline. */
  line: string;
}

export interface LogErrorEntry {
  /** ms since the epoch */
  time: number;
  service: string;
  pid: number;
  level: string;
  msg: string;
}

export interface ConfigForMaster {
  generation: number;
  settings: MasterSettings;
}

/** What `loftadm config` asks for; the same choices as loftconf's -n/-a/-d, -P and -f. */
export interface ConfigDumpParams {
  mode: 'non-default' | 'all' | 'defaults';
  showSecrets: boolean;
  filter?: FilterContext;
}

export type ConfigReloadResult =
  | { ok: true; generation: number }
  | { ok: false; errors: string[] };

// ---------------------------------------------------------------------------------------
// Child -> master messages.
// ---------------------------------------------------------------------------------------
export type ChildToMaster =
  /** Start-up finished; the child accepts from now on. */
  | { type: 'ready' }
  /** Clients connected right now, and free slots (client_limit - clients, or 0 when not accepting). */
  | { type: 'status'; clients: number; available: number }
  /** The child closed its listeners (at client_limit) and wants them again. */
  | { type: 'want-listeners' }
  | { type: 'reply'; id: number; result?: unknown; error?: string }
  /** Login service: an authenticated client; its socket comes with this message. */
  | { type: 'handoff'; handoffId: number; service: string; ticket: string; tag: string; client: ClientInfo; pending: string }
  /**
   * Mail service: this process has the session's socket and serves it from now on. Sent
   * before a byte of the client's is read; until the master hears it, the master keeps a copy
   * of the socket and passes the session to another process if this one dies first.
   */
  | { type: 'session-start'; sessionId: string }
  /** Mail service: a session handed over earlier has ended. */
  | { type: 'session-end'; sessionId: string };

// ---------------------------------------------------------------------------------------
// loftadm <-> master over run/master.sock (ipc request/response).
// ---------------------------------------------------------------------------------------
export interface ProcessInfo {
  pid: number;
  service: string;
  uid: number;
  gid: number;
  generation: number;
  clients: number;
  available: number;
  /** `spare`: a mail service's process started ahead, waiting for a user (process_min_avail). */
  state: 'starting' | 'ready' | 'stopping' | 'spare';
  /** ms since the epoch */
  started: number;
}

export interface ServiceInfo {
  name: string;
  executable: string;
  processes: number;
  process_limit: number;
  process_min_avail: number;
  client_limit: number;
  clients: number;
  /** Non-zero while start-up failures hold the service back. */
  throttled_until: number;
  listeners: string[];
}

/** Methods of the master control socket: params and result of each. */
export interface MasterControlProtocol {
  'process-status': { params: { service?: string }; result: ProcessInfo[] };
  'service-status': { params: Record<string, never>; result: ServiceInfo[] };
  'service-stop': { params: { service: string }; result: { stopped: number } };
  reload: { params: Record<string, never>; result: { generation: number } };
  stop: { params: Record<string, never>; result: { ok: true } };
  'log-errors': { params: { since?: number }; result: LogErrorEntry[] };
  'log-reopen': { params: Record<string, never>; result: { ok: true } };
  'config-dump': { params: ConfigDumpParams; result: { text: string; generation: number } };
  who: { params: { user?: string }; result: AnvilSession[] };
  kick: { params: { user: string }; result: { kicked: number } };
  /** loftadm auth test: the passdb verdict (and userdb fields on success). */
  'auth-test': { params: { user: string; password: string; service?: string }; result: AuthTestResult };
  /** loftadm user: the userdb fields. */
  'user-lookup': { params: { user: string; service?: string }; result: UserLookupResult };
}

export type UserLookupResult =
  | { result: 'ok'; user: string; uid: number; gid: number; home: string; mail?: string; extra: Record<string, string> }
  | { result: 'unknown_user' | 'tempfail'; user: string; reason?: string };

export type AuthTestResult =
  | { result: 'ok'; user: string; passdbExtra: Record<string, string>; userdb?: UserLookupResult }
  | { result: 'mismatch' | 'unknown_user' | 'tempfail' | 'nologin'; user: string; reason?: string };

// ---------------------------------------------------------------------------------------
// imap-login <-> auth over run/auth-login.sock, and master <-> auth over run/auth-userdb.sock.
// ---------------------------------------------------------------------------------------
export interface AuthLoginRequest {
  user: string;
  password: string;
  /** SASL authorization identity (AUTHENTICATE PLAIN); must equal user or be empty. */
  authzid?: string;
  service: string;
  mechanism: 'PLAIN' | 'LOGIN';
  client: ClientInfo;
  /** This server's own listening addresses (host:port): a proxy to one of them logs in locally. */
  selfTargets: string[];
}

export type AuthLoginReply =
  /** Log in here: the master redeems the ticket for the user's identity. */
  | { result: 'ok'; user: string; ticket: string }
  /** Log in on another server and relay. */
  /** `anyCert`: passdb said ssl=any-cert / starttls=any-cert; otherwise the remote certificate is verified. */
  | { result: 'proxy'; user: string; host: string; port: number; ssl: 'no' | 'yes' | 'starttls'; anyCert: boolean; destuser: string; password: string }
  /** `temporary`: the backend failed, tell the client to try later; never "wrong password". */
  | { result: 'fail'; temporary: boolean; message: string };

export interface AuthLoginProtocol {
  login: { params: AuthLoginRequest; result: AuthLoginReply };
}

export interface AuthUserdbProtocol {
  /** One-time: a second redeem of the same ticket, an expired or a forged one, fails. */
  redeem: { params: { ticket: string; service: string }; result: UserLookupResult };
  'user-lookup': { params: { user: string; service: string }; result: UserLookupResult };
  'auth-test': { params: { user: string; password: string; service: string }; result: AuthTestResult };
}

// ---------------------------------------------------------------------------------------
// auth <-> anvil over run/anvil.sock: auth-failure penalties per remote IP.
// ---------------------------------------------------------------------------------------
export interface AnvilProtocol {
  /** Current penalty for this IP in ms (0 = none). */
  'penalty-get': { params: { ip: string }; result: { penaltyMs: number; failures: number } };
  /** One more failure from this IP. */
  'penalty-inc': { params: { ip: string }; result: { penaltyMs: number; failures: number } };
  /** A success from this IP clears its penalty. */
  'penalty-reset': { params: { ip: string }; result: { ok: true } };
}

// ---------------------------------------------------------------------------------------
// Any process <-> config over run/config.sock (ipc request/response).
// ---------------------------------------------------------------------------------------
export interface FilterContext {
  protocol?: string;
  local?: string;
  remote?: string;
  user?: string;
}

export interface ServiceSettingsReply {
  generation: number;
  /** Global settings with the filters for the context applied, every default filled in. */
  settings: Record<string, unknown>;
}

export interface ConfigProtocol {
  'get-settings': { params: { service: string; filter: FilterContext }; result: ServiceSettingsReply };
}

/** File names inside `<base_dir>/run`. */
export const RUN_FILES = {
  PID: 'loftd.pid',
  MASTER_SOCKET: 'master.sock',
  CONFIG_SOCKET: 'config.sock',
  AUTH_LOGIN_SOCKET: 'auth-login.sock',
  AUTH_USERDB_SOCKET: 'auth-userdb.sock',
  ANVIL_SOCKET: 'anvil.sock',
} as const;
export * from './adm-protocol.js';
