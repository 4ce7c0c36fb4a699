/**
 * Login proxying (Dovecot's proxy=y): when passdb says the user lives on another server,
 * imap-login logs in there with the user's credentials and, once the remote server says
 * OK, copies bytes both ways. The client sees the remote server's answer to its login.
 */
import net from 'node:net';
import tls from 'node:tls';
import { quoted } from '@loft/imap-proto';

const PROXY_CONNECT_TIMEOUT_MS = 15_000;
const PROXY_LINE_MAX_BYTES = 64 * 1024;

export interface ProxyTarget {
  host: string;
  port: number;
  ssl: 'no' | 'yes' | 'starttls';
  /** Skip certificate verification (passdb ssl=any-cert). */
  anyCert?: boolean;
  destuser: string;
  password: string;
}

export type ProxyOutcome =
  | { ok: true; remote: net.Socket; okLine: string }
  | { ok: false; temporary: boolean; message: string };

/** Reads CRLF-terminated lines from a socket, bounded. */
class LineReader {
  private buffer = Buffer.alloc(0);
  private waiter: ((line: string | Error) => void) | undefined;
  private failure: Error | undefined;

  constructor(private socket: net.Socket) {
    this.attach(socket);
  }

  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      if (this.buffer.length > PROXY_LINE_MAX_BYTES) this.fail(new Error('remote server sent an overlong line'));
      this.deliver();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('remote server closed the connection')));
  }

  next(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiter = (line) => (line instanceof Error ? reject(line) : resolve(line));
      this.deliver();
    });
  }

  /** Stop reading; whatever came after the last line is returned for the relay. */
  detach(): Buffer {
    this.socket.removeAllListeners('data');
    this.socket.pause();
    return this.buffer;
  }

  private deliver(): void {
    if (!this.waiter) return;
    if (this.failure) return this.take(this.failure);
    const nl = this.buffer.indexOf(0x0a);
    if (nl < 0) return;
    const line = this.buffer.subarray(0, nl).toString('utf8').replace(/\r$/, '');
    this.buffer = this.buffer.subarray(nl + 1);
    this.take(line);
  }

  private take(value: string | Error): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(value);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.deliver();
  }
}

function connect(target: ProxyTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const options = { host: target.host, port: target.port, timeout: PROXY_CONNECT_TIMEOUT_MS };
    const socket = target.ssl === 'yes'
      ? tls.connect({ ...options, servername: net.isIP(target.host) ? undefined : target.host, rejectUnauthorized: !target.anyCert })
      : net.connect(options);
    const ready = target.ssl === 'yes' ? 'secureConnect' : 'connect';
    socket.once(ready, () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('timeout', () => socket.destroy(new Error(`connecting to ${target.host}:${target.port} timed out`)));
    socket.once('error', reject);
  });
}

/** Log in on the remote server; on success the remote socket is ready to relay. */
export async function proxyLogin(target: ProxyTarget): Promise<ProxyOutcome> {
  let remote: net.Socket;
  try {
    remote = await connect(target);
  } catch (err) {
    return { ok: false, temporary: true, message: `proxy: cannot reach ${target.host}:${target.port}: ${(err as Error).message}` };
  }
  let reader = new LineReader(remote);
  try {
    const greeting = await reader.next();
    if (!/^\* (OK|PREAUTH)\b/i.test(greeting)) throw new Error(`unexpected greeting: ${greeting.slice(0, 100)}`);
    if (target.ssl === 'starttls') {
      remote.write('S STARTTLS\r\n');
      if (!/^S OK\b/i.test(await untagged(reader))) throw new Error('remote server refused STARTTLS');
      reader.detach();
      remote = await new Promise<net.Socket>((resolve, reject) => {
        const secure = tls.connect({ socket: remote, servername: net.isIP(target.host) ? undefined : target.host, rejectUnauthorized: !target.anyCert }, () => resolve(secure));
        secure.once('error', reject);
      });
      reader = new LineReader(remote);
    }
    remote.write(Buffer.concat([Buffer.from('L LOGIN '), quoted(target.destuser), Buffer.from(' '), quoted(target.password), Buffer.from('\r\n')]));
    const answer = await untagged(reader);
    const rest = reader.detach();
    if (/^L OK\b/i.test(answer)) {
      if (rest.length > 0) remote.unshift(rest);
      return { ok: true, remote, okLine: answer.slice(2) };
    }
    remote.destroy();
    const temporary = /\[(UNAVAILABLE|SERVERBUG|LIMIT)\]/i.test(answer);
    return { ok: false, temporary, message: temporary ? 'Account is temporarily unavailable.' : 'Authentication failed.' };
  } catch (err) {
    remote.destroy();
    return { ok: false, temporary: true, message: `proxy: ${target.host}:${target.port}: ${(err as Error).message}` };
  }
}

/** The next tagged line, skipping untagged ones (capabilities after login, etc.). */
async function untagged(reader: LineReader): Promise<string> {
  for (;;) {
    const line = await reader.next();
    if (!line.startsWith('* ')) return line;
  }
}
