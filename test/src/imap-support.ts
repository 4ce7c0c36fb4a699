/**
 * Shared helpers of the IMAP service tests: a loftd with imap-login and users whose homes
 * exist (owned by their uids when the test runs as root), imapflow clients, and a raw IMAP
 * client for protocol-level exchanges.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ImapFlow } from 'imapflow';
import { IS_ROOT, TEST_USERS, freePort, loginConf, startLoftd, type Loftd } from './harness.js';

export const [ALICE, BOB] = TEST_USERS;

export interface ImapServer {
  loftd: Loftd;
  port: number;
  tlsPort: number;
  dir: string;
}

/** A loftd serving IMAP for alice and bob, whose home directories exist and are theirs. */
export async function startImapServer(t: TestContext, extra = ''): Promise<ImapServer> {
  const port = await freePort();
  const tlsPort = await freePort();
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-imap-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'home'), { mode: 0o755 });
  for (const u of TEST_USERS) {
    const home = path.join(dir, 'home', u.user);
    fs.mkdirSync(home, { mode: 0o700 });
    if (IS_ROOT) fs.chownSync(home, u.uid, u.uid);
  }
  let loftd: Loftd;
  try {
    loftd = await startLoftd(t, loginConf(dir, port, { tlsPort, extra }), { ready: ['imap-login', 'auth', 'anvil'] });
  } finally {
    // Registered after loftd's own cleanup, so sessions have stopped writing when it runs.
    t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  }
  return { loftd, port, tlsPort, dir };
}

/** A logged-in imapflow client; logged out (or closed) when the test ends. */
export async function imapflow(t: TestContext, port: number, user: { user: string; password: string } = ALICE): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user: user.user, pass: user.password }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  t.after(async () => {
    if (client.usable) await client.logout().catch(() => client.close());
    else client.close();
  });
  return client;
}

/** A message with the given headers and body, CRLF line ends. */
export function message(headers: Record<string, string>, body: string | Buffer): Buffer {
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'utf8'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

const ANSWER_TIMEOUT_MS = 15_000;

/**
 * A raw IMAP connection that logs in and then sends tagged commands, collecting the
 * responses up to the tagged one; for protocol exchanges written from the RFCs' examples.
 */
export class RawImap {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private tagCounter = 0;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  static async login(t: TestContext, port: number, user: { user: string; password: string } = ALICE): Promise<RawImap> {
    const socket = net.connect(port, '127.0.0.1');
    const raw = new RawImap(socket);
    t.after(() => socket.destroy());
    await raw.until(/\r\n/);
    raw.take();
    const answer = await raw.command(`LOGIN ${user.user} ${user.password}`);
    if (!/ OK /.test(answer.split('\r\n').at(-2) ?? '')) throw new Error(`login failed: ${answer}`);
    return raw;
  }

  /** Everything received so far, as latin1 text, and forget it. */
  take(): string {
    const text = this.buffer.toString('latin1');
    this.buffer = Buffer.alloc(0);
    return text;
  }

  /** Waits until the received text matches. */
  async until(pattern: RegExp, timeoutMs = ANSWER_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.buffer.toString('latin1');
      if (pattern.test(text)) return text;
      if (this.closed) throw new Error(`connection closed while waiting for ${pattern}: ${JSON.stringify(text.slice(-500))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}: ${JSON.stringify(text.slice(-500))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  nextTag(): string {
    return `t${++this.tagCounter}`;
  }

  /** Sends `<tag> <line>\r\n` and returns every response up to and including the tagged one. */
  async command(line: string | Buffer, tag = this.nextTag()): Promise<string> {
    this.write(Buffer.concat([Buffer.from(`${tag} `), typeof line === 'string' ? Buffer.from(line, 'latin1') : line, Buffer.from('\r\n')]));
    await this.until(new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
    return this.take();
  }

  /** The tagged status line of a command's answer. */
  static status(answer: string): string {
    const lines = answer.split('\r\n').filter(Boolean);
    return lines[lines.length - 1] ?? '';
  }
}
