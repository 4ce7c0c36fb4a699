#!/usr/bin/env node
// npm run bench [-- --quick]: prints Loft's figures as a table and writes them as JSON to
// bench-results/. Parts so far: IPC (the framing every service talks over) and
// supervision (cold start, replacement after kill -9). Side-by-side Dovecot figures come
// with the IMAP, LMTP and performance issues.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIpcBench } from '@loft/ipc/bench';
import { IpcClient } from '@loft/ipc';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const rows = [];
const record = (part, metric, value, unit) => rows.push({ part, metric, value: Number(value.toFixed(2)), unit });

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('benchmark condition timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function readyEcho(baseDir, exceptPid) {
  const client = await IpcClient.connect(path.join(baseDir, 'run', 'master.sock'));
  try {
    const list = await client.request('process-status', { service: 'echo' });
    return list.find((p) => p.state === 'ready' && p.pid !== exceptPid);
  } finally {
    client.close();
  }
}

async function benchSupervision(rounds) {
  const starts = [];
  const replacements = [];
  for (let i = 0; i < rounds; i++) {
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-bench-'));
    fs.chmodSync(baseDir, 0o755);
    const port = await freePort();
    const conf = path.join(baseDir, 'loft.conf');
    fs.writeFileSync(conf, `log_path = ${baseDir}/loft.log\nservice echo {\n  executable = ${root}/test/fixtures/echo-service.js\n  inet_listener echo {\n    port = ${port}\n  }\n}\n`);
    const started = process.hrtime.bigint();
    const loftd = spawn(process.execPath, [path.join(root, 'services/master/bin/loftd.js'), '-c', conf, '--base-dir', baseDir], { stdio: 'ignore' });
    try {
      const first = await until(() => readyEcho(baseDir));
      starts.push(Number(process.hrtime.bigint() - started) / 1e6);
      const killed = process.hrtime.bigint();
      process.kill(first.pid, 'SIGKILL');
      await until(() => readyEcho(baseDir, first.pid));
      replacements.push(Number(process.hrtime.bigint() - killed) / 1e6);
    } finally {
      loftd.kill('SIGTERM');
      await new Promise((resolve) => loftd.once('exit', resolve));
      fs.rmSync(baseDir, { recursive: true, force: true });
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  record('supervision', 'cold start to a ready service (median)', median(starts), 'ms');
  record('supervision', 'kill -9 to a ready replacement (median)', median(replacements), 'ms');
}

const ipc = await runIpcBench({ durationMs: quick ? 1500 : 6000 });
record('ipc', 'sequential round trips', ipc.roundTripsPerSecond, '/s');
record('ipc', 'pipelined round trips (64 in flight)', ipc.pipelinedRoundTripsPerSecond, '/s');
record('ipc', 'streamed 64 KiB chunks', ipc.streamMegabytesPerSecond, 'MB/s');
await benchSupervision(quick ? 3 : 7);

const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const width = Math.max(...rows.map((r) => `${r.part}: ${r.metric}`.length));
console.log(`Loft benchmark, ${new Date().toISOString()}, ${machine}${quick ? ' (quick)' : ''}`);
for (const r of rows) console.log(`${`${r.part}: ${r.metric}`.padEnd(width)}  ${String(r.value).padStart(12)} ${r.unit}`);
const outDir = path.join(root, 'bench-results');
fs.mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `bench-${Date.now()}.json`);
fs.writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), machine, quick, rows }, null, 2));
console.log(`written to ${path.relative(root, outFile)}`);
