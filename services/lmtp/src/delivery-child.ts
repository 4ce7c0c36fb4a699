/**
 * A delivery child, started as root by the lmtp process. It loads its code, says `ready`
 * and waits, a spare, before anything about a message reaches it:
 * - fork privsep: `assign` names one user's uid/gid; the child drops to them for good
 *   (setgroups/initgroups, setgid, setuid, and checks that root cannot be regained) and then
 *   delivers messages for that uid only, several at a time, until the parent disconnects it
 *   (lmtp_privsep_linger) or goes away.
 * - seteuid privsep: the child stays root and delivers any user's messages, one at a time,
 *   each with that user's effective uid/gid (euid-switch.ts); it is one of the parent's pool
 *   of such processes, as Dovecot runs one lmtp process per connection.
 */
import { createLogger, isLogLevel } from '@loft/log';
import { isParentMessage, type ChildMode, type ChildToParent, type ParentToChild } from './child-protocol.js';
import { deliverMessage, type BodySource, type DeliveryOutcome, type DeliveryRequest } from './delivery.js';
import { EuidSwitch } from './euid-switch.js';
import { dropPrivileges } from '@loft/service-runtime/privileges';
import { OpenMailUsers } from './open-mail-users.js';
import { setBlockingIo } from '@loft/storage';

const [modeText = '', levelText = 'info', keepOpenText = ''] = process.argv.slice(2);
const mode = modeText as ChildMode;
// The log service files these lines under the lmtp process's pid (they come through its
// stderr); `child` tells the delivery processes apart.
const baseLogger = createLogger({ service: 'lmtp', level: isLogLevel(levelText) ? levelText : 'info' }).child({ privsep: mode, child: process.pid });
let logger = baseLogger;

if (mode !== 'fork' && mode !== 'seteuid') {
  logger.fatal({ mode: modeText }, 'delivery child needs a privsep mode');
  process.exit(1);
}
/** lmtp_privsep_linger, from the parent. */
const keepOpenMs = Number(keepOpenText);
if (keepOpenText === '' || !Number.isSafeInteger(keepOpenMs) || keepOpenMs < 0) {
  logger.fatal({ keepOpen: keepOpenText }, 'delivery child needs the time to keep idle users open, in ms');
  process.exit(1);
}

/** fork: the identity this child dropped to; undefined while it is a spare. */
let identity: { uid: number; gid: number } | undefined;
const euid = mode === 'seteuid' ? new EuidSwitch(logger) : undefined;
/** Deliveries running now (seteuid: queued on the switch, one runs at a time). */
let inFlight = 0;
/**
 * With one delivery at a time (seteuid always; fork while it has one), its file creation and
 * fsyncs block nothing else, and made directly they save the thread-pool round trips (see
 * @loft/storage setBlockingIo). A second delivery of a fork child brings the pool back.
 */
function deliveriesChanged(): void {
  setBlockingIo(mode === 'seteuid' || inFlight <= 1);
}
deliveriesChanged();
/** Users kept open between deliveries; a later close runs as the user (seteuid: takes the switch). */
const openUsers = new OpenMailUsers((who, fn) => (euid ? euid.asUser(who, fn) : fn()), logger, keepOpenMs);
/** How long a child told to `stop` may take to close the users it keeps open. */
const EXIT_GRACE_MS = 5_000;

/** Per delivery: resolvers waiting for the next chunk from the parent. */
const waiting = new Map<number, { resolve: (data: Uint8Array) => void; reject: (err: Error) => void }>();

function send(message: ChildToParent): void {
  // The lmtp process may be gone (loftd stopping while this child starts up): a failed send
  // must not be an unhandled 'error' that prints a stack trace; 'disconnect' ends this child.
  if (!process.connected || !process.send) return;
  process.send(message, undefined, {}, (err) => {
    if (err) logger.debug({ err }, 'delivery child: the lmtp process is gone');
  });
}

function nextChunk(id: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    send({ type: 'read', id });
  });
}

/** The message: the bytes that came with `deliver`, then (for a large one) pulled in chunks. */
function bodyOf(id: number, first: Uint8Array, complete: boolean): BodySource {
  const body: BodySource = async function* body() {
    if (first.length > 0) yield first;
    if (complete) return;
    for (;;) {
      const data = await nextChunk(id);
      if (data.length === 0) return;
      yield data;
    }
  };
  // Pulled bytes are not sent twice; a message that came whole can be read again.
  body.replayable = complete;
  return body;
}

function assign(message: Extract<ParentToChild, { type: 'assign' }>): void {
  const { uid, gid, user } = message;
  if (mode !== 'fork' || identity) {
    logger.fatal({ uid, gid }, 'delivery child assigned twice or in seteuid mode');
    process.exit(1);
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid <= 0 || gid <= 0) {
    logger.fatal({ uid, gid }, 'delivery child needs a non-root uid and gid');
    process.exit(1);
  }
  try {
    dropPrivileges({ uid, gid, ...(user ? { user } : {}) });
  } catch (err) {
    logger.fatal({ err, uid, gid }, `delivery child cannot drop privileges to uid ${uid}`);
    process.exit(1);
  }
  identity = { uid, gid };
  logger = baseLogger.child({ uid });
  send({ type: 'assigned' });
}

async function deliver(request: DeliveryRequest, body: BodySource): Promise<DeliveryOutcome> {
  const log = logger.child({ user: request.user });
  if (euid) {
    try {
      return await euid.asUser({ uid: request.uid, gid: request.gid }, () => deliverMessage(request, body, log, openUsers));
    } catch (err) {
      log.error({ err }, `delivery to ${request.user} refused`);
      return { ok: false, temporary: true, reason: 'privilege switch refused' };
    }
  }
  // fork: only ever the user this child became; anything else is the parent's bug.
  if (!identity || identity.uid !== request.uid || identity.gid !== request.gid) {
    log.error({ uid: request.uid, gid: request.gid }, `delivery for uid ${request.uid} sent to the child of uid ${identity?.uid ?? 'none'}; refused`);
    return { ok: false, temporary: true, reason: 'delivery sent to the wrong child' };
  }
  return deliverMessage(request, body, log, openUsers);
}

process.on('message', (message: unknown) => {
  if (!isParentMessage(message)) return;
  switch (message.type) {
    case 'chunk':
    case 'abort': {
      const waiter = waiting.get(message.id);
      waiting.delete(message.id);
      // An abort makes storage's save fail before it commits: nothing partial becomes visible.
      if (message.type === 'abort') waiter?.reject(new Error(`message source failed: ${message.reason}`));
      else waiter?.resolve(message.data);
      return;
    }
    case 'assign':
      assign(message);
      return;
    case 'stop':
      setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
      void openUsers.closeAll().finally(() => process.exit(0));
      return;
    case 'deliver':
      inFlight++;
      deliveriesChanged();
      void deliver(message.request, bodyOf(message.id, message.body, message.complete))
        .then((outcome) => send({ type: 'result', id: message.id, outcome }))
        .finally(() => {
          inFlight--;
          deliveriesChanged();
          // After the result has gone out: back to root while idle (see EuidSwitch.relax).
          if (euid && inFlight === 0) setImmediate(() => euid.relax());
        });
      return;
  }
});
// The parent died: nothing left to deliver for. Users kept open are left as a crash leaves
// them (storage is crash-safe; their STATUS cache is found stale and not used).
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
