/**
 * dovecot-sql.conf.ext, read unchanged: `driver = pgsql`, `connect = host=… dbname=…`,
 * `default_pass_scheme`, `password_query`, `user_query`, `iterate_query`. A value may go on
 * over several lines that end in `\`, as in Dovecot's examples.
 */
import { readFileSync } from 'node:fs';
import { LoftError } from '@loft/errors';

export interface SqlConf {
  path: string;
  connect: PgConnect;
  defaultPassScheme: string | undefined;
  passwordQuery: string | undefined;
  userQuery: string | undefined;
  iterateQuery: string | undefined;
}

/** The parts of a libpq connect string we pass to `pg`. */
export interface PgConnect {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  sslmode?: string;
  connectTimeoutMs?: number;
  /** Dovecot's `maxconns`: most connections at once. */
  maxConnections?: number;
}

const KNOWN_KEYS = new Set(['driver', 'connect', 'default_pass_scheme', 'password_query', 'user_query', 'iterate_query', 'update_query']);
/** libpq keys with no meaning here; accepted so a Dovecot connect string still loads. */
const IGNORED_CONNECT_KEYS = new Set(['application_name', 'options', 'client_encoding', 'keepalives', 'target_session_attrs', 'hostaddr', 'sslrootcert', 'sslcert', 'sslkey']);

export function readSqlConf(path: string, warn: (message: string) => void): SqlConf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  return parseSqlConf(text, path, warn);
}

export function parseSqlConf(text: string, path: string, warn: (message: string) => void): SqlConf {
  const values = new Map<string, string>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const start = index;
    let line = lines[index].replace(/\r$/, '');
    while (line.endsWith('\\') && index + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++index].replace(/\r$/, '').trim()}`;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!match) throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${path}:${start + 1}: expected key = value`);
    const [, key, raw] = match;
    if (!KNOWN_KEYS.has(key)) warn(`sql: ${path}:${start + 1}: unknown setting '${key}' ignored`);
    values.set(key, raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw.trim());
  }
  const driver = values.get('driver') ?? 'pgsql';
  if (driver !== 'pgsql') throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${path}: driver = ${driver} is not supported; Loft speaks pgsql`);
  return {
    path,
    connect: parseConnect(values.get('connect') ?? '', path, warn),
    defaultPassScheme: values.get('default_pass_scheme'),
    passwordQuery: values.get('password_query'),
    userQuery: values.get('user_query'),
    iterateQuery: values.get('iterate_query'),
  };
}

/** `host=/run/postgresql dbname=mail user=dovecot password='it''s'` (libpq syntax: '' or \' inside quotes). */
export function parseConnect(text: string, path: string, warn: (message: string) => void): PgConnect {
  const connect: PgConnect = {};
  const pattern = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.|'')*'|[^\s']*)/y;
  let rest = text.trim();
  while (rest !== '') {
    pattern.lastIndex = 0;
    const match = pattern.exec(rest);
    if (!match) throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${path}: cannot read connect near '${rest.slice(0, 20)}'`);
    rest = rest.slice(match[0].length).trim();
    const [, key, raw] = match;
    const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)|''/g, (all, escaped: string | undefined) => escaped ?? "'") : raw;
    applyConnectKey(connect, key, value, path, warn);
  }
  return connect;
}

function applyConnectKey(connect: PgConnect, key: string, value: string, path: string, warn: (message: string) => void): void {
  const number = (): number => {
    if (!/^\d+$/.test(value)) throw new LoftError('LOFT_E_AUTH_DRIVER', `sql: ${path}: connect ${key}=${value} is not a number`);
    return Number(value);
  };
  switch (key) {
    case 'host':
      if (connect.host !== undefined) warn(`sql: ${path}: connect has several host= entries; only the first (${connect.host}) is used`);
      else connect.host = value;
      return;
    case 'port':
      connect.port = number();
      return;
    case 'dbname':
      connect.database = value;
      return;
    case 'user':
      connect.user = value;
      return;
    case 'password':
      connect.password = value;
      return;
    case 'sslmode':
      connect.sslmode = value;
      return;
    case 'connect_timeout':
      connect.connectTimeoutMs = number() * 1000;
      return;
    case 'maxconns':
      connect.maxConnections = Math.max(1, number());
      return;
    default:
      if (!IGNORED_CONNECT_KEYS.has(key)) warn(`sql: ${path}: connect key '${key}' is not supported and is ignored`);
  }
}
