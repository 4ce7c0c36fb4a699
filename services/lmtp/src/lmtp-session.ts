/**
 * One LMTP connection (RFC 2033): LHLO, MAIL, RCPT (a userdb lookup each), DATA or BDAT into
 * a spool (message-spool.ts), then one reply per accepted recipient, each sent only once that
 * recipient's delivery has returned from storage. Input is handled strictly in order, one
 * chunk at a time with the socket paused, which gives pipelining its ordering for free.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from '@loft/log';
import type { UserLookupResult } from '@loft/master-protocol';
import { spaceErrorCode, storageErrorFields, type StorageSettings } from '@loft/storage';
import { DataDecoder } from './data-decoder.js';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import { parsePath, splitRecipient, type Recipient } from './lmtp-address.js';
import { MessageSpool } from './message-spool.js';
import type { Deliverer } from './privsep.js';
import type { LmtpSettings } from './settings.js';

/** Longest command line, CRLF included (RFC 5321 allows 512; extensions add to it). */
export const COMMAND_LINE_MAX_BYTES = 4096;
/** A connection silent this long is closed with 421. */
export const SESSION_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface SessionDeps {
  settings: LmtpSettings;
  storage: StorageSettings;
  /** Mail is never accessed with a uid outside [first, last] (last 0 = no upper bound). */
  validUids: { first: number; last: number };
  hostname: string;
  deliverer: Deliverer;
  lookup(user: string): Promise<UserLookupResult>;
  logger: Logger;
}

interface AcceptedRecipient extends Recipient {
  found: Extract<UserLookupResult, { result: 'ok' }>;
}

interface Transaction {
  sender: string;
  recipients: AcceptedRecipient[];
  spool?: MessageSpool;
  decoder?: DataDecoder;
  /** The message exceeded lmtp_max_message_size: it is read to the end, then refused. */
  tooBig: boolean;
  /** Why spooling failed (a large message's temp file): it is read to the end, then 4xx. */
  spoolFailed?: string;
  /** BDAT was used; DATA is then out of sequence. */
  chunking: boolean;
}

type Mode = { kind: 'command' } | { kind: 'data' } | { kind: 'bdat'; remaining: number; last: boolean };

const CRLF = '\r\n';
const LF = 0x0a;

export class LmtpSession {
  private readonly id = randomBytes(9).toString('base64url');
  private readonly logger: Logger;
  private input: Buffer = Buffer.alloc(0);
  private mode: Mode = { kind: 'command' };
  /** A command line longer than the limit is being skipped up to its LF. */
  private skippingLine = false;
  /** A BDAT chunk refused up front: its bytes are read and dropped. */
  private discardingChunk = false;
  private lhlo: string | undefined;
  private tx: Transaction | undefined;
  private closed = false;
  /** Deliveries of the current message are running and reading its spool. */
  private delivering = false;

  constructor(private readonly socket: net.Socket, private readonly deps: SessionDeps) {
    this.logger = deps.logger.child({ session: this.id });
  }

  start(): void {
    this.socket.setTimeout(SESSION_IDLE_TIMEOUT_MS, () => {
      this.reply('421 4.4.2 Disconnected for inactivity');
      this.socket.end();
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.socket.pause();
      this.consume(chunk).then(
        () => {
          if (!this.closed) this.socket.resume();
        },
        (err: unknown) => {
          this.logger.error({ err }, 'LMTP session failed');
          this.reply(`421 4.3.0 Internal error, closing connection; contact ${this.deps.settings.postmaster_address}`);
          this.socket.destroy();
        },
      );
    });
    this.socket.on('error', (err) => this.logger.debug({ err }, 'LMTP connection error'));
    this.socket.once('close', () => {
      this.closed = true;
      // Deliveries still reading the spool close it when they finish.
      if (!this.delivering) void this.tx?.spool?.close();
    });
    this.reply(`220 ${this.deps.hostname} Loft LMTP ready`);
  }

  /** Shutdown: a session between transactions is told and closed; one in a transaction finishes. */
  shutdownIfIdle(): void {
    if (this.tx || this.mode.kind !== 'command') return;
    this.reply('421 4.3.2 Shutting down');
    this.socket.end();
  }

  private reply(line: string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(line + CRLF);
  }

  private async consume(chunk: Buffer): Promise<void> {
    this.input = this.input.length > 0 ? Buffer.concat([this.input, chunk]) : chunk;
    while (this.input.length > 0 && !this.closed) {
      if (this.mode.kind === 'data') {
        if (!(await this.consumeData())) return;
      } else if (this.mode.kind === 'bdat') {
        await this.consumeChunk(this.mode);
      } else if (!(await this.consumeCommand())) {
        return;
      }
    }
  }

  /** One command line; false when no whole line is buffered yet. */
  private async consumeCommand(): Promise<boolean> {
    const nl = this.input.indexOf(LF);
    if (nl < 0) {
      if (this.input.length >= COMMAND_LINE_MAX_BYTES) {
        if (!this.skippingLine) this.reply('500 5.5.2 Line too long');
        this.skippingLine = true;
        this.input = Buffer.alloc(0);
      }
      return false;
    }
    const raw = this.input.subarray(0, nl);
    this.input = this.input.subarray(nl + 1);
    if (this.skippingLine || nl + 1 > COMMAND_LINE_MAX_BYTES) {
      if (!this.skippingLine) this.reply('500 5.5.2 Line too long');
      this.skippingLine = false;
      return true;
    }
    const line = raw.toString('utf8').replace(/\r$/, '');
    await this.command(line);
    return true;
  }

  private async command(line: string): Promise<void> {
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const args = space < 0 ? '' : line.slice(space + 1).trim();
    switch (verb) {
      case 'LHLO': return this.onLhlo(args);
      case 'MAIL': return this.onMail(args);
      case 'RCPT': return this.onRcpt(args);
      case 'DATA': return this.onData(args);
      case 'BDAT': return this.onBdat(args);
      case 'RSET':
        await this.resetTransaction();
        return this.reply('250 2.0.0 OK');
      case 'NOOP': return this.reply('250 2.0.0 OK');
      case 'VRFY': return this.reply('252 2.3.3 Try RCPT instead');
      case 'QUIT':
        this.reply(`221 2.0.0 ${this.deps.hostname} Bye`);
        this.closed = true;
        this.socket.end();
        return;
      case 'HELO':
      case 'EHLO':
        return this.reply('500 5.5.1 This is LMTP: use LHLO');
      case 'STARTTLS':
        return this.reply('502 5.5.1 TLS is not offered on LMTP');
      default:
        return this.reply('500 5.5.1 Unknown command');
    }
  }

  private async onLhlo(args: string): Promise<void> {
    if (!args) return this.reply('501 5.5.4 LHLO needs a domain');
    await this.resetTransaction();
    this.lhlo = args;
    const max = this.deps.settings.lmtp_max_message_size;
    const lines = [this.deps.hostname, '8BITMIME', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'CHUNKING', 'SMTPUTF8', max > 0 ? `SIZE ${max}` : 'SIZE'];
    lines.forEach((text, i) => this.reply(`250${i === lines.length - 1 ? ' ' : '-'}${text}`));
  }

  private onMail(args: string): void {
    if (!this.lhlo) return this.reply('503 5.5.1 LHLO needed first');
    if (this.tx) return this.reply('503 5.5.1 MAIL already given');
    const path = parsePath('FROM', args);
    if (!path) return this.reply('501 5.5.4 Syntax: MAIL FROM:<address>');
    for (const [name, value] of path.params) {
      if (name === 'SIZE') {
        if (!/^\d{1,20}$/.test(value)) return this.reply('501 5.5.4 Invalid SIZE parameter');
        const max = this.deps.settings.lmtp_max_message_size;
        if (max > 0 && Number(value) > max) return this.reply('552 5.3.4 Message too big for system');
      } else if (name === 'BODY') {
        // BINARYMIME is not advertised: a message that needs it must not be accepted.
        if (!['7BIT', '8BITMIME'].includes(value.toUpperCase())) return this.reply('501 5.5.4 Unsupported BODY parameter');
      } else if (name !== 'SMTPUTF8') {
        return this.reply(`555 5.5.4 Unsupported parameter ${name}`);
      }
    }
    this.tx = { sender: path.address, recipients: [], tooBig: false, chunking: false };
    this.reply('250 2.1.0 OK');
  }

  private async onRcpt(args: string): Promise<void> {
    const tx = this.tx;
    if (!tx) return this.reply('503 5.5.1 MAIL needed first');
    const path = parsePath('TO', args);
    if (!path || !path.address) return this.reply('501 5.5.4 Syntax: RCPT TO:<address>');
    for (const name of path.params.keys()) {
      if (name !== 'ORCPT' && name !== 'NOTIFY') return this.reply(`555 5.5.4 Unsupported parameter ${name}`);
    }
    if (tx.recipients.length >= this.deps.settings.lmtp_max_recipients) {
      return this.reply(`452 4.5.3 Too many recipients (lmtp_max_recipients is ${this.deps.settings.lmtp_max_recipients})`);
    }
    const rcpt = splitRecipient(path.address, this.deps.settings.recipient_delimiter);
    const found = await this.deps.lookup(rcpt.lookupName);
    const who = `<${rcpt.address}>`;
    if (found.result === 'unknown_user') return this.reply(`550 5.1.1 ${who} User doesn't exist: ${rcpt.address}`);
    if (found.result !== 'ok') {
      this.logger.warn({ user: rcpt.lookupName, reason: found.reason }, `userdb lookup for ${rcpt.lookupName} failed temporarily`);
      return this.reply(`451 4.3.0 ${who} Temporary internal error`);
    }
    const { first, last } = this.deps.validUids;
    if (found.uid === 0 || found.uid < first || (last > 0 && found.uid > last)) {
      this.logger.error({ user: found.user, uid: found.uid }, `mail access for uid ${found.uid} is not permitted (first_valid_uid ${first}, last_valid_uid ${last})`);
      return this.reply(`451 4.3.0 ${who} Temporary internal error`);
    }
    tx.recipients.push({ ...rcpt, found });
    this.reply('250 2.1.5 OK');
  }

  /** The checks DATA and BDAT share; the transaction when the message may follow. */
  private transactionForBody(): Transaction | undefined {
    if (!this.tx) {
      this.reply('503 5.5.1 MAIL needed first');
      return undefined;
    }
    if (this.tx.recipients.length === 0) {
      // RFC 2033 §4.2: MUST be 503 in LMTP (SMTP may also answer 554).
      this.reply('503 5.5.1 No valid recipients');
      return undefined;
    }
    return this.tx;
  }

  private async onData(args: string): Promise<void> {
    if (args) return this.reply('501 5.5.4 DATA takes no parameters');
    const tx = this.transactionForBody();
    if (!tx) return;
    if (tx.chunking) return this.reply('503 5.5.1 DATA cannot follow BDAT');
    tx.spool = this.createSpool();
    tx.decoder = new DataDecoder();
    this.mode = { kind: 'data' };
    this.reply('354 OK');
  }

  private async onBdat(args: string): Promise<void> {
    const match = /^(\d{1,15})(?:\s+(LAST))?$/i.exec(args);
    if (!match) return this.reply('501 5.5.4 Syntax: BDAT size [LAST]');
    const size = Number(match[1]);
    const last = match[2] !== undefined;
    const tx = this.transactionForBody();
    if (tx) {
      tx.chunking = true;
      tx.spool ??= this.createSpool();
    }
    // A refused chunk (its error reply is sent) still has its bytes coming: read and drop them.
    const accepted = tx?.spool !== undefined;
    if (size === 0) {
      if (accepted) await this.endChunk(last);
      return;
    }
    this.discardingChunk = !accepted;
    this.mode = { kind: 'bdat', remaining: size, last };
  }

  private async consumeChunk(mode: Extract<Mode, { kind: 'bdat' }>): Promise<void> {
    const take = Math.min(mode.remaining, this.input.length);
    const bytes = this.input.subarray(0, take);
    this.input = this.input.subarray(take);
    mode.remaining -= take;
    if (!this.discardingChunk) await this.spoolBytes([bytes]);
    if (mode.remaining > 0) return;
    if (this.discardingChunk) {
      this.discardingChunk = false;
      this.mode = { kind: 'command' };
      return;
    }
    await this.endChunk(mode.last);
  }

  private async endChunk(last: boolean): Promise<void> {
    this.mode = { kind: 'command' };
    if (last) await this.finishMessage();
    else this.reply(`250 2.0.0 OK ${this.tx?.spool?.size ?? 0} octets received`);
  }

  /** The transaction's spool (in memory until it outgrows SPOOL_MEMORY_MAX_BYTES). */
  private createSpool(): MessageSpool {
    return new MessageSpool();
  }

  /** DATA bytes; true once the terminating dot line was seen. */
  private async consumeData(): Promise<boolean> {
    const decoder = this.tx?.decoder;
    if (!decoder) throw new Error('DATA mode without a decoder');
    const { output, rest } = decoder.push(this.input);
    this.input = Buffer.alloc(0);
    await this.spoolBytes(output);
    if (rest === undefined) return false;
    this.input = rest;
    this.mode = { kind: 'command' };
    await this.finishMessage();
    return true;
  }

  private async spoolBytes(chunks: Buffer[]): Promise<void> {
    const tx = this.tx;
    if (!tx?.spool || tx.tooBig || tx.spoolFailed) return;
    const max = this.deps.settings.lmtp_max_message_size;
    const adding = chunks.reduce((sum, c) => sum + c.length, 0);
    if (max > 0 && tx.spool.size + adding > max) {
      tx.tooBig = true;
      return;
    }
    try {
      await tx.spool.append(chunks);
    } catch (err) {
      tx.spoolFailed = spaceErrorCode(err) ?? 'spool';
      this.logger.error(storageErrorFields(err), 'cannot spool the message');
    }
  }

  /** End of the message: one reply per accepted recipient, in RCPT order. */
  private async finishMessage(): Promise<void> {
    const tx = this.tx;
    if (!tx?.spool) return;
    if (tx.tooBig) {
      for (const rcpt of tx.recipients) this.reply(`552 5.3.4 <${rcpt.address}> Message too big for system (lmtp_max_message_size)`);
    } else if (tx.spoolFailed !== undefined) {
      for (const rcpt of tx.recipients) this.reply(temporaryFailure(rcpt.address, tx.spoolFailed));
    } else {
      const spool = tx.spool;
      this.delivering = true;
      try {
        const outcomes = tx.recipients.map((rcpt) => this.deps.deliverer.deliver(this.deliveryRequest(tx, rcpt), spool));
        for (const [i, rcpt] of tx.recipients.entries()) this.reply(this.deliveryReply(rcpt, await outcomes[i]!));
      } finally {
        this.delivering = false;
      }
    }
    await this.resetTransaction();
  }

  private deliveryReply(rcpt: AcceptedRecipient, outcome: DeliveryOutcome): string {
    if (outcome.ok) {
      this.logger.info({ user: rcpt.found.user, mailbox: outcome.mailbox, uid: outcome.uid }, `saved mail to ${outcome.mailbox}`);
      return `250 2.0.0 <${rcpt.address}> ${this.id} Saved`;
    }
    if (outcome.reason === 'LOFT_E_QUOTA_EXCEEDED') {
      this.logger.info({ user: rcpt.found.user }, `delivery to ${rcpt.found.user} refused: quota exceeded`);
      // RFC 3463 X.2.2, mailbox full; Dovecot bounces unless quota_full_tempfail.
      return this.deps.settings.quota_full_tempfail ? `452 4.2.2 <${rcpt.address}> Quota exceeded (mailbox for user is full)` : `552 5.2.2 <${rcpt.address}> Quota exceeded (mailbox for user is full)`;
    }
    this.logger.warn({ user: rcpt.found.user, reason: outcome.reason }, `delivery to ${rcpt.found.user} failed: ${outcome.reason}`);
    return outcome.temporary ? temporaryFailure(rcpt.address, outcome.reason) : `554 5.3.0 <${rcpt.address}> Delivery failed; contact ${this.deps.settings.postmaster_address}`;
  }

  private deliveryRequest(tx: Transaction, rcpt: AcceptedRecipient): DeliveryRequest {
    const { found } = rcpt;
    const detailBox = this.deps.settings.lmtp_save_to_detail_mailbox && rcpt.detail !== '';
    return {
      user: found.user,
      uid: found.uid,
      gid: found.gid,
      home: found.home,
      storage: { ...this.deps.storage, ...(found.mail ? { mail_location: found.mail } : {}), ...(found.extra.quota_rule !== undefined ? { quota_rule: found.extra.quota_rule } : {}) },
      mailbox: detailBox ? rcpt.detail : 'INBOX',
      autocreate: this.deps.settings.lda_mailbox_autocreate,
      prepend: this.traceHeaders(tx, rcpt),
    };
  }

  /** Return-Path, Delivered-To and Received, as Dovecot's LMTP adds them. */
  private traceHeaders(tx: Transaction, rcpt: AcceptedRecipient): string {
    const remote = this.socket.remoteAddress ? ` ([${this.socket.remoteAddress}])` : '';
    const date = rfc5322Date(new Date());
    return [
      `Return-Path: <${tx.sender}>`,
      `Delivered-To: ${rcpt.address}`,
      `Received: from ${this.lhlo ?? 'unknown'}${remote}`,
      `\tby ${this.deps.hostname} with LMTP id ${this.id}`,
      `\t(envelope-from <${tx.sender}>)`,
      `\tfor <${rcpt.address}>; ${date}`,
      '',
    ].map((l) => l.replace(/[\r\n]/g, ' ')).join(CRLF);
  }

  private async resetTransaction(): Promise<void> {
    const spool = this.tx?.spool;
    this.tx = undefined;
    await spool?.close();
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Sat, 28 Nov 2026 23:44:21 +0100` in local time, as a Received header wants it. */
export function rfc5322Date(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${DAYS[date.getDay()]}, ${pad(date.getDate())} ${MONTHS[date.getMonth()]} ${date.getFullYear()} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/**
 * The 4xx for a message that was not kept. A full file system or disk quota is said as such
 * (RFC 3463 X.3.1, X.2.2) and stays temporary: the MTA keeps the message and retries once
 * there is room, where Dovecot's default bounces an over-quota message (5.2.2).
 */
function temporaryFailure(address: string, reason: string): string {
  if (reason === 'LOFT_E_STORAGE_NO_SPACE') return `452 4.3.1 <${address}> Insufficient system storage`;
  if (reason === 'LOFT_E_STORAGE_OVER_QUOTA') return `452 4.2.2 <${address}> Mailbox is full (disk quota exceeded)`;
  return `451 4.3.0 <${address}> Temporary internal error`;
}
