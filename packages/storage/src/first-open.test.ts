/**
 * A fresh user opened by several processes at once (the first logins of a new account:
 * concurrent IMAP sessions of one uid land in different imap processes): one of them
 * creates INBOX, the others see it complete. Nothing is logged (no half-made mailbox
 * directory left out of a list rebuild, no index "that cannot be trusted" rebuilt), there
 * is exactly one INBOX with one GUID, and every process saw that one.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { exited, killAll, makeHome, openUser, removeHome } from './storage-test-support.js';

const CHILD = fileURLToPath(new URL('./first-open-child.js', import.meta.url));
const PROCESSES = 8;
const ROUNDS = 8;
const ROUND_TIMEOUT_MS = 60_000;

interface Seen {
  inbox: string;
  uidValidity: number;
  list: string[];
}

/** A child that runs one round per line "GO i"; `lines[i]` collects what it printed for round i. */
function startOpener(homes: string[], children: Set<ChildProcess>) {
  const proc = spawn(process.execPath, [CHILD, ...homes], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const logs: string[] = [];
  const seen = new Map<number, Seen>();
  const errors: string[] = [];
  const waiters = new Map<string, () => void>();
  const fired = new Set<string>();
  const signal = (key: string): void => {
    fired.add(key);
    waiters.get(key)?.();
  };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (line === 'READY') return signal('READY');
    if (line.startsWith('LOG ')) return void logs.push(line.slice(4));
    if (line.startsWith('ERROR ')) return void errors.push(line);
    const s = /^SEEN (\d+) (.*)$/.exec(line);
    if (s) return void seen.set(Number(s[1]), JSON.parse(s[2]!) as Seen);
    const d = /^DONE (\d+)$/.exec(line);
    if (d) signal(`DONE ${d[1]}`);
  });
  let exitCode: number | null | undefined;
  proc.on('exit', (code) => {
    exitCode = code;
    for (const wake of waiters.values()) wake();
  });
  const until = (key: string): Promise<void> => {
    if (fired.has(key)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child ${proc.pid}: no ${key} within ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS);
      waiters.set(key, () => {
        clearTimeout(timer);
        waiters.delete(key);
        if (fired.has(key)) resolve();
        else reject(new Error(`child ${proc.pid} exited (${exitCode}) before ${key}`));
      });
    });
  };
  return { proc, logs, seen, errors, until, go: (i: number) => proc.stdin!.write(`GO ${i}\n`) };
}

for (const driver of ['sdbox', 'mdbox'] as const) {
  describe(`${driver}: a fresh user opened by ${PROCESSES} processes at once`, () => {
    const children = new Set<ChildProcess>();
    const homes: string[] = [];
    after(async () => {
      await killAll(children);
      for (const home of homes) await removeHome(home);
    });

    it('gets exactly one INBOX, created once, seen by all, with nothing logged', async () => {
      for (let i = 0; i < ROUNDS; i++) homes.push(await makeHome());
      const env = driver === 'mdbox' ? { ...process.env, LOFT_STORAGE_TEST_MDBOX: '1' } : process.env;
      const openers = Array.from({ length: PROCESSES }, () => {
        const saved = process.env;
        process.env = env;
        try {
          return startOpener(homes, children);
        } finally {
          process.env = saved;
        }
      });
      await Promise.all(openers.map((o) => o.until('READY')));
      for (let i = 0; i < ROUNDS; i++) {
        // All at once: the start of each round is one write to each child's stdin.
        for (const o of openers) o.go(i);
        await Promise.all(openers.map((o) => o.until(`DONE ${i}`)));
      }
      await Promise.all(openers.map((o) => exited(o.proc)));

      assert.deepEqual(openers.flatMap((o) => o.errors), [], 'no process failed');
      const logged = openers.flatMap((o) => o.logs);
      assert.deepEqual(logged, [], 'storage logged nothing (no warning, no rebuild)');
      for (let i = 0; i < ROUNDS; i++) {
        const views = openers.map((o) => o.seen.get(i));
        assert.ok(views.every((v) => v !== undefined), `round ${i}: every process reported`);
        const guids = new Set(views.map((v) => v!.inbox));
        assert.equal(guids.size, 1, `round ${i}: every process opened the same INBOX (${[...guids].join(', ')})`);
        const [guid] = guids;
        assert.equal(new Set(views.map((v) => v!.uidValidity)).size, 1, `round ${i}: one UIDVALIDITY`);
        for (const v of views) assert.deepEqual(v!.list, [`INBOX=${guid}`], `round ${i}: the list has one INBOX`);
        const root = join(homes[i]!, driver === 'mdbox' ? 'mdbox' : 'mail');
        assert.deepEqual(await readdir(join(root, 'mailboxes')), [guid], `round ${i}: one mailbox directory, no leftovers`);
        const user = await openUser(homes[i]!, driver === 'mdbox' ? { mail_location: 'mdbox:~/mdbox' } : {});
        try {
          assert.deepEqual((await user.listMailboxes('', '*')).map((m) => `${m.name}=${m.guid}`), [`INBOX=${guid}`]);
        } finally {
          await user.close();
        }
      }
    });
  });
}
