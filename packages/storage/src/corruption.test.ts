import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import { MailUser } from './mail-user.js';
import { testMessage, useTestUser } from './storage-test-support.js';

describe('corruption is detected and repaired from the message files', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; });

  /** A mailbox with 5 messages, UID 2 expunged, \Seen on 3; returns its directory. */
  async function populated(name: string): Promise<string> {
    await user.createMailbox(name);
    const box = await user.openMailbox(name);
    for (let i = 1; i <= 5; i++) await box.save(testMessage(`${name}${i}`));
    await box.refresh();
    await box.expunge([2]);
    await box.updateFlags([3], { op: 'add', flags: ['\\Seen'] });
    await box.close();
    return join(user.root, 'mailboxes', box.guid);
  }

  /** Checks the mailbox holds `expected` (UID -> message number) and takes new saves. */
  async function check(name: string, flagsKept: boolean, expected: Array<[number, number]> = [[1, 1], [3, 3], [4, 4], [5, 5]]): Promise<void> {
    const box = await user.openMailbox(name);
    assert.deepEqual(Array.from(box.uids()), expected.map(([uid]) => uid));
    for (const [uid, n] of expected) assert.deepEqual(await box.openMessage(uid), testMessage(`${name}${n}`));
    if (flagsKept) assert.ok(box.flags(3).has('\\Seen'));
    const { uid } = await box.save(testMessage('after'));
    assert.equal(uid, Math.max(...expected.map(([u]) => u)) + 1, 'UIDs continue above the old ones');
    await box.close();
  }

  it('replaces a damaged index', async () => {
    const dir = await populated('badindex');
    await writeFile(join(dir, 'loft.index'), Buffer.alloc(300, 7));
    await check('badindex', true);
  });

  it('rebuilds after a damaged transaction in the middle of the log, and says so in the log', async () => {
    const dir = await populated('badlog');
    const log = await readFile(join(dir, 'loft.index.log'));
    log[40] = log[40]! ^ 0xff; // inside the first transaction
    await writeFile(join(dir, 'loft.index.log'), log);
    const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
    const capture = (level: string) => (obj: object, msg?: string): void => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
    const logged = await MailUser.open({ user: 'test', home, settings: { mail_fsync: 'never' }, logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') } });
    await (await logged.openMailbox('badlog', { readOnly: true })).close();
    await logged.close();
    const error = lines.find((l) => l.level === 'error');
    assert.match(String(error?.obj.reason), /damaged at offset 32/);
    assert.equal(error?.obj.dir, dir);
    // UID 1's append was in the damaged transaction: its file is kept under a new UID,
    // since clients may have seen UID 1 as gone and UIDs are never reused.
    await check('badlog', true, [[3, 3], [4, 4], [5, 5], [6, 1]]);
  });

  it('ignores a torn transaction at the end of the log', async () => {
    const dir = await populated('torn');
    const log = await readFile(join(dir, 'loft.index.log'));
    await appendFile(join(dir, 'loft.index.log'), log.subarray(32, 45)); // a frame cut short
    await check('torn', true);
  });

  it('rebuilds when the log is truncated below the checkpoint or missing', async () => {
    const dir = await populated('truncated');
    const box = await user.openMailbox('truncated');
    await box.forceResync(); // writes a checkpoint at the start of a fresh log
    await box.updateFlags([4], { op: 'add', flags: ['\\Flagged'] });
    await box.close();
    await truncate(join(dir, 'loft.index.log'), 10);
    await check('truncated', false);
    await rm(join(dir, 'loft.index.log'));
    await rm(join(dir, 'loft.index'), { force: true });
    const again = await user.openMailbox('truncated');
    assert.deepEqual(Array.from(again.uids()), [1, 3, 4, 5, 6]);
    await again.close();
  });

  it('never serves a message file that is not the one indexed at that UID', async () => {
    const dir = await populated('swapped');
    await rename(join(dir, 'u.3'), join(dir, 'tmp', 'x'));
    await rename(join(dir, 'u.4'), join(dir, 'u.3'));
    await rename(join(dir, 'tmp', 'x'), join(dir, 'u.4'));
    const box = await user.openMailbox('swapped');
    await assert.rejects(box.openMessage(3), (err) => isLoftError(err, 'LOFT_E_STORAGE_CORRUPT'));
    await writeFile(join(dir, 'u.5'), 'not a dbox file');
    await assert.rejects(box.openMessage(5), (err) => isLoftError(err, 'LOFT_E_STORAGE_CORRUPT'));
    await box.forceResync();
    await box.refresh();
    // The damaged file is moved aside; the swapped ones do not match what the index had at
    // their UIDs, so they are kept under new UIDs.
    assert.deepEqual(Array.from(box.uids()), [1, 6, 7]);
    assert.deepEqual(await box.openMessage(6), testMessage('swapped4'));
    assert.deepEqual(await box.openMessage(7), testMessage('swapped3'));
    await box.close();
  });

  it('re-parses fields when the cache is damaged', async () => {
    const dir = await populated('badcache');
    const box = await user.openMailbox('badcache');
    assert.deepEqual(await box.cachedField(1, 'headers:subject'), ['badcache1']);
    await box.close();
    const cache = await readFile(join(dir, 'loft.index.cache'));
    cache[cache.length - 3] = cache[cache.length - 3]! ^ 0xff;
    await writeFile(join(dir, 'loft.index.cache'), cache);
    const again = await user.openMailbox('badcache');
    assert.deepEqual(await again.cachedField(1, 'headers:subject'), ['badcache1']);
    await again.close();
    await writeFile(join(dir, 'loft.index.cache'), 'junk');
    const third = await user.openMailbox('badcache');
    assert.deepEqual(await third.cachedField(1, 'headers:subject'), ['badcache1']);
    await third.close();
  });
});

describe('transaction log scanning', () => {
  it('skips a dead frame whose length runs past the end once later transactions follow it', async () => {
    const { encodeTransaction, scanLog } = await import('./transaction-log.js');
    const good = encodeTransaction({ txid: '0011223344556677', records: [{ type: 'expunge', ranges: [[1, 3]] }] });
    const dead = Buffer.from(good);
    dead.writeUInt32LE(0x7fffffff, 4); // a torn length field
    const inFlight = scanLog(Buffer.concat([good, dead]), 32);
    assert.equal(inFlight.transactions.length, 1);
    assert.equal(inFlight.end, 32 + good.length, 'waits: the last frame may still be being written');
    assert.deepEqual(inFlight.skipped, []);
    const later = scanLog(Buffer.concat([good, dead, good]), 32);
    assert.equal(later.transactions.length, 2);
    assert.deepEqual(later.skipped, [32 + good.length]);
  });
});
