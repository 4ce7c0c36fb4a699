// A minimal IMAP client for the benchmarks: raw socket, tagged commands (several may be in
// flight), untagged lines handed to a listener or collected per command, literals skipped
// without decoding, LITERAL+ for APPEND (one message or many: MULTIAPPEND), IDLE. It
// parses as little as it can, so the load generator costs less than the servers.
import net from 'node:net';

const NL = 0x0a;
const DEFAULT_TIMEOUT_MS = 120_000;
const CLOSE_BRACE = 0x7d;

export class ImapClient {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.waiting = new Map(); // tag -> { resolve, reject, text, collect }
    this.continuation = undefined; // one-shot: the next '+' line
    this.greeting = undefined;
    this.onUntagged = undefined; // (line) => void, for every untagged line
    this.collect = undefined; // array: untagged lines of the command that asked for them
    this.each = undefined; // (buffer, start, end) => void: the same, read in place (no string per line)
    this.closed = undefined;
    this.next = 1;
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
      this.scan();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /** Connect and wait for the greeting. */
  static connect(port, host = '127.0.0.1', timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      const client = new ImapClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no IMAP greeting from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      client.greeting = {
        resolve: (line) => {
          clearTimeout(timer);
          if (!line.startsWith('* OK')) {
            socket.destroy();
            reject(new Error(`greeting: ${line}`));
          } else resolve(client);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  fail(err) {
    this.closed ??= err;
    const greeting = this.greeting;
    this.greeting = undefined;
    greeting?.reject(err);
    const continuation = this.continuation;
    this.continuation = undefined;
    continuation?.reject(err);
    for (const pending of this.waiting.values()) pending.reject(err);
    this.waiting.clear();
  }

  /** Walk complete lines; a line ending in {n} or {n+} is followed by n literal bytes, skipped. */
  scan() {
    let offset = 0;
    const buffer = this.buffer;
    for (;;) {
      const nl = buffer.indexOf(NL, offset);
      if (nl < 0) break;
      let end = nl > offset && buffer[nl - 1] === 0x0d ? nl - 1 : nl;
      if (end > offset && buffer[end - 1] === CLOSE_BRACE) {
        const line = buffer.toString('latin1', offset, end);
        const literal = /\{(\d+)\+?\}$/.exec(line);
        if (literal) {
          const skipTo = nl + 1 + Number(literal[1]);
          if (skipTo > buffer.length) break;
          // The response goes on after the literal; hand over only the text before it.
          this.line(buffer, offset, end);
          offset = skipTo;
          continue;
        }
      }
      this.line(buffer, offset, end);
      offset = nl + 1;
    }
    this.buffer = offset === 0 ? buffer : buffer.subarray(offset);
  }

  line(buffer, start, end) {
    const first = buffer[start];
    if (this.greeting) {
      const greeting = this.greeting;
      this.greeting = undefined;
      greeting.resolve(buffer.toString('latin1', start, end));
      return;
    }
    if (first === 0x2a /* * */) {
      if (this.each !== undefined) {
        this.each(buffer, start, end);
        return;
      }
      if (this.collect === undefined && this.onUntagged === undefined) return;
      const line = buffer.toString('latin1', start, end);
      this.collect?.push(line);
      this.onUntagged?.(line);
      return;
    }
    if (first === 0x2b /* + */) {
      const continuation = this.continuation;
      this.continuation = undefined;
      continuation?.resolve();
      return;
    }
    const space = buffer.indexOf(0x20, start);
    if (space < 0 || space > end) return;
    const tag = buffer.toString('latin1', start, space);
    const pending = this.waiting.get(tag);
    if (!pending) return;
    this.waiting.delete(tag);
    const line = buffer.toString('latin1', start, end);
    if (pending.collect) this.collect = undefined;
    if (pending.each) this.each = undefined;
    if (line.startsWith(`${tag} OK`)) pending.resolve({ line, untagged: pending.collect });
    else pending.reject(new Error(`${pending.text.split(' ')[0]} answered: ${line.slice(tag.length + 1)}`));
  }

  /**
   * Send a command and wait for its tagged OK (NO/BAD reject). `parts`: a string, or an
   * array of strings and Buffers where each Buffer is sent as a LITERAL+ literal.
   * `collect`: return the untagged lines received until the tagged reply (one such command at a time).
   * `timeoutMs`: with no tagged reply by then the connection is closed and the command fails.
   */
  command(parts, { collect = false, each = undefined, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (this.closed) return Promise.reject(this.closed);
    const tag = `t${this.next++}`;
    const text = typeof parts === 'string' ? parts : parts.filter((p) => typeof p === 'string').join('');
    let timer;
    const promise = new Promise((resolve, reject) => {
      const pending = { resolve, reject, text, collect: collect ? [] : undefined, each };
      if (collect) this.collect = pending.collect;
      if (each) this.each = each;
      this.waiting.set(tag, pending);
      timer = setTimeout(() => {
        reject(new Error(`${text.split(' ')[0]}: no answer within ${timeoutMs} ms`));
        this.socket.destroy();
      }, timeoutMs);
    }).finally(() => clearTimeout(timer));
    if (typeof parts === 'string') this.socket.write(`${tag} ${parts}\r\n`);
    else {
      const chunks = [Buffer.from(`${tag} `)];
      for (const part of parts) {
        if (typeof part === 'string') chunks.push(Buffer.from(part));
        else chunks.push(Buffer.from(`{${part.length}+}\r\n`), part);
      }
      chunks.push(Buffer.from('\r\n'));
      this.socket.write(Buffer.concat(chunks));
    }
    return promise;
  }

  login(user, password) {
    return this.command(`LOGIN ${user} ${password}`);
  }

  /** APPEND one message, or MULTIAPPEND several, in one command (LITERAL+). */
  append(mailbox, messages, flags = '', options = {}) {
    const list = Array.isArray(messages) ? messages : [messages];
    const parts = [`APPEND ${mailbox}`];
    for (const message of list) parts.push(flags ? ` (${flags}) ` : ' ', message);
    return this.command(parts, options);
  }

  /**
   * Start IDLE; resolves when the server says it is idling. Returns a function that sends
   * DONE and resolves on the tagged OK. Each step fails (and closes) after `timeoutMs`.
   */
  async idle(timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (this.closed) throw this.closed;
    const tag = `t${this.next++}`;
    const done = new Promise((resolve, reject) => {
      this.waiting.set(tag, { resolve, reject, text: 'IDLE', collect: undefined });
    });
    done.catch(() => undefined); // observed by whoever calls the returned function
    const idling = new Promise((resolve, reject) => {
      this.continuation = { resolve, reject };
    });
    const deadline = (what) => setTimeout(() => this.socket.destroy(new Error(`IDLE: no ${what} within ${timeoutMs} ms`)), timeoutMs);
    this.socket.write(`${tag} IDLE\r\n`);
    const started = deadline('continuation');
    try {
      await idling;
    } finally {
      clearTimeout(started);
    }
    return () => {
      this.socket.write('DONE\r\n');
      const ended = deadline('tagged reply to DONE');
      return done.finally(() => clearTimeout(ended));
    };
  }

  /** LOGOUT and close (errors ignored: the server may close first). */
  async logout() {
    await this.command('LOGOUT').catch(() => undefined);
    this.socket.destroy();
  }

  close() {
    this.socket.destroy();
  }
}
