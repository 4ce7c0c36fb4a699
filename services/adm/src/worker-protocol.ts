/**
 * What the adm service and its per-command worker say over the fork IPC channel
 * (serialization 'advanced', so message bytes travel as Uint8Array). The service writes
 * WORKER_ENV and sends one WorkerJob; the worker answers with chunks, then done or failed.
 * The service acks each chunk once loftadm's connection took it, and a worker keeps at most
 * WORKER_WINDOW_CHUNKS unacknowledged, so a slow loftadm slows the worker rather than
 * filling the root process's memory. The worker runs as the user: the service checks the
 * shape of everything it sends (isWorkerReply) before relaying it.
 */
import type { AdmChunk, AdmCommand } from '@loft/master-protocol';
import type { StorageSettings } from '@loft/storage';

/** Environment the service sets for a worker; read before anything else happens. */
export const WORKER_ENV = {
  /** The uid and gid the worker drops to first thing (written by the service). */
  UID: 'LOFT_ADM_WORKER_UID',
  GID: 'LOFT_ADM_WORKER_GID',
} as const;

export interface WorkerJob {
  type: 'run';
  user: string;
  home: string;
  /** Storage settings: the global ones, with the userdb's `mail` as mail_location when set. */
  settings: Partial<StorageSettings>;
  command: AdmCommand;
}

/** The service's acknowledgement that it passed one chunk on: the worker may send another. */
export interface WorkerAck {
  type: 'ack';
}

/** Chunks a worker may send before the service has passed them on (backpressure end to end). */
export const WORKER_WINDOW_CHUNKS = 32;

export type WorkerReply =
  | { type: 'chunk'; chunk: AdmChunk }
  | { type: 'done' }
  /** code: a LOFT_E_… code when the error had one. */
  | { type: 'failed'; code?: string; message: string };

function isChunk(value: unknown): value is AdmChunk {
  const c = value as Partial<Record<string, unknown>> | null;
  if (typeof c !== 'object' || c === null) return false;
  const cell = (v: unknown): boolean => typeof v === 'string' || v instanceof Uint8Array;
  switch (c.kind) {
    case 'header': return Array.isArray(c.columns) && c.columns.every((v) => typeof v === 'string');
    case 'row': return Array.isArray(c.values) && c.values.every(cell);
    case 'append': return Number.isInteger(c.column) && (c.column as number) >= 0 && c.data instanceof Uint8Array;
    default: return false;
  }
}

/** A worker's message, checked: it runs as the user, and the service is root. */
export function isWorkerReply(value: unknown): value is WorkerReply {
  const m = value as Partial<Record<string, unknown>> | null;
  if (typeof m !== 'object' || m === null) return false;
  if (m.type === 'done') return true;
  if (m.type === 'failed') return typeof m.message === 'string' && (m.code === undefined || typeof m.code === 'string');
  return m.type === 'chunk' && isChunk(m.chunk);
}
