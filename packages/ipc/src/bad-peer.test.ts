import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { isLoftError } from '@loft/errors';
import { IpcClient } from './client.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { CapturingLogger, deferred, startServer, tempDir } from './ipc-fixtures.js';

interface EchoProtocol {
  echo: { params: string; result: string };
  hang: { params: string; result: never };
}

const BAD_INPUTS: Array<{ label: string; bytes: Buffer; logged: RegExp }> = [
  {
    label: 'an oversized length prefix',
    bytes: Buffer.from([0xff, 0xff, 0xff, 0xff]),
    logged: /frame of 4294967295 bytes exceeds the 16777216-byte limit/,
  },
  {
    label: 'bytes that are not msgpack',
    bytes: Buffer.from([0, 0, 0, 2, 0x82, 0xa1]),
    logged: /payload of 2 bytes is not one msgpack value/,
  },
  {
    label: 'a msgpack message of the wrong shape',
    bytes: encodeFrame({ i: -1, m: 'echo', p: 'x' }),
    logged: /message id -1 is not a positive safe integer/,
  },
  {
    label: 'a reused request id',
    bytes: Buffer.concat([encodeFrame({ i: 1, m: 'hang', p: 'x' }), encodeFrame({ i: 1, m: 'hang', p: 'x' })]),
    logged: /request id 1 is already in flight/,
  },
];

for (const { label, bytes, logged } of BAD_INPUTS) {
  test(`${label} closes only that connection, with one error line`, async (t) => {
    const harness = await startServer<EchoProtocol>(t, {
      echo: (text) => text,
      hang: () => new Promise(() => {}),
    });
    const healthy = await harness.connect();
    assert.equal(await healthy.request('echo', 'before'), 'before');
    const raw = await harness.connectRaw();
    raw.write(bytes);
    await once(raw, 'close');

    const errors = harness.logger.at('error');
    assert.equal(errors.length, 1);
    assert.match(errors[0].msg, logged);
    assert.equal(errors[0].obj.name, 'test.sock');
    assert.equal(typeof errors[0].obj.connectionId, 'number');
    assert.ok(errors[0].obj.err instanceof Error);

    assert.equal(await healthy.request('echo', 'after'), 'after');
    const newcomer = await harness.connect();
    assert.equal(await newcomer.request('echo', 'new'), 'new');
    assert.equal(harness.server.connectionCount, 2);
  });
}

test('a garbage reply closes the client and fails its calls with LOFT_E_IPC_BAD_FRAME', async (t) => {
  const path = join(await tempDir(t), 'garbage.sock');
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    // Answer the second request with garbage, so the first is still pending.
    let requests = 0;
    socket.on('data', (chunk) => {
      requests += decoder.push(chunk).length;
      if (requests >= 2) socket.write(encodeFrame({ i: 'not an id', r: 1 }));
    });
  });
  server.listen(path);
  await once(server, 'listening');
  const logger = new CapturingLogger();
  const client = await IpcClient.connect<EchoProtocol>(path, { logger });
  t.after(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });
  const closed = deferred<Error | undefined>();
  client.onClose((err) => closed.resolve(err));

  const calls = [client.request('echo', 'a'), client.request('echo', 'b')];
  for (const call of calls) await assert.rejects(call, (err) => isLoftError(err, 'LOFT_E_IPC_BAD_FRAME'));
  assert.ok(isLoftError(await closed.promise, 'LOFT_E_IPC_BAD_FRAME'));
  assert.equal(client.closed, true);
  assert.equal(logger.at('error').length, 1);
  assert.match(logger.at('error')[0].msg, /message id of type string is not a positive safe integer/);
});
