/**
 * A client that stops reading: its session stops producing output (backpressure, not an
 * ever-growing buffer), other sessions of the same imap process are still served, a client
 * that resumes reading gets every byte, and one that does not is disconnected after
 * imap_client_output_timeout with a log line naming the setting.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { RawImap, message, startImapServer } from './imap-support.js';

const OUTPUT_TIMEOUT_MS = 3000;
const MESSAGE_BYTES = 1024 * 1024;
/** 2^5 copies of the message: 32 MB of FETCH output, far beyond what the kernel's socket buffers hold. */
const DOUBLINGS = 5;
const MESSAGES = 2 ** DOUBLINGS;
/** What a paused session may hold: one message being sent plus the socket's own buffer, with room to spare. */
const QUEUED_MAX_BYTES = 4 * MESSAGE_BYTES;
/** Commands of another session must still be answered this fast while one client is stuck. */
const OTHER_SESSION_ANSWER_MS = 2000;

/** A connection that logs in, selects INBOX, asks for every message and then reads nothing. */
async function stuckFetch(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  let text = '';
  const onData = (d: Buffer): void => {
    text += d.toString('latin1');
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  const waitFor = async (pattern: RegExp): Promise<void> => {
    while (!pattern.test(text)) await new Promise((resolve) => socket.once('data', resolve));
  };
  await waitFor(/\r\n/);
  socket.write('l LOGIN alice secret\r\n');
  await waitFor(/^l OK/m);
  socket.write('s SELECT INBOX\r\n');
  await waitFor(/^s OK/m);
  socket.off('data', onData);
  socket.pause();
  socket.write(`f FETCH 1:${MESSAGES} (BODY.PEEK[])\r\n`);
  return socket;
}

/** Reads until the socket closes; returns how many bytes came. */
function readToEnd(socket: net.Socket, onText?: (tail: string) => boolean): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    let tail = '';
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      tail = (tail + d.toString('latin1')).slice(-200);
      if (onText?.(tail)) resolve(bytes);
    });
    socket.on('close', () => resolve(bytes));
    socket.resume();
  });
}

test('a client that stops reading is paused, then disconnected; the others are served', async (t) => {
  const { loftd, port } = await startImapServer(t, `imap_client_output_timeout = ${OUTPUT_TIMEOUT_MS} ms\n`);
  const setup = await RawImap.login(t, port);
  const body = Buffer.alloc(MESSAGE_BYTES - 200, 0x61);
  for (let i = 0; i < body.length; i += 100) body[i] = 0x0a;
  const first = message({ Subject: 'big' }, body);
  assert.match(RawImap.status(await setup.command(Buffer.concat([Buffer.from(`APPEND INBOX {${first.length}+}\r\n`), first]))), /OK/);
  await setup.command('SELECT INBOX');
  for (let i = 0; i < DOUBLINGS; i++) {
    assert.match(RawImap.status(await setup.command('COPY 1:* INBOX')), /OK/);
    await setup.command('NOOP'); // the copies join the view
  }
  assert.match(await setup.command('STATUS INBOX (MESSAGES)'), new RegExp(`MESSAGES ${MESSAGES}\\)`));

  await t.test('a reader that pauses and resumes gets all of the output', async (st) => {
    const socket = await stuckFetch(st, port);
    // Not reading for a while (shorter than the timeout) lets the server's output fill up.
    await new Promise((resolve) => setTimeout(resolve, OUTPUT_TIMEOUT_MS / 3));
    const bytes = await readToEnd(socket, (tail) => /\r\nf OK [^\r]*\r\n$/.test(tail));
    assert.ok(bytes > MESSAGES * MESSAGE_BYTES * 0.99, `all ${MESSAGES} messages arrived (${bytes} bytes)`);
    socket.destroy();
  });

  await t.test('a reader that stops is disconnected after imap_client_output_timeout, holding little', async (st) => {
    const started = Date.now();
    const socket = await stuckFetch(st, port);
    // Meanwhile another session of the same process is served promptly.
    // (The spare imap process, with no user yet, serves no one.)
    const processes = (await loftd.processes('imap')).filter((p) => p.clients > 0);
    assert.equal(processes.length, 1, 'both sessions of alice are in one imap process');
    for (let i = 0; i < 5; i++) {
      const asked = Date.now();
      assert.match(RawImap.status(await setup.command('UID FETCH 1 (FLAGS RFC822.SIZE)')), /OK/);
      assert.ok(Date.now() - asked < OTHER_SESSION_ANSWER_MS, `another session answered in ${Date.now() - asked} ms`);
    }
    const line = await loftd.waitForLog('imap_client_output_timeout', (l) => typeof l.msg === 'string' && l.msg.includes('imap_client_output_timeout'), OUTPUT_TIMEOUT_MS * 5);
    assert.ok(Date.now() - started >= OUTPUT_TIMEOUT_MS, 'not before the timeout');
    assert.equal(line.timeoutMs, OUTPUT_TIMEOUT_MS);
    assert.ok(typeof line.queuedBytes === 'number' && line.queuedBytes < QUEUED_MAX_BYTES, `the paused session held ${String(line.queuedBytes)} bytes, not the whole output`);
    const received = await readToEnd(socket);
    assert.ok(received < MESSAGES * MESSAGE_BYTES / 2, `the connection was closed before the output was complete (${received} bytes)`);
    // The process still serves its other session.
    assert.match(RawImap.status(await setup.command('NOOP')), /OK/);
  });
});
