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

export class HandoffBroker {
  /** Open sessions: id → the mail process serving it and what anvil knows of it. */
  private readonly sessions = new Map<string, { pid: number; anvil: AnvilSession }>();

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
    const giveBack = (reason: string, temporary: boolean): void => {
      const reply: MasterToChild = { type: 'handoff-failed', handoffId: message.handoffId, reason, temporary };
      // Sent or not, this object is done with (see below); unsent, the client is dropped.
      login.child.send(reply, socket, undefined, () => socket.destroy());
    };
    try {
      const session = await this.prepare(login, message);
      if (typeof session === 'string') return giveBack(session, false);
      const pool = this.host.mailPool(message.service, session.uid, session.gid);
      if (!pool) return giveBack(`no mail service '${message.service}' is configured`, false);
      const target = await pool.acquire();
      session.pending = Buffer.concat([Buffer.from(message.pending, 'base64'), ...drain(socket)]).toString('base64');
      const sent: MasterToChild = { type: 'connection', session };
      target.child.send(sent, socket, undefined, (err) => {
        // Once sent, Node has taken the descriptor out of this object, which would never close
        // by itself: the login process's listener, which asks the master whether the sockets
        // it passed on are closed, would wait for it forever. Unsent, the client is dropped.
        socket.destroy();
        if (err) {
          this.host.logger.error({ err, pid: target.pid }, `service(${message.service}): passing a session to child ${target.pid} failed`);
          return;
        }
        // The login process keeps what a refusal would need until it hears this.
        const done: MasterToChild = { type: 'handoff-done', handoffId: message.handoffId };
        if (login.child.connected) login.child.send(done, undefined, {}, () => undefined);
        if (session.overLimit !== undefined) return;
        const anvil: AnvilSession = { id: session.id, user: session.user, service: message.service, pid: target.pid, remoteIp: session.client.remoteIp, started: Date.now() };
        this.sessions.set(session.id, { pid: target.pid, anvil });
        this.host.notifyAnvil('start', anvil);
      });
    } catch (err) {
      this.host.logger.error({ err }, `hand-off to ${message.service} failed: ${describeError(err)}`);
      giveBack('Internal error occurred. Refer to server log for more information.', true);
    }
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

  /** A mail process died: its sessions are over. */
  processGone(pid: number): void {
    for (const [id, session] of this.sessions) {
      if (session.pid !== pid) continue;
      this.sessions.delete(id);
      this.host.notifyAnvil('end', session.anvil);
    }
  }

  /** Processes serving this user now. */
  pidsOf(user: string): number[] {
    return [...new Set([...this.sessions.values()].filter((s) => s.anvil.user === user).map((s) => s.pid))];
  }

  sessionsOf(user: string): number {
    return [...this.sessions.values()].filter((s) => s.anvil.user === user).length;
  }
}

function drain(socket: net.Socket): Buffer[] {
  const chunks: Buffer[] = [];
  for (let chunk: unknown = socket.read(); chunk !== null; chunk = socket.read()) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return chunks;
}
