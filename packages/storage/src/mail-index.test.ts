import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeIndex, encodeIndex, FLAG_EXPUNGE_PENDING, MessageTable, type IndexHeader } from './mail-index.js';

/** A table of `n` messages with varied fields and two keywords on some. */
function table(n: number): MessageTable {
  const t = new MessageTable();
  t.ensureKeyword(1);
  for (let i = 0; i < n; i++) {
    const guid = Buffer.alloc(16, i & 0xff);
    guid.writeUInt32LE(i, 0);
    const slot = t.push(3 * i + 1, i % 7, 10 + i, guid, 1000 + i, 1.7e12 + i * 1000, 1.7e12 + i * 2000);
    if (i % 3 === 0) t.setKeyword(slot, 0, true);
    if (i % 5 === 0) t.setKeyword(slot, 1, true);
  }
  return t;
}

function header(n: number): IndexHeader {
  return { uidValidity: 1234, uidNext: 3 * n + 1, firstRecentUid: 1, highestModseq: 10 + n, keywords: ['$Junk', 'work'], logId: 99, logOffset: 64 };
}

/** Everything a table says about its messages, in plain values. */
function contents(t: MessageTable): unknown[] {
  const out: unknown[] = [];
  for (let slot = 0; slot < t.count; slot++) {
    out.push([t.uids[slot], t.flags[slot], t.sizes[slot], t.modseqs[slot], t.internalDates[slot], t.saveDates[slot], t.guidHex(slot), t.keywordIndexes(slot)]);
  }
  return out;
}

describe('the index file', () => {
  // A large index is read into a Buffer of its own (the table then views its bytes); a small
  // one sits at some offset of Node's shared pool (the table copies it). Both must decode the
  // same, and the decoded table must take changes and appends like any other.
  for (const [what, n, place, views] of [
    ['a large index in a Buffer of its own', 500, (b: Buffer) => Buffer.from(b), true],
    ['an index at an odd offset of a larger buffer', 500, (b: Buffer) => Buffer.concat([Buffer.alloc(3), b]).subarray(3), false],
    ['a small index in the shared pool', 20, (b: Buffer) => Buffer.from(b), false],
  ] as const) {
    it(`decodes ${what}, which then takes changes and appends`, () => {
      const original = table(n);
      const encoded = place(encodeIndex(header(n), original));
      const decoded = decodeIndex(encoded);
      assert.ok(typeof decoded !== 'string', String(decoded));
      assert.deepEqual(decoded.header, header(n));
      assert.deepEqual(contents(decoded.table), contents(original));

      const t = decoded.table;
      assert.equal(t.uids.buffer === encoded.buffer, views, views ? 'the table views the file\'s bytes' : 'the table has its own copy');
      t.flags[0] = 0x5;
      t.setKeyword(1, 0, true);
      t.ensureKeyword(40);
      t.setKeyword(2, 40, true);
      for (let i = 0; i < 40; i++) t.push(3 * n + 1 + i, 1, 20 + n + i, Buffer.alloc(16, 0xee), 5, 1.8e12, 1.8e12);
      const expected = table(n);
      expected.flags[0] = 0x5;
      expected.setKeyword(1, 0, true);
      expected.ensureKeyword(40);
      expected.setKeyword(2, 40, true);
      for (let i = 0; i < 40; i++) expected.push(3 * n + 1 + i, 1, 20 + n + i, Buffer.alloc(16, 0xee), 5, 1.8e12, 1.8e12);
      assert.deepEqual(contents(t), contents(expected));

      const again = decodeIndex(Buffer.from(encodeIndex({ ...header(n), uidNext: 3 * n + 41 }, t)));
      assert.ok(typeof again !== 'string', String(again));
      assert.deepEqual(contents(again.table), contents(expected));
    });
  }

  it('leaves out messages a view has not yet announced as expunged, and keeps them in the view', () => {
    const t = table(30);
    // Grown columns are one allocation (an IMAP session holds a table per selected mailbox).
    assert.equal(t.uids.buffer, t.guids.buffer);
    const before = contents(t);
    t.flags[4] = t.flags[4]! | FLAG_EXPUNGE_PENDING;
    t.flags[17] = t.flags[17]! | FLAG_EXPUNGE_PENDING;
    const decoded = decodeIndex(Buffer.from(encodeIndex(header(30), t)));
    assert.ok(typeof decoded !== 'string', String(decoded));
    const kept = before.filter((_, slot) => slot !== 4 && slot !== 17);
    assert.deepEqual(contents(decoded.table), kept);
    t.flags[4] = t.flags[4]! & ~FLAG_EXPUNGE_PENDING;
    t.flags[17] = t.flags[17]! & ~FLAG_EXPUNGE_PENDING;
    assert.deepEqual(contents(t), before, 'the view still has every message');
  });

  it('refuses an index whose data does not match its checksum', () => {
    const encoded = Buffer.from(encodeIndex(header(100), table(100)));
    encoded[200] ^= 1;
    assert.equal(decodeIndex(encoded), 'index data checksum mismatch');
  });
});
