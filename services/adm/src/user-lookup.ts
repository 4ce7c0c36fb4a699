/**
 * Who a mail command runs as: userdb's answer over run/auth-userdb.sock (root only), checked
 * against first_valid_uid/last_valid_uid as the master checks logins, so loftadm cannot be
 * used to touch mail as root or as a system account.
 */
import path from 'node:path';
import { LoftError } from '@loft/errors';
import { IpcClient } from '@loft/ipc';
import { RUN_FILES, type AuthUserdbProtocol } from '@loft/master-protocol';

const USERDB_TIMEOUT_MS = 30_000;

export interface MailIdentity {
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** userdb's mail_location override, if it has one. */
  mail?: string;
  /** userdb's quota_rule, if it has one. */
  quotaRule?: string;
}

export interface UidRange {
  first_valid_uid: number;
  /** 0 = no upper bound. */
  last_valid_uid: number;
}

export async function lookupMailUser(baseDir: string, user: string, range: UidRange): Promise<MailIdentity> {
  const socket = path.join(baseDir, 'run', RUN_FILES.AUTH_USERDB_SOCKET);
  const client = await IpcClient.connect<AuthUserdbProtocol>(socket, { timeoutMs: USERDB_TIMEOUT_MS });
  let reply;
  try {
    reply = await client.request('user-lookup', { user, service: 'adm' });
  } finally {
    client.close();
  }
  if (reply.result !== 'ok') {
    const why = reply.result === 'unknown_user' ? 'no such user in userdb' : `userdb lookup failed temporarily${reply.reason ? `: ${reply.reason}` : ''}`;
    throw new LoftError('LOFT_E_ADM_USER', `${user}: ${why}`);
  }
  const { uid, gid } = reply;
  if (uid === 0 || gid === 0) throw new LoftError('LOFT_E_ADM_USER', `${user}: userdb gives uid ${uid} gid ${gid}; mail is never accessed as root`);
  if (uid < range.first_valid_uid || (range.last_valid_uid !== 0 && uid > range.last_valid_uid)) {
    throw new LoftError('LOFT_E_ADM_USER', `${user}: uid ${uid} is outside first_valid_uid (${range.first_valid_uid}) .. last_valid_uid (${range.last_valid_uid})`);
  }
  const own = process.getuid!();
  if (own !== 0 && own !== uid) throw new LoftError('LOFT_E_ADM_USER', `${user}: loftd runs without root (uid ${own}), so it can only reach mail of uid ${own}, not ${uid}`);
  if (!path.isAbsolute(reply.home)) throw new LoftError('LOFT_E_ADM_USER', `${user}: userdb home '${reply.home}' is not an absolute path`);
  return { user: reply.user, uid, gid, home: reply.home, ...(reply.mail ? { mail: reply.mail } : {}), ...(reply.extra.quota_rule !== undefined ? { quotaRule: reply.extra.quota_rule } : {}) };
}
