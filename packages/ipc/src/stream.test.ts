import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { IpcRemoteError } from './client-calls.js';
import { deferred, eventLoopTurns, startServer } from './ipc-fixtures.js';
import type { Handlers } from './protocol.js';

interface StreamProtocol {
  numbers: { params: { count: number; padBytes: number }; result: { n: number; pad: Buffer } };
  endless: { params: Record<string, never>; result: number };
  failsAfter: { params: { count: number }; result: number };
  silent: { params: Record<string, never>; result: number };
  echo: { params: string; result: string };
}

/** Handlers that report how far their iterators got and when their `finally` ran. */
function streamHandlers() {
  const progress = { produced: 0 };
  const endlessFinished = deferred();
  const handlers: Handlers<StreamProtocol> = {
    async *numbers({ count, padBytes }) {
      for (let n = 0; n < count; n++) {
        progress.produced = n + 1;
        yield { n, pad: Buffer.alloc(padBytes) };
      }
    },
    async *endless() {
      try {
        for (let n = 0; ; n++) {
          progress.produced = n + 1;
          yield n;
        }
      } finally {
        endlessFinished.resolve();
      }
    },
    async *failsAfter({ count }) {
      for (let n = 0; n < count; n++) yield n;
      throw Object.assign(new Error('disk went away'), { code: 'EIO' });
    },
    async *silent(_params, { signal }) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      // Too late: the client gave up, so the server drops this chunk instead of sending it.
      yield -1;
    },
    echo: (text) => text,
  };
  return { handlers, progress, endlessFinished: endlessFinished.promise };
}

const STREAM_CHUNKS = 10_000;
/** Far below STREAM_CHUNKS, far above what socket buffers and the client's queue can hold. */
const PRODUCER_LEAD_MAX_CHUNKS = 2_000;

test('10,000 chunks arrive in order, and a stalled consumer holds the producer back', { timeout: 30_000 }, async (t) => {
  const { handlers, progress } = streamHandlers();
  const harness = await startServer<StreamProtocol>(t, handlers);
  const client = await harness.connect();
  let received = 0;
  let leadAtStall = -1;
  for await (const chunk of client.stream('numbers', { count: STREAM_CHUNKS, padBytes: 1024 })) {
    assert.equal(chunk.n, received);
    received++;
    if (received === 1) {
      // Without backpressure the producer would finish in the turns the consumer sits out.
      await eventLoopTurns(200);
      leadAtStall = progress.produced - received;
    }
  }
  assert.equal(received, STREAM_CHUNKS);
  assert.ok(leadAtStall > 0 && leadAtStall < PRODUCER_LEAD_MAX_CHUNKS, `producer ran ${leadAtStall} chunks ahead`);
});

test('breaking out of a stream cancels it: the server iterator stops and its finally runs', async (t) => {
  const { handlers, progress, endlessFinished } = streamHandlers();
  const harness = await startServer<StreamProtocol>(t, handlers);
  const client = await harness.connect();
  let received = 0;
  for await (const n of client.stream('endless', {})) {
    assert.equal(n, received);
    if (++received === 100) break;
  }
  await endlessFinished;
  const producedAtCancel = progress.produced;
  assert.equal(await client.request('echo', 'still open'), 'still open');
  assert.equal(progress.produced, producedAtCancel, 'nothing is pulled after the cancel');
});

test('a stream that throws delivers its chunks, then rejects with LOFT_E_IPC_REMOTE', async (t) => {
  const harness = await startServer<StreamProtocol>(t, streamHandlers().handlers);
  const client = await harness.connect();
  const received: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const n of client.stream('failsAfter', { count: 3 })) received.push(n);
    })(),
    (err) => err instanceof IpcRemoteError && err.remoteCode === 'EIO' && /disk went away/.test(err.message),
  );
  assert.deepEqual(received, [0, 1, 2]);
});

test('a stream with no chunk within its idle timeout fails with LOFT_E_IPC_TIMEOUT', async (t) => {
  const harness = await startServer<StreamProtocol>(t, streamHandlers().handlers);
  const client = await harness.connect();
  await assert.rejects(
    (async () => {
      for await (const _ of client.stream('silent', {}, { timeoutMs: 50 })) assert.fail('no chunk expected');
    })(),
    (err) => isLoftError(err, 'LOFT_E_IPC_TIMEOUT') && /silent sent no chunk for 50 ms/.test(err.message),
  );
  assert.equal(await client.request('echo', 'open'), 'open');
});

test('a stream cut off by the connection closing rejects with LOFT_E_IPC_CLOSED', async (t) => {
  const { handlers } = streamHandlers();
  const harness = await startServer<StreamProtocol>(t, handlers);
  const client = await harness.connect();
  await assert.rejects(
    (async () => {
      for await (const n of client.stream('endless', {})) if (n === 10) await harness.server.close();
    })(),
    (err) => isLoftError(err, 'LOFT_E_IPC_CLOSED'),
  );
});
