import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, LoftError, isLoftError } from './index.js';

test('every code is named LOFT_E_* and has a message', () => {
  for (const [code, message] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^LOFT_E_[A-Z_]+$/);
    assert.ok(message.length > 0, code);
  }
});

test('a LoftError carries its code, detail and cause', () => {
  const cause = new Error('ENOENT');
  const err = new LoftError('LOFT_E_CONF_INCLUDE', 'conf.d/x.conf', { cause });
  assert.equal(err.code, 'LOFT_E_CONF_INCLUDE');
  assert.match(err.message, /include failed: conf\.d\/x\.conf/);
  assert.equal(err.cause, cause);
  assert.ok(isLoftError(err, 'LOFT_E_CONF_INCLUDE'));
  assert.ok(!isLoftError(err, 'LOFT_E_IPC_TIMEOUT'));
});
