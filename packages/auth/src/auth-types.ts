/** The contract between the auth service and the passdb/userdb drivers of this package. */

export interface AuthRequest {
  /** The user name the client gave (after auth_username_format), as `%u`. */
  user: string;
  /** Protocol asking: imap, lmtp, doveadm… (`%s`). */
  service: string;
  /** Client address (`%r`). */
  remoteIp?: string;
  /** Our address the client connected to (`%l`). */
  localIp?: string;
  /** Our port the client connected to (`%a`). */
  localPort?: number;
  /** The connection is TLS or local (`%c` is `secured`). */
  secured?: boolean;
}

/** Fields beside the verdict: proxy, host, port, ssl, destuser, nologin, allow_nets… A field written without `=value` is ''. */
export type ExtraFields = Readonly<Record<string, string>>;

export type PassdbResult =
  | { result: 'ok'; user: string; extra: ExtraFields }
  | { result: 'mismatch' | 'unknown_user'; user: string }
  /** The backend could not answer (DB down, file unreadable, broken entry): the client gets a temporary failure, never "wrong password". `reason` is for the log and holds no secret. */
  | { result: 'tempfail'; user: string; reason: string };

export type UserdbResult =
  | {
      result: 'ok';
      user: string;
      /** Numeric ids, names already resolved. */
      uid: number;
      gid: number;
      /** Home directory; '' when the userdb gives none. */
      home: string;
      /** mail_location override (`mail=`), when given. */
      mail?: string;
      extra: ExtraFields;
    }
  | { result: 'unknown_user'; user: string }
  | { result: 'tempfail'; user: string; reason: string };

export interface Passdb {
  verifyPlain(request: AuthRequest, password: string): Promise<PassdbResult>;
  close(): Promise<void>;
}

export interface Userdb {
  lookup(request: AuthRequest): Promise<UserdbResult>;
  /** Every user name, for `loftadm -A`; absent when the driver cannot list (e.g. a passwd-file per domain). */
  iterate?(): AsyncIterable<string>;
  close(): Promise<void>;
}

/** What the drivers need besides their settings. */
export interface DriverOptions {
  /** Problems an admin should fix (a bad passwd-file line, a failing query); never holds a password. Default: process.emitWarning. */
  warn?: (message: string) => void;
  /** Clock in ms for the passwd-file re-check interval (tests). Default: Date.now. */
  now?: () => number;
  /** uid/gid names → numbers. Default: `getent passwd` / `getent group`. */
  resolveIds?: IdResolver;
  /** first_valid_uid / last_valid_uid, for userdbs that list system accounts. Default: 500 and 0. */
  uids?: UidRange;
}

/** The uid range whose accounts are mail users (first_valid_uid / last_valid_uid); last 0 = no upper bound. */
export interface UidRange {
  first: number;
  last: number;
}

export interface IdResolver {
  uid(nameOrNumber: string): Promise<number>;
  gid(nameOrNumber: string): Promise<number>;
}
