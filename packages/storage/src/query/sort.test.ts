import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sortMessages, type SortKey } from './index.js';
import { fakeMessage, lightMessage } from './fixtures.js';

const MSGS = [
  fakeMessage({ seq: 1, size: 300, internalDate: '2024-01-03T00:00:00Z', headers: ['Subject: Re: [list] beta', 'From: Zed <zed@x.test>', 'To: b@x.test', 'Date: Mon, 1 Jan 2024 10:00:00 +0000'] }),
  fakeMessage({ seq: 2, size: 100, internalDate: '2024-01-01T00:00:00Z', headers: ['Subject: alpha', 'From: "Adams, Amy" <amy@x.test>', 'Cc: c@x.test', 'Date: Mon, 1 Jan 2024 09:00:00 -0200'] }),
  fakeMessage({ seq: 3, size: 200, internalDate: '2024-01-02T00:00:00Z', headers: ['Subject: Beta', 'From: bob@x.test', 'To: =?utf-8?q?=C3=84rger?= <a@x.test>'] }),
  fakeMessage({ seq: 4, size: 200, internalDate: '2024-01-04T00:00:00Z', headers: ['Subject: Fwd: ALPHA (fwd)', 'From: AMY@x.test', 'Date: not a date'] }),
];

function order(keys: SortKey[]): number[] {
  return sortMessages(MSGS, keys).map((m) => m.seq);
}

const k = (key: SortKey['key'], reverse = false): SortKey => ({ key, reverse });

test('SORT ARRIVAL, SIZE with ties broken by sequence number, REVERSE per key', () => {
  assert.deepEqual(order([k('ARRIVAL')]), [2, 3, 1, 4]);
  assert.deepEqual(order([k('SIZE')]), [2, 3, 4, 1]);
  assert.deepEqual(order([k('SIZE', true)]), [1, 3, 4, 2], 'ties stay in mailbox order under REVERSE');
  assert.deepEqual(order([k('SIZE'), k('ARRIVAL', true)]), [2, 4, 3, 1]);
});

test('SORT SUBJECT uses the base subject, case-insensitively', () => {
  assert.deepEqual(order([k('SUBJECT')]), [2, 4, 1, 3]);
  assert.deepEqual(order([k('SUBJECT'), k('SIZE', true)]), [4, 2, 1, 3]);
});

test('SORT DATE uses the sent date in UTC, falling back to INTERNALDATE', () => {
  // 2: 11:00Z Jan 1, 1: 10:00Z Jan 1, 3: internal Jan 2, 4: internal Jan 4 (bad Date:)
  assert.deepEqual(order([k('DATE')]), [1, 2, 3, 4]);
});

test('SORT FROM/TO/CC by the first addr-mailbox; DISPLAYFROM/DISPLAYTO by display name', () => {
  assert.deepEqual(order([k('FROM')]), [2, 4, 3, 1], 'amy, AMY, bob, zed; ties by sequence');
  assert.deepEqual(order([k('CC')]), [1, 3, 4, 2], 'missing Cc sorts first');
  assert.deepEqual(order([k('TO')]), [2, 4, 3, 1]);
  assert.deepEqual(order([k('DISPLAYFROM')]), [2, 4, 3, 1], '"Adams, Amy", amy@x.test, bob@x.test, Zed');
  assert.deepEqual(order([k('DISPLAYTO')]), [2, 4, 3, 1], 'missing, missing, then Ärger (decoded, decomposed: A + U+0308) before b@x.test');
});

test('SORT of 100,000 messages by SUBJECT, DATE', (t) => {
  const msgs = Array.from({ length: 100_000 }, (_, i) =>
    lightMessage(
      i + 1,
      {
        subject: `${i % 3 === 0 ? 'Re: ' : ''}topic ${(i * 7919) % 5000}`,
        date: new Date(Date.UTC(2020, 0, 1) + ((i * 104729) % 10_000_000) * 1000).toUTCString(),
        from: `user${i % 997}@example.test`,
      },
      Date.UTC(2020, 0, 1) + i * 1000,
      1000 + (i % 50_000),
    ),
  );
  const started = process.hrtime.bigint();
  const sorted = sortMessages(msgs, [k('SUBJECT'), k('DATE', true)]);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.diagnostic(`sorted 100,000 messages in ${ms.toFixed(0)} ms`);
  assert.equal(sorted.length, 100_000);
  assert.ok(ms < 5000, `took ${ms} ms`);
  const sizes = sortMessages(msgs, [k('SIZE')]);
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i - 1].size <= sizes[i].size);
});
