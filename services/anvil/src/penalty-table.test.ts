import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH_PENALTY_EXPIRE_MS, PENALTY_TABLE_MAX_ENTRIES, PenaltyTable } from './penalty-table.js';

test('penalties double from 2 s up to 15 s, a success clears them, old ones expire', () => {
  let now = 0;
  const table = new PenaltyTable(() => now);
  assert.deepEqual(table.get('10.0.0.1'), { penaltyMs: 0, failures: 0 });
  assert.equal(table.increment('10.0.0.1').penaltyMs, 2000);
  assert.equal(table.increment('10.0.0.1').penaltyMs, 4000);
  assert.equal(table.increment('10.0.0.1').penaltyMs, 8000);
  assert.equal(table.increment('10.0.0.1').penaltyMs, 15000);
  for (let i = 0; i < 100; i++) table.increment('10.0.0.1');
  assert.equal(table.get('10.0.0.1').penaltyMs, 15000);
  assert.equal(table.get('10.0.0.2').penaltyMs, 0, 'other addresses are not penalised');
  table.reset('10.0.0.1');
  assert.equal(table.get('10.0.0.1').penaltyMs, 0);
  table.increment('10.0.0.3');
  now += AUTH_PENALTY_EXPIRE_MS + 1;
  assert.equal(table.get('10.0.0.3').penaltyMs, 0);
});

test('the table stays bounded under a flood of addresses', () => {
  const table = new PenaltyTable();
  for (let i = 0; i < PENALTY_TABLE_MAX_ENTRIES + 500; i++) table.increment(`ip-${i}`);
  assert.equal(table.size, PENALTY_TABLE_MAX_ENTRIES);
  assert.equal(table.get('ip-0').failures, 0, 'the oldest went first');
});
