/**
 * A minimal IMAP client on a raw socket for the whole-system tests: one command at a time,
 * read up to its tagged answer; plain, imaps or STARTTLS.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';

const ANSWER_TIMEOUT_MS = 30_000;

export class RawImap {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private closed = false;
  private tagNo = 0;

  private constructor(public socket: net.Socket) {
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      this.buffer += data;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static async connect(port: number, secure = false): Promise<RawImap> {
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect(port, '127.0.0.1');
    const client = new RawImap(socket);
    await client.line((l) => l.startsWith('* OK'));
    return client;
  }

  /** Wait for a complete line matching `match`; returns everything up to and including it. */
  private line(match: (line: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching line within ${ANSWER_TIMEOUT_MS} ms (got ${JSON.stringify(this.buffer)})`)), ANSWER_TIMEOUT_MS);
      const check = (): void => {
        let start = 0;
        for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n', start)) {
          const line = this.buffer.slice(start, nl).replace(/\r$/, '');
          start = nl + 1;
          if (match(line)) {
            const text = this.buffer.slice(0, start);
            this.buffer = this.buffer.slice(start);
            this.waiter = undefined;
            clearTimeout(timer);
            resolve(text);
            return;
          }
        }
        if (this.closed) {
          this.waiter = undefined;
          clearTimeout(timer);
          reject(new Error(`connection closed (got ${JSON.stringify(this.buffer)})`));
        }
      };
      this.waiter = check;
      check();
    });
  }

  /** Send a command; resolves with its tagged status line (OK/NO/BAD …) and what came before. */
  async command(text: string): Promise<{ status: string; lines: string }> {
    const tag = `t${++this.tagNo}`;
    this.socket.write(`${tag} ${text}\r\n`);
    const lines = await this.line((l) => l.startsWith(`${tag} `));
    const last = lines.trimEnd().split('\n').pop() ?? '';
    return { status: last.slice(tag.length + 1).split(' ')[0], lines };
  }

  async starttls(): Promise<void> {
    assert.equal((await this.command('STARTTLS')).status, 'OK');
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** Resolves once the server has closed the connection. */
  untilClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}
