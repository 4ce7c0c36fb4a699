/**
 * fork privsep (Loft's default): each delivery runs in a child process that serves one
 * uid/gid and dropped to it for good at start. A child is kept `lmtp_privsep_linger` ms after
 * its last delivery so that a burst for the same uid reuses it; at most
 * `lmtp_privsep_max_children` live at once (an idle one is stopped to make room; otherwise
 * the delivery waits for one to become idle).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoftError } from '@loft/errors';
import { ENV } from '@loft/master-protocol';
import type { Logger } from '@loft/log';
import { isChildMessage, type ChildArgv, type ParentToChild } from './child-protocol.js';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import type { MessageSpool } from './message-spool.js';
import type { Deliverer } from './privsep.js';

const CHILD_MODULE = fileURLToPath(new URL('./delivery-child.js', import.meta.url));
/** A child that has not said `ready` by then is killed and its deliveries tempfail. */
const CHILD_START_TIMEOUT_MS = 15_000;

interface PendingDelivery {
  spool: MessageSpool;
  /** Bytes of the spool already sent to the child. */
  position: number;
  resolve: (outcome: DeliveryOutcome) => void;
}

interface DeliveryChild {
  key: string;
  process: ChildProcess;
  ready: Promise<void>;
  active: number;
  linger?: NodeJS.Timeout;
  pending: Map<number, PendingDelivery>;
}

export interface ForkPrivsepOptions {
  lingerMs: number;
  maxChildren: number;
  logger: Logger;
  /** Maps a uid to its system user name for initgroups; undefined keeps only the gid. */
  systemUser?: (uid: number) => Promise<string | undefined>;
}

export class ForkPrivsep implements Deliverer {
  private readonly children = new Map<string, DeliveryChild>();
  private readonly slotWaiters: Array<() => void> = [];
  private nextId = 1;
  private closing = false;

  constructor(private readonly options: ForkPrivsepOptions) {}

  asRoot<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  /** Live children, for the status a test or loftadm may want. */
  get childCount(): number {
    return this.children.size;
  }

  async deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome> {
    let child: DeliveryChild;
    try {
      child = await this.childFor(request.uid, request.gid);
    } catch (err) {
      this.options.logger.error({ err, uid: request.uid }, `cannot start a delivery child for uid ${request.uid}`);
      return { ok: false, temporary: true, reason: 'delivery process failed to start' };
    }
    try {
      await child.ready;
    } catch (err) {
      this.release(child);
      this.options.logger.error({ err, uid: request.uid }, `cannot start a delivery child for uid ${request.uid}`);
      return { ok: false, temporary: true, reason: 'delivery process failed to start' };
    }
    try {
      return await new Promise<DeliveryOutcome>((resolve) => {
        const id = this.nextId++;
        child.pending.set(id, { spool, position: 0, resolve });
        this.send(child, { type: 'deliver', id, request });
      });
    } finally {
      this.release(child);
    }
  }

  private release(child: DeliveryChild): void {
    child.active--;
    if (child.active === 0) this.idle(child);
  }

  /** The child for this uid/gid, counted as busy (active) before anything else can run. */
  private async childFor(uid: number, gid: number): Promise<DeliveryChild> {
    const child = await this.findOrSpawn(uid, gid);
    if (child.linger) clearTimeout(child.linger);
    return child;
  }

  private async findOrSpawn(uid: number, gid: number): Promise<DeliveryChild> {
    const key = `${uid}:${gid}`;
    const user = (await this.options.systemUser?.(uid)) ?? '';
    for (;;) {
      if (this.closing) throw new LoftError('LOFT_E_LMTP_PRIVSEP', 'lmtp is shutting down');
      const existing = this.children.get(key);
      if (existing) return this.claim(existing);
      if (this.children.size < this.options.maxChildren || this.evictIdle()) return this.spawn(key, uid, gid, user);
      this.options.logger.warn(`lmtp_privsep_max_children (${this.options.maxChildren}) reached; delivery for uid ${uid} waits for a child to become idle`);
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  /** Counts a delivery on the child in the same tick it is found, so eviction never picks it. */
  private claim(child: DeliveryChild): DeliveryChild {
    child.active++;
    return child;
  }

  private evictIdle(): boolean {
    for (const child of this.children.values()) {
      if (child.active === 0) {
        this.stop(child);
        return true;
      }
    }
    return false;
  }

  private spawn(key: string, uid: number, gid: number, user: string): DeliveryChild {
    const argv: ChildArgv = [String(uid), String(gid), user];
    const proc = fork(CHILD_MODULE, argv, {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [ENV.LOG_LEVEL]: process.env[ENV.LOG_LEVEL] ?? 'info' },
    });
    const child: DeliveryChild = { key, process: proc, active: 0, pending: new Map(), ready: Promise.resolve() };
    child.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child for uid ${uid} did not start within ${CHILD_START_TIMEOUT_MS} ms`));
        proc.kill('SIGKILL');
      }, CHILD_START_TIMEOUT_MS);
      proc.on('message', (message: unknown) => {
        if (!isChildMessage(message)) return;
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else void this.onChildMessage(child, message);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `delivery child for uid ${uid} exited before it was ready (${signal ?? `code ${code}`})`));
        this.onExit(child, code, signal);
      });
    });
    child.ready.catch(() => undefined);
    this.children.set(key, this.claim(child));
    this.options.logger.debug({ uid, gid, pid: proc.pid }, `started delivery child for uid ${uid}`);
    return child;
  }

  private async onChildMessage(child: DeliveryChild, message: { type: 'read'; id: number } | { type: 'result'; id: number; outcome: DeliveryOutcome }): Promise<void> {
    const pending = child.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'result') {
      child.pending.delete(message.id);
      pending.resolve(message.outcome);
      return;
    }
    try {
      const data = await pending.spool.read(pending.position);
      pending.position += data.length;
      this.send(child, { type: 'chunk', id: message.id, data });
    } catch (err) {
      this.options.logger.error({ err }, 'reading the spooled message failed');
      this.send(child, { type: 'abort', id: message.id, reason: 'spool read failed' });
    }
  }

  private send(child: DeliveryChild, message: ParentToChild): void {
    if (!child.process.connected) return;
    child.process.send(message, (err) => {
      if (err) this.options.logger.warn({ err, pid: child.process.pid }, 'sending to a delivery child failed');
    });
  }

  private onExit(child: DeliveryChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.children.get(child.key) === child) this.children.delete(child.key);
    if (child.linger) clearTimeout(child.linger);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (child.pending.size > 0) {
      this.options.logger.error({ pid: child.process.pid, code, signal }, `delivery child ${child.process.pid} exited with ${how} during ${child.pending.size} delivery(ies)`);
    } else {
      this.options.logger.debug({ pid: child.process.pid, code, signal }, `delivery child ${child.process.pid} exited with ${how}`);
    }
    for (const pending of child.pending.values()) pending.resolve({ ok: false, temporary: true, reason: 'delivery process exited' });
    child.pending.clear();
    this.slotWaiters.splice(0).forEach((wake) => wake());
  }

  private idle(child: DeliveryChild): void {
    this.slotWaiters.splice(0).forEach((wake) => wake());
    if (this.closing || this.options.lingerMs === 0) {
      this.stop(child);
      return;
    }
    child.linger = setTimeout(() => this.stop(child), this.options.lingerMs);
    child.linger.unref();
  }

  /** Ends an idle child: disconnecting makes it exit. */
  private stop(child: DeliveryChild): void {
    if (this.children.get(child.key) === child) this.children.delete(child.key);
    if (child.linger) clearTimeout(child.linger);
    if (child.process.connected) child.process.disconnect();
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const child of [...this.children.values()]) if (child.active === 0) this.stop(child);
  }
}
