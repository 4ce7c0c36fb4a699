/**
 * A delivery child (fork privsep): started as root by the lmtp process, it drops to one
 * user's uid/gid for good before it reads anything, then delivers messages for that uid
 * until the parent disconnects it (lmtp_privsep_linger) or goes away.
 */
import { createLogger } from '@loft/log';
import { dropPrivileges } from '@loft/service-runtime';
import { isParentMessage, type ChildToParent } from './child-protocol.js';
import { deliverMessage } from './delivery.js';

const [uidText = '', gidText = '', userName = ''] = process.argv.slice(2);
const uid = Number(uidText);
const gid = Number(gidText);
const logger = createLogger({ service: 'lmtp', level: 'info' }).child({ privsep: 'fork', uid });

if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid <= 0 || gid <= 0) {
  logger.fatal({ uid: uidText, gid: gidText }, 'delivery child needs a non-root uid and gid');
  process.exit(1);
}
try {
  dropPrivileges({ uid, gid, ...(userName ? { user: userName } : {}) });
} catch (err) {
  logger.fatal({ err, uid, gid }, `delivery child cannot drop privileges to uid ${uid}`);
  process.exit(1);
}

/** Per delivery: resolvers waiting for the next chunk from the parent. */
const waiting = new Map<number, { resolve: (data: Uint8Array) => void; reject: (err: Error) => void }>();

function send(message: ChildToParent): void {
  process.send?.(message);
}

function nextChunk(id: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    send({ type: 'read', id });
  });
}

async function* pull(id: number): AsyncIterable<Uint8Array> {
  for (;;) {
    const data = await nextChunk(id);
    if (data.length === 0) return;
    yield data;
  }
}

process.on('message', (message: unknown) => {
  if (!isParentMessage(message)) return;
  if (message.type === 'chunk' || message.type === 'abort') {
    const waiter = waiting.get(message.id);
    waiting.delete(message.id);
    // An abort makes storage's save fail before it commits: nothing partial becomes visible.
    if (message.type === 'abort') waiter?.reject(new Error(`message source failed: ${message.reason}`));
    else waiter?.resolve(message.data);
    return;
  }
  void deliverMessage(message.request, () => pull(message.id), logger.child({ user: message.request.user }))
    .then((outcome) => send({ type: 'result', id: message.id, outcome }));
});
// The parent ended the linger, or died: nothing left to deliver for.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
