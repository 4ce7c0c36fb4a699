import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { LoftError, isLoftError } from '@loft/errors';
import { IpcClient } from './client.js';
import { IpcRemoteError } from './client-calls.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { deferred, startServer, tempDir } from './ipc-fixtures.js';
import type { Handlers } from './protocol.js';

interface TestProtocol {
  echo: { params: { text: string; blob?: Buffer }; result: { text: string; blob?: Buffer } };
  held: { params: { key: string }; result: string };
  fail: { params: { code?: string; message: string }; result: never };
  blob: { params: { bytes: number }; result: Buffer };
}

interface TestHandlers {
  handlers: Handlers<TestProtocol>;
  release(key: string): void;
  /** The key of the first `held` call to start. */
  entered: Promise<string>;
  /** The key of the first `held` call whose signal aborted. */
  aborted: Promise<string>;
}

/** Handlers whose `held` calls wait until the test releases their key. */
function testHandlers(): TestHandlers {
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const entered = deferred<string>();
  const aborted = deferred<string>();
  const gate = (key: string): ReturnType<typeof deferred<void>> => {
    if (!gates.has(key)) gates.set(key, deferred());
    return gates.get(key)!;
  };
  const handlers: Handlers<TestProtocol> = {
    echo: (params) => params,
    async held({ key }, { signal }) {
      entered.resolve(key);
      signal.addEventListener('abort', () => aborted.resolve(key));
      await gate(key).promise;
      return `released ${key}`;
    },
    fail({ code, message }) {
      throw Object.assign(new Error(message), code === undefined ? {} : { code });
    },
    blob: ({ bytes }) => Buffer.alloc(bytes),
  };
  return { handlers, release: (key) => gate(key).resolve(), entered: entered.promise, aborted: aborted.promise };
}

test('a request gets its result back, Buffers included', async (t) => {
  const harness = await startServer<TestProtocol>(t, testHandlers().handlers);
  const client = await harness.connect();
  const result = await client.request('echo', { text: 'hello', blob: Buffer.from([1, 2, 3]) });
  assert.equal(result.text, 'hello');
  assert.deepEqual(result.blob, Buffer.from([1, 2, 3]));
  assert.equal(harness.server.connectionCount, 1);
});

test('concurrent requests answered out of order each get their own result', async (t) => {
  const { handlers, release } = testHandlers();
  const harness = await startServer<TestProtocol>(t, handlers);
  const client = await harness.connect();
  const finished: string[] = [];
  const calls = ['a', 'b', 'c'].map((key) => client.request('held', { key }).then((result) => finished.push(result)));
  const echoed = await client.request('echo', { text: 'not held up' });
  assert.equal(echoed.text, 'not held up');
  for (const key of ['c', 'a', 'b']) release(key);
  await Promise.all(calls);
  assert.deepEqual(finished, ['released c', 'released a', 'released b']);
});

test('a request with no reply in time fails with LOFT_E_IPC_TIMEOUT and the handler is told', async (t) => {
  const { handlers, aborted } = testHandlers();
  const harness = await startServer<TestProtocol>(t, handlers);
  const client = await harness.connect();
  await assert.rejects(client.request('held', { key: 'never' }, { timeoutMs: 50 }), (err) => {
    return isLoftError(err, 'LOFT_E_IPC_TIMEOUT') && /held got no reply within 50 ms/.test(err.message);
  });
  assert.equal(await aborted, 'never', "the handler's signal aborts when the client gives up");
  assert.equal((await client.request('echo', { text: 'still open' })).text, 'still open');
});

test('a late reply to a timed-out request is ignored', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'slow.sock');
  // A server that answers the first request only once the client has given up on it.
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    let firstId: number | undefined;
    socket.on('data', (chunk) => {
      for (const message of decoder.push(chunk) as Array<{ i: number; m?: string }>) {
        if (message.m === undefined) socket.write(encodeFrame({ i: firstId, r: { text: 'late' } }));
        else if (firstId === undefined) firstId = message.i;
        else socket.write(encodeFrame({ i: message.i, r: { text: 'on time' } }));
      }
    });
  });
  server.listen(path);
  await once(server, 'listening');
  const client = await IpcClient.connect<TestProtocol>(path);
  t.after(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });
  await assert.rejects(client.request('echo', { text: 'x' }, { timeoutMs: 20 }), /no reply within 20 ms/);
  assert.equal((await client.request('echo', { text: 'y' })).text, 'on time');
});

test('a handler that throws rejects with LOFT_E_IPC_REMOTE, its code and message, and no stack', async (t) => {
  const harness = await startServer<TestProtocol>(t, testHandlers().handlers);
  const client = await harness.connect();
  await assert.rejects(client.request('fail', { code: 'ENOUSER', message: 'no such user: bob' }), (err) => {
    assert.ok(err instanceof IpcRemoteError);
    assert.equal(err.code, 'LOFT_E_IPC_REMOTE');
    assert.equal(err.remoteCode, 'ENOUSER');
    assert.equal(err.message, 'IPC request failed on the remote side: no such user: bob');
    assert.doesNotMatch(err.message, /\bat /);
    return true;
  });
  await assert.rejects(client.request('fail', { message: 'bug' }), (err) => {
    return err instanceof IpcRemoteError && err.remoteCode === undefined;
  });
  const warnings = harness.logger.at('warn');
  assert.equal(warnings.length, 1, 'an error without a code is logged on the server, with its stack');
  assert.ok(warnings[0].obj.err instanceof Error);
  assert.equal((await client.request('echo', { text: 'open' })).text, 'open');
});

test('an unknown method rejects with LOFT_E_IPC_NO_METHOD and the connection stays open', async (t) => {
  const harness = await startServer<TestProtocol>(t, testHandlers().handlers);
  const client = await harness.connect();
  const untyped = client as unknown as IpcClient<Record<string, { params: unknown; result: unknown }>>;
  for (const method of ['no-such-method', 'constructor', '__proto__', 'toString']) {
    await assert.rejects(untyped.request(method, {}), (err) => {
      return isLoftError(err, 'LOFT_E_IPC_NO_METHOD') && err.message.endsWith(`: ${method}`);
    });
  }
  assert.equal((await client.request('echo', { text: 'open' })).text, 'open');
});

test('requests pending when the connection closes reject with LOFT_E_IPC_CLOSED', async (t) => {
  const { handlers, entered, aborted } = testHandlers();
  const harness = await startServer<TestProtocol>(t, handlers);
  const client = await harness.connect();
  const closed = deferred<Error | undefined>();
  client.onClose((err) => closed.resolve(err));
  const pending = client.request('held', { key: 'k' });
  await entered;
  await harness.server.close();
  await assert.rejects(pending, (err) => isLoftError(err, 'LOFT_E_IPC_CLOSED'));
  assert.equal(await aborted, 'k', "the handler's signal aborts when the connection closes");
  await closed.promise;
  assert.equal(client.closed, true);
  await assert.rejects(client.request('echo', { text: 'x' }), (err) => isLoftError(err, 'LOFT_E_IPC_CLOSED'));
});

test('close() on the client rejects its pending requests with LOFT_E_IPC_CLOSED', async (t) => {
  const harness = await startServer<TestProtocol>(t, testHandlers().handlers);
  const client = await harness.connect();
  const pending = client.request('held', { key: 'k' });
  client.close();
  await assert.rejects(pending, (err) => isLoftError(err, 'LOFT_E_IPC_CLOSED'));
});

test('connecting to a socket nobody listens on rejects with LOFT_E_IPC_CLOSED and the cause', async (t) => {
  const path = join(await tempDir(t), 'missing.sock');
  await assert.rejects(IpcClient.connect(path), (err) => {
    assert.ok(err instanceof LoftError);
    assert.equal(err.code, 'LOFT_E_IPC_CLOSED');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.match(err.message, /missing\.sock: ENOENT/);
    return true;
  });
});

test('a frame too large to send fails only that call, on either side', async (t) => {
  const harness = await startServer<TestProtocol>(t, testHandlers().handlers, { maxFrameBytes: 1024 });
  const client = await harness.connect({ maxFrameBytes: 1024 });
  await assert.rejects(client.request('blob', { bytes: 4096 }), (err) => {
    return err instanceof IpcRemoteError && err.remoteCode === 'LOFT_E_IPC_FRAME_TOO_LARGE';
  });
  await assert.rejects(client.request('echo', { text: 'x'.repeat(2000) }), (err) => {
    return isLoftError(err, 'LOFT_E_IPC_FRAME_TOO_LARGE') && /exceeds the 1024-byte limit/.test(err.message);
  });
  assert.equal((await client.request('echo', { text: 'small' })).text, 'small');
  assert.equal(harness.logger.at('warn').length, 1, 'the server warns that it could not send a result');
});
