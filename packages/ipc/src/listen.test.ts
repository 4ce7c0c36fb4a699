import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { link, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { IpcClient } from './client.js';
import { IpcServer } from './server.js';
import { startServer, tempDir } from './ipc-fixtures.js';

interface PingProtocol {
  ping: { params: null; result: 'pong' };
}

const pingHandlers = { ping: () => 'pong' as const };

/** A server closed after the test. */
function serverFor(t: TestContext): IpcServer<PingProtocol> {
  const server = new IpcServer<PingProtocol>(pingHandlers);
  t.after(() => server.close());
  return server;
}

test('listen() makes the socket owner-only by default, or the mode given', async (t) => {
  const dir = await tempDir(t);
  await serverFor(t).listen(join(dir, 'default.sock'));
  assert.equal((await stat(join(dir, 'default.sock'))).mode & 0o777, 0o600);
  await serverFor(t).listen(join(dir, 'shared.sock'), 0o660);
  assert.equal((await stat(join(dir, 'shared.sock'))).mode & 0o777, 0o660);
});

test('listen() replaces a socket file nobody listens on', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'stale.sock');
  // A hard link keeps the socket file after its server closes: what a killed process leaves.
  const old = net.createServer().listen(join(dir, 'old.sock'));
  await once(old, 'listening');
  await link(join(dir, 'old.sock'), path);
  await new Promise((resolve) => old.close(resolve));

  await serverFor(t).listen(path);
  const client = await IpcClient.connect<PingProtocol>(path);
  t.after(() => client.close());
  assert.equal(await client.request('ping', null), 'pong');
});

test('listen() leaves a live server and a regular file alone', async (t) => {
  const harness = await startServer<PingProtocol>(t, pingHandlers);
  await assert.rejects(serverFor(t).listen(harness.path), { code: 'EADDRINUSE' });
  const client = await harness.connect();
  assert.equal(await client.request('ping', null), 'pong');

  const file = join(await tempDir(t), 'notes.txt');
  await writeFile(file, 'keep me');
  await assert.rejects(serverFor(t).listen(file), { code: 'EADDRINUSE' });
  assert.ok((await stat(file)).isFile());
});

test('attach() and handleSocket() serve connections from elsewhere; close() ends them', async (t) => {
  const dir = await tempDir(t);
  const listener = net.createServer();
  const server = serverFor(t);
  server.attach(listener);
  listener.listen(join(dir, 'passed.sock'));
  await once(listener, 'listening');
  const client = await IpcClient.connect<PingProtocol>(join(dir, 'passed.sock'));
  t.after(() => client.close());
  assert.equal(await client.request('ping', null), 'pong');

  const [ours, theirs] = await socketPair(join(dir, 'pair.sock'));
  server.handleSocket(ours);
  const paired = new IpcClient<PingProtocol>(theirs);
  assert.equal(await paired.request('ping', null), 'pong');
  assert.equal(server.connectionCount, 2);

  const closed = new Promise((resolve) => paired.onClose(resolve));
  await server.close();
  assert.equal(server.connectionCount, 0);
  await closed;
  assert.equal(listener.listening, false);
});

/** Two connected sockets, made through a throwaway listener. */
async function socketPair(path: string): Promise<[net.Socket, net.Socket]> {
  const listener = net.createServer().listen(path);
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const theirs = net.createConnection(path);
  const [[ours]] = await Promise.all([accepted, once(theirs, 'connect')]);
  // Stops accepting; its 'close' waits for `ours`, which the test closes.
  listener.close();
  return [ours, theirs];
}
