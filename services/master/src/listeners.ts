/**
 * Listening sockets are created here, by the master, so privileged ports work and sockets
 * outlive worker restarts. The master binds but never listens or accepts: a bound handle is
 * sent to each process of the service, which calls listen() on it, so all of them accept on
 * the one socket (Dovecot's model). Node has no public API for a bound, non-listening
 * socket; `net._createServerHandle` is what Node's own cluster module uses for exactly this
 * (its SharedHandle), so it is checked once at start-up and wrapped here alone.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import { LoftError } from '@loft/errors';

/** The raw TCP or Pipe handle; opaque outside this module. */
export interface RawHandle {
  close(callback?: () => void): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => RawHandle | number;

const createServerHandle = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
/** libuv's UV_TCP_IPV6ONLY is not wanted; 0 keeps dual-stack defaults. */
const TCP_FLAGS = 0;

export interface ListenerHandle {
  /** `service/kind/name`, stable across reloads while the address stays the same. */
  key: string;
  service: string;
  kind: 'inet' | 'unix';
  name: string;
  ssl: boolean;
  /** address:port or socket path, for status output */
  where: string;
  handle: RawHandle;
}

function requireCreateServerHandle(): CreateServerHandle {
  if (typeof createServerHandle !== 'function') {
    throw new LoftError('LOFT_E_MASTER_LISTEN', `this Node.js (${process.version}) lacks net._createServerHandle`);
  }
  return createServerHandle;
}

function checkHandle(result: RawHandle | number, where: string): RawHandle {
  if (typeof result === 'number') {
    const code = util.getSystemErrorName(result);
    throw new LoftError('LOFT_E_MASTER_LISTEN', `bind(${where}) failed: ${code}`);
  }
  return result;
}

export function inetListenerKey(service: string, name: string, address: string, port: number, ssl: boolean): string {
  return `${service}/inet/${name}/${address === '*' ? '0.0.0.0' : address}/${port}/${ssl}`;
}

export function unixListenerKey(service: string, name: string, socketPath: string, mode: number): string {
  return `${service}/unix/${name}/${socketPath}/${mode.toString(8)}`;
}

/**
 * bind() succeeds on a port another process listens on (libuv sets SO_REUSEADDR), and only
 * the children's listen() would fail. So the port is first proven free by listening on it
 * briefly here, which turns "address in use" into a start-up error that names the listener.
 */
function probePort(host: string, port: number, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new LoftError('LOFT_E_MASTER_LISTEN', `listen(${where}) failed: ${err.code ?? err.message}`, { cause: err })));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Two inet listeners on one port, on the same address or one of them on every address: the
 * master's probe cannot see it (neither listens yet), and whichever child listens first
 * would take the other's connections, so an imaps client would be answered in plain text.
 * Throws LOFT_E_MASTER_CONFIG naming both.
 */
export function checkInetListeners(services: Readonly<Record<string, { inet_listener: Readonly<Record<string, { address: string; port: number }>> }>>): void {
  const seen: Array<{ host: string; port: number; where: string }> = [];
  const wildcard = (host: string): boolean => host === '*' || host === '0.0.0.0' || host === '::';
  for (const [service, settings] of Object.entries(services)) {
    for (const [name, { address, port }] of Object.entries(settings.inet_listener)) {
      if (port === 0) continue;
      const where = `service ${service} inet_listener ${name} (${address}:${port})`;
      const other = seen.find((l) => l.port === port && (l.host === address || wildcard(l.host) || wildcard(address)));
      if (other) throw new LoftError('LOFT_E_MASTER_CONFIG', `${where} and ${other.where} use the same port`);
      seen.push({ host: address, port, where });
    }
  }
}

export async function createInetHandle(service: string, name: string, address: string, port: number, ssl: boolean): Promise<ListenerHandle> {
  const host = address === '*' ? '0.0.0.0' : address;
  const family = net.isIP(host);
  if (family === 0) throw new LoftError('LOFT_E_MASTER_LISTEN', `service ${service}: inet_listener ${name}: '${address}' is not an IP address`);
  const where = family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  await probePort(host, port, `service ${service} inet_listener ${name} ${where}`);
  const handle = checkHandle(requireCreateServerHandle()(host, port, family, undefined, TCP_FLAGS), where);
  return { key: inetListenerKey(service, name, address, port, ssl), service, kind: 'inet', name, ssl, where, handle };
}

export interface UnixOwner {
  uid: number;
  gid: number;
}

export function createUnixHandle(service: string, name: string, socketPath: string, mode: number, owner?: UnixOwner): ListenerHandle {
  removeStaleSocket(socketPath);
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  const handle = checkHandle(requireCreateServerHandle()(socketPath, -1, -1), socketPath);
  try {
    // Between bind and chmod the socket has the umask's mode; the run dir is not world-writable.
    fs.chmodSync(socketPath, mode);
    if (owner) fs.chownSync(socketPath, owner.uid, owner.gid);
  } catch (err) {
    handle.close();
    throw new LoftError('LOFT_E_MASTER_LISTEN', `chmod/chown ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  return { key: unixListenerKey(service, name, socketPath, mode), service, kind: 'unix', name, ssl: false, where: socketPath, handle };
}

/** A socket file left by a loftd that died; anything that is not a socket is left alone. */
function removeStaleSocket(socketPath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new LoftError('LOFT_E_MASTER_LISTEN', `${socketPath} exists and is not a socket`);
  fs.unlinkSync(socketPath);
}

export function closeListener(listener: ListenerHandle): void {
  listener.handle.close();
  if (listener.kind === 'unix') {
    try {
      fs.unlinkSync(listener.where);
    } catch {
      // already gone
    }
  }
}
