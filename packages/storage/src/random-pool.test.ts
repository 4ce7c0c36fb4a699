import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pooledRandomBytes } from './random-pool.js';

describe('pooledRandomBytes', () => {
  it('hands out GUIDs that never repeat, across refills of the pool', () => {
    const seen = new Set<string>();
    // 16 bytes from a 512-byte pool: 32 per fill, so this refills it ~300 times.
    for (let i = 0; i < 10_000; i++) {
      const guid = pooledRandomBytes(16);
      assert.equal(guid.length, 16);
      seen.add(guid.toString('hex'));
    }
    assert.equal(seen.size, 10_000);
  });

  it('returns bytes of their own, not a view of the pool', () => {
    const a = pooledRandomBytes(16);
    const copy = Buffer.from(a);
    // 1,000 more take the pool through several refills, which would overwrite a view of it.
    for (let i = 0; i < 1000; i++) pooledRandomBytes(16);
    assert.deepEqual(a, copy);
  });

  it('rejects a request larger than the pool', () => {
    assert.throws(() => pooledRandomBytes(513), RangeError);
    assert.equal(pooledRandomBytes(512).length, 512);
  });
});
