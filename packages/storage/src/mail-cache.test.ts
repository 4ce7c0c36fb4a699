import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailCache, UID_CHUNK_WEIGHT, setDecodedValuesMax } from './mail-cache.js';
import { SILENT_LOGGER } from './storage-logger.js';

describe('MailCache decoded values over the bound', () => {
  it('drops raw header values before the keys made of them, and answers over sets last', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loft-mail-cache-'));
    // Room for four fields of 10 values, each with the chunk its UIDs share.
    const field = 10 + UID_CHUNK_WEIGHT;
    const previous = setDecodedValuesMax(4 * field);
    try {
      const cache = new MailCache(join(dir, 'loft.index.cache'), 1, SILENT_LOGGER);
      const computed = new Map<string, number>();
      const fill = (key: string): void => {
        for (let uid = 1; uid <= 10; uid++) {
          cache.derived(uid, key, uid, (n) => {
            computed.set(key, (computed.get(key) ?? 0) + 1);
            return `${key}:${n}`;
          });
        }
      };
      fill('headers:date');
      fill('q:sortDate');
      cache.overMessages('SORT DATE', Uint32Array.of(1, 2, 3), () => 'order', () => 8 * 64);
      fill('q:threadIds');
      // Three fields and the answer (9 values and a chunk) fill all but one value of the
      // room: the next field needs room, and the raw header values go.
      fill('q:subjectKey');
      computed.clear();
      fill('q:sortDate');
      fill('q:threadIds');
      fill('q:subjectKey');
      assert.deepEqual([...computed], [], 'the keys stayed');
      assert.equal(cache.overMessages('SORT DATE', Uint32Array.of(1, 2, 3), () => 'again', () => 8), 'order', 'the answer stayed');
      fill('headers:date');
      assert.equal(computed.get('headers:date'), 10, 'the raw values were dropped');
      cache.close();
    } finally {
      setDecodedValuesMax(previous);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
