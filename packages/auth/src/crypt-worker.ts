/**
 * Worker thread of the crypt pool: computes SHA-crypt hashes so that thousands of SHA-512
 * rounds run beside the event loop instead of on it.
 */
import { parentPort } from 'node:worker_threads';
import { shaCrypt } from './sha-crypt.js';
import type { CryptJob, CryptReply } from './crypt-pool.js';

parentPort?.on('message', (job: CryptJob) => {
  let reply: CryptReply;
  try {
    reply = { id: job.id, result: shaCrypt(job.password, job.setting) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
