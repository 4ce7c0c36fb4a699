/** Nothing a child does can crash or wedge the master. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ask, connectAndGreet, freePort, isAlive, startLoftd, waitFor, fixtureService } from './harness.js';

const hostile = (port: number, extra = ''): string => fixtureService('hostile', 'hostile-service.js', port, extra, 'h');

test('a child that breaks the master protocol is killed and replaced; the master keeps serving', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, hostile(port), { ready: ['hostile'] });
  const { socket, greeting } = await connectAndGreet(port);
  const liar = Number(greeting.split(' ')[1]);
  socket.on('error', () => undefined);
  assert.equal(await ask(socket, 'lie'), 'lied');
  await waitFor('the liar to be killed', () => !isAlive(liar));
  await loftd.waitForLog('why it was killed', (l) => String(l.msg).includes(`child ${liar} broke the master protocol`));
  const [replacement] = await loftd.waitForReady('hostile');
  assert.notEqual(replacement.pid, liar);
  assert.equal((await loftd.adm('process', 'status')).code, 0);
});

test('a child flooding its log with one 64 MB line gets it truncated; the master stays responsive', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, hostile(port), { ready: ['hostile'] });
  const { socket } = await connectAndGreet(port);
  assert.equal(await ask(socket, 'flood'), 'flooded');
  socket.destroy();
  const line = await loftd.waitForLog('the truncated line', (l) => String(l.msg).endsWith('[truncated]'), 20_000);
  assert.ok(String(line.msg).length < 20_000, 'the line was cut to the bound');
  await loftd.waitForLog('the line written after the flood', (l) => l.msg === 'after the flood', 20_000);
  const truncated = loftd.logLines().filter((l) => String(l.msg).endsWith('[truncated]'));
  assert.equal(truncated.length, 1, 'the rest of the endless line is dropped, not logged piecewise');
  const status = await loftd.adm('-f', 'json', 'process', 'status');
  assert.equal(status.code, 0);
});

test('SIGHUP reloads like loftadm reload', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, hostile(port), { ready: ['hostile'] });
  loftd.writeConf(hostile(port, '  process_min_avail = 3\n'));
  process.kill(loftd.child.pid!, 'SIGHUP');
  const fresh = await loftd.waitForReady('hostile', 3, 2);
  assert.equal(fresh.length, 3, 'process_min_avail = 3 keeps three processes');
  await waitFor('generation 1 to drain', async () => (await loftd.processes('hostile')).every((p) => p.generation === 2));
});
