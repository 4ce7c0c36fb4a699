/**
 * One MailUser per user in this imap process, shared by that user's sessions.
 *
 * Clients open several connections per account (Thunderbird up to five, Apple Mail and
 * mbsync more than one), and a virtual-user setup puts every account on one uid, so one
 * process serves many sessions of each user. A MailUser holds what does not belong to a
 * session: the mailbox list as last read, its STATUS counters, the subscriptions, each
 * mailbox's paths, the list lock. Made per session, those cost ~2.5 KiB a session and a
 * few system calls a login (the storage's directories checked, the list read); shared,
 * the second session of a user costs neither.
 *
 * A session's views are its own (sequence numbers are per session): it opens them with its
 * own logger and closes them itself, so MailUser.close() at the last release finds none
 * but a session's that failed to close. Sessions whose storage settings differ (another
 * userdb answer, a reload between logins) get their own MailUser.
 */
import { LazyChildLogger, type Logger } from '@loft/log';
import { MailUser, type StorageSettings } from '@loft/storage';

export interface MailUserLease {
  readonly user: MailUser;
  /** Ends this session's use; the last release closes the MailUser. */
  release(): Promise<void>;
}

/** A MailUser and its sessions; `key` is kept here once, not in every lease. */
interface Shared {
  readonly key: string;
  readonly opening: Promise<MailUser>;
  leases: number;
}

const shared = new Map<string, Shared>();

class Lease implements MailUserLease {
  private released = false;

  constructor(
    private readonly entry: Shared,
    readonly user: MailUser,
  ) {}

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const { entry } = this;
    if (--entry.leases > 0) return;
    // Gone from the map before closing: a login meanwhile opens a new one.
    if (shared.get(entry.key) === entry) shared.delete(entry.key);
    await this.user.close();
  }
}

/** The MailUser of `user` with these storage settings, opened by the first session that asks. */
export async function leaseMailUser(user: string, home: string, settings: Partial<StorageSettings>, logger: Logger): Promise<MailUserLease> {
  const key = JSON.stringify([user, home, settings]);
  let entry = shared.get(key);
  if (!entry) {
    const made: Shared = { key, opening: MailUser.open({ user, home, settings, logger: new LazyChildLogger(logger, { user }), shareSnapshots: true }), leases: 0 };
    entry = made;
    shared.set(key, made);
    // A failed open is not kept: the next login tries again.
    made.opening.catch(() => {
      if (shared.get(key) === made) shared.delete(key);
    });
  }
  entry.leases++;
  try {
    return new Lease(entry, await entry.opening);
  } catch (err) {
    entry.leases--;
    throw err;
  }
}
