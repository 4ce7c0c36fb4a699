import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpcClient } from './client.js';
import { IpcServer } from './server.js';
import { ReconnectingClient } from './reconnecting-client.js';
import { startServer } from './ipc-fixtures.js';

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
