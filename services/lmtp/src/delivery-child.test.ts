import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { ChildArgv } from './child-protocol.js';

const CHILD_MODULE = fileURLToPath(new URL('./delivery-child.js', import.meta.url));

// loftd stopping while the lmtp process starts its delivery children: the child's first
// message ('ready') meets a closed channel. It must end quietly, not print a stack trace
// into the log as an unhandled 'error'.
test('a delivery child whose lmtp process is gone before it is ready exits quietly', async () => {
  for (const mode of ['seteuid', 'fork'] as const) {
    const argv: ChildArgv = [mode, 'info', '60000'];
    const child = fork(CHILD_MODULE, argv, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(child, 'exit');
    child.disconnect();
    const [code] = (await exited) as [number | null];
    assert.doesNotMatch(output, /Unhandled 'error'|EPIPE|ERR_IPC_CHANNEL_CLOSED/, `${mode} child printed:\n${output}`);
    assert.equal(code, 0, `${mode} child exited with ${code}:\n${output}`);
  }
});
