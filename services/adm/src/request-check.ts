/**
 * The shape of a request from adm.sock, checked before anything is done for it. Only root
 * can connect, but a malformed request must still fail as a clear error, not deep inside
 * a worker. Field-level checks of each command live with the command in the worker.
 */
import { LoftError } from '@loft/errors';
import type { AdmCommand, AdmRequest } from '@loft/master-protocol';

const COMMANDS: ReadonlySet<AdmCommand['cmd']> = new Set<AdmCommand['cmd']>([
  'mailbox-list', 'mailbox-create', 'mailbox-delete', 'mailbox-rename', 'mailbox-status', 'mailbox-subscribe',
  'save', 'fetch', 'search', 'expunge', 'flags', 'index', 'force-resync', 'purge', 'import', 'quota-get',
]);

export function checkRequest(params: unknown): AdmRequest {
  const p = params as Partial<AdmRequest> | null;
  if (typeof p !== 'object' || p === null) throw new LoftError('LOFT_E_ADM_ARGS', 'request is not an object');
  if (typeof p.user !== 'string' || p.user === '' || p.user.length > 256) throw new LoftError('LOFT_E_ADM_ARGS', 'name a user with -u');
  const command = p.command as { cmd?: unknown } | undefined;
  if (typeof command !== 'object' || command === null || !COMMANDS.has(command.cmd as AdmCommand['cmd'])) {
    throw new LoftError('LOFT_E_ADM_ARGS', `unknown mail command ${JSON.stringify(command?.cmd)}`);
  }
  return { user: p.user, command: p.command as AdmCommand };
}
