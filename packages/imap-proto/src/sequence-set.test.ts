import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import {
  expandSequenceSet,
  formatSequenceSet,
  normalizeSequenceSet,
  parseSequenceSet,
  parseSequenceSetOrSaved,
  sequenceSetToString,
} from './sequence-set.js';

test('RFC 3501 §9 examples: 2:4 and 4:2 are the same set; * is the largest number in use', () => {
  assert.deepEqual(parseSequenceSet('2,4:7,9,12:*'), [
    { from: 2, to: 2 },
    { from: 4, to: 7 },
    { from: 9, to: 9 },
    { from: 12, to: '*' },
  ]);
  // "a mailbox with 15 messages: 2,4:7,9,12:* is 2,4,5,6,7,9,12,13,14,15"
  assert.deepEqual([...expandSequenceSet(parseSequenceSet('2,4:7,9,12:*'), 15)], [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]);
  assert.deepEqual([...expandSequenceSet(parseSequenceSet('4:2'), 10)], [2, 3, 4]);
  // "*:4" with 3 as the largest number means 3:4, clipped to what exists.
  assert.deepEqual([...expandSequenceSet(parseSequenceSet('*:4'), 3)], [3]);
});

test('a UID range past the end still includes the last message (RFC 3501 §6.4.8 "559:*")', () => {
  assert.deepEqual(normalizeSequenceSet(parseSequenceSet('559:*'), 500), [[500, 500]]);
  assert.deepEqual(normalizeSequenceSet(parseSequenceSet('600:700'), 500), []);
  assert.deepEqual(normalizeSequenceSet(parseSequenceSet('1:*'), 0), []);
});

test('1:4294967295 expands lazily', () => {
  const iterator = expandSequenceSet(parseSequenceSet('1:4294967295,7'), 4294967295);
  assert.deepEqual([iterator.next().value, iterator.next().value], [1, 2]);
  assert.deepEqual(normalizeSequenceSet(parseSequenceSet('1:4294967295,7,3:9'), 4294967295), [[1, 4294967295]]);
});

test('invalid sets are LOFT_E_IMAP_SYNTAX', () => {
  for (const bad of ['', '0', '1:0', '1,', ',1', '1::2', 'a', '4294967296', '1:2:3', '-1', '1 2', '$']) {
    assert.throws(() => parseSequenceSet(bad), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX'), bad);
  }
  assert.equal(parseSequenceSetOrSaved('$'), '$');
});

test('formatSequenceSet sorts, removes duplicates and compresses runs', () => {
  assert.equal(formatSequenceSet([5, 1, 2, 3, 3, 9, 8, 10, 20]), '1:3,5,8:10,20');
  assert.equal(formatSequenceSet([]), '');
  assert.equal(formatSequenceSet([4294967295]), '4294967295');
  assert.equal(sequenceSetToString(parseSequenceSet('1:3,5,*')), '1:3,5,*');
});
