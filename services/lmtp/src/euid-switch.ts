/**
 * seteuid privsep: a seteuid delivery child (real uid root) takes a user's effective uid and
 * gid for a delivery. It keeps them after the delivery, and returns to root only when the
 * next holder is someone else: a delivery to the same uid and gid (all of a virtual-user
 * setup's mail is one uid's) then makes no set*id() call at all.
 *
 * seteuid() changes every thread of the process, libuv's threadpool included, so whatever
 * file-system call runs while a user's euid is in effect runs as that user. Hence one rule,
 * enforced here and nowhere else: a single holder at a time. Deliveries, and any path-based
 * operation that must run as root, queue on this one switch; the holder's awaits can let
 * other code run, but none of that code touches a path (in a delivery child it only reads and
 * writes the IPC channel and stderr). The lmtp process itself never switches: it runs its
 * deliveries in a pool of such children (seteuid-privsep.ts).
 */
import { LoftError } from '@loft/errors';
import type { Logger } from '@loft/log';

export interface Identity {
  uid: number;
  gid: number;
}

/** The system calls, replaceable so that the ordering can be tested without root. */
export interface EuidCalls {
  seteuid(uid: number): void;
  setegid(gid: number): void;
  setgroups(groups: number[]): void;
  geteuid(): number;
}

export const PROCESS_EUID_CALLS: EuidCalls = {
  seteuid: (uid) => process.seteuid!(uid),
  setegid: (gid) => process.setegid!(gid),
  setgroups: (groups) => process.setgroups!(groups),
  geteuid: () => process.geteuid!(),
};

export class EuidSwitch {
  private tail: Promise<unknown> = Promise.resolve();
  /** Who holds the switch now; a second holder is a bug and stops the process. */
  private holder: Identity | 'root' | undefined;
  /** Whose egid is in effect: root's, a gid's, or unknown after a failed change. */
  private groupsOf: number | 'root' | undefined = 'root';
  /** Whether the supplementary groups were emptied (once, before the first user). */
  private groupsCleared = false;
  /** Whose euid (and egid) is in effect: root, or the last user, kept after its holder finished. */
  private current: Identity | 'root' = 'root';
  /** Holders queued and not yet holding. */
  private queued = 0;
  /** The last user to hold the switch, and whether the one before it was the same identity. */
  private lastUser: Identity | undefined;
  private lastRepeated = false;

  constructor(
    private readonly logger: Logger,
    private readonly calls: EuidCalls = PROCESS_EUID_CALLS,
    private readonly onBroken: (reason: string) => never = (reason) => {
      logger.fatal(reason);
      process.exit(1);
    },
  ) {}

  /** Runs `fn` as root, after every earlier holder has finished. */
  asRoot<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue('root', fn);
  }

  /** Runs `fn` with the user's euid/egid/groups (kept afterwards, until another identity holds the switch). */
  asUser<T>(who: Identity, fn: () => Promise<T>): Promise<T> {
    if (who.uid === 0 || who.gid === 0) return Promise.reject(new LoftError('LOFT_E_LMTP_PRIVSEP', `refusing uid ${who.uid} gid ${who.gid} in seteuid mode: root must not deliver`));
    return this.queue(who, fn);
  }

  /**
   * Called when the process falls idle: returns to root now, while nobody waits, if the last
   * two users to hold the switch were different identities (so the next is likely another
   * one too), rather than on the next delivery's path. A process whose deliveries are all
   * one identity's (a virtual-user setup) keeps it, and its deliveries make no call at all.
   *
   * Each set*id() call waits until every thread of the process has run (glibc's setxid
   * broadcast), which on a busy machine is a wait for the scheduler of ~2 ms. lmtp, seteuid,
   * 8 connections to 50 users of 50 uids: a delivery spent 6.3 ms of its ~28 ms in the three
   * calls of a change of user; one of them is made here instead.
   */
  relax(): void {
    if (this.holder !== undefined || this.queued > 0 || this.current === 'root' || this.lastRepeated) return;
    this.toRoot();
  }

  private queue<T>(who: Identity | 'root', fn: () => Promise<T>): Promise<T> {
    this.queued++;
    const run = this.tail.then(() => this.hold(who, fn));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async hold<T>(who: Identity | 'root', fn: () => Promise<T>): Promise<T> {
    this.queued--;
    if (this.holder !== undefined) this.onBroken('seteuid switch entered twice; stopping before a delivery runs with the wrong uid');
    this.holder = who;
    if (who !== 'root') {
      this.lastRepeated = this.lastUser !== undefined && this.lastUser.uid === who.uid && this.lastUser.gid === who.gid;
      this.lastUser = who;
    }
    // Each holder's tenure, for the log (a test checks that tenures never overlap).
    if (who !== 'root') this.logger.debug({ uid: who.uid, gid: who.gid, privsep: 'seteuid' }, `seteuid hold uid ${who.uid}`);
    try {
      if (who === 'root') {
        this.toRoot();
        this.restoreRootGroups();
      } else if (this.current === 'root' || this.current.uid !== who.uid || this.current.gid !== who.gid) {
        this.toRoot();
        this.enter(who);
      }
      return await fn();
    } finally {
      if (who !== 'root') this.logger.debug({ uid: who.uid, gid: who.gid, privsep: 'seteuid' }, `seteuid release uid ${who.uid}`);
      this.holder = undefined;
    }
  }

  /**
   * Each set*id() call is expensive (glibc stops every thread to apply it, and waits for each
   * to run), so as few are made as the identities allow. The supplementary groups are emptied
   * once, before the first user: a user then has its egid and no other group (its primary gid
   * is the egid, so nothing is lost), and root needs none. The egid changes only with the gid;
   * going back to root restores the euid only. With euid 0 the user's egid grants nothing root
   * does not have, and nothing touches a path between holders; `asRoot` restores egid 0 before
   * it runs anything. Between holders the last user's euid stays in effect: the process is then
   * less privileged than root, never more, and the next holder of another identity goes
   * through root first (toRoot).
   *
   * Measured (lmtp, seteuid, 8 connections, 50 users on one uid): 1,028 / 951 deliveries/s
   * returning to root after each, 1,140 / 1,216 keeping the euid; server CPU per delivery
   * 1.67 / 1.79 ms against 1.45 / 1.37. Each broadcast cost ~0.5 ms of a delivery's time there.
   */
  private enter(who: Identity): void {
    if (!this.groupsCleared) {
      this.groupsOf = undefined;
      this.calls.setgroups([]);
      this.groupsCleared = true;
    }
    if (this.groupsOf !== who.gid) {
      this.groupsOf = undefined;
      this.calls.setegid(who.gid);
      this.groupsOf = who.gid;
    }
    this.calls.seteuid(who.uid);
    if (this.calls.geteuid() !== who.uid) this.onBroken(`seteuid(${who.uid}) did not take effect`);
    this.current = who;
  }

  private toRoot(): void {
    if (this.current === 'root') return;
    const was = this.current;
    try {
      this.calls.seteuid(0);
    } catch (err) {
      this.onBroken(`cannot return to root after delivering as uid ${was.uid}: ${String(err)}`);
    }
    if (this.calls.geteuid() !== 0) this.onBroken(`seteuid(0) after uid ${was.uid} did not take effect`);
    this.current = 'root';
  }

  private restoreRootGroups(): void {
    if (this.groupsOf === 'root') return;
    try {
      this.groupsOf = undefined;
      this.calls.setegid(0);
      this.groupsOf = 'root';
    } catch (err) {
      this.onBroken(`cannot restore root's egid: ${String(err)}`);
    }
  }
}
