/**
 * Worker thread of the crypt pool: computes SHA-crypt and yescrypt hashes so that thousands
 * of SHA-512 rounds, or yescrypt's 16 MiB of mixing, run beside the event loop instead of on it.
 */
import { parentPort } from 'node:worker_threads';
import { shaCrypt } from './sha-crypt.js';
import { yescrypt } from './yescrypt.js';
import type { CryptJob, CryptReply } from './crypt-pool.js';

function compute(job: CryptJob): string {
  switch (job.kind) {
    case 'sha-crypt':
      return shaCrypt(job.password, job.setting);
    case 'yescrypt':
      return yescrypt(job.password, job.setting);
  }
}

parentPort?.on('message', (job: CryptJob) => {
  let reply: CryptReply;
  try {
    reply = { id: job.id, result: compute(job) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
