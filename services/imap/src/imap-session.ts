/**
 * An authenticated IMAP session, handed over by the master with the LOGIN command's tag
 * and the bytes the client sent after it. For now it answers CAPABILITY, NOOP, ID and
 * LOGOUT; the mailbox commands arrive with the full IMAP service.
 */
import type net from 'node:net';
import { ImapCommandParser, ImapWriter, tagged, untagged, type ImapCommand, type ImapParserError } from '@loft/imap-proto';
import type { SessionHandoff } from '@loft/master-protocol';
import type { Logger } from '@loft/log';

export const CAPABILITIES = 'IMAP4rev1 IMAP4rev2 ID ENABLE IDLE LITERAL+ SASL-IR';
const MAX_LINE_BYTES = 64 * 1024;
const OUTPUT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const SESSION_BAD_COMMANDS_MAX = 20;

export class ImapSession {
  private readonly writer: ImapWriter;
  private readonly parser: ImapCommandParser;
  private badCommands = 0;
  private bytesIn = 0;
  private closed = false;

  constructor(private readonly socket: net.Socket, readonly session: SessionHandoff, private readonly logger: Logger) {
    this.writer = new ImapWriter(socket, OUTPUT_MAX_BUFFERED_BYTES);
    this.writer.onOverflow(() => socket.destroy());
    this.parser = new ImapCommandParser(
      { maxLineBytes: MAX_LINE_BYTES, maxLiteralBytes: () => MAX_LINE_BYTES, literalPlus: true },
      {
        command: (command) => this.dispatch(command),
        continuation: (text) => this.writer.send(`+ ${text}\r\n`),
        error: (err) => this.parseError(err),
      },
    );
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
      this.logger.info({ user: session.user, session: session.id, in: this.bytesIn }, `logged out: ${session.user}`);
    });
  }

  start(): void {
    const { session } = this;
    if (session.overLimit !== undefined) {
      this.writer.send(tagged(session.tag, 'NO', `Maximum number of connections from user+IP exceeded (mail_max_userip_connections=${session.overLimit})`, 'LIMIT'));
      this.socket.end();
      return;
    }
    this.writer.send(tagged(session.tag, 'OK', 'Logged in', `CAPABILITY ${CAPABILITIES}`));
    this.logger.info({ user: session.user, remote: session.client.remoteIp, session: session.id }, `logged in: ${session.user} from ${session.client.remoteIp}`);
    const pending = Buffer.from(session.pending, 'base64');
    if (pending.length > 0) this.receive(pending);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.resume();
  }

  kick(): void {
    if (this.closed) return;
    this.writer.send(untagged('BYE', 'Kicked by admin.'));
    this.socket.end();
  }

  private receive(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.parser.push(chunk);
  }

  private parseError(err: ImapParserError): void {
    if (err.fatal) {
      this.writer.send(untagged('BYE', err.code === 'LIMIT' ? 'Too long argument.' : err.message));
      this.socket.end();
      return;
    }
    this.bad(err.tag, err.message);
  }

  private bad(tag: string, message: string): void {
    this.writer.send(tagged(tag, 'BAD', message));
    if (++this.badCommands >= SESSION_BAD_COMMANDS_MAX) {
      this.writer.send(untagged('BYE', 'Too many invalid IMAP commands.'));
      this.socket.end();
    }
  }

  private dispatch(command: ImapCommand): void {
    const { tag, name } = command;
    switch (name) {
      case 'CAPABILITY':
        this.writer.send(`* CAPABILITY ${CAPABILITIES}\r\n`);
        this.writer.send(tagged(tag, 'OK', 'Capability completed.'));
        return;
      case 'NOOP':
        this.writer.send(tagged(tag, 'OK', 'NOOP completed.'));
        return;
      case 'ID':
        this.writer.send('* ID ("name" "Loft")\r\n');
        this.writer.send(tagged(tag, 'OK', 'ID completed.'));
        return;
      case 'LOGOUT':
        this.writer.send(untagged('BYE', 'Logging out'));
        this.writer.send(tagged(tag, 'OK', 'Logout completed.'));
        this.socket.end();
        return;
      case 'LOGIN':
      case 'AUTHENTICATE':
        this.bad(tag, 'Already logged in.');
        return;
      default:
        this.writer.send(tagged(tag, 'NO', `${name} is not available yet on this server.`, 'CANNOT'));
    }
  }
}
