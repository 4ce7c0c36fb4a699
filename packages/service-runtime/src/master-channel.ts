/**
 * The child's side of the child_process IPC channel to the master: typed sends, requests
 * from the master answered by the service, and detection of a dead master.
 */
import type { ChildToMaster, MasterToChild } from '@loft/master-protocol';

export type RequestHandler = (method: string, params: unknown) => Promise<unknown> | unknown;

export function sendToMaster(message: ChildToMaster): void {
  if (!process.connected || !process.send) return;
  process.send(message, undefined, {}, (err) => {
    // A send that fails means the master is gone; the 'disconnect' handler exits.
    if (err) process.exitCode = process.exitCode ?? 0;
  });
}

export async function answerMasterRequest(
  message: Extract<MasterToChild, { type: 'request' }>,
  handler: RequestHandler | undefined,
): Promise<void> {
  if (!handler) {
    sendToMaster({ type: 'reply', id: message.id, error: `service does not handle ${message.method}` });
    return;
  }
  try {
    const result = await handler(message.method, message.params);
    sendToMaster({ type: 'reply', id: message.id, result: result ?? null });
  } catch (err) {
    sendToMaster({ type: 'reply', id: message.id, error: err instanceof Error ? err.message : String(err) });
  }
}

export function isMasterMessage(value: unknown): value is MasterToChild {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
