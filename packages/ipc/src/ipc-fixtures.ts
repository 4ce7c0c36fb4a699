/**
 * What the ipc tests share: a server on a socket in its own temp dir, clients and raw
 * sockets to it, and a logger that keeps its lines. Everything a fixture starts is stopped
 * in the test's `after`, which runs when the test fails too.
 */
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { IpcClient, type IpcClientOptions } from './client.js';
import { IpcServer, type IpcServerOptions } from './server.js';
import type { Handlers, IpcLogger, ProtocolShape } from './protocol.js';

export interface LogLine {
  level: keyof IpcLogger;
  obj: Record<string, unknown>;
  msg: string;
}

export class CapturingLogger implements IpcLogger {
  readonly lines: LogLine[] = [];

  error(obj: object, msg = ''): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }

  warn(obj: object, msg = ''): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }

  debug(obj: object, msg = ''): void {
    this.lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg });
  }

  at(level: keyof IpcLogger): LogLine[] {
    return this.lines.filter((line) => line.level === level);
  }
}

/** A fresh temp dir, removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loft-ipc-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface Harness<P extends ProtocolShape<P>> {
  server: IpcServer<P>;
  path: string;
  logger: CapturingLogger;
  connect(options?: IpcClientOptions): Promise<IpcClient<P>>;
  /** A plain socket to the server, for sending bytes no IpcClient would. */
  connectRaw(): Promise<net.Socket>;
}

export async function startServer<P extends ProtocolShape<P>>(
  t: TestContext,
  handlers: Handlers<P>,
  options: IpcServerOptions = {},
): Promise<Harness<P>> {
  const dir = await mkdtemp(join(tmpdir(), 'loft-ipc-test-'));
  const path = join(dir, 'test.sock');
  const logger = new CapturingLogger();
  const server = new IpcServer<P>(handlers, { logger, name: 'test.sock', ...options });
  const closers: Array<() => void> = [];
  t.after(async () => {
    for (const close of closers) close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  await server.listen(path);
  return {
    server,
    path,
    logger,
    async connect(clientOptions) {
      const client = await IpcClient.connect<P>(path, clientOptions);
      closers.push(() => client.close());
      return client;
    },
    async connectRaw() {
      const socket = net.createConnection(path);
      closers.push(() => socket.destroy());
      await once(socket, 'connect');
      return socket;
    },
  };
}

/** A promise with its resolve exposed, so a test can release a waiting handler. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

/** Lets the event loop run `count` times, so I/O that is possible gets done. */
export async function eventLoopTurns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}
