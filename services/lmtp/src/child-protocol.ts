/**
 * What the lmtp process and its delivery children (fork privsep) say to each other over
 * their child_process channel (serialization 'advanced', so Buffers cross as bytes). These
 * processes are all lmtp's own; nothing outside services/lmtp sees these messages.
 *
 * The child pulls the message: it sends `read` when storage wants more bytes and the parent
 * answers with the next `chunk`, so a large message never sits in the channel or in memory.
 */
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';

/** argv of a delivery child: uid, gid, and the system user name for initgroups ('' if none). */
export type ChildArgv = [uid: string, gid: string, user: string];

export type ParentToChild =
  /** Deliver a message; its bytes come as `chunk` answers to the child's `read`s. */
  | { type: 'deliver'; id: number; request: DeliveryRequest }
  /** The next bytes of delivery `id`; empty at the end of the message. */
  | { type: 'chunk'; id: number; data: Uint8Array }
  /** The message cannot be read: fail delivery `id` without saving anything. */
  | { type: 'abort'; id: number; reason: string };

export type ChildToParent =
  /** Privileges are dropped for good; deliveries may come. */
  | { type: 'ready' }
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
