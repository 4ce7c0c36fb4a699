/**
 * The lmtp process's handle on one delivery child (both privsep modes): starting it, giving
 * it a uid (fork), sending it deliveries and feeding them the spooled message, and failing
 * every delivery still running if it exits.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoftError } from '@loft/errors';
import { ENV } from '@loft/master-protocol';
import { linkedModule } from '@loft/service-runtime';
import type { Logger } from '@loft/log';
import { isChildMessage, type ChildArgv, type ChildMode, type ParentToChild } from './child-protocol.js';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import type { MessageSpool } from './message-spool.js';

/** The delivery child, linked when the build linked it (see linkedModule). */
const CHILD_MODULE = linkedModule(fileURLToPath(new URL('./delivery-child.js', import.meta.url))).path;
/** A child that has not said `ready` (or `assigned`) by then is killed; its deliveries tempfail. */
export const CHILD_START_TIMEOUT_MS = 15_000;
/** seteuid children: libuv threadpool and V8 platform threads (see the constructor). */
const SETEUID_CHILD_THREADPOOL = 1;
const SETEUID_CHILD_V8_THREADS = 1;
/** A child told to stop that is still there after this is killed (it gives itself 5 s). */
export const CHILD_STOP_TIMEOUT_MS = 10_000;

interface PendingDelivery {
  spool: MessageSpool;
  /** Bytes of the spool already sent to the child. */
  position: number;
  resolve: (outcome: DeliveryOutcome) => void;
}

export class DeliveryProcess {
  readonly process: ChildProcess;
  /** Resolves once the child has loaded its code (a spare); rejects if it exits or hangs first. */
  readonly started: Promise<void>;
  /** fork: `uid:gid` once assigned; seteuid: undefined. */
  key: string | undefined;
  /** fork: resolves once privileges are dropped to the assigned uid. */
  assigned: Promise<void> | undefined;
  /** Deliveries counted on this child (claimed, possibly still waiting for it to start). */
  active = 0;
  linger: NodeJS.Timeout | undefined;
  /** seteuid: users (`uid:name`) this child delivered to lately (it may keep them open), oldest first. */
  readonly recentUsers: string[] = [];
  exited = false;
  /** Resolves when the process has exited. */
  readonly gone: Promise<void>;
  private readonly pending = new Map<number, PendingDelivery>();
  private readonly onAssigned: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private nextId = 1;
  private stopping = false;
  private ready = false;

  /** `keepOpenMs`: how long the child keeps a user it delivered to open (lmtp_privsep_linger). */
  constructor(mode: ChildMode, private readonly logger: Logger, onExit: (child: DeliveryProcess) => void, keepOpenMs: number) {
    const level = process.env[ENV.LOG_LEVEL] ?? 'info';
    const argv: ChildArgv = [mode, level, String(keepOpenMs)];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', [ENV.LOG_LEVEL]: level };
    const execArgv = [...process.execArgv];
    if (mode === 'seteuid') {
      // Every set*id() call stops each thread of the process in turn (glibc's setxid
      // broadcast), which on a busy machine costs more than the delivery's own work. A child
      // that runs one delivery at a time needs few threads.
      env.UV_THREADPOOL_SIZE = String(SETEUID_CHILD_THREADPOOL);
      execArgv.push(`--v8-pool-size=${SETEUID_CHILD_V8_THREADS}`);
    }
    this.process = fork(CHILD_MODULE, argv, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env, execArgv });
    const proc = this.process;
    this.gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    this.started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child ${proc.pid} did not start within ${CHILD_START_TIMEOUT_MS} ms`));
        proc.kill('SIGKILL');
      }, CHILD_START_TIMEOUT_MS);
      timer.unref();
      proc.on('message', (message: unknown) => {
        if (!isChildMessage(message)) return;
        switch (message.type) {
          case 'ready':
            clearTimeout(timer);
            this.ready = true;
            resolve();
            return;
          case 'assigned':
            this.onAssigned.shift()?.resolve();
            return;
          case 'result': {
            const pending = this.pending.get(message.id);
            this.pending.delete(message.id);
            pending?.resolve(message.outcome);
            return;
          }
          case 'read':
            void this.feed(message.id);
            return;
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        this.exited = true;
        const how = signal ? `signal ${signal}` : `code ${code}`;
        const err = new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child ${proc.pid} exited (${how})`);
        reject(err);
        for (const waiter of this.onAssigned.splice(0)) waiter.reject(err);
        if (this.pending.size > 0) {
          this.logger.error({ pid: proc.pid, code, signal }, `delivery child ${proc.pid} exited with ${how} during ${this.pending.size} delivery(ies)`);
        } else {
          this.logger.debug({ pid: proc.pid, code, signal }, `delivery child ${proc.pid} exited with ${how}`);
        }
        for (const pending of this.pending.values()) pending.resolve({ ok: false, temporary: true, reason: 'delivery process exited' });
        this.pending.clear();
        if (this.linger) clearTimeout(this.linger);
        onExit(this);
      });
    });
    this.started.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** fork: drops the (started) child to uid/gid for good; resolves when it has. */
  assign(uid: number, gid: number, user: string): Promise<void> {
    this.key = `${uid}:${gid}`;
    this.assigned = this.started.then(() => new Promise<void>((resolve, reject) => {
      if (this.exited) {
        reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child ${this.pid} exited before it was assigned`));
        return;
      }
      const timer = setTimeout(() => {
        reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child ${this.pid} did not drop to uid ${uid} within ${CHILD_START_TIMEOUT_MS} ms`));
        this.process.kill('SIGKILL');
      }, CHILD_START_TIMEOUT_MS);
      timer.unref();
      this.onAssigned.push({
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.send({ type: 'assign', uid, gid, user });
    }));
    this.assigned.catch(() => undefined);
    return this.assigned;
  }

  /** Runs one delivery in the child; never rejects. */
  async deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome> {
    let head: Buffer;
    try {
      head = await spool.head();
    } catch (err) {
      this.logger.error({ err }, 'reading the spooled message failed');
      return { ok: false, temporary: true, reason: 'spool read failed' };
    }
    if (this.exited || !this.process.connected) return { ok: false, temporary: true, reason: 'delivery process exited' };
    return new Promise<DeliveryOutcome>((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, { spool, position: head.length, resolve });
      this.send({ type: 'deliver', id, request, body: head, complete: head.length >= spool.size });
    });
  }

  private async feed(id: number): Promise<void> {
    const pending = this.pending.get(id);
    if (!pending) return;
    try {
      const data = await pending.spool.read(pending.position);
      pending.position += data.length;
      this.send({ type: 'chunk', id, data });
    } catch (err) {
      this.logger.error({ err }, 'reading the spooled message failed');
      this.send({ type: 'abort', id, reason: 'spool read failed' });
    }
  }

  private send(message: ParentToChild): void {
    if (!this.process.connected) return;
    this.process.send(message, (err) => {
      if (err) this.logger.warn({ err, pid: this.pid }, 'sending to a delivery child failed');
    });
  }

  /**
   * Ends an idle child: it closes the users it keeps open and exits; one that takes longer
   * than CHILD_STOP_TIMEOUT_MS is killed.
   */
  stop(): Promise<void> {
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
    if (!this.exited && !this.stopping) {
      this.stopping = true;
      // A child still loading its code has seen nothing: it can just go.
      if (!this.ready) this.process.kill('SIGKILL');
      else this.send({ type: 'stop' });
      const timer = setTimeout(() => this.process.kill('SIGKILL'), CHILD_STOP_TIMEOUT_MS);
      timer.unref();
      void this.gone.then(() => clearTimeout(timer));
    }
    return this.gone;
  }
}
