/**
 * One pre-auth IMAP client (RFC 3501 §6.1–6.2, RFC 9051): greeting, CAPABILITY, NOOP,
 * LOGOUT, ID, STARTTLS, LOGIN and AUTHENTICATE PLAIN/LOGIN with SASL-IR. This code reads
 * hostile input in a process that owns nothing; all it can do for a client is ask auth and
 * hand a successful login to the master (or proxy it).
 *
 * Input is fed to the parser one line at a time, and not at all while a command waits for
 * auth: a command pipelined after LOGIN belongs to the authenticated session, so its bytes
 * travel with the hand-off untouched.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ImapCommandParser, ImapWriter, tagged, untagged, type ImapArg, type ImapCommand, type ImapParserError } from '@loft/imap-proto';
import type { AuthLoginReply, AuthLoginRequest, ClientInfo } from '@loft/master-protocol';
import type { Logger } from '@loft/log';
import type { ImapLoginSettings } from './settings.js';
import { proxyLogin } from './imap-proxy.js';

/** Bad commands tolerated before the client is disconnected (Dovecot: CLIENT_MAX_BAD_COMMANDS). */
export const LOGIN_BAD_COMMANDS_MAX = 10;
/** Pre-auth literals (LOGIN password, SASL responses) are small. */
export const PRE_AUTH_LITERAL_MAX_BYTES = 64 * 1024;
const SASL_RESPONSE_MAX_BYTES = 16 * 1024;
const OUTPUT_MAX_BUFFERED_BYTES = 256 * 1024;

export interface LoginEnvironment {
  settings: ImapLoginSettings & { auth_allow_cleartext: boolean; auth_mechanisms: string[] };
  logger: Logger;
  secureContext?: tls.SecureContext;
  /** Whether an address is in login_trusted_networks. */
  trusted(ip: string): boolean;
  authenticate(request: Omit<AuthLoginRequest, 'selfTargets' | 'service'>): Promise<AuthLoginReply>;
  /** Give a logged-in client to the master; resolves when the socket has left this process. */
  handoff(client: LoginClient, ticket: string, tag: string, pending: Buffer): Promise<void>;
}

type State = 'active' | 'waiting' | 'done';

export class LoginClient {
  socket: net.Socket;
  private writer: ImapWriter;
  private parser: ImapCommandParser;
  private unparsed: Buffer = Buffer.alloc(0);
  private state: State = 'active';
  private badCommands = 0;
  private readonly timer: NodeJS.Timeout;
  private tlsActive: boolean;
  /** AUTHENTICATE in progress: what the next continuation line answers. */
  private sasl: { tag: string; mechanism: 'PLAIN' | 'LOGIN'; step: number; user?: string } | undefined;
  readonly info: Omit<ClientInfo, 'secured' | 'tls'>;
  /** Remove this object's listeners from the socket it is bound to. */
  private unbind: () => void = () => undefined;
  /** Given to the master (or on its way), and not given back. */
  private handedOff = false;
  /** Proxied: the remote server's socket. */
  private proxyRemote: net.Socket | undefined;

  constructor(socket: net.Socket, private readonly env: LoginEnvironment, tlsFromStart: boolean) {
    this.socket = socket;
    this.tlsActive = tlsFromStart;
    this.info = {
      remoteIp: normalizeIp(socket.remoteAddress ?? ''), remotePort: socket.remotePort ?? 0,
      localIp: normalizeIp(socket.localAddress ?? ''), localPort: socket.localPort ?? 0,
    };
    this.writer = this.newWriter();
    this.parser = this.newParser();
    this.timer = setTimeout(() => this.disconnect('Disconnected for inactivity.'), env.settings.login_timeout);
    this.bind(socket);
    this.send(untagged('OK', env.settings.login_greeting, `CAPABILITY ${this.capabilities()}`));
  }

  /** Dovecot's rule: TLS, a connection from this host to itself, or a trusted network. */
  get secured(): boolean {
    return this.tlsActive || this.info.remoteIp === this.info.localIp || this.env.trusted(this.info.remoteIp);
  }

  clientInfo(): ClientInfo {
    return { ...this.info, secured: this.secured, tls: this.tlsActive };
  }

  /**
   * Listen to the client's socket. Only to our own events: the runtime counts the client
   * by the 'close' of the socket it accepted, a listener that must stay (a STARTTLS that
   * removed every 'close' listener of the plain socket kept the client counted forever).
   * A socket replaced since (STARTTLS, a failed hand-off) no longer speaks for the client.
   */
  private bind(socket: net.Socket): void {
    const onData = (chunk: Buffer): void => {
      if (socket === this.socket) this.receive(chunk);
    };
    const onClose = (): void => {
      if (socket === this.socket) this.closed();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    socket.on('close', onClose);
    this.unbind = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
  }

  private newWriter(): ImapWriter {
    const writer = new ImapWriter(this.socket, OUTPUT_MAX_BUFFERED_BYTES);
    writer.onOverflow(() => this.socket.destroy());
    return writer;
  }

  private newParser(): ImapCommandParser {
    return new ImapCommandParser(
      { maxLineBytes: this.env.settings.imap_max_line_length, maxLiteralBytes: () => PRE_AUTH_LITERAL_MAX_BYTES, literalPlus: true },
      {
        command: (command) => this.dispatch(command),
        continuation: (text) => this.send(`+ ${text}\r\n`),
        error: (err) => this.parseError(err),
        continuationLine: (line) => void this.saslStep(line),
      },
    );
  }

  private capabilities(): string {
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'ENABLE', 'IDLE', 'LITERAL+'];
    if (!this.tlsActive && this.env.secureContext && this.env.settings.ssl !== 'no') caps.push('STARTTLS');
    if (this.cleartextAllowed()) caps.push(...this.env.settings.auth_mechanisms.map((m) => `AUTH=${m.toUpperCase()}`));
    else caps.push('LOGINDISABLED');
    return caps.join(' ');
  }

  private cleartextAllowed(): boolean {
    if (this.env.settings.ssl === 'required') return this.tlsActive;
    return this.secured || this.env.settings.auth_allow_cleartext;
  }

  private send(data: Buffer | string): void {
    if (this.state !== 'done') this.writer.send(data);
  }

  /** Feed whole lines only, and nothing while a command waits (see the header comment). */
  private receive(chunk: Buffer): void {
    this.unparsed = this.unparsed.length ? Buffer.concat([this.unparsed, chunk]) : chunk;
    this.pump();
  }

  private pump(): void {
    while (this.state === 'active' && this.unparsed.length > 0) {
      const nl = this.unparsed.indexOf(0x0a);
      const piece = nl < 0 ? this.unparsed : this.unparsed.subarray(0, nl + 1);
      this.unparsed = nl < 0 ? Buffer.alloc(0) : this.unparsed.subarray(nl + 1);
      this.parser.push(piece);
    }
  }

  private parseError(err: ImapParserError): void {
    if (err.fatal) return this.disconnect(err.code === 'LIMIT' ? 'Too long argument.' : err.message);
    if (err.code === 'TOOBIG') this.send(tagged(err.tag, 'NO', err.message, 'TOOBIG'));
    else this.bad(err.tag, err.message);
  }

  private bad(tag: string, message: string): void {
    this.send(tagged(tag, 'BAD', message));
    if (++this.badCommands >= LOGIN_BAD_COMMANDS_MAX) this.disconnect('Too many invalid IMAP commands.');
  }

  private dispatch(command: ImapCommand): void {
    const { tag, name, args } = command;
    switch (name) {
      case 'CAPABILITY':
        this.send(`* CAPABILITY ${this.capabilities()}\r\n`);
        return this.send(tagged(tag, 'OK', 'Pre-login capabilities listed, post-login capabilities have more.'));
      case 'NOOP':
        return this.send(tagged(tag, 'OK', 'NOOP completed.'));
      case 'LOGOUT':
        this.send(untagged('BYE', 'Logging out'));
        this.send(tagged(tag, 'OK', 'Logout completed.'));
        return this.finish();
      case 'ID':
        // The name only, as after login and as Dovecot's imap_id_send default: no version for
        // an unauthenticated scanner to match against known bugs.
        this.send('* ID ("name" "Loft")\r\n');
        return this.send(tagged(tag, 'OK', 'ID completed.'));
      case 'STARTTLS':
        return this.startTls(tag);
      case 'LOGIN':
        return this.login(tag, args);
      case 'AUTHENTICATE':
        return this.authenticate(tag, args);
      case 'ENABLE':
      case 'SELECT':
      case 'EXAMINE':
        return this.bad(tag, 'Please log in first.');
      default:
        return this.bad(tag, 'Unknown command.');
    }
  }

  private startTls(tag: string): void {
    if (this.tlsActive) return this.bad(tag, 'TLS is already active.');
    if (!this.env.secureContext || this.env.settings.ssl === 'no') return this.bad(tag, 'TLS support is not configured.');
    this.send(tagged(tag, 'OK', 'Begin TLS negotiation now.'));
    // Bytes sent after STARTTLS in plaintext are an injection attempt (CVE-2011-0411): dropped.
    this.unparsed = Buffer.alloc(0);
    this.state = 'waiting';
    const plain = this.socket;
    this.unbind();
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.env.secureContext });
    secure.once('secure', () => {
      this.tlsActive = true;
      this.state = 'active';
      this.pump();
    });
    secure.on('error', (err) => {
      this.env.logger.debug({ err, remote: this.info.remoteIp }, 'TLS handshake failed');
      secure.destroy();
    });
    this.socket = secure;
    this.writer = this.newWriter();
    this.parser = this.newParser();
    this.bind(secure);
  }

  private login(tag: string, args: ImapArg[]): void {
    if (args.length !== 2 || !isString(args[0]) || !isString(args[1])) return this.bad(tag, 'LOGIN needs a user name and a password.');
    if (!this.cleartextAllowed()) {
      return this.send(tagged(tag, 'NO', 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.', 'PRIVACYREQUIRED'));
    }
    void this.verify(tag, 'LOGIN', text(args[0]), text(args[1]));
  }

  private authenticate(tag: string, args: ImapArg[]): void {
    const mechanism = args[0]?.type === 'atom' ? args[0].value.toUpperCase() : '';
    if ((mechanism !== 'PLAIN' && mechanism !== 'LOGIN') || !this.env.settings.auth_mechanisms.some((m) => m.toUpperCase() === mechanism)) {
      return this.send(tagged(tag, 'NO', 'Unsupported authentication mechanism.'));
    }
    if (!this.cleartextAllowed()) {
      return this.send(tagged(tag, 'NO', 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.', 'PRIVACYREQUIRED'));
    }
    this.sasl = { tag, mechanism, step: 0 };
    const initial = args[1];
    if (initial && (initial.type === 'atom' || initial.type === 'string')) {
      void this.saslStep(Buffer.from(initial.type === 'atom' ? initial.value : initial.value.toString('latin1')));
    } else {
      this.askSasl(mechanism === 'LOGIN' ? 'VXNlcm5hbWU6' : '');
    }
  }

  private askSasl(challenge: string): void {
    this.send(`+ ${challenge}\r\n`);
    this.parser.expectContinuationLine(SASL_RESPONSE_MAX_BYTES);
  }

  private async saslStep(line: Buffer): Promise<void> {
    const sasl = this.sasl;
    if (!sasl) return;
    const response = line.toString('latin1').trim();
    if (response === '*') {
      this.sasl = undefined;
      return this.send(tagged(sasl.tag, 'BAD', 'Authentication aborted by client.'));
    }
    const decoded = response === '=' ? Buffer.alloc(0) : Buffer.from(response, 'base64');
    if (response !== '=' && decoded.toString('base64').replace(/=+$/, '') !== response.replace(/=+$/, '')) {
      this.sasl = undefined;
      return this.bad(sasl.tag, 'Invalid base64 data in continued response.');
    }
    if (sasl.mechanism === 'PLAIN') {
      this.sasl = undefined;
      const [authzid, user, password] = decoded.toString('utf8').split('\0');
      if (user === undefined || password === undefined) return this.bad(sasl.tag, 'Invalid PLAIN response.');
      return this.verify(sasl.tag, 'PLAIN', user, password, authzid);
    }
    if (sasl.step === 0) {
      sasl.user = decoded.toString('utf8');
      sasl.step = 1;
      return this.askSasl('UGFzc3dvcmQ6');
    }
    this.sasl = undefined;
    return this.verify(sasl.tag, 'LOGIN', sasl.user ?? '', decoded.toString('utf8'));
  }

  private async verify(tag: string, mechanism: 'PLAIN' | 'LOGIN', user: string, password: string, authzid?: string): Promise<void> {
    this.state = 'waiting';
    let reply: AuthLoginReply;
    try {
      reply = await this.env.authenticate({ user, password, authzid: authzid || undefined, mechanism, client: this.clientInfo() });
    } catch (err) {
      this.env.logger.error({ err }, 'auth service unreachable');
      reply = { result: 'fail', temporary: true, message: 'Temporary authentication failure.' };
    }
    // Gone, or ended meanwhile (login_timeout, shutdown): nothing to hand over.
    if (this.socket.destroyed || this.ended()) return;
    if (reply.result === 'ok') return this.handOff(tag, reply.ticket);
    if (reply.result === 'proxy') return this.proxy(tag, reply);
    this.state = 'active';
    this.send(tagged(tag, 'NO', reply.message, reply.temporary ? 'UNAVAILABLE' : 'AUTHENTICATIONFAILED'));
    this.pump();
  }

  private async handOff(tag: string, ticket: string): Promise<void> {
    clearTimeout(this.timer);
    this.handedOff = true;
    const pending = this.unparsed;
    this.unparsed = Buffer.alloc(0);
    try {
      await this.env.handoff(this, ticket, tag, pending);
      this.state = 'done';
    } catch (err) {
      this.env.logger.error({ err }, 'hand-off failed');
      this.failedHandoff(tag, 'Internal error occurred. Refer to server log for more information.', true);
    }
  }

  /** The master gave the client back (or the hand-off failed here): answer and carry on pre-auth. */
  failedHandoff(tag: string, reason: string, temporary: boolean, socket?: net.Socket): void {
    this.handedOff = false;
    if (this.tlsActive && this.state === 'done') {
      // The TLS session is already joined to the pair that came back: answer, then end it.
      socket?.destroy();
      this.socket.write(tagged(tag, 'NO', reason, temporary ? 'UNAVAILABLE' : 'AUTHENTICATIONFAILED'));
      this.socket.end();
      return;
    }
    if (socket && !this.tlsActive) {
      this.unbind();
      this.socket = socket;
      this.writer = this.newWriter();
      this.bind(socket);
      socket.resume();
    }
    this.state = 'active';
    this.send(tagged(tag, 'NO', reason, temporary ? 'UNAVAILABLE' : 'AUTHENTICATIONFAILED'));
    this.pump();
  }

  private async proxy(tag: string, target: Extract<AuthLoginReply, { result: 'proxy' }>): Promise<void> {
    const outcome = await proxyLogin(target);
    if (this.ended() || this.socket.destroyed) {
      // Ended while the remote login ran (login_timeout, shutdown, the client left).
      if (outcome.ok) outcome.remote.destroy();
      return;
    }
    if (!outcome.ok) {
      this.env.logger.warn({ host: target.host, port: target.port }, outcome.message);
      this.state = 'active';
      this.send(tagged(tag, 'NO', outcome.temporary ? 'Account is temporarily unavailable.' : 'Authentication failed.', outcome.temporary ? 'UNAVAILABLE' : 'AUTHENTICATIONFAILED'));
      return this.pump();
    }
    clearTimeout(this.timer);
    this.state = 'done';
    const { remote } = outcome;
    this.proxyRemote = remote;
    this.socket.write(`${tag} ${outcome.okLine}\r\n`);
    if (this.unparsed.length > 0) remote.write(this.unparsed);
    this.unparsed = Buffer.alloc(0);
    this.socket.removeAllListeners('data');
    relay(this.socket, remote);
    this.env.logger.info({ user: target.user, host: target.host, port: target.port }, `proxying ${target.user} to ${target.host}:${target.port}`);
  }

  /**
   * loftd is stopping. A client still logging in is told so and disconnected; a proxied one
   * is cut (the remote server knows nothing of our stop). A client handed over belongs to
   * a mail process, which ends the session itself, the TLS relay here with it.
   */
  shutdown(): void {
    if (this.proxyRemote) {
      this.proxyRemote.destroy();
      this.socket.destroy();
    } else if (!this.handedOff) {
      this.disconnect('Server shutting down.');
    }
  }

  private disconnect(reason: string): void {
    if (this.state === 'done') return;
    this.send(untagged('BYE', reason));
    this.finish();
  }

  private finish(): void {
    this.state = 'done';
    clearTimeout(this.timer);
    this.socket.end();
    // A client that does not close after BYE is not waited for.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Over, whatever the state was when the caller last looked (it may have awaited since). */
  private ended(): boolean {
    return this.state === 'done';
  }

  private closed(): void {
    clearTimeout(this.timer);
    if (this.state !== 'waiting') this.state = 'done';
  }
}

/** Two sockets joined: each one's bytes go to the other, and either end closing closes both. */
export function relay(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const closeBoth = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once('close', closeBoth);
  b.once('close', closeBoth);
  a.on('error', closeBoth);
  b.on('error', closeBoth);
  a.resume();
  b.resume();
}

function isString(arg: ImapArg | undefined): boolean {
  return arg !== undefined && (arg.type === 'atom' || arg.type === 'string');
}

function text(arg: ImapArg): string {
  if (arg.type === 'atom') return arg.value;
  if (arg.type === 'string') return arg.value.toString('utf8');
  return '';
}

function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
