/**
 * passdb and userdb `sql` on PostgreSQL through a `pg` pool: `args` names a
 * dovecot-sql.conf.ext. A database that cannot answer gives `tempfail` with the reason,
 * and the pool reconnects on its own when the server is back.
 */
import type pg from 'pg';
import type { AuthRequest, Passdb, PassdbResult, Userdb, UserdbResult } from './auth-types.js';
import { checkStoredPassword, driverError, resolveUserIds, type DriverContext } from './driver-support.js';
import { readSqlConf, type SqlConf } from './sql-conf.js';
import { compileQuery, queryValues, type CompiledQuery } from './sql-query.js';
import { isAcceptableUserName } from './user-names.js';
import { variableValues } from './variables.js';

/** Dovecot's default for pgsql maxconns. */
const SQL_DEFAULT_MAX_CONNECTIONS = 5;
const SQL_CONNECT_TIMEOUT_MS = 5_000;
/** A query that takes longer is answered with tempfail rather than holding the login. */
const SQL_QUERY_TIMEOUT_MS = 10_000;
const SQL_IDLE_TIMEOUT_MS = 60_000;

type Row = Record<string, unknown>;

/**
 * pg, loaded when a sql passdb or userdb first queries: importing it costs ~0.1 s of CPU
 * (it builds a fetch Response to detect Cloudflare Workers, which loads Node's undici), and
 * the config and auth processes that import this module mostly have no sql driver.
 */
let pgModule: Promise<typeof pg> | undefined;
const loadPg = (): Promise<typeof pg> => (pgModule ??= import('pg').then((m) => m.default));

class SqlBackend {
  readonly conf: SqlConf;
  private pool: Promise<pg.Pool> | undefined;
  private ended = false;

  constructor(args: string, private readonly context: DriverContext) {
    const path = args.trim();
    if (path === '' || /\s/.test(path)) throw driverError('sql', `args must be the path of a dovecot-sql.conf.ext, got '${args}'`);
    this.conf = readSqlConf(path, context.warn);
  }

  private connection(): Promise<pg.Pool> {
    this.pool ??= loadPg().then((driver) => this.createPool(driver));
    return this.pool;
  }

  private createPool(driver: typeof pg): pg.Pool {
    const { connect } = this.conf;
    const pool = new driver.Pool({
      host: connect.host,
      port: connect.port,
      database: connect.database,
      user: connect.user,
      password: connect.password,
      ssl: sslOption(connect.sslmode),
      max: connect.maxConnections ?? SQL_DEFAULT_MAX_CONNECTIONS,
      connectionTimeoutMillis: connect.connectTimeoutMs ?? SQL_CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: SQL_IDLE_TIMEOUT_MS,
      query_timeout: SQL_QUERY_TIMEOUT_MS,
      allowExitOnIdle: true,
    });
    // An idle connection that the server drops must not crash the auth process.
    pool.on('error', (err) => this.context.warn(`sql (${this.conf.path}): idle connection lost: ${err.message}`));
    return pool;
  }

  compile(setting: 'password_query' | 'user_query' | 'iterate_query'): CompiledQuery | undefined {
    const query = setting === 'password_query' ? this.conf.passwordQuery : setting === 'user_query' ? this.conf.userQuery : this.conf.iterateQuery;
    return query === undefined ? undefined : compileQuery(query, `${this.conf.path}: ${setting}`, setting === 'password_query');
  }

  /** Rows, or the reason the database could not give them. `password` is for `%w` and is kept out of the reason. */
  async query(query: CompiledQuery, request: AuthRequest | undefined, password = ''): Promise<Row[] | { reason: string }> {
    const config = { text: query.text, values: request ? queryValues(query, variableValues(request, password)) : [] };
    if (this.ended) return { reason: `sql (${this.conf.path}): the driver is closed` };
    let pool: pg.Pool;
    try {
      pool = await this.connection();
    } catch (err) {
      return { reason: `sql (${this.conf.path}): the PostgreSQL driver (pg) could not be loaded: ${err instanceof Error ? err.message : String(err)}` };
    }
    try {
      return (await pool.query(config)).rows as Row[];
    } catch (first) {
      // A connection the server closed while idle fails once; a fresh one tells whether the server is really gone.
      if (!isStaleConnectionError(first)) return { reason: this.describe(first, password) };
      try {
        return (await pool.query(config)).rows as Row[];
      } catch (second) {
        return { reason: this.describe(second, password) };
      }
    }
  }

  get resolveIds(): DriverContext['ids'] {
    return this.context.ids;
  }

  async close(): Promise<void> {
    this.ended = true;
    await (await this.pool)?.end();
  }

  private describe(err: unknown, password: string): string {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    // PostgreSQL quotes a value it cannot convert ("invalid input syntax for type integer: …"), which could be the password.
    const safe = password === '' ? message : message.split(password).join('<password>');
    return `sql (${this.conf.path}): ${typeof code === 'string' ? `${code} ` : ''}${safe}`;
  }
}

function sslOption(sslmode: string | undefined): boolean | { rejectUnauthorized: boolean } | undefined {
  switch (sslmode) {
    case undefined:
    case 'disable':
    case 'allow':
    case 'prefer':
      return undefined;
    case 'require':
      return { rejectUnauthorized: false };
    default:
      return true;
  }
}

/**
 * A pooled connection that died while idle (server restarted): worth one retry on a fresh
 * one. A failure to connect is not retried, so a login waits for one connect timeout at most.
 */
function isStaleConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (code === '57P01' || code === '57P02' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  return code === undefined && err instanceof Error && /connection terminated|not queryable/i.test(err.message);
}

/** Column values as Dovecot passes them: NULL and false leave the field out. */
function rowFields(row: Row): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null || value === undefined || value === false) continue;
    fields[key] = value === true ? 'y' : value instanceof Date ? value.toISOString() : String(value);
  }
  return fields;
}

/** A `user` column, or `username` and `domain` columns, rename the user as in Dovecot. */
function takeUserName(fields: Record<string, string>, fallback: string): string {
  const { user, username, domain } = fields;
  delete fields.user;
  if (user !== undefined) return user;
  if (username !== undefined) {
    delete fields.username;
    delete fields.domain;
    return domain === undefined || domain === '' ? username : `${username}@${domain}`;
  }
  return fallback;
}

/** What both a passdb and a userdb answer when the query gives no single row. */
type NoRow = { result: 'unknown_user'; user: string } | { result: 'tempfail'; user: string; reason: string };

function oneRow(rows: Row[], user: string, setting: string, path: string): { row: Row } | { failure: NoRow } {
  if (rows.length === 0) return { failure: { result: 'unknown_user', user } };
  if (rows.length > 1) return { failure: { result: 'tempfail', user, reason: `sql (${path}): ${setting} returned ${rows.length} rows for '${user}'; it must return at most one` } };
  return { row: rows[0] };
}

export function createSqlPassdb(args: string, defaultScheme: string, context: DriverContext): Passdb {
  const backend = new SqlBackend(args, context);
  const query = backend.compile('password_query');
  if (!query) throw driverError('sql', `${backend.conf.path} has no password_query`);
  const scheme = backend.conf.defaultPassScheme ?? defaultScheme;
  return {
    async verifyPlain(request, password): Promise<PassdbResult> {
      if (!isAcceptableUserName(request.user)) return { result: 'unknown_user', user: request.user };
      const rows = await backend.query(query, request, password);
      if (!Array.isArray(rows)) return { result: 'tempfail', user: request.user, reason: rows.reason };
      const one = oneRow(rows, request.user, 'password_query', backend.conf.path);
      if ('failure' in one) return one.failure;
      const fields = rowFields(one.row);
      const user = takeUserName(fields, request.user);
      const stored = fields.password ?? '';
      delete fields.password;
      return checkStoredPassword(user, password, stored, scheme, `sql (${backend.conf.path})`, fields);
    },
    close: () => backend.close(),
  };
}

export function createSqlUserdb(args: string, context: DriverContext): Userdb {
  const backend = new SqlBackend(args, context);
  const query = backend.compile('user_query');
  if (!query) throw driverError('sql', `${backend.conf.path} has no user_query`);
  const iterateQuery = backend.compile('iterate_query');
  const userdb: Userdb = {
    async lookup(request): Promise<UserdbResult> {
      if (!isAcceptableUserName(request.user)) return { result: 'unknown_user', user: request.user };
      const rows = await backend.query(query, request);
      if (!Array.isArray(rows)) return { result: 'tempfail', user: request.user, reason: rows.reason };
      const one = oneRow(rows, request.user, 'user_query', backend.conf.path);
      if ('failure' in one) return one.failure;
      const fields = rowFields(one.row);
      const user = takeUserName(fields, request.user);
      const { uid = '', gid = '', home = '', mail, ...extra } = fields;
      const ids = await resolveUserIds(backend.resolveIds, user, uid, gid, `sql (${backend.conf.path}) user_query`);
      if ('result' in ids) return ids;
      return mail === undefined ? { result: 'ok', user, ...ids, home, extra } : { result: 'ok', user, ...ids, home, mail, extra };
    },
    close: () => backend.close(),
  };
  if (iterateQuery) {
    userdb.iterate = async function* iterate() {
      const rows = await backend.query(iterateQuery, undefined);
      if (!Array.isArray(rows)) throw driverError('sql', `iterate_query failed: ${rows.reason}`);
      for (const row of rows) {
        const fields = rowFields(row);
        const user = takeUserName(fields, '');
        if (user !== '') yield user;
      }
    };
  }
  return userdb;
}
