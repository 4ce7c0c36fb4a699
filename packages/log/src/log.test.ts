import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, levelName } from './index.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l)) };
}

test('lines carry service and pid, and secrets are hidden', () => {
  const out = capture();
  const log = createLogger({ service: 'imap-login', destination: out.stream });
  log.info({ user: 'alice', password: 'hunter2', auth: { pass: 'x' } }, 'login');
  const [line] = out.lines();
  assert.equal(line.service, 'imap-login');
  assert.equal(line.pid, process.pid);
  assert.equal(line.password, '[hidden]');
  assert.deepEqual(line.auth, { pass: '[hidden]' });
  assert.equal(line.msg, 'login');
});

test('level filtering and level names', () => {
  const out = capture();
  const log = createLogger({ service: 'x', level: 'warn', destination: out.stream });
  log.info('dropped');
  log.error('kept');
  const lines = out.lines();
  assert.equal(lines.length, 1);
  assert.equal(levelName(lines[0].level), 'error');
});
