import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { FrameDecoder, IPC_MAX_FRAME_BYTES_DEFAULT, encodeFrame } from './frame.js';

const SAMPLE_VALUES: unknown[] = [
  { i: 1, m: 'get-settings', p: { service: 'imap', filter: { user: 'ünïcode' } } },
  { i: 2, r: [1, 2.5, null, true, 'x'.repeat(300)] },
  { i: 3, s: Buffer.from([0, 1, 2, 255]) },
  42,
];

function concatFrames(values: unknown[]): Buffer {
  return Buffer.concat(values.map((value) => encodeFrame(value)));
}

test('a frame is a 4-byte big-endian payload length followed by msgpack', () => {
  const frame = encodeFrame({ a: 1 });
  assert.equal(frame.readUInt32BE(0), frame.length - 4);
  assert.deepEqual(new FrameDecoder().push(frame), [{ a: 1 }]);
});

test('Buffers travel as msgpack bin and come back as Buffers', () => {
  const frame = encodeFrame(Buffer.from('hi'));
  assert.equal(frame[4], 0xc4, 'bin 8 marker');
  const [value] = new FrameDecoder().push(frame);
  assert.ok(Buffer.isBuffer(value));
  assert.equal(value.toString(), 'hi');
});

test('frames split at every byte boundary decode the same', () => {
  const bytes = concatFrames(SAMPLE_VALUES);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const decoder = new FrameDecoder();
    const values = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
    assert.deepEqual(values, SAMPLE_VALUES, `cut at byte ${cut}`);
  }
});

test('frames fed one byte at a time decode the same', () => {
  const bytes = concatFrames(SAMPLE_VALUES);
  const decoder = new FrameDecoder();
  const values: unknown[] = [];
  for (let at = 0; at < bytes.length; at++) values.push(...decoder.push(bytes.subarray(at, at + 1)));
  assert.deepEqual(values, SAMPLE_VALUES);
});

test('many frames in one chunk all decode, in order', () => {
  const sent = Array.from({ length: 5_000 }, (_, n) => ({ i: n + 1, r: n }));
  assert.deepEqual(new FrameDecoder().push(concatFrames(sent)), sent);
});

test('an oversized length prefix is refused before any payload arrives', () => {
  const decoder = new FrameDecoder(1024);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1025, 0);
  assert.throws(
    () => decoder.push(prefix),
    (err) => isLoftError(err, 'LOFT_E_IPC_FRAME_TOO_LARGE') && /frame of 1025 bytes exceeds the 1024-byte limit/.test(err.message),
  );
});

test('the default limit is 16 MiB, and the largest prefix is named in the error', () => {
  assert.throws(
    () => new FrameDecoder().push(Buffer.from([0xff, 0xff, 0xff, 0xff])),
    /frame of 4294967295 bytes exceeds the 16777216-byte limit/,
  );
  assert.equal(IPC_MAX_FRAME_BYTES_DEFAULT, 16 * 1024 * 1024);
});

test('bytes that are not one msgpack value are a bad frame, and the decoder stays failed', () => {
  const decoder = new FrameDecoder();
  const truncatedMap = Buffer.from([0, 0, 0, 2, 0x82, 0xa1]);
  assert.throws(() => decoder.push(truncatedMap), (err) => isLoftError(err, 'LOFT_E_IPC_BAD_FRAME'));
  assert.throws(() => decoder.push(encodeFrame(1)), (err) => isLoftError(err, 'LOFT_E_IPC_BAD_FRAME'));
  const trailingBytes = Buffer.from([0, 0, 0, 2, 0x01, 0x02]);
  assert.throws(() => new FrameDecoder().push(trailingBytes), /end of buffer not reached/);
  assert.throws(() => new FrameDecoder().push(Buffer.alloc(4)), /empty payload/);
});

test('msgpack extensions that build cyclic structures are refused', () => {
  // ext 0x69 starts a structured-clone reference: data a peer must not be able to send.
  const structuredCloneId = Buffer.from([0, 0, 0, 7, 0xd6, 0x69, 0, 0, 0, 1, 0x90]);
  assert.throws(() => new FrameDecoder().push(structuredCloneId), (err) => isLoftError(err, 'LOFT_E_IPC_BAD_FRAME'));
});

test('encodeFrame refuses values it cannot encode or that exceed a given limit', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeFrame(cyclic), (err) => isLoftError(err, 'LOFT_E_IPC_BAD_FRAME'));
  assert.throws(
    () => encodeFrame(Buffer.alloc(2000), 1000),
    (err) => isLoftError(err, 'LOFT_E_IPC_FRAME_TOO_LARGE') && /exceeds the 1000-byte limit/.test(err.message),
  );
});
