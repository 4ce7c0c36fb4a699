/**
 * Brokering an authenticated client from a login process to a mail process (DESIGN §3).
 * Node passes sockets only over child_process IPC channels, so the master is the broker
 * where Dovecot passes the fd directly. The login process sends the socket, the bytes it
 * has read after the login command, and auth's one-time ticket; the master redeems the
 * ticket with auth (the login process's word about the user counts for nothing), picks or
 * forks a mail process running as the user's uid, and passes everything on. If anything
 * fails, the socket goes back to the login process, which answers the client.
 */
import { randomUUID } from 'node:crypto';
import { chownSync, lstatSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describeError } from '@loft/errors';
import type { Logger } from '@loft/log';
import type { AnvilSession, ChildToMaster, MasterToChild, SessionHandoff } from '@loft/master-protocol';
import type { AuthUserdbClient } from './auth-userdb-client.js';
import type { ProcessEntry, ServicePool } from './service-pool.js';

export interface HandoffHost {
  readonly logger: Logger;
  readonly auth: AuthUserdbClient;
  /** The pool of `service` for this uid (a mail service), created on first use. */
  mailPool(service: string, uid: number, gid: number): ServicePool | undefined;
  /** uid range mail may run as (first_valid_uid / last_valid_uid). */
  validUid(uid: number): boolean;
  /** anvil: count of this user's sessions from this IP, and the limit (0 = none). */
  countSessions(user: string, remoteIp: string): Promise<{ count: number; limit: number }>;
  notifyAnvil(event: 'start' | 'end', session: AnvilSession): void;
  /** base_dir: homes inside it (a relative home in the userdb) are made by loftd. */
  workingDirectory(): string | undefined;
}

type HandoffMessage = Extract<ChildToMaster, { type: 'handoff' }>;

/**
 * How many mail processes a session is offered to. One that dies before it says it took
 * the session (session-start) is skipped; a session whose every offer ends so is refused
 * with a temporary failure, which the login process answers.
 */
const HANDOFF_ATTEMPTS = 3;

/**
 * After a mail process exited, how long to wait for what it sent before it died (read from
 * its IPC channel, which closes last) before deciding that it never took a session.
 */
const EXITED_CHANNEL_WAIT_MS = 2_000;

/** A session passed to a mail process that has not yet said it took it. */
interface InFlight {
  readonly login: ProcessEntry;
  readonly message: HandoffMessage;
  readonly socket: net.Socket;
  readonly session: SessionHandoff;
  readonly pool: ServicePool;
  target?: ProcessEntry;
  attempts: number;
}

export class HandoffBroker {
  /** Open sessions: id → the mail process serving it and what anvil knows of it. */
  private readonly sessions = new Map<string, { pid: number; anvil: AnvilSession }>();
  /** Sessions offered to a mail process that has not taken them yet, by session id. */
  private readonly inFlight = new Map<string, InFlight>();

  constructor(private readonly host: HandoffHost) {}

  async handoff(login: ProcessEntry, message: HandoffMessage, handle: unknown): Promise<void> {
    if (!(handle instanceof net.Socket)) {
      this.host.logger.error({ pid: login.pid }, `service(${login.pool.name}): hand-off without a socket; killing the login process`);
      login.child.kill('SIGKILL');
      return;
    }
    const socket = handle;
    // Not a byte of the client's may be read here or lost: stop reading at once, and pass on
    // whatever the stream already buffered behind what the login process sent.
    socket.pause();
    try {
      const session = await this.prepare(login, message);
      if (typeof session === 'string') return giveBack(login, message, socket, session, false);
      const pool = this.host.mailPool(message.service, session.uid, session.gid);
      if (!pool) return giveBack(login, message, socket, `no mail service '${message.service}' is configured`, false);
      session.pending = Buffer.concat([Buffer.from(message.pending, 'base64'), ...drain(socket)]).toString('base64');
      await this.offer({ login, message, socket, session, pool, attempts: 0 });
    } catch (err) {
      this.failed(login, message, socket, err);
    }
  }

  /** The hand-off broke down (auth, the pool): logged, and the client gets a temporary failure. */
  private failed(login: ProcessEntry, message: HandoffMessage, socket: net.Socket, err: unknown): void {
    this.host.logger.error({ err }, `hand-off to ${message.service} failed: ${describeError(err)}`);
    giveBack(login, message, socket, INTERNAL_ERROR, true);
  }

  /**
   * Passes the session to a process of its pool. The master keeps its copy of the socket
   * (keepOpen) until that process says it took the session: a process killed between the
   * pool's choice and its reading of the message (kill -9 of a busy user's process) would
   * otherwise take the client down with it, unanswered.
   */
  private async offer(flight: InFlight): Promise<void> {
    flight.attempts++;
    const target = await flight.pool.acquire();
    flight.target = target;
    const { session } = flight;
    this.inFlight.set(session.id, flight);
    const sent: MasterToChild = { type: 'connection', session };
    target.child.send(sent, flight.socket, { keepOpen: true }, (err) => {
      if (!err || this.inFlight.get(session.id) !== flight || flight.target !== target) return;
      this.host.logger.warn({ err, pid: target.pid }, `service(${flight.message.service}): passing a session of ${session.user} to child ${target.pid} failed: ${describeError(err)}`);
      this.offerAgain(flight);
    });
  }

  /** The process offered a session did not take it: another one, or a temporary failure. */
  private offerAgain(flight: InFlight): void {
    const { login, message, socket, session } = flight;
    this.inFlight.delete(session.id);
    if (flight.attempts >= HANDOFF_ATTEMPTS) {
      this.host.logger.error({ user: session.user }, `service(${message.service}): ${flight.attempts} processes did not take a session of ${session.user}; login refused`);
      giveBack(login, message, socket, INTERNAL_ERROR, true);
      return;
    }
    this.offer(flight).catch((err: unknown) => this.failed(login, message, socket, err));
  }

  /** A mail process took a session: the client is its now. */
  sessionStarted(entry: ProcessEntry, sessionId: string): void {
    const flight = this.inFlight.get(sessionId);
    if (!flight || flight.target !== entry) return; // not offered to this process
    this.inFlight.delete(sessionId);
    const { login, message, socket, session } = flight;
    // The descriptor the master kept: closing it does not end the connection, which the mail
    // process has. The login process's listener also waits for this close (it asks the master
    // whether the sockets it passed on are closed).
    socket.destroy();
    // The login process keeps what a refusal would need until it hears this.
    const done: MasterToChild = { type: 'handoff-done', handoffId: message.handoffId };
    if (login.child.connected) login.child.send(done, undefined, {}, () => undefined);
    if (session.overLimit !== undefined) return;
    const anvil: AnvilSession = { id: session.id, user: session.user, service: message.service, pid: entry.pid, remoteIp: session.client.remoteIp, started: Date.now() };
    this.sessions.set(session.id, { pid: entry.pid, anvil });
    this.host.notifyAnvil('start', anvil);
  }

  /** The session a ticket entitles to, or why not. */
  private async prepare(login: ProcessEntry, message: HandoffMessage): Promise<SessionHandoff | string> {
    const identity = await this.host.auth.request('redeem', { ticket: message.ticket, service: message.service });
    if (identity.result !== 'ok') {
      this.host.logger.warn({ pid: login.pid, result: identity.result }, `service(${login.pool.name}): child ${login.pid} presented a ticket auth does not know (forged, replayed or expired); hand-off refused`);
      return 'Authentication ticket refused';
    }
    if (!this.host.validUid(identity.uid)) {
      this.host.logger.error({ user: identity.user, uid: identity.uid }, `user ${identity.user}: uid ${identity.uid} is outside first_valid_uid..last_valid_uid; login refused`);
      return 'Login not allowed for this user';
    }
    const problem = this.ensureHome(identity.home, identity.uid, identity.gid);
    if (problem) {
      this.host.logger.error({ user: identity.user, home: identity.home }, `user ${identity.user}: ${problem}`);
      return 'Mail storage is temporarily unavailable.';
    }
    const client = message.client;
    const { count, limit } = await this.host.countSessions(identity.user, client.remoteIp);
    return {
      id: randomUUID(),
      user: identity.user, uid: identity.uid, gid: identity.gid, home: identity.home, mail: identity.mail,
      ...(identity.extra.quota_rule !== undefined ? { quotaRule: identity.extra.quota_rule } : {}),
      tag: message.tag, client, pending: '',
      overLimit: limit > 0 && count >= limit ? limit : undefined,
    };
  }

  /**
   * A home inside base_dir (the userdb gave a relative one: the embedded dev config does) is
   * created here, owned by the user, since the user's own process cannot create it in a
   * directory loftd owns. base_dir is loftd's, so no user can have planted a path in it.
   * Homes elsewhere are the administrator's to create, as with Dovecot. Why not, or ''.
   */
  private ensureHome(home: string, uid: number, gid: number): string {
    const baseDir = this.host.workingDirectory();
    if (!home || !baseDir) return '';
    const relative = path.relative(path.resolve(baseDir), home);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return '';
    try {
      const stat = lstatSync(home, { throwIfNoEntry: false });
      if (stat) return stat.isDirectory() ? '' : `home ${home} is not a directory`;
      mkdirSync(path.dirname(home), { recursive: true, mode: 0o755 });
      mkdirSync(home, { mode: 0o700 });
      if (process.getuid?.() === 0) chownSync(home, uid, gid);
      this.host.logger.info({ home, uid }, `created home ${home} inside base_dir`);
      return '';
    } catch (err) {
      return `cannot create home ${home}: ${describeError(err)}`;
    }
  }

  sessionEnded(entry: ProcessEntry, sessionId: string): void {
    const session = this.sessions.get(sessionId);
    if (!session || session.pid !== entry.pid) return; // a process may end only its own sessions
    this.sessions.delete(sessionId);
    this.host.notifyAnvil('end', session.anvil);
  }

  /**
   * A mail process exited: its sessions are over, and sessions offered to it that it did not
   * take go to another process. What it sent before dying may still be in its IPC channel,
   * which Node reads after 'exit': the decision waits for the channel to close ('close').
   */
  processGone(entry: ProcessEntry): void {
    for (const [id, session] of this.sessions) {
      if (session.pid !== entry.pid) continue;
      this.sessions.delete(id);
      this.host.notifyAnvil('end', session.anvil);
    }
    if (![...this.inFlight.values()].some((f) => f.target === entry)) return;
    let decided = false;
    const decide = (): void => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      for (const flight of [...this.inFlight.values()]) {
        if (flight.target !== entry) continue;
        this.host.logger.warn({ pid: entry.pid, user: flight.session.user }, `service(${flight.message.service}): child ${entry.pid} ended before taking a session of ${flight.session.user}; passing it to another process`);
        this.offerAgain(flight);
      }
    };
    const timer = setTimeout(decide, EXITED_CHANNEL_WAIT_MS);
    if (entry.child.channel) entry.child.once('close', decide);
    else decide();
  }

  /** Processes serving this user now. */
  pidsOf(user: string): number[] {
    return [...new Set([...this.sessions.values()].filter((s) => s.anvil.user === user).map((s) => s.pid))];
  }

  sessionsOf(user: string): number {
    return [...this.sessions.values()].filter((s) => s.anvil.user === user).length;
  }
}

const INTERNAL_ERROR = 'Internal error occurred. Refer to server log for more information.';

/** The client goes back to its login process, which answers it with `reason`. */
function giveBack(login: ProcessEntry, message: HandoffMessage, socket: net.Socket, reason: string, temporary: boolean): void {
  const reply: MasterToChild = { type: 'handoff-failed', handoffId: message.handoffId, reason, temporary };
  // Sent or not, this object is done with: sent, Node has taken the descriptor out of it, and
  // it would never close by itself; unsent, the client is dropped.
  if (!login.child.connected) {
    socket.destroy();
    return;
  }
  login.child.send(reply, socket, undefined, () => socket.destroy());
}

function drain(socket: net.Socket): Buffer[] {
  const chunks: Buffer[] = [];
  for (let chunk: unknown = socket.read(); chunk !== null; chunk = socket.read()) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return chunks;
}
