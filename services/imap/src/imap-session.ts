/**
 * An authenticated IMAP session, handed over by the master with the LOGIN command's tag and
 * the bytes the client sent after it. Commands are parsed as they stream in and run one at a
 * time in arrival order (pipelining); while a backlog waits the socket is paused, so a client
 * can make us hold at most one chunk of commands plus one command's literals. Changes made
 * by other sessions are reported at the end of commands that allow it, during IDLE, and
 * after NOTIFY (RFC 5465) also between commands. A client that stops reading stops the
 * session: nothing more runs or is read until it takes its output, and after
 * imap_client_output_timeout it is disconnected, so it never holds more than one response.
 */
import type net from 'node:net';
import { ImapCommandParser, ImapWriter, parseEnable, parseIdParams, tagged, untagged, type ImapArg, type ImapCommand, type ImapParserError } from '@loft/imap-proto';
import type { SessionHandoff } from '@loft/master-protocol';
import { LazyChildLogger, type Logger } from '@loft/log';
import { STORAGE_SETTINGS_DEFAULTS, hasQuota, type MailUser, type StorageLogger, type StorageSettings } from '@loft/storage';
import { ENABLEABLE, capabilities, enabledName } from './capabilities.js';
import { bad, failureAnswer, no } from './command-failure.js';
import { requireSelected } from './command-support.js';
import { fetchCommand } from './fetch-command.js';
import { createCommand, deleteCommand, getQuotaCommand, getQuotaRootCommand, listCommand, lsubCommand, namespaceCommand, renameCommand, setQuotaCommand, statusCommand, subscribeCommand } from './mailbox-commands.js';
import { appendCommand, copyCommand, expungeCommand, storeCommand, type Completion } from './message-commands.js';
import { NOTIFY_POLL_INTERVAL_MS, parseNotifyCommand, type NotifyState } from './notify.js';
import { searchCommand, sortCommand, threadCommand } from './search-command.js';
import { cancelUpdateCommand } from './search-context.js';
import { closeCommand, deselect, selectCommand } from './select-command.js';
import type { SelectedMailbox } from './selected-mailbox.js';
import type { SessionContext } from './session-context.js';
import type { ImapSettings } from './settings.js';
import { leaseMailUser, type MailUserLease } from './shared-users.js';

const SESSION_BAD_COMMANDS_MAX = 20;
/** Queued commands beyond which the socket is paused until the backlog is worked off. */
const QUEUE_PAUSE_AT = 32;
/** Largest literal of a command other than APPEND (SEARCH strings, mailbox names), bytes. */
const OTHER_LITERAL_MAX_BYTES = 64 * 1024;
/** A client silent this long (no command, no IDLE keep-alive) is logged out (RFC 9051 §5.4: at least 30 minutes). */
const AUTOLOGOUT_MS = 30 * 60 * 1000;
/** How long a BYE may take to reach a client before the connection is dropped. */
const BYE_GRACE_MS = 10_000;

/** Commands after which EXPUNGE must not be sent: their sequence numbers would be ambiguous (RFC 3501 §7.4.1). */
const NO_EXPUNGE_AFTER = new Set(['FETCH', 'STORE', 'SEARCH', 'SORT', 'THREAD', 'COPY']);
/** Commands that change the mailbox list or subscriptions: NOTIFY does not tell a session of its own. */
const LIST_CHANGING = new Set(['CREATE', 'DELETE', 'RENAME', 'SUBSCRIBE', 'UNSUBSCRIBE']);

type Job =
  | { kind: 'command'; command: ImapCommand }
  | { kind: 'done' }
  | { kind: 'idle-tick' }
  /** NOTIFY: something may have changed; told between commands. */
  | { kind: 'notify' }
  | { kind: 'parse-error'; err: ImapParserError };

interface IdleState {
  tag: string;
  stopWatch: (() => void) | undefined;
  timers: NodeJS.Timeout[];
}

const STORAGE_KEYS = Object.keys(STORAGE_SETTINGS_DEFAULTS) as Array<keyof StorageSettings>;

export function imapSettingsFrom(all: Readonly<Record<string, unknown>>): ImapSettings {
  const num = (key: string, fallback: number): number => (typeof all[key] === 'number' ? (all[key] as number) : fallback);
  return {
    imap_logout_format: typeof all.imap_logout_format === 'string' ? all.imap_logout_format : 'in=%i out=%o',
    imap_command_line_limit: num('imap_command_line_limit', 64 * 1024),
    imap_append_limit: num('imap_append_limit', 64 * 1024 * 1024),
    imap_output_buffer_limit: num('imap_output_buffer_limit', 8 * 1024 * 1024),
    imap_idle_notify_interval: num('imap_idle_notify_interval', 2 * 60 * 1000),
    imap_client_output_timeout: num('imap_client_output_timeout', 5 * 60 * 1000),
    mailbox_idle_check_interval: num('mailbox_idle_check_interval', 30 * 1000),
  };
}

export class ImapSession implements SessionContext {
  readonly writer: ImapWriter;
  readonly settings: ImapSettings;
  readonly enabled = new Set<string>();
  condstore = false;
  savedUids: number[] = [];
  selected: SelectedMailbox | undefined;
  private lease: MailUserLease | undefined;
  private readonly parser: ImapCommandParser;
  private readonly queue: Job[] = [];
  private running = false;
  private pumping: Promise<void> = Promise.resolve();
  private idle: IdleState | undefined;
  private badCommands = 0;
  private bytesIn = 0;
  private closedValue = false;
  /** NOTIFY SET's state; undefined before NOTIFY and after NOTIFY NONE. */
  private notify: NotifyState | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  /** A 'notify' job is queued: more wake-ups until it runs add nothing. */
  private notifyQueued = false;
  /** The same for IDLE's 'idle-tick'. */
  private idleTickQueued = false;
  /** The selected mailbox watched for NOTIFY (selected …), and how to stop watching it. */
  private watchedSelected: { sel: SelectedMailbox; stop: () => void } | undefined;
  /** The session's log: its pino child is made at the first line other than login and logout. */
  private readonly log: LazyChildLogger;

  get logger(): Logger {
    return this.log.logger;
  }

  constructor(
    private readonly socket: net.Socket,
    readonly session: SessionHandoff,
    logger: Logger,
    private readonly allSettings: Readonly<Record<string, unknown>>,
  ) {
    this.log = new LazyChildLogger(logger, { user: session.user, session: session.id });
    this.settings = imapSettingsFrom(allSettings);
    const outputTimeout = this.settings.imap_client_output_timeout;
    this.writer = new ImapWriter(socket, this.settings.imap_output_buffer_limit, {
      timeoutMs: outputTimeout,
      onStall: (queuedBytes) => {
        this.logger.warn({ timeoutMs: outputTimeout, queuedBytes }, `client stopped reading: none of ${queuedBytes} bytes of output taken for imap_client_output_timeout (${outputTimeout} ms); disconnecting`);
        socket.destroy();
      },
    });
    this.writer.onOverflow(() => {
      this.logger.warn({ limit: this.settings.imap_output_buffer_limit }, `client stopped reading: imap_output_buffer_limit (${this.settings.imap_output_buffer_limit}) reached; disconnecting`);
      socket.destroy();
    });
    const appendLimit = this.settings.imap_append_limit;
    this.parser = new ImapCommandParser(
      {
        maxLineBytes: this.settings.imap_command_line_limit,
        maxLiteralBytes: (_tag, name) => (name === 'APPEND' ? appendLimit : OTHER_LITERAL_MAX_BYTES),
        literalPlus: true,
      },
      {
        command: (command) => this.received(command),
        continuation: (text) => this.writer.send(`+ ${text}\r\n`),
        error: (err) => this.enqueue({ kind: 'parse-error', err }),
        done: () => this.enqueue({ kind: 'done' }),
      },
    );
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void this.closeSession());
    socket.setTimeout(AUTOLOGOUT_MS);
    socket.on('timeout', () => this.kick('Disconnected for inactivity.'));
  }

  get user(): MailUser {
    if (this.lease === undefined) throw new Error('storage is not open yet');
    return this.lease.user;
  }

  /** The session's log for the storage (its views' lines), with no pino child until one is written. */
  get storageLog(): StorageLogger {
    return this.log;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  get newMessageFetch(): ImapArg | undefined {
    return this.notify?.selected?.fetch;
  }

  async start(): Promise<void> {
    const { session } = this;
    if (session.overLimit !== undefined) {
      this.writer.send(tagged(session.tag, 'NO', `Maximum number of connections from user+IP exceeded (mail_max_userip_connections=${session.overLimit})`, 'LIMIT'));
      this.socket.end();
      return;
    }
    try {
      this.lease = await leaseMailUser(session.user, session.home, this.storageSettings(), this.log.parent);
    } catch (err) {
      this.logger.error({ err, home: session.home }, `cannot open the mail storage of ${session.user}`);
      this.writer.send(tagged(session.tag, 'NO', 'Mail storage is temporarily unavailable.', 'UNAVAILABLE'));
      this.socket.end();
      return;
    }
    if (this.closedValue) return void this.lease.release();
    this.writer.send(tagged(session.tag, 'OK', 'Logged in', `CAPABILITY ${capabilities(this.settings.imap_append_limit, hasQuota(this.lease.user.quotaLimits))}`));
    this.log.once('info', { remote: session.client.remoteIp }, `logged in: ${session.user} from ${session.client.remoteIp}`);
    const pending = Buffer.from(session.pending, 'base64');
    if (pending.length > 0) this.receive(pending);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.resume();
  }

  private storageSettings(): Partial<StorageSettings> {
    const out: Record<string, unknown> = {};
    for (const key of STORAGE_KEYS) if (this.allSettings[key] !== undefined) out[key] = this.allSettings[key];
    if (this.session.mail !== undefined && this.session.mail !== '') out.mail_location = this.session.mail;
    if (this.session.quotaRule !== undefined) out.quota_rule = this.session.quotaRule;
    return out as Partial<StorageSettings>;
  }

  kick(text = 'Kicked by admin.'): void {
    if (this.closedValue) return;
    this.writer.send(untagged('BYE', text));
    this.socket.end();
    // A client that stopped reading never lets the BYE drain: drop it after a grace period.
    setTimeout(() => this.socket.destroy(), BYE_GRACE_MS).unref();
  }

  private async closeSession(): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    this.writer.close();
    this.stopIdle();
    this.stopNotify();
    const out = this.socket.bytesWritten;
    const format = this.settings.imap_logout_format.replace('%i', String(this.bytesIn)).replace('%o', String(out));
    this.log.once('info', { in: this.bytesIn, out }, `logged out: ${this.session.user} ${format}`);
    // Commands still running finish against the storage first; then it is closed.
    await this.pumping;
    try {
      await deselect(this, false);
      await this.lease?.release();
    } catch (err) {
      this.logger.warn({ err }, 'closing the mail storage at logout failed');
    }
  }

  private receive(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.parser.push(chunk);
  }

  /** Called synchronously by the parser, so IDLE can switch it to expecting DONE at once. */
  private received(command: ImapCommand): void {
    if (command.name === 'IDLE' && command.args.length === 0) this.parser.expectDone();
    this.enqueue({ kind: 'command', command });
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    if (this.queue.length >= QUEUE_PAUSE_AT) this.socket.pause();
    if (!this.running) this.pumping = this.pump();
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      // After LOGOUT or BYE nothing more is run: the socket is ending.
      while (this.queue.length > 0 && !this.closedValue && !this.socket.writableEnded) {
        // A client that does not read gets no more output: nothing runs (and nothing more is
        // read) until it has taken what waits; imap_client_output_timeout ends the wait.
        if (this.writer.waiting) {
          this.socket.pause();
          await this.writer.drained();
          continue;
        }
        const job = this.queue.shift()!;
        await this.runJob(job);
        this.syncSelectedWatch();
        if (this.queue.length === 0 && !this.closedValue && !this.writer.waiting) this.socket.resume();
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length === 0 && this.writer.waiting && !this.closedValue) {
      void this.writer.drained().then(() => {
        if (!this.running && !this.closedValue) this.socket.resume();
      });
    }
  }

  /**
   * Runs a queued job, returning its promise when it has one. Not an async function: one that
   * returned runCommand()'s promise would add a promise and two turns of the microtask queue
   * to every command.
   */
  private runJob(job: Job): Promise<void> | void {
    switch (job.kind) {
      case 'command':
        return this.idle === undefined ? this.runCommand(job.command) : undefined;
      case 'done':
        return this.endIdle();
      case 'idle-tick':
        this.idleTickQueued = false;
        return this.idle === undefined ? undefined : this.reportSafely(true);
      case 'notify':
        this.notifyQueued = false;
        return this.runNotify();
      case 'parse-error':
        return this.parseError(job.err);
    }
  }

  /** DONE: the refresh IDLE owes, then the IDLE command's completion. */
  private async endIdle(): Promise<void> {
    const idle = this.idle;
    if (idle === undefined) return;
    this.stopIdle();
    await this.reportSafely(true);
    this.writer.send(tagged(idle.tag, 'OK', 'Idle completed.'));
  }

  private parseError(err: ImapParserError): void {
    const idle = this.idle;
    if (idle !== undefined) {
      this.stopIdle();
      this.writer.send(tagged(idle.tag, 'BAD', 'Expected DONE.'));
      return;
    }
    if (err.fatal) {
      this.writer.send(untagged('BYE', err.code === 'LIMIT' ? `Too long argument (imap_command_line_limit ${this.settings.imap_command_line_limit}).` : err.message));
      this.socket.end();
      return;
    }
    if (err.code === 'TOOBIG') {
      this.writer.send(tagged(err.tag, 'NO', err.message, 'TOOBIG'));
      return;
    }
    this.answerBad(err.tag, err.message);
  }

  private answerBad(tag: string, message: string): void {
    this.writer.send(tagged(tag, 'BAD', message));
    if (++this.badCommands >= SESSION_BAD_COMMANDS_MAX) {
      this.writer.send(untagged('BYE', 'Too many invalid IMAP commands.'));
      this.socket.end();
    }
  }

  private async runCommand(command: ImapCommand): Promise<void> {
    const { tag, name } = command;
    let completion: Completion | string | undefined;
    try {
      completion = await this.execute(command);
    } catch (err) {
      const answer = failureAnswer(err, this.logger, name);
      if (answer.status === 'BAD') {
        this.answerBad(tag, answer.text);
        return;
      }
      await this.reportSafely(!NO_EXPUNGE_AFTER.has(name));
      this.writer.send(tagged(tag, answer.status, answer.text, answer.code));
      return;
    }
    if (completion === undefined) return; // IDLE and LOGOUT answer by themselves
    if (this.notify !== undefined && LIST_CHANGING.has(name)) await this.notify.forgetOwnListChanges(this).catch(() => undefined);
    // Awaited only when there is a report: awaiting nothing would still cost every command a turn.
    const reporting = this.reportSafely(!NO_EXPUNGE_AFTER.has(name));
    if (reporting) await reporting;
    const { text, code } = typeof completion === 'string' ? { text: completion, code: undefined } : completion;
    this.writer.send(tagged(tag, 'OK', text, code));
  }

  /**
   * Reports other sessions' changes when the command allows EXPUNGE (else at the next one that
   * does); undefined, with no promise made, when there is nothing to report.
   */
  private reportSafely(allowExpunge: boolean): Promise<void> | undefined {
    return allowExpunge && this.reportNeeded() ? this.report() : undefined;
  }

  /**
   * Whether a refresh has anything to report; false after most commands (nothing changed),
   * which then answer without the refresh's queue and promises. A failed check leaves it to
   * the refresh.
   */
  private reportNeeded(): boolean {
    if (this.selected === undefined || this.closedValue) return false;
    try {
      return !this.selected.quiet();
    } catch {
      return true;
    }
  }

  private async report(): Promise<void> {
    const selected = this.selected!;
    try {
      await selected.reportChanges(this);
    } catch (err) {
      this.logger.warn({ err, mailbox: selected.name }, 'could not refresh the selected mailbox');
    }
  }

  private execute(command: ImapCommand): Promise<Completion | string | undefined> | Completion | string | undefined {
    const { name } = command;
    const uid = name.startsWith('UID ');
    const base = uid ? name.slice(4) : name;
    switch (base) {
      case 'CAPABILITY':
        this.writer.send(`* CAPABILITY ${capabilities(this.settings.imap_append_limit, hasQuota(this.user.quotaLimits))}\r\n`);
        return 'Capability completed.';
      case 'NOOP':
        return 'NOOP completed.';
      case 'CHECK':
        requireSelected(this);
        return 'Check completed.';
      case 'ID':
        parseIdParams(command.args);
        this.writer.send('* ID ("name" "Loft")\r\n');
        return 'ID completed.';
      case 'ENABLE':
        return this.enable(command);
      case 'LOGOUT':
        this.writer.send(untagged('BYE', 'Logging out'));
        this.writer.send(tagged(command.tag, 'OK', 'Logout completed.'));
        this.socket.end();
        return undefined;
      case 'IDLE':
        return this.startIdle(command);
      case 'LOGIN':
      case 'AUTHENTICATE':
      case 'STARTTLS':
        throw bad('Already logged in.');
      case 'SELECT':
      case 'EXAMINE':
        return selectCommand(this, command, base === 'EXAMINE');
      case 'CLOSE':
      case 'UNSELECT':
        return closeCommand(this, base === 'CLOSE');
      case 'LIST':
        return listCommand(this, command);
      case 'LSUB':
        return lsubCommand(this, command);
      case 'NAMESPACE':
        return namespaceCommand(this);
      case 'GETQUOTAROOT':
        return getQuotaRootCommand(this, command);
      case 'GETQUOTA':
        return getQuotaCommand(this, command);
      case 'SETQUOTA':
        return setQuotaCommand();
      case 'STATUS':
        return statusCommand(this, command);
      case 'CREATE':
        return createCommand(this, command);
      case 'DELETE':
        return deleteCommand(this, command);
      case 'RENAME':
        return renameCommand(this, command);
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        return subscribeCommand(this, command, base === 'SUBSCRIBE');
      case 'APPEND':
        return appendCommand(this, command);
      case 'FETCH':
        return fetchCommand(this, command, uid);
      case 'STORE':
        return storeCommand(this, command, uid);
      case 'COPY':
      case 'MOVE':
        return copyCommand(this, command, uid, base === 'MOVE');
      case 'EXPUNGE':
        return expungeCommand(this, command, uid);
      case 'SEARCH':
        return searchCommand(this, command, uid);
      case 'SORT':
        return sortCommand(this, command, uid);
      case 'THREAD':
        return threadCommand(this, command, uid);
      case 'CANCELUPDATE':
        return cancelUpdateCommand(this, command);
      case 'NOTIFY':
        return this.notifyCommand(command);
      default:
        throw bad(`Unknown command ${name.slice(0, 40)}`);
    }
  }

  private enable(command: ImapCommand): string {
    const names = parseEnable(command.args);
    const now: string[] = [];
    for (const name of names) {
      if (!ENABLEABLE.has(name) || this.enabled.has(name)) continue;
      this.enabled.add(name);
      now.push(name);
      if (name === 'CONDSTORE' || name === 'QRESYNC') this.condstore = true;
      if (name === 'IMAP4REV2' && this.selected !== undefined) this.selected.hideRecent = true;
    }
    this.writer.send(`* ENABLED${now.map((n) => ` ${enabledName(n)}`).join('')}\r\n`);
    return 'Enabled.';
  }

  private async startIdle(command: ImapCommand): Promise<undefined> {
    if (command.args.length > 0) throw bad('IDLE takes no arguments');
    this.writer.send('+ idling\r\n');
    await this.reportSafely(true);
    const idle: IdleState = { tag: command.tag, stopWatch: undefined, timers: [] };
    // One queued tick stands for any number of wake-ups (a stalled client's queue stays short).
    const tick = (): void => {
      if (this.idleTickQueued) return;
      this.idleTickQueued = true;
      this.enqueue({ kind: 'idle-tick' });
    };
    // After NOTIFY, IDLE sends exactly the events NOTIFY asked for (RFC 5465 §4): the
    // selected mailbox only if a selected filter has events; other mailboxes come anyway.
    const selectedWanted = this.notify === undefined || (this.notify.selected?.events.size ?? 0) > 0;
    if (this.selected !== undefined && selectedWanted) {
      idle.stopWatch = this.selected.mailbox.watch(tick);
      idle.timers.push(setInterval(tick, this.settings.mailbox_idle_check_interval));
    }
    const interval = this.settings.imap_idle_notify_interval;
    if (interval > 0) idle.timers.push(setInterval(() => this.writer.waiting || this.writer.send('* OK Still here\r\n'), interval));
    this.idle = idle;
    return undefined;
  }

  private stopIdle(): void {
    const idle = this.idle;
    if (idle === undefined) return;
    this.idle = undefined;
    idle.stopWatch?.();
    for (const timer of idle.timers) clearInterval(timer);
  }

  // ---- NOTIFY (RFC 5465) -------------------------------------------------------------

  private async notifyCommand(command: ImapCommand): Promise<string> {
    const { state, sendStatus } = parseNotifyCommand(this, command);
    if (state !== undefined && !(await state.start(this, sendStatus))) throw no('Too many mailboxes to watch', 'NOTIFICATIONOVERFLOW');
    this.stopNotify();
    this.notify = state;
    if (state !== undefined && (state.watchesOthers || state.selectedImmediate)) {
      // Other mailboxes and the list have no change notification: they are polled. The
      // selected mailbox is watched; the slow poll only covers a lost notification.
      const interval = state.watchesOthers ? NOTIFY_POLL_INTERVAL_MS : this.settings.mailbox_idle_check_interval;
      this.notifyTimer = setInterval(() => this.wakeNotify(), interval);
      this.notifyTimer.unref();
    }
    this.syncSelectedWatch();
    return 'NOTIFY completed.';
  }

  private wakeNotify(): void {
    if (this.notifyQueued || this.closedValue || this.notify === undefined) return;
    this.notifyQueued = true;
    this.enqueue({ kind: 'notify' });
  }

  /** Runs between commands (the queue serialises it with them) and during IDLE. */
  private async runNotify(): Promise<void> {
    const notify = this.notify;
    if (notify === undefined || this.closedValue) return;
    if (this.selected !== undefined && notify.selectedImmediate) await this.reportSafely(true);
    if (!notify.watchesOthers) return;
    try {
      if (await notify.poll(this)) return;
    } catch (err) {
      this.logger.warn({ err }, 'NOTIFY could not read the mailbox list or a mailbox STATUS');
      this.writer.send('* NO NOTIFY error, some events may have got lost\r\n');
      return;
    }
    this.logger.info('NOTIFY watches too many mailboxes; notifications stopped');
    this.writer.send(untagged('OK', 'Too many mailboxes to watch; NOTIFY is now NONE', 'NOTIFICATIONOVERFLOW'));
    this.stopNotify();
  }

  /** Watches the selected mailbox while NOTIFY asks for its events as they happen. */
  private syncSelectedWatch(): void {
    const want = this.notify?.selectedImmediate === true && !this.closedValue ? this.selected : undefined;
    if (this.watchedSelected?.sel === want) return;
    this.watchedSelected?.stop();
    this.watchedSelected = want === undefined ? undefined : { sel: want, stop: want.mailbox.watch(() => this.wakeNotify()) };
  }

  private stopNotify(): void {
    this.notify = undefined;
    if (this.notifyTimer !== undefined) clearInterval(this.notifyTimer);
    this.notifyTimer = undefined;
    this.watchedSelected?.stop();
    this.watchedSelected = undefined;
  }
}
