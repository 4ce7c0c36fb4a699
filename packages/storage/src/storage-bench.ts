/**
 * Measures sdbox storage on a temporary mail directory: single saves per second, a mailbox
 * of `messages` messages (filled in batches), its open time, FLAGS 1:* time, the bytes one
 * flag change writes, and index bytes per message. It prints nothing; the caller reports.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MailUser } from './mail-user.js';
import type { MailFsync } from './settings.js';

export interface StorageBenchOptions {
  /** Messages in the big mailbox (default 100,000). */
  messages?: number;
  /** Single saves timed one by one (default 2,000). */
  singleSaves?: number;
  /** mail_fsync for the run (default 'never': measures Loft, not the disk). */
  fsync?: MailFsync;
  /** Parent of the temporary mail directory (default the OS temp dir). */
  dir?: string;
}

export interface StorageBenchResult {
  messages: number;
  /** One save (APPEND/LMTP-style: file, lock, UID, log) at a time. */
  savesPerSecond: number;
  /** Saves committed 1,000 per transaction (MULTIAPPEND, COPY-like). */
  batchedSavesPerSecond: number;
  /** Opening the mailbox in a fresh MailUser: checkpoint + log tail. */
  openMs: number;
  /** Reading the flags of every message (FETCH 1:* FLAGS, without the network). */
  flagsAllMs: number;
  /** Log bytes written by one STORE of one flag on one message. */
  bytesPerFlagChange: number;
  /** loft.index size / messages, after a checkpoint. */
  indexBytesPerMessage: number;
}

const BATCH = 1000;
const FLAG_CHANGES = 200;

function message(i: number): Buffer {
  return Buffer.from(`From: bench@example.org\r\nTo: you@example.org\r\nSubject: bench ${i}\r\nMessage-ID: <${i}@bench>\r\n\r\n${'x'.repeat(200 + (i % 50) * 20)}\r\n`);
}

export async function runStorageBench(options: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const total = options.messages ?? 100_000;
  const single = Math.min(options.singleSaves ?? 2_000, total);
  const home = await mkdtemp(join(options.dir ?? tmpdir(), 'loft-storage-bench-'));
  const settings = { mail_location: 'sdbox:~/mail', mail_fsync: options.fsync ?? 'never' } as const;
  try {
    const user = await MailUser.open({ user: 'bench', home, settings });
    const box = await user.openMailbox('INBOX');
    let t0 = performance.now();
    for (let i = 0; i < single; i++) await box.save(message(i));
    const savesPerSecond = single / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let done = single; done < total; ) {
      const txn = box.transaction();
      const n = Math.min(BATCH, total - done);
      for (let i = 0; i < n; i++) await txn.save(message(done + i));
      await txn.commit();
      done += n;
    }
    const batchedSavesPerSecond = (total - single) / ((performance.now() - t0) / 1000);
    await box.refresh();
    const logPath = join(user.root, 'mailboxes', box.guid, 'loft.index.log');
    const logBefore = (await stat(logPath)).size;
    const uids = box.uids();
    for (let i = 0; i < FLAG_CHANGES; i++) await box.updateFlags([uids[(i * 7919) % uids.length]!], { op: 'add', flags: ['\\Seen'] });
    const bytesPerFlagChange = ((await stat(logPath)).size - logBefore) / FLAG_CHANGES;
    await box.forceResync(); // leaves a fresh checkpoint of all messages
    await user.close();
    const indexBytesPerMessage = (await stat(join(user.root, 'mailboxes', box.guid, 'loft.index'))).size / total;

    const reader = await MailUser.open({ user: 'bench', home, settings });
    t0 = performance.now();
    const opened = await reader.openMailbox('INBOX', { readOnly: true });
    const openMs = performance.now() - t0;
    t0 = performance.now();
    let seen = 0;
    for (const uid of opened.uids()) if (opened.flags(uid).has('\\Seen')) seen++;
    const flagsAllMs = performance.now() - t0;
    if (seen === 0) throw new Error('benchmark flag changes were not visible');
    await reader.close();
    return { messages: total, savesPerSecond, batchedSavesPerSecond, openMs, flagsAllMs, bytesPerFlagChange, indexBytesPerMessage };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
