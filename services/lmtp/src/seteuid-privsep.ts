/**
 * seteuid privsep (what Dovecot ships): deliveries run in root child processes that switch
 * their effective uid/gid around each delivery (euid-switch.ts). seteuid() covers a whole
 * process, libuv's threadpool included, so one process delivers one message at a time;
 * several processes deliver in parallel, as Dovecot's one lmtp process per connection does.
 * The lmtp process itself never changes its uid.
 *
 * `lmtp_privsep_min_spare` processes are started with lmtp; more are started while
 * deliveries wait, up to `lmtp_privsep_seteuid_processes`; one idle for
 * `lmtp_privsep_linger` is stopped, down to the spares.
 */
import { LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import { DeliveryProcess } from './delivery-process.js';
import type { MessageSpool } from './message-spool.js';
import type { Deliverer } from './privsep.js';

export interface SeteuidPrivsepOptions {
  lingerMs: number;
  /** Most delivery processes. */
  maxProcesses: number;
  /** Processes kept started while idle. */
  minSpare: number;
  logger: Logger;
}

/** Users (`uid:name`) remembered per process, for choosing one that may still have the user open. */
const RECENT_USERS = 64;

interface Waiter {
  resolve: (worker: DeliveryProcess) => void;
  reject: (err: Error) => void;
}

export class SeteuidPrivsep implements Deliverer {
  private readonly workers = new Set<DeliveryProcess>();
  /** Started and not delivering, most recently used last. */
  private readonly idleWorkers: DeliveryProcess[] = [];
  private readonly waiters: Waiter[] = [];
  /** Deliveries waiting for one busy process in particular (one each), for its open users. */
  private readonly affine = new Map<DeliveryProcess, Waiter>();
  /** Workers started and not yet ready. */
  private starting = 0;
  private closing = false;

  constructor(private readonly options: SeteuidPrivsepOptions) {
    for (let i = 0; i < Math.min(options.minSpare, options.maxProcesses); i++) this.spawn();
  }

  get processCount(): number {
    return this.workers.size;
  }

  async deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome> {
    const log = this.options.logger.child({ user: request.user, privsep: 'seteuid' });
    if (request.uid === 0 || request.gid === 0) {
      log.error(`refusing uid ${request.uid} gid ${request.gid} in seteuid mode: root must not deliver`);
      return { ok: false, temporary: true, reason: 'privilege switch refused' };
    }
    let worker: DeliveryProcess;
    try {
      worker = await this.acquire(`${request.uid}:${request.user}`);
    } catch (err) {
      log.error({ err }, `cannot start a delivery process for ${request.user}`);
      return { ok: false, temporary: true, reason: 'delivery process failed to start' };
    }
    try {
      return await worker.deliver(request, spool);
    } finally {
      this.release(worker);
    }
  }

  /**
   * A process for a delivery to `user` (`uid:name`): an idle one that delivered to it lately
   * (it may still have the user open); else the busy one that did, if nobody waits for it
   * yet (deliveries to one user queue on one mailbox lock anyway); else any idle one; else
   * the first to become idle or ready, starting one when all are busy.
   */
  private acquire(user: string): Promise<DeliveryProcess> {
    if (this.closing) return Promise.reject(new LoftError('LOFT_E_LMTP_PRIVSEP', 'lmtp is shutting down'));
    for (let i = this.idleWorkers.length - 1; i >= 0; i--) {
      if (this.idleWorkers[i]!.recentUsers.includes(user)) return Promise.resolve(this.claim(this.idleWorkers.splice(i, 1)[0]!, user));
    }
    for (const worker of this.workers) {
      if (worker.active > 0 && !worker.exited && !this.affine.has(worker) && worker.recentUsers.includes(user)) {
        return new Promise<DeliveryProcess>((resolve, reject) => this.affine.set(worker, { resolve: (w) => resolve(this.claim(w, user)), reject }));
      }
    }
    const idle = this.idleWorkers.pop();
    if (idle) return Promise.resolve(this.claim(idle, user));
    const waiting = new Promise<DeliveryProcess>((resolve, reject) => this.waiters.push({ resolve: (worker) => resolve(this.claim(worker, user)), reject }));
    if (this.waiters.length > this.starting && this.workers.size < this.options.maxProcesses) this.spawn();
    return waiting;
  }

  private claim(worker: DeliveryProcess, user: string): DeliveryProcess {
    if (worker.linger) clearTimeout(worker.linger);
    worker.linger = undefined;
    worker.active = 1;
    const seen = worker.recentUsers.indexOf(user);
    if (seen >= 0) worker.recentUsers.splice(seen, 1);
    worker.recentUsers.push(user);
    if (worker.recentUsers.length > RECENT_USERS) worker.recentUsers.shift();
    return worker;
  }

  private release(worker: DeliveryProcess): void {
    worker.active = 0;
    if (worker.exited) return;
    const waiter = this.takeAffine(worker) ?? this.waiters.shift();
    if (waiter) {
      worker.active = 1;
      waiter.resolve(worker);
      return;
    }
    if (this.closing) {
      void worker.stop();
      return;
    }
    this.idleWorkers.push(worker);
    if (this.workers.size <= this.options.minSpare) return;
    worker.linger = setTimeout(() => this.retire(worker), this.options.lingerMs);
    worker.linger.unref();
  }

  private retire(worker: DeliveryProcess): void {
    const at = this.idleWorkers.indexOf(worker);
    if (at < 0) return;
    if (this.workers.size <= this.options.minSpare && !this.closing) return;
    this.idleWorkers.splice(at, 1);
    void worker.stop();
  }

  private spawn(): void {
    const worker = new DeliveryProcess('seteuid', this.options.logger, (child) => this.onExit(child), this.options.lingerMs);
    this.workers.add(worker);
    this.starting++;
    this.options.logger.debug({ pid: worker.pid }, `started seteuid delivery process ${worker.pid}`);
    worker.started.then(
      () => {
        this.starting--;
        this.release(worker);
      },
      (err: unknown) => {
        this.starting--;
        // Nothing else may come for a waiter that counted on this process: fail one.
        if (this.waiters.length > this.starting + this.idleWorkers.length) {
          this.waiters.shift()?.reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
    );
  }

  private takeAffine(worker: DeliveryProcess): Waiter | undefined {
    const waiter = this.affine.get(worker);
    this.affine.delete(worker);
    return waiter;
  }

  private onExit(worker: DeliveryProcess): void {
    this.workers.delete(worker);
    // A delivery waiting for this process in particular waits for any.
    const affine = this.takeAffine(worker);
    if (affine) this.waiters.unshift(affine);
    const at = this.idleWorkers.indexOf(worker);
    if (at >= 0) this.idleWorkers.splice(at, 1);
    // Replace a process that died (not one retired) while deliveries wait for one.
    if (!this.closing && this.waiters.length > this.starting && this.workers.size < this.options.maxProcesses) this.spawn();
  }

  /** Stops every process; resolves when all have exited (busy ones after their delivery). */
  async close(): Promise<void> {
    this.closing = true;
    for (const waiter of [...this.waiters.splice(0), ...this.affine.values()]) waiter.reject(new LoftError('LOFT_E_LMTP_PRIVSEP', 'lmtp is shutting down'));
    this.affine.clear();
    const all = [...this.workers];
    for (const worker of this.idleWorkers.splice(0)) void worker.stop();
    await Promise.all(all.map((worker) => worker.gone));
  }
}
