import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataDecoder } from './data-decoder.js';

/** Feeds `input` in pieces of `step` bytes; returns the message and what followed the dot line. */
function decode(input: string, step: number): { message: string; rest?: string } {
  const decoder = new DataDecoder();
  const bytes = Buffer.from(input, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) {
    const { output, rest } = decoder.push(bytes.subarray(i, i + step));
    out.push(...output);
    if (rest) return { message: Buffer.concat(out).toString('latin1'), rest: Buffer.concat([rest, bytes.subarray(i + step)]).toString('latin1') };
  }
  return { message: Buffer.concat(out).toString('latin1') };
}

test('dot-unstuffing, bare LF and the terminator work whatever the chunk boundaries', () => {
  const input = 'Subject: x\r\n\r\n..one\r\n.\rtwo\nthree\r\n...\r\n\r\n.\r\nQUIT\r\n';
  for (let step = 1; step <= input.length; step++) {
    assert.deepEqual(decode(input, step), { message: 'Subject: x\r\n\r\n.one\r\n\rtwo\r\nthree\r\n..\r\n\r\n', rest: 'QUIT\r\n' }, `step ${step}`);
  }
});

test('a dot line ended by a bare LF ends the message; a dot inside a line is kept', () => {
  assert.deepEqual(decode('a.b\n.\nNOOP\r\n', 3), { message: 'a.b\r\n', rest: 'NOOP\r\n' });
});

test('without the terminator nothing is reported as ended, and long lines are not buffered', () => {
  const decoder = new DataDecoder();
  const { output, rest } = decoder.push(Buffer.alloc(100_000, 'x'));
  assert.equal(rest, undefined);
  assert.equal(Buffer.concat(output).length, 100_000);
});
