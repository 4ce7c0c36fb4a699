/**
 * Services are forked as root and drop to their user here, once their code is loaded and
 * their settings fetched. Forking straight as the service user (fork's uid option) would
 * need every service user to be able to read Loft's install, which a checkout under /root
 * does not allow; Dovecot's binaries live in world-readable /usr/lib and it never meets
 * this. Nothing from a client is read before the drop.
 *
 * This module imports nothing (subpath @loft/service-runtime/privileges), so a process that
 * must start fast - an lmtp delivery child, one per new uid - can drop without loading the
 * service runtime.
 */
export interface PrivilegeTarget {
  uid: number;
  gid: number;
  /** For supplementary groups; without it the process keeps no supplementary groups. */
  user?: string;
  /** Supplementary gids beside the user's own (a service's extra_groups). */
  extraGids?: number[];
}

/** @types/node omits initgroups, which Node has on POSIX. */
type PosixProcess = NodeJS.Process & { initgroups(user: string, extraGroup: number): void };

export function dropPrivileges(target: PrivilegeTarget): void {
  if (target.user) (process as PosixProcess).initgroups(target.user, target.gid);
  else process.setgroups!([target.gid]);
  if (target.extraGids?.length) process.setgroups!([...new Set([...process.getgroups!(), ...target.extraGids])]);
  process.setgid!(target.gid);
  process.setuid!(target.uid);
  // setuid as root changes real, effective and saved uid; check that regaining is impossible.
  if (process.getuid!() !== target.uid || process.geteuid!() !== target.uid || process.getgid!() !== target.gid || process.getegid!() !== target.gid) {
    throw new Error(`privilege drop to uid ${target.uid} gid ${target.gid} did not take effect`);
  }
  if (target.uid !== 0) {
    let regained = false;
    try {
      process.setuid!(0);
      regained = true;
    } catch {
      // expected: an unprivileged process cannot become root again
    }
    if (regained) throw new Error('privilege drop is reversible; refusing to run');
  }
}
