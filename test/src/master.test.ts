/**
 * Issue 2's acceptance: loftd forks, supervises, reloads and stops services, with real
 * processes, sockets and files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  FIXTURES, IS_ROOT, LOFTD, connectAndGreet, freePort, isAlive, readUid, runNode, startLoftd, waitFor,
  fixtureService,
} from './harness.js';

const echoService = (port: number, extra = ''): string => fixtureService('echo', 'echo-service.js', port, extra);

test('process status lists config, log and a test service that serves on its listener', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const status = await loftd.adm('-f', 'json', 'process', 'status');
  assert.equal(status.code, 0, status.stderr);
  const services = new Set((JSON.parse(status.stdout) as Array<{ service: string }>).map((p) => p.service));
  for (const name of ['config', 'log', 'echo']) assert.ok(services.has(name), `process status lacks ${name}: ${status.stdout}`);
  const table = await loftd.adm('process', 'status');
  assert.match(table.stdout, /^pid\s+service\s+uid/m);

  const [echo] = await loftd.waitForReady('echo');
  const { socket, greeting } = await connectAndGreet(port);
  assert.equal(greeting.split(' ')[1], String(echo.pid));
  socket.destroy();
  assert.match(fs.readFileSync(`/proc/${echo.pid}/cmdline`, 'utf8'), /^loft\/echo/, 'process title names the service');
});

test('kill -9 of a service process leads to a logged replacement', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [victim] = await loftd.waitForReady('echo');
  process.kill(victim.pid, 'SIGKILL');
  const [replacement] = await waitFor('a replacement echo process', async () => {
    const ready = (await loftd.processes('echo')).filter((p) => p.state === 'ready' && p.pid !== victim.pid);
    return ready.length > 0 ? ready : undefined;
  });
  assert.notEqual(replacement.pid, victim.pid);
  await loftd.waitForLog('the death of the killed process', (l) => String(l.msg).includes(`child ${victim.pid} killed with signal SIGKILL`));
  const { socket, greeting } = await connectAndGreet(port);
  assert.match(greeting, new RegExp(`^hello ${replacement.pid} `));
  socket.destroy();
});

test('a service that exits at once is throttled, not respawned in a tight loop', async (t) => {
  const loftd = await startLoftd(t, `service broken {
  executable = ${path.join(FIXTURES, 'exit-at-once.js')}
}
`);
  const windowMs = 4000;
  await loftd.waitForLog('the throttle line', (l) => String(l.msg).includes('service(broken): process failed at start-up'));
  const from = Date.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs)); // the observation window itself
  const deaths = loftd.logLines().filter((l) => String(l.msg).match(/^service\(broken\): child \d+ returned error 3$/));
  // 500 ms doubling: 0, 0.5, 1.5, 3.5, 7.5 s... a tight loop would be hundreds.
  assert.ok(deaths.length >= 2 && deaths.length <= 6, `expected a few spawns in ${windowMs} ms, saw ${deaths.length}`);
  const throttleLines = loftd.logLines().filter((l) => String(l.msg).includes('throttling restarts'));
  assert.equal(throttleLines.length, 1, 'one log line says the service is throttled');
  assert.ok(Date.now() - from >= windowMs);
  // Between two back-offs the service is starting again and reads "no" until that start
  // fails: one read can land there on a slow machine, so read until a back-off shows.
  await waitFor('service status to show the back-off', async () => {
    const services = JSON.parse((await loftd.adm('-f', 'json', 'service', 'status')).stdout) as Array<{ name: string; throttled: string }>;
    const shown = services.find((s) => s.name === 'broken')?.throttled;
    return shown !== undefined && shown !== 'no' ? shown : undefined;
  });
});

test('reload: a broken config keeps the old generation and names file:line; a good one starts a new generation', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [before] = await loftd.waitForReady('echo');
  assert.equal(before.generation, 1);

  loftd.writeConf(echoService(port, '  proces_limit = 3\n'));
  const failed = await loftd.adm('reload');
  assert.notEqual(failed.code, 0);
  assert.match(failed.stderr, /loft\.conf:\d+: .*proces_limit.*process_limit/);
  await loftd.waitForLog('reload failure with file:line', (l) => /loft\.conf:\d+: .*proces_limit/.test(String(l.msg)));
  const still = await loftd.processes('echo');
  assert.deepEqual(still.map((p) => [p.pid, p.generation]), [[before.pid, 1]], 'the old generation keeps running');
  assert.ok(isAlive(before.pid));

  // A client connected to the old generation keeps its session across the reload.
  const { socket: oldClient } = await connectAndGreet(port);
  loftd.writeConf(echoService(port, '  process_limit = 3\n'));
  const ok = await loftd.adm('-f', 'json', 'reload');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout)[0].generation, 2);
  const [fresh] = await loftd.waitForReady('echo', 1, 2);
  assert.notEqual(fresh.pid, before.pid);
  const reply = await new Promise<string>((resolve) => {
    oldClient.once('data', (d) => resolve(String(d)));
    oldClient.write('still there?\n');
  });
  assert.equal(reply, `${before.pid}: still there?\n`);
  const { socket: newClient, greeting } = await connectAndGreet(port);
  assert.match(greeting, new RegExp(`^hello ${fresh.pid} `), 'new connections go to the new generation');
  newClient.destroy();
  oldClient.destroy();
  await waitFor('the old generation to exit once idle', () => !isAlive(before.pid));
});

test('a service with user = nobody runs with nobody\'s uid', { skip: IS_ROOT ? false : 'needs root' }, async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  user = nobody\n'), { ready: ['echo'] });
  const [echo] = await loftd.waitForReady('echo');
  assert.equal(readUid(echo.pid), 65534);
  assert.equal(echo.uid, 65534);
  const { socket, greeting } = await connectAndGreet(port);
  assert.equal(greeting, `hello ${echo.pid} 65534`);
  socket.destroy();
  const [config] = await loftd.waitForReady('config');
  assert.equal(readUid(config.pid), 0, 'config stays root');
});

test('a missing service user is a clear start-up error', { skip: IS_ROOT ? false : 'needs root' }, async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  user = no-such-loft-user\n'), { noWait: true });
  const { code } = await loftd.exited;
  assert.notEqual(code, 0);
  assert.match(loftd.stderr, /service echo: user = no-such-loft-user: no such user/);
});

test('garbage on config.sock and master.sock closes that connection; the daemon keeps serving', async (t) => {
  const loftd = await startLoftd(t, '');
  for (const name of ['config.sock', 'master.sock']) {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(path.join(loftd.baseDir, 'run', name));
      socket.on('connect', () => socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 5000).unref();
    });
    assert.ok(closed, `${name} closed the garbage connection`);
  }
  const status = await loftd.adm('-f', 'json', 'process', 'status');
  assert.equal(status.code, 0);
  await loftd.waitForLog('the bad frame error', (l) => /exceeds/.test(String(l.msg)) || /exceeds/.test(JSON.stringify(l.err ?? '')));
});

test('SIGTERM stops everything within the bound and removes sockets and pid file', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, `shutdown_timeout = 3s\n${echoService(port)}`, { ready: ['echo'] });
  const pids = (await loftd.processes()).map((p) => p.pid);
  const { socket } = await connectAndGreet(port); // a connected client must not hold the stop up
  socket.on('error', () => undefined);
  const stopped = await loftd.stop();
  assert.equal(stopped.code, 0);
  assert.ok(stopped.ms < 8000, `stop took ${stopped.ms} ms`);
  for (const pid of pids) assert.ok(!isAlive(pid), `process ${pid} survived the stop`);
  for (const file of ['master.sock', 'config.sock', 'loftd.pid']) {
    assert.ok(!fs.existsSync(path.join(loftd.baseDir, 'run', file)), `${file} left behind`);
  }
  socket.destroy();
});

test('a second loftd on the same base dir refuses to start and says why', async (t) => {
  const loftd = await startLoftd(t, '');
  const second = await runNode(LOFTD, ['-c', loftd.confPath, '--base-dir', loftd.baseDir]);
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /loftd \(pid \d+\) already runs with base_dir/);
  assert.ok(loftd.running);
  assert.equal((await loftd.adm('process', 'status')).code, 0);
});

test('loftadm says in one line that loftd is not running', async () => {
  const result = await runNode(path.join(path.dirname(LOFTD), '..', '..', '..', 'packages/cli/bin/loftadm.js'), ['--base-dir', '/nonexistent-loft', 'process', 'status']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /loftd is not running/);
});

test('process_limit and client_limit: busy processes make more, up to the limit, which is logged once', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  client_limit = 2\n  process_limit = 2\n'), { ready: ['echo'] });
  const clients = [];
  for (let i = 0; i < 4; i++) clients.push(await connectAndGreet(port));
  const servers = new Set(clients.map((c) => c.greeting.split(' ')[1]));
  assert.equal(servers.size, 2, 'four clients over client_limit 2 need two processes');
  const busy = await waitFor('two full processes', async () => {
    const list = await loftd.processes('echo');
    return list.length === 2 && list.every((p) => p.clients === 2) ? list : undefined;
  });
  assert.equal(busy.length, 2);
  await loftd.waitForLog('the process_limit line', (l) => String(l.msg) === 'service(echo): process_limit (2) reached, client connections are queued');
  // A fifth client waits in the backlog and is served as soon as a slot frees.
  const fifth = connectAndGreet(port);
  clients[0].socket.destroy();
  const { socket, greeting } = await fifth;
  assert.ok(servers.has(greeting.split(' ')[1]));
  socket.destroy();
  for (const c of clients) c.socket.destroy();
});

test('two listeners on one port are a config error at start, and a reload that would make them keeps the old generation', async (t) => {
  const port = await freePort();
  const second = `  inet_listener echo2 {\n    address = *\n    port = ${port}\n  }\n`;
  const clash = await startLoftd(t, echoService(port, second), { noWait: true });
  const { code } = await clash.exited;
  assert.notEqual(code, 0);
  assert.match(clash.stderr, new RegExp(`service echo inet_listener echo2 \\(\\*:${port}\\) and service echo inet_listener echo \\(127\\.0\\.0\\.1:${port}\\) use the same port`));

  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [before] = await loftd.waitForReady('echo');
  loftd.writeConf(echoService(port, second));
  const failed = await loftd.adm('reload');
  assert.notEqual(failed.code, 0);
  await loftd.waitForLog('the reload failure', (l) => /reload failed: .*use the same port/.test(String(l.msg)));
  const still = await loftd.processes('echo');
  assert.deepEqual(still.map((p) => [p.pid, p.generation]), [[before.pid, 1]], 'the old generation keeps running');
  const { socket, greeting } = await connectAndGreet(port);
  socket.destroy();
  assert.ok(greeting.length > 0, 'the old listener still answers');
});

test('a port another process listens on is a clear start-up error, not a silent dead listener', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const loftd = await startLoftd(t, echoService(port), { noWait: true });
  const { code } = await loftd.exited;
  assert.notEqual(code, 0);
  assert.match(loftd.stderr, new RegExp(`listen\\(service echo inet_listener echo 127\\.0\\.0\\.1:${port}\\) failed: EADDRINUSE`));
});
