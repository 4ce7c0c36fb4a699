/**
 * The per-service settings the master honours (service_count, idle_kill, vsz_limit, unix
 * listener modes and owners), service stop, the log service's duties, and rootless mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FIXTURES, IS_ROOT, LOFTD, ask, connectAndGreet, freePort, isAlive, startLoftd, waitFor, fixtureService } from './harness.js';

const echoService = (port: number, extra = ''): string => fixtureService('echo', 'echo-service.js', port, extra);

test('service_count = 1: a process serves one connection, then retires and is replaced', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  service_count = 1\n'), { ready: ['echo'] });
  const first = await connectAndGreet(port);
  const firstPid = Number(first.greeting.split(' ')[1]);
  const second = await connectAndGreet(port);
  assert.notEqual(Number(second.greeting.split(' ')[1]), firstPid, 'a retiring process accepts no second client');
  first.socket.destroy();
  await waitFor('the retired process to exit', () => !isAlive(firstPid));
  second.socket.destroy();
  assert.ok(loftd.running);
});

test('idle_kill stops surplus idle processes down to the minimum', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  client_limit = 1\n  idle_kill = 1s\n'), { ready: ['echo'] });
  const a = await connectAndGreet(port);
  const b = await connectAndGreet(port);
  assert.notEqual(a.greeting, b.greeting);
  assert.equal((await loftd.processes('echo')).length >= 2, true);
  a.socket.destroy();
  b.socket.destroy();
  const left = await waitFor('idle processes to be stopped', async () => {
    const list = (await loftd.processes('echo')).filter((p) => p.state !== 'stopping');
    return list.length === 1 ? list : undefined;
  }, 8000);
  assert.equal(left.length, 1, 'one process stays, ready for the next client');
});

test('vsz_limit becomes the heap limit, and the process title shows the state', async (t) => {
  const port = await freePort();
  await startLoftd(t, echoService(port, '  vsz_limit = 64M\n'), { ready: ['echo'] });
  const { socket } = await connectAndGreet(port);
  const info = JSON.parse(await ask(socket, 'info')) as { heapLimit: number; title: string; env: string[] };
  socket.destroy();
  const mib = info.heapLimit / 1024 / 1024;
  assert.ok(mib > 50 && mib < 120, `heap limit ${mib.toFixed(0)} MiB for vsz_limit 64M`);
  assert.equal(info.title, 'loft/echo [1 client]');
  assert.ok(!info.env.includes('HOME'), `children get a clean environment, not loftd's: ${info.env.join(' ')}`);
});

test('unix listeners get their mode (and owner, as root); master.sock is private', async (t) => {
  const loftd = await startLoftd(t, `service echo {
  executable = ${path.join(FIXTURES, 'echo-service.js')}
  unix_listener echo-socket {
    mode = 0660
${IS_ROOT ? '    user = nobody\n' : ''}  }
}
`, { ready: ['echo'] });
  const socketPath = path.join(loftd.baseDir, 'run', 'echo-socket');
  const stat = fs.statSync(socketPath);
  assert.equal(stat.mode & 0o777, 0o660);
  if (IS_ROOT) assert.equal(stat.uid, 65534);
  assert.equal(fs.statSync(path.join(loftd.baseDir, 'run', 'master.sock')).mode & 0o777, 0o600);
  const greeting = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('data', (d) => { resolve(String(d)); socket.destroy(); });
    socket.once('error', reject);
  });
  assert.match(greeting, /^hello \d+/);
});

test('loftadm service stop replaces a service\'s processes', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [before] = await loftd.waitForReady('echo');
  const result = await loftd.adm('-f', 'json', 'service', 'stop', 'echo');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout)[0].stopped, 1);
  assert.ok(!isAlive(before.pid));
  const [after] = await loftd.waitForReady('echo');
  assert.notEqual(after.pid, before.pid);
  const unknown = await loftd.adm('service', 'stop', 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no such service: nope/);
});

test('the log service keeps recent errors and reopens its file on SIGUSR1', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [victim] = await loftd.waitForReady('echo');
  process.kill(victim.pid, 'SIGKILL');
  const errors = await waitFor('the death in loftadm log errors', async () => {
    const result = await loftd.adm('-f', 'json', 'log', 'errors');
    const rows = JSON.parse(result.stdout) as Array<{ service: string; message: string }>;
    return rows.find((r) => r.message.includes(`child ${victim.pid} killed`)) ? rows : undefined;
  });
  assert.equal(errors.find((r) => r.message.includes(`${victim.pid}`))?.service, 'master');

  // logrotate: move the file away, signal, and the next lines land in a new file.
  fs.renameSync(loftd.logPath, `${loftd.logPath}.1`);
  process.kill(loftd.child.pid!, 'SIGUSR1');
  await waitFor('a new log file', () => fs.existsSync(loftd.logPath));
  await loftd.waitForLog('the reopen line in the new file', (l) => String(l.msg).includes('log file reopened'));
});

test('a log line cannot claim another service or pid', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [echo] = await loftd.waitForReady('echo');
  const { socket } = await connectAndGreet(port);
  assert.equal(await ask(socket, 'forge'), 'forged');
  socket.destroy();
  const line = await loftd.waitForLog('the forged line', (l) => l.msg === 'forged');
  assert.equal(line.service, 'echo');
  assert.equal(line.pid, echo.pid);
});

test('a child\'s lines reach the log file before, while and after the log service restarts', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const [echo] = await loftd.waitForReady('echo');
  const [log] = await loftd.waitForReady('log');
  const { socket } = await connectAndGreet(port);
  t.after(() => socket.destroy());
  const say = async (text: string): Promise<void> => {
    assert.equal(await ask(socket, `log ${text}`), 'logged');
    const line = await loftd.waitForLog(`"${text}" from echo`, (l) => l.msg === text);
    assert.deepEqual([line.service, line.pid], ['echo', echo.pid]);
  };
  // The log service reads echo's pipe itself (the master handed it over).
  await say('before');
  process.kill(log.pid, 'SIGKILL');
  // Written while no log service reads the pipe: the master takes it back, keeps the
  // line, and hands it to the next log service.
  await say('while');
  await waitFor('a new log process', async () => (await loftd.waitForReady('log')).find((p) => p.pid !== log.pid));
  await say('after');
  await say('and again');
  assert.equal(loftd.logLines().filter((l) => l.pid === echo.pid && ['before', 'while', 'after', 'and again'].includes(String(l.msg))).length, 4, 'each line once');
});

const nobodyCanRunLoft = IS_ROOT && spawnSync(process.execPath, ['-e', `import(${JSON.stringify(LOFTD.replace('bin/loftd.js', 'dist/settings.js'))})`], { uid: 65534, gid: 65534 }).status === 0;

test('rootless: loftd started by a normal user runs every service as that user and warns once', { skip: nobodyCanRunLoft ? false : 'needs root and a checkout that nobody can read' }, async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port, '  user = root\n'), { ready: ['echo'], as: { uid: 65534, gid: 65534 } });
  for (const p of await loftd.processes()) assert.equal(p.uid, 65534, `${p.service} runs as the invoking user`);
  const { socket, greeting } = await connectAndGreet(port);
  socket.destroy();
  assert.match(greeting, / 65534$/);
  await loftd.waitForLog('the rootless warning', (l) => String(l.msg).includes('rootless mode'));
  const warnings = loftd.logLines().filter((l) => String(l.msg).includes('rootless mode'));
  assert.equal(warnings.length, 1);
});

test('loftadm stop ends loftd and every process it started', async (t) => {
  const port = await freePort();
  const loftd = await startLoftd(t, echoService(port), { ready: ['echo'] });
  const pids = (await loftd.processes()).map((p) => p.pid);
  const result = await loftd.adm('stop');
  assert.equal(result.code, 0, result.stderr);
  const { code } = await loftd.exited;
  assert.equal(code, 0);
  for (const pid of pids) assert.ok(!isAlive(pid), `process ${pid} survived loftadm stop`);
  assert.ok(!fs.existsSync(path.join(loftd.baseDir, 'run', 'master.sock')));
});
