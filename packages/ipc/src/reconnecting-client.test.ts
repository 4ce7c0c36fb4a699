import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { IpcClient } from './client.js';
import { IpcServer } from './server.js';
import { ReconnectingClient } from './reconnecting-client.js';
import { startServer, tempDir } from './ipc-fixtures.js';

interface EchoProtocol {
  echo: { params: { n: number }; result: number };
}

test('a reconnecting client keeps one connection and one close listener for all its calls', async (t) => {
  const { path, server } = await startServer<EchoProtocol>(t, { echo: ({ n }) => n });
  // Counted on the prototype: a listener per call would grow with every login forever.
  let listeners = 0;
  const onClose = IpcClient.prototype.onClose;
  IpcClient.prototype.onClose = function (this: IpcClient<EchoProtocol>, listener) {
    listeners++;
    onClose.call(this, listener);
  };
  t.after(() => { IpcClient.prototype.onClose = onClose; });
  const client = new ReconnectingClient<EchoProtocol>(path);
  t.after(() => client.close());
  for (let n = 0; n < 200; n++) assert.equal(await (await client.get()).request('echo', { n }), n);
  assert.equal(listeners, 1, 'one close listener for 200 calls');

  // The service restarts (its connections close, a new one listens): the next call connects again.
  const first = await client.get();
  const closed = new Promise<void>((resolve) => first.onClose(() => resolve()));
  await server.close();
  await closed;
  const restarted = new IpcServer<EchoProtocol>({ echo: ({ n }) => n + 1 });
  t.after(() => restarted.close());
  await restarted.listen(path);
  assert.equal(await (await client.get()).request('echo', { n: 7 }), 8);
  assert.notEqual(await client.get(), first);
  assert.equal(listeners, 3, 'one more listener for the new connection (and the test\'s own)');
});

test('a connection that failed to open is forgotten: the next call tries again', async (t) => {
  const { path } = await startServer<EchoProtocol>(t, { echo: ({ n }) => n });
  const client = new ReconnectingClient<EchoProtocol>(`${path}.missing`);
  await assert.rejects(client.get());
  await assert.rejects(client.get(), 'a second attempt, not the first rejection kept');
  const good = new ReconnectingClient<EchoProtocol>(path);
  t.after(() => good.close());
  assert.equal(await (await good.get()).request('echo', { n: 1 }), 1);
});

/**
 * A socket bound the way the master binds a service's listener, with no process listening
 * on it yet: connects are refused until `listen()`.
 */
function boundNotListening(path: string): { listen: (server: IpcServer<EchoProtocol>) => Promise<void>; close: () => void } {
  const create = (net as unknown as { _createServerHandle: (address: string, port: number, type: number) => object | number })._createServerHandle;
  const handle = create(path, -1, -1);
  assert.equal(typeof handle, 'object', `bind ${path}`);
  const netServer = net.createServer();
  return {
    listen: (server) => new Promise((resolve) => {
      server.attach(netServer);
      netServer.listen(handle, () => resolve());
    }),
    close: () => {
      if (netServer.listening) netServer.close();
      else (handle as { close(): void }).close();
    },
  };
}

test('a refused connect (the service is starting) is tried again until it listens', async (t) => {
  const path = join(await tempDir(t), 'starting.sock');
  const socket = boundNotListening(path);
  t.after(() => socket.close());
  const server = new IpcServer<EchoProtocol>({ echo: ({ n }) => n * 2 });
  t.after(() => server.close());
  const client = new ReconnectingClient<EchoProtocol>(path, { startWaitMs: 5_000 });
  t.after(() => client.close());
  const started = Date.now();
  const call = client.get().then((c) => c.request('echo', { n: 21 }));
  // The client is waiting, not failed: the service starts listening a moment later.
  await new Promise((resolve) => setTimeout(resolve, 150));
  await socket.listen(server);
  assert.equal(await call, 42);
  assert.ok(Date.now() - started >= 150, 'the call waited for the listener');
});

test('a service that stays down fails a call after the wait, and the next calls at once', async (t) => {
  const path = join(await tempDir(t), 'down.sock');
  const socket = boundNotListening(path);
  t.after(() => socket.close());
  const client = new ReconnectingClient<EchoProtocol>(path, { startWaitMs: 300 });
  t.after(() => client.close());
  let started = Date.now();
  await assert.rejects(client.get(), /ECONNREFUSED/);
  const waited = Date.now() - started;
  assert.ok(waited >= 250, `the first call waited ${waited} ms for the service`);
  started = Date.now();
  await assert.rejects(client.get(), /ECONNREFUSED/);
  assert.ok(Date.now() - started < 250, 'a later call does not wait again');
  // Once the service is back, calls go through and a later outage is waited for again.
  const server = new IpcServer<EchoProtocol>({ echo: ({ n }) => n });
  t.after(() => server.close());
  await socket.listen(server);
  assert.equal(await (await client.get()).request('echo', { n: 5 }), 5);
});
