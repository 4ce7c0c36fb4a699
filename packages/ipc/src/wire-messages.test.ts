import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cancelMessage,
  chunkMessage,
  endMessage,
  errorMessage,
  parseClientMessage,
  parseServerMessage,
  requestMessage,
  resultMessage,
} from './wire-messages.js';

test('every message parses back to what was built', () => {
  assert.deepEqual(parseClientMessage(requestMessage(7, 'echo', { a: 1 })), {
    ok: true,
    message: { kind: 'request', id: 7, method: 'echo', params: { a: 1 } },
  });
  assert.deepEqual(parseClientMessage(cancelMessage(7)), { ok: true, message: { kind: 'cancel', id: 7 } });
  assert.deepEqual(parseServerMessage(resultMessage(7, 'x')), { ok: true, message: { kind: 'result', id: 7, result: 'x' } });
  assert.deepEqual(parseServerMessage(errorMessage(7, null, 'boom')), {
    ok: true,
    message: { kind: 'error', id: 7, code: null, message: 'boom' },
  });
  assert.deepEqual(parseServerMessage(chunkMessage(7, 1)), { ok: true, message: { kind: 'chunk', id: 7, chunk: 1 } });
  assert.deepEqual(parseServerMessage(endMessage(7)), { ok: true, message: { kind: 'end', id: 7 } });
});

test('a message of the wrong shape says what is wrong with it', () => {
  const cases: Array<[unknown, RegExp]> = [
    [[1, 'echo'], /message of type array is not a map/],
    ['hello', /message of type string is not a map/],
    [{ i: 0, m: 'echo', p: 1 }, /message id 0 is not a positive safe integer/],
    [{ i: 1.5, m: 'echo', p: 1 }, /message id 1.5 is not/],
    [{ i: 2 ** 53, m: 'echo', p: 1 }, /is not a positive safe integer/],
    [{ i: '1', m: 'echo', p: 1 }, /message id of type string/],
    [{ i: 1, m: 5, p: 1 }, /request 1 has a method of type number/],
    [{ i: 1, m: 'echo' }, /keys \{i,m\}, which is neither a request nor a cancel/],
    [{ i: 1, m: 'echo', p: 1, x: 2 }, /keys \{i,m,p,x\}/],
  ];
  for (const [value, problem] of cases) {
    const parsed = parseClientMessage(value);
    assert.equal(parsed.ok, false, JSON.stringify(value));
    if (!parsed.ok) assert.match(parsed.problem, problem);
  }
});

test('a reply of the wrong shape is refused by the client side', () => {
  assert.equal(parseServerMessage({ i: 1, c: 5, e: 'x' }).ok, false);
  assert.equal(parseServerMessage({ i: 1, c: 'E', e: 5 }).ok, false);
  assert.equal(parseServerMessage({ i: 1, m: 'echo', p: 1 }).ok, false);
  assert.equal(parseServerMessage({ i: -3, r: 1 }).ok, false);
});
