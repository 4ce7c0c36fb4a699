import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { link, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MailUser } from './mail-user.js';
import { LOCK_STALE_MS, MailboxLock, OWNERLESS_BREAK_MS } from './mailbox-lock.js';
import { SILENT_LOGGER } from './storage-logger.js';
import { exited, killAll, makeHome, openUser, removeHome, startChild, testMessage, ackedSaves } from './storage-test-support.js';

const SAVES_PER_CHILD = 120;
const NOTIFY_DEADLINE_MS = 1000;

describe('several processes of one user', () => {
  let home: string;
  let user: MailUser;
  const children = new Set<ChildProcess>();
  before(async () => {
    home = await makeHome();
    user = await openUser(home);
  });
  after(async () => {
    await killAll(children);
    await user?.close();
    await removeHome(home);
  });

  it('two processes saving at once get distinct UIDs and lose nothing', async () => {
    const a = startChild(['save-n', home, String(SAVES_PER_CHILD), 'a'], children);
    const b = startChild(['save-n', home, String(SAVES_PER_CHILD), 'b'], children);
    await Promise.all([a.waitFor((l) => l === 'DONE'), b.waitFor((l) => l === 'DONE')]);
    const acked = ackedSaves([a, b]);
    assert.equal(acked.size, 2 * SAVES_PER_CHILD);
    const inbox = await user.openMailbox('INBOX');
    assert.equal(inbox.messageCount, 2 * SAVES_PER_CHILD);
    for (const [uid, tag] of acked) assert.deepEqual(await inbox.openMessage(uid), testMessage(tag));
    await inbox.close();
  });

  it('two processes changing flags at once lose no flag, across log rotations', async () => {
    const rounds = 3;
    const tiny = { LOFT_STORAGE_TEST_TINY: '1' };
    const a = startChild(['flag-loop', home, String(rounds), 'ka'], children, tiny);
    const b = startChild(['flag-loop', home, String(rounds), 'kb'], children, tiny);
    await Promise.all([a.waitFor((l) => l === 'DONE'), b.waitFor((l) => l === 'DONE')]);
    const inbox = await user.openMailbox('INBOX', { readOnly: true });
    const modseqs = new Set<bigint>();
    for (const uid of inbox.uids()) {
      const flags = inbox.flags(uid);
      for (let r = 0; r < rounds; r++) {
        assert.ok(flags.has(`ka${r}`) && flags.has(`kb${r}`), `UID ${uid} lost a keyword: ${[...flags].join(' ')}`);
      }
      modseqs.add(inbox.modseq(uid));
    }
    assert.equal(modseqs.size, inbox.messageCount, 'each change got its own modseq');
    await inbox.close();
    const log = await stat(join(user.root, 'mailboxes', inbox.guid, 'loft.index.log'));
    assert.ok(log.size < 8192, `the log was rotated (${log.size} bytes)`);
  });

  it('tells another process of a change within a second', async () => {
    const watcher = startChild(['watch', home], children);
    await watcher.waitFor((l) => l === 'READY');
    const inbox = await user.openMailbox('INBOX');
    const started = Date.now();
    await inbox.save(testMessage('notify'));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no notification within ${NOTIFY_DEADLINE_MS} ms`)), NOTIFY_DEADLINE_MS);
    });
    try {
      await Promise.race([watcher.waitFor((l) => l === `CHANGED ${2 * SAVES_PER_CHILD + 1}`), deadline]);
    } finally {
      clearTimeout(timer);
    }
    assert.ok(Date.now() - started < NOTIFY_DEADLINE_MS);
    watcher.process.kill('SIGKILL');
    await exited(watcher.process);
    await inbox.close();
  });

  it('breaks the lock of a process that died holding it', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    children.add(dead);
    await exited(dead);
    const inbox = await user.openMailbox('INBOX');
    const dir = join(user.root, 'mailboxes', inbox.guid);
    // What a process killed while holding the lock leaves: its holder file linked as the lock.
    await writeFile(join(dir, `loft.lock.holder.${dead.pid}`), `${dead.pid} ${hostname()}\n`);
    await link(join(dir, `loft.lock.holder.${dead.pid}`), join(dir, 'loft.lock'));
    const started = Date.now();
    await inbox.save(testMessage('after-dead-lock'));
    assert.ok(Date.now() - started < 2000, 'did not wait for the stale timeout');
    await assert.rejects(stat(join(dir, `loft.lock.holder.${dead.pid}`)), { code: 'ENOENT' }, 'the dead holder file is removed');
    await inbox.close();
  });
});

describe('the mailbox lock on a full disk', () => {
  it('is not broken as ownerless when its holder file has no record, until its mtime is stale', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loft-lock-'));
    try {
      // What holderFile() leaves when the file system has an inode but no data block to spare.
      const holder = join(dir, 'loft.lock.holder.4194300');
      await writeFile(holder, '');
      await link(holder, join(dir, 'loft.lock'));
      const past = (ms: number): Date => new Date(Date.now() - ms);
      await utimes(join(dir, 'loft.lock'), past(OWNERLESS_BREAK_MS + 1000), past(OWNERLESS_BREAK_MS + 1000));
      const lock = new MailboxLock(dir, SILENT_LOGGER);
      assert.equal(await lock.acquire(0), undefined, 'a held lock without a record is still held');
      await utimes(join(dir, 'loft.lock'), past(LOCK_STALE_MS + 1000), past(LOCK_STALE_MS + 1000));
      const release = await lock.acquire(0);
      assert.ok(release, 'taken over once stale, as any lock whose holder stopped refreshing it');
      await release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
