/**
 * A per-command worker of the adm service. Forked as root; drops to the uid/gid the service
 * wrote into its environment before it reads its job, so every file of the user's mail is
 * opened with the user's own rights. Runs one command, streams its output, exits.
 */
import { dropPrivileges } from '@loft/service-runtime';
import { createLogger, isLogLevel } from '@loft/log';
import { ENV, type AdmChunk } from '@loft/master-protocol';
import { WORKER_ENV, WORKER_WINDOW_CHUNKS, type WorkerAck, type WorkerJob, type WorkerReply } from './worker-protocol.js';
import { runMailCommand } from './mail-commands.js';

const uid = Number(process.env[WORKER_ENV.UID]);
const gid = Number(process.env[WORKER_ENV.GID]);
if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid <= 0 || gid <= 0) {
  process.stderr.write(`adm worker: ${WORKER_ENV.UID}/${WORKER_ENV.GID} must name a non-root uid and gid\n`);
  process.exit(1);
}
// Rootless loftd: the service may only have sent its own uid (checked there); nothing to drop.
if (process.getuid!() === 0 || process.getuid!() !== uid) dropPrivileges({ uid, gid });

const level = process.env[ENV.LOG_LEVEL];
const logger = createLogger({ service: 'adm', level: isLogLevel(level) ? level : 'info' }).child({ worker: true });
process.title = 'loft/adm [worker]';

function send(reply: WorkerReply): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(reply, undefined, undefined, (err) => (err ? reject(err) : resolve()));
  });
}

/** Chunks sent and not yet acknowledged by the service; at WORKER_WINDOW_CHUNKS the worker waits. */
let unacked = 0;
let acked: (() => void) | undefined;

async function sendChunk(chunk: AdmChunk): Promise<void> {
  while (unacked >= WORKER_WINDOW_CHUNKS) {
    await new Promise<void>((resolve) => {
      acked = resolve;
    });
  }
  unacked++;
  await send({ type: 'chunk', chunk });
}

async function run(job: WorkerJob): Promise<void> {
  let reply: WorkerReply = { type: 'done' };
  try {
    await runMailCommand(job, sendChunk, logger.child({ user: job.user }));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    reply = { type: 'failed', message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
    // A coded error is the command's answer (no such mailbox, bad query); anything else is worth a look.
    if (typeof code === 'string' && code.startsWith('LOFT_E_')) logger.debug({ err, cmd: job.command.cmd }, 'mail command failed');
    else logger.error({ err, user: job.user, cmd: job.command.cmd }, `loftadm ${job.command.cmd} for ${job.user} failed: ${reply.message}`);
  }
  await send(reply).catch(() => undefined);
  process.disconnect();
}

let started = false;
process.on('message', (message: WorkerJob | WorkerAck) => {
  if (message.type === 'ack') {
    unacked--;
    const wake = acked;
    acked = undefined;
    wake?.();
  } else if (message.type === 'run' && !started) {
    started = true;
    void run(message);
  }
});
process.on('disconnect', () => process.exit(0));
