/**
 * Helpers for this package's tests: temporary mail homes and child processes that are
 * always cleaned up, and deterministic test messages.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { MailUser } from './mail-user.js';
import type { StorageSettings } from './settings.js';
import type { StorageTuning } from './mailbox.js';

export const CHILD_SCRIPT = fileURLToPath(new URL('./storage-test-child.js', import.meta.url));

export async function makeHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'loft-storage-'));
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

/** Small thresholds that make checkpoints and log rotation happen every few changes. */
/**
 * A temp home and an open MailUser for one describe block: made before its tests, closed
 * and removed after them (even when a test fails). `bind` hands them to the block.
 */
export function useTestUser(bind: (home: string, user: MailUser) => void, settings: Partial<StorageSettings> = {}, tuning?: StorageTuning): void {
  let home = '';
  let user: MailUser | undefined;
  before(async () => {
    home = await makeHome();
    user = await openUser(home, settings, tuning);
    bind(home, user);
  });
  after(async () => {
    await user?.close();
    if (home) await removeHome(home);
  });
}

export const TINY_TUNING: StorageTuning = { checkpointMinLogBytes: 512, logRotateBytes: 2048, cacheCompactMinBytes: 1024 };

export function openUser(home: string, settings: Partial<StorageSettings> = {}, tuning?: StorageTuning): Promise<MailUser> {
  return MailUser.open({ user: 'test', home, settings: { mail_location: 'sdbox:~/mail', mail_fsync: 'never', ...settings }, ...(tuning ? { tuning } : {}) });
}

/** A small RFC 5322 message whose content identifies it. */
export function testMessage(tag: string, bodyBytes = 64): Buffer {
  const body = `body of ${tag} `.repeat(Math.ceil(bodyBytes / (9 + tag.length))).slice(0, bodyBytes);
  return Buffer.from(`From: a@example.org\r\nTo: b@example.org\r\nSubject: ${tag}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${tag}@example.org>\r\n\r\n${body}\r\n`);
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the next stdout line that satisfies `match`. */
  waitFor(match: (line: string) => boolean): Promise<string>;
  lines: string[];
}

/** UID -> tag of every "ACK <uid> <tag>" the children printed; a UID acknowledged twice fails. */
export function ackedSaves(children: readonly Child[]): Map<number, string> {
  const acked = new Map<number, string>();
  for (const line of children.flatMap((c) => c.lines)) {
    if (!line.startsWith('ACK ')) continue;
    const [, uid, tag] = line.split(' ');
    assert.ok(!acked.has(Number(uid)), `UID ${uid} given twice`);
    acked.set(Number(uid), tag!);
  }
  return acked;
}

/** Starts storage-test-child.js; `children` collects it for the after hook. */
export function startChild(args: string[], children: Set<ChildProcess>, env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [CHILD_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const lines: string[] = [];
  const waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  return {
    process: proc,
    lines,
    waitFor: (match) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        proc.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before the expected line`)));
      });
    },
  };
}

export function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

export async function killAll(children: Set<ChildProcess>): Promise<void> {
  for (const proc of children) {
    proc.kill('SIGKILL');
    await exited(proc);
  }
}
