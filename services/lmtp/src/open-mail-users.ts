/**
 * Mail users (and their target mailboxes) a delivery child keeps open between deliveries.
 * Opening a user and a mailbox and closing them again (which writes the mailbox list's STATUS
 * cache and may checkpoint the index) costs more than the save itself, and a child usually
 * gets the next message for the same user soon. An entry is closed once idle for `idleMs`
 * (lmtp_privsep_linger, as long as an idle child lives), when the child ends, or right after
 * any failed delivery, so that the next delivery starts from the files again.
 *
 * Mail comes in bursts. With entries closed after 10 s, a burst after a pause of 15 s ran at
 * about half the rate of a steady load for its first second (50 users on 8 seteuid children:
 * 250 against 480 deliveries/s, the children's CPU per delivery 3.7 against 2.2 ms), because
 * each delivery opened its user and mailbox again: 0.8 ms for the open, 0.4 more for the
 * first save (storage library, warm), on code that a steady load seldom runs.
 *
 * Nothing here changes what a delivery may touch: every open, save and close runs with the
 * user's identity (the fork child is the user; the seteuid child holds the user's euid, and
 * `closeAs` takes it again for a later close). Storage keeps a long-open mailbox in step
 * with other processes (it syncs the log under the lock before each save), as it does for
 * IMAP sessions; a stale STATUS cache is detected by the log's inode and size.
 */
import { isLoftError } from '@loft/errors';
import { MailUser, spaceErrorCode, type Mailbox, type StorageLogger } from '@loft/storage';
import type { DeliveryRequest } from './delivery.js';

/** Most entries one child keeps; the least recently used idle one is closed beyond. */
export const OPEN_USER_MAX_ENTRIES = 64;

export interface Identity {
  uid: number;
  gid: number;
}

/** A mailbox of the user, opened once and kept with the user. */
export type MailboxOpener = (name: string) => Promise<Mailbox>;

interface Entry {
  key: string;
  identity: Identity;
  opened: Promise<MailUser>;
  mailboxes: Map<string, Promise<Mailbox>>;
  busy: number;
  broken: boolean;
  idle: NodeJS.Timeout | undefined;
}

export class OpenMailUsers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    /** Runs a later close with the user's identity (seteuid: takes the euid switch). */
    private readonly closeAs: (identity: Identity, fn: () => Promise<void>) => Promise<void>,
    private readonly logger: StorageLogger,
    /** An unused entry is closed after this long (lmtp_privsep_linger). */
    private readonly idleMs: number,
  ) {}

  /**
   * Runs `fn` with the user of `request`, opened now or kept from an earlier delivery. Must
   * be called with the user's identity in effect. When `fn` throws, the entry is closed before
   * this returns and the next delivery opens the user afresh; with `retry`, a failure on a
   * kept entry (a mailbox renamed or deleted meanwhile, say) is tried once more right away on
   * a fresh one.
   */
  async with<T>(request: DeliveryRequest, logger: StorageLogger, fn: (user: MailUser, mailbox: MailboxOpener) => Promise<T>, retry = false): Promise<T> {
    const key = JSON.stringify([request.uid, request.gid, request.user, request.home, request.storage]);
    const kept = this.entries.get(key);
    try {
      return await this.run(kept ?? this.add(key, request, logger), fn);
    } catch (err) {
      // A full disk or quota stays full for the second try: the MTA gets its answer at once.
      if (!kept || !retry || spaceErrorCode(err) !== undefined || isLoftError(err, 'LOFT_E_QUOTA_EXCEEDED')) throw err;
      logger.warn({ err, user: request.user }, 'delivery with the mail user kept open failed; trying once more with it opened again');
      return this.run(this.entries.get(key) ?? this.add(key, request, logger), fn);
    }
  }

  private add(key: string, request: DeliveryRequest, logger: StorageLogger): Entry {
    const entry = this.open(key, request, logger);
    this.entries.set(key, entry);
    this.trim();
    return entry;
  }

  private async run<T>(entry: Entry, fn: (user: MailUser, mailbox: MailboxOpener) => Promise<T>): Promise<T> {
    // Most recently used last, for trim().
    if (this.entries.get(entry.key) === entry) {
      this.entries.delete(entry.key);
      this.entries.set(entry.key, entry);
    }
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.busy++;
    try {
      const user = await entry.opened;
      return await fn(user, (name) => this.mailbox(entry, name));
    } catch (err) {
      this.forget(entry);
      throw err;
    } finally {
      entry.busy--;
      if (entry.busy === 0) {
        // A broken entry is closed now, still with the user's identity; a good one waits.
        if (entry.broken) await this.close(entry);
        else this.scheduleIdle(entry);
      }
    }
  }

  private open(key: string, request: DeliveryRequest, logger: StorageLogger): Entry {
    const opened = MailUser.open({ user: request.user, home: request.home, settings: request.storage, logger });
    opened.catch(() => undefined);
    return { key, identity: { uid: request.uid, gid: request.gid }, opened, mailboxes: new Map(), busy: 0, broken: false, idle: undefined };
  }

  private mailbox(entry: Entry, name: string): Promise<Mailbox> {
    let box = entry.mailboxes.get(name);
    if (!box) {
      const opening = entry.opened.then((user) => user.openMailbox(name));
      entry.mailboxes.set(name, opening);
      // A name that does not open (yet) is not remembered: the next delivery asks again.
      opening.catch(() => {
        if (entry.mailboxes.get(name) === opening) entry.mailboxes.delete(name);
      });
      box = opening;
    }
    return box;
  }

  private forget(entry: Entry): void {
    entry.broken = true;
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  private scheduleIdle(entry: Entry): void {
    entry.idle = setTimeout(() => {
      entry.idle = undefined;
      if (entry.busy > 0 || this.entries.get(entry.key) !== entry) return;
      this.entries.delete(entry.key);
      void this.closeAs(entry.identity, () => this.close(entry));
    }, this.idleMs);
    entry.idle.unref();
  }

  /** Closes the least recently used idle entries beyond OPEN_USER_MAX_ENTRIES. */
  private trim(): void {
    for (const entry of this.entries.values()) {
      if (this.entries.size <= OPEN_USER_MAX_ENTRIES) return;
      if (entry.busy > 0) continue;
      if (entry.idle) clearTimeout(entry.idle);
      entry.idle = undefined;
      this.entries.delete(entry.key);
      void this.closeAs(entry.identity, () => this.close(entry));
    }
  }

  /** Closes the entry's mailboxes and user; never rejects. */
  private async close(entry: Entry): Promise<void> {
    const user = await entry.opened.catch(() => undefined);
    if (!user) return;
    try {
      await user.close();
    } catch (err) {
      this.logger.warn({ err, user: user.user }, 'closing the mail user failed');
    }
  }

  /** Closes every idle entry (the child is ending); busy ones close when their delivery ends. */
  async closeAll(): Promise<void> {
    const idle = [...this.entries.values()].filter((entry) => entry.busy === 0);
    for (const entry of idle) {
      if (entry.idle) clearTimeout(entry.idle);
      entry.idle = undefined;
      this.entries.delete(entry.key);
      await this.closeAs(entry.identity, () => this.close(entry));
    }
  }
}
