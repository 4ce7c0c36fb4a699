/**
 * fork privsep (`lmtp_privsep = fork`): each delivery runs in a child process that serves one
 * uid/gid and dropped to it for good. Node cannot fork a loaded process, and starting one
 * costs far more than a delivery, so:
 * - `lmtp_privsep_min_spare` children are kept started (code loaded, still root, nothing
 *   about any message seen) and one is assigned a uid when a new uid needs it; a new spare is
 *   started in the background, so a new uid does not wait for Node to start;
 * - a child is kept `lmtp_privsep_linger` ms after its last delivery so that the next
 *   message for the same uid reuses it; at most `lmtp_privsep_max_children` uids have a child
 *   at once (an idle one is stopped to make room; otherwise the delivery waits for one to
 *   become idle);
 * - a child runs any number of deliveries for its uid at the same time.
 */
import { LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import { DeliveryProcess } from './delivery-process.js';
import type { MessageSpool } from './message-spool.js';
import type { Deliverer } from './privsep.js';

export interface ForkPrivsepOptions {
  lingerMs: number;
  maxChildren: number;
  /** Started, unassigned children kept waiting. */
  minSpare: number;
  logger: Logger;
  /** Maps a uid to its system user name for initgroups; undefined keeps only the gid. */
  systemUser?: (uid: number) => Promise<string | undefined>;
}

export class ForkPrivsep implements Deliverer {
  /** Assigned children by `uid:gid`. */
  private readonly children = new Map<string, DeliveryProcess>();
  private readonly spares: DeliveryProcess[] = [];
  private readonly slotWaiters: Array<() => void> = [];
  private closing = false;

  constructor(private readonly options: ForkPrivsepOptions) {
    this.replenish();
  }

  /** Live assigned children, for the status a test or loftadm may want. */
  get childCount(): number {
    return this.children.size;
  }

  async deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome> {
    let child: DeliveryProcess;
    try {
      child = await this.childFor(request.uid, request.gid);
    } catch (err) {
      this.options.logger.error({ err, uid: request.uid }, `cannot start a delivery child for uid ${request.uid}`);
      return { ok: false, temporary: true, reason: 'delivery process failed to start' };
    }
    try {
      await child.assigned;
    } catch (err) {
      this.release(child);
      this.options.logger.error({ err, uid: request.uid }, `cannot start a delivery child for uid ${request.uid}`);
      return { ok: false, temporary: true, reason: 'delivery process failed to start' };
    }
    try {
      return await child.deliver(request, spool);
    } finally {
      this.release(child);
    }
  }

  private release(child: DeliveryProcess): void {
    child.active--;
    if (child.active === 0) this.idle(child);
  }

  /** The child for this uid/gid, counted as busy (active) before anything else can run. */
  private async childFor(uid: number, gid: number): Promise<DeliveryProcess> {
    const key = `${uid}:${gid}`;
    const known = this.children.get(key);
    // The common case stays synchronous up to here: no await before the claim.
    if (known) return this.claim(known);
    const user = (await this.options.systemUser?.(uid)) ?? '';
    for (;;) {
      if (this.closing) throw new LoftError('LOFT_E_LMTP_PRIVSEP', 'lmtp is shutting down');
      const existing = this.children.get(key);
      if (existing) return this.claim(existing);
      if (this.children.size < this.options.maxChildren || this.evictIdle()) return this.assignChild(key, uid, gid, user);
      this.options.logger.warn(`lmtp_privsep_max_children (${this.options.maxChildren}) reached; delivery for uid ${uid} waits for a child to become idle`);
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  /** Counts a delivery on the child in the same tick it is found, so eviction never picks it. */
  private claim(child: DeliveryProcess): DeliveryProcess {
    child.active++;
    if (child.linger) clearTimeout(child.linger);
    child.linger = undefined;
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

  /** A spare (or a new child when none is left) becomes the child of uid/gid. */
  private assignChild(key: string, uid: number, gid: number, user: string): DeliveryProcess {
    const child = this.spares.shift() ?? this.spawn();
    this.children.set(key, this.claim(child));
    void child.assign(uid, gid, user);
    this.options.logger.debug({ uid, gid, pid: child.pid }, `started delivery child for uid ${uid}`);
    this.replenish();
    return child;
  }

  private spawn(): DeliveryProcess {
    return new DeliveryProcess('fork', this.options.logger, (child) => this.onExit(child), this.options.lingerMs);
  }

  /** Starts spares up to lmtp_privsep_min_spare. */
  private replenish(): void {
    while (!this.closing && this.spares.length < this.options.minSpare) this.spares.push(this.spawn());
  }

  private onExit(child: DeliveryProcess): void {
    const spare = this.spares.indexOf(child);
    if (spare >= 0) this.spares.splice(spare, 1);
    if (child.key !== undefined && this.children.get(child.key) === child) this.children.delete(child.key);
    this.slotWaiters.splice(0).forEach((wake) => wake());
  }

  private idle(child: DeliveryProcess): void {
    this.slotWaiters.splice(0).forEach((wake) => wake());
    if (this.closing || this.options.lingerMs === 0) {
      this.stop(child);
      return;
    }
    if (child.linger) clearTimeout(child.linger);
    child.linger = setTimeout(() => this.stop(child), this.options.lingerMs);
    child.linger.unref();
  }

  /** Ends an idle child. */
  private stop(child: DeliveryProcess): void {
    if (child.key !== undefined && this.children.get(child.key) === child) this.children.delete(child.key);
    void child.stop();
  }

  /** Stops every child; resolves when all have exited (busy ones after their deliveries). */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.spares, ...this.children.values()];
    for (const spare of this.spares.splice(0)) void spare.stop();
    for (const child of [...this.children.values()]) if (child.active === 0) this.stop(child);
    await Promise.all(all.map((child) => child.gone));
  }
}
