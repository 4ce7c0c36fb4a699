/**
 * What the lmtp process and its delivery children say to each other over their
 * child_process channel (serialization 'advanced', so Buffers cross as bytes). These
 * processes are all lmtp's own; nothing outside services/lmtp sees these messages.
 *
 * A child starts as root, loads its code and says `ready`; it is then a spare. In fork
 * privsep the parent `assign`s it a uid/gid, it drops to them for good and says `assigned`;
 * in seteuid privsep it stays root and switches its effective uid around each delivery.
 *
 * A `deliver` carries the first bytes of the message (all of it, for a typical message); when
 * it does not, the child pulls the rest: it sends `read` when storage wants more bytes and
 * the parent answers with the next `chunk`, so a large message never sits in the channel or
 * in memory.
 */
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';

/** How a delivery child gets the user's identity. */
export type ChildMode = 'fork' | 'seteuid';

/** argv of a delivery child: its mode, log level and how long it keeps an idle user open (ms). */
export type ChildArgv = [mode: ChildMode, logLevel: string, keepOpenMs: string];

export type ParentToChild =
  /** fork: drop to this identity for good (`user`: system name for initgroups, '' if none). */
  | { type: 'assign'; uid: number; gid: number; user: string }
  /** Deliver a message; `body` holds its first bytes, `complete` when that is all of it. */
  | { type: 'deliver'; id: number; request: DeliveryRequest; body: Uint8Array; complete: boolean }
  /** The next bytes of delivery `id`; empty at the end of the message. */
  | { type: 'chunk'; id: number; data: Uint8Array }
  /** The message cannot be read: fail delivery `id` without saving anything. */
  | { type: 'abort'; id: number; reason: string }
  /** Close the users kept open and exit (a child whose parent just goes away exits at once). */
  | { type: 'stop' };

export type ChildToParent =
  /** Code loaded; a spare, still root, waiting for `assign` (fork) or `deliver` (seteuid). */
  | { type: 'ready' }
  /** fork: privileges are dropped for good; deliveries may come. */
  | { type: 'assigned' }
  /** Wants the next bytes of delivery `id`. */
  | { type: 'read'; id: number }
  /** Delivery `id` finished (ok only after storage's save returned). */
  | { type: 'result'; id: number; outcome: DeliveryOutcome };

export function isChildMessage(value: unknown): value is ChildToParent {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function isParentMessage(value: unknown): value is ParentToChild {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
