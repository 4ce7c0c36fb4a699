import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { LazyChildLogger, createLogger, levelName } from './index.js';

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

test('a lazy child writes the same lines as a child, and makes one only for lines other than once()', () => {
  const out = capture();
  const parent = createLogger({ service: 'imap', destination: out.stream });
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((bindings: Record<string, unknown>) => {
    children++;
    return child(bindings);
  }) as typeof parent.child;
  const lazy = new LazyChildLogger(parent, { user: 'alice', session: 's1' });
  lazy.once('info', { remote: '127.0.0.1', password: 'x' }, 'logged in');
  assert.equal(children, 0, 'once() writes through the parent');
  lazy.warn({ mailbox: 'INBOX' }, 'could not refresh');
  lazy.once('info', { in: 10 }, 'logged out');
  assert.equal(children, 1, 'the first other line makes the child, which later lines reuse');
  const [login, warn, logout] = out.lines();
  assert.deepEqual([login.user, login.session, login.remote, login.password, login.msg], ['alice', 's1', '127.0.0.1', '[hidden]', 'logged in']);
  assert.deepEqual([warn.user, warn.session, warn.mailbox, warn.msg], ['alice', 's1', 'INBOX', 'could not refresh']);
  assert.deepEqual([logout.user, logout.session, logout.in], ['alice', 's1', 10]);
});

test('stderr gets every line in order, those of one turn together and the last ones at exit', async () => {
  const { spawn } = await import('node:child_process');
  const moduleUrl = new URL('./index.js', import.meta.url).href;
  // 2,000 lines in one turn (about 200 KiB, more than a pipe holds), lines in later turns,
  // then a fatal line and process.exit() in the same turn: nothing may be lost or reordered.
  const script = `
    import { createLogger } from ${JSON.stringify(moduleUrl)};
    const log = createLogger({ service: 'logtest' });
    for (let i = 0; i < 2000; i++) log.info({ i }, 'burst');
    setImmediate(() => {
      log.info({ i: 2000 }, 'next turn');
      setTimeout(() => {
        log.fatal({ i: 2001 }, 'last words');
        process.exit(7);
      }, 5);
    });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 7, stderr.slice(-2000));
  const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { i: number; msg: string; service: string });
  assert.equal(lines.length, 2002);
  assert.deepEqual(lines.map((l) => l.i), Array.from({ length: 2002 }, (_, i) => i));
  assert.deepEqual([lines[1999]!.msg, lines[2000]!.msg, lines[2001]!.msg, lines[2001]!.service], ['burst', 'next turn', 'last words', 'logtest']);
});
