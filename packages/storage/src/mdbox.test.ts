import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, stat, symlink, writeFile, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import type { MailUser } from './mail-user.js';
import type { ChildProcess } from 'node:child_process';
import { killAll, makeHome, openUser, removeHome, startChild, testMessage, useTestUser, ackedSaves } from './storage-test-support.js';

const MDBOX = { mail_location: 'mdbox:~/mdbox', mdbox_rotate_size: 16 * 1024 };

async function storageFiles(user: MailUser): Promise<string[]> {
  return (await readdir(join(user.root, 'storage'))).filter((n) => /^m\.\d+$/.test(n)).sort();
}

async function storageBytes(user: MailUser): Promise<number> {
  let total = 0;
  for (const name of await storageFiles(user)) total += (await stat(join(user.root, 'storage', name))).size;
  return total;
}

describe('mdbox', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; }, MDBOX);

  it('keeps many messages per storage file, rotating at mdbox_rotate_size, and reads them back byte-identical', async () => {
    const box = await user.openMailbox('INBOX');
    const txn = box.transaction();
    for (let i = 0; i < 40; i++) await txn.save(testMessage(`m${i}`, 1000));
    await txn.commit();
    await box.refresh();
    assert.equal(box.messageCount, 40);
    const files = await storageFiles(user);
    assert.ok(files.length >= 2 && files.length <= 5, `40 KB in 16 KB files: ${files.join(' ')}`);
    for (const name of files) assert.ok((await stat(join(user.root, 'storage', name))).size <= 16 * 1024 + 2000);
    for (let i = 0; i < 40; i++) assert.deepEqual(await box.openMessage(i + 1), testMessage(`m${i}`, 1000));
    const { stream, size } = await box.openMessageStream(7);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), testMessage('m6', 1000));
    assert.equal(size, testMessage('m6', 1000).length);
    assert.deepEqual(await readdir(join(user.root, 'mailboxes', box.guid)).then((names) => names.filter((n) => n.startsWith('u.'))), [], 'no per-message files');
    await box.close();
  });

  it('copies by reference, expunges by dropping one, and purge frees the bytes only when the last goes', async () => {
    await user.createMailbox('copies');
    const src = await user.openMailbox('copies');
    const { guid } = await src.save(testMessage('shared', 3000));
    const { guid: otherGuid } = await src.save(testMessage('other', 500));
    await src.refresh();
    const dst = await user.openMailbox('INBOX');
    const before = await storageBytes(user);
    const map = await src.copy([1], dst);
    assert.equal(await storageBytes(user), before, 'COPY writes no message bytes');
    assert.equal(user.storageRefcount(guid), 2);
    const copyUid = map.get(1)!;
    await dst.refresh();
    assert.deepEqual(await dst.openMessage(copyUid), testMessage('shared', 3000));

    await src.expunge([1]);
    assert.equal(user.storageRefcount(guid), 1);
    let purged = await user.purge();
    assert.equal(purged.removed, 0);
    assert.deepEqual(await dst.openMessage(copyUid), testMessage('shared', 3000), 'still referenced: kept');

    await dst.expunge([copyUid]);
    assert.equal(user.storageRefcount(guid), 0);
    const full = await storageBytes(user);
    purged = await user.purge();
    assert.equal(purged.removed, 1);
    assert.ok(purged.freedBytes >= 3000, `freed ${purged.freedBytes}`);
    assert.ok((await storageBytes(user)) < full);
    await dst.refresh();
    await src.refresh();
    assert.deepEqual(await src.openMessage(2), testMessage('other', 500), 'messages moved by purge stay readable');
    assert.equal(user.storageRefcount(otherGuid), 1);
    for (const uid of dst.uids()) assert.ok((await dst.openMessage(uid)).length > 0);
    await src.close();
    await dst.close();
  });

  it('MOVE and DELETE drop references; a purge then reclaims them', async () => {
    await user.createMailbox('a');
    await user.createMailbox('b');
    const a = await user.openMailbox('a');
    const { guid } = await a.save(testMessage('moved'));
    await a.refresh();
    const b = await user.openMailbox('b');
    await a.move([1], b);
    assert.equal(user.storageRefcount(guid), 1);
    await b.close();
    await a.close();
    await user.deleteMailbox('b');
    assert.equal(user.storageRefcount(guid), 0);
    assert.equal((await user.purge()).removed, 1);
  });

  it('rebuilds a mailbox index from the map, and the map from storage files and indexes', async () => {
    await user.createMailbox('rebuild');
    let box = await user.openMailbox('rebuild');
    for (let i = 0; i < 5; i++) await box.save(testMessage(`r${i}`), { flags: i === 2 ? ['\\Flagged'] : [] });
    const dir = join(user.root, 'mailboxes', box.guid);
    await box.close();
    await rm(join(dir, 'loft.index'), { force: true });
    await rm(join(dir, 'loft.index.log'));
    box = await user.openMailbox('rebuild');
    assert.deepEqual(Array.from(box.uids()), [1, 2, 3, 4, 5]);
    for (let i = 0; i < 5; i++) assert.deepEqual(await box.openMessage(i + 1), testMessage(`r${i}`));
    await box.close();
    await user.close();

    // Damage the map in the middle: it is rebuilt, nothing is lost, refcounts are right.
    const mapPath = join(user.root, 'storage', 'loft.map.log');
    const mapData = await readFile(mapPath);
    mapData.fill(0x55, 40, 60);
    await writeFile(mapPath, mapData);
    user = await openUser(home, MDBOX);
    box = await user.openMailbox('rebuild');
    for (let i = 0; i < 5; i++) assert.deepEqual(await box.openMessage(i + 1), testMessage(`r${i}`));
    assert.equal(user.storageRefcount(box.messageGuid(1)), 1);
    await box.close();
  });

  it('refuses a storage file replaced by a symlink', async () => {
    await user.createMailbox('links');
    const box = await user.openMailbox('links');
    await box.save(testMessage('target'));
    await box.refresh();
    const files = await storageFiles(user);
    const last = join(user.root, 'storage', files[files.length - 1]!);
    await rename(last, `${last}.real`);
    await symlink(`${last}.real`, last);
    await assert.rejects(box.openMessage(1), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    await rm(last);
    await rename(`${last}.real`, last);
    assert.deepEqual(await box.openMessage(1), testMessage('target'));
    await box.close();
  });

  it('stores a message saved again with its GUID once, and refuses different bytes under it', async () => {
    const box = await user.openMailbox('INBOX');
    const { guid } = await box.save(testMessage('dup'));
    const before = await storageBytes(user);
    await box.save(testMessage('dup'), { guid });
    assert.equal(await storageBytes(user), before);
    assert.equal(user.storageRefcount(guid), 2);
    await assert.rejects(box.save(testMessage('not dup'), { guid }), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await box.close();
  });

  it('two processes saving at once, with a purge running, get distinct UIDs and lose nothing', async () => {
    const children = new Set<ChildProcess>();
    const processHome = await makeHome();
    try {
      const env = { LOFT_STORAGE_TEST_MDBOX: '1' };
      const a = startChild(['save-n', processHome, '80', 'a'], children, env);
      const b = startChild(['save-n', processHome, '80', 'b'], children, env);
      const purger = await openUser(processHome, { mail_location: 'mdbox:~/mdbox' });
      const done = Promise.all([a.waitFor((l) => l === 'DONE'), b.waitFor((l) => l === 'DONE')]);
      let finished = false;
      void done.then(() => (finished = true));
      while (!finished) await purger.purge();
      await done;
      const acked = ackedSaves([a, b]);
      assert.equal(acked.size, 160);
      const inbox = await purger.openMailbox('INBOX');
      for (const [uid, tag] of acked) {
        assert.deepEqual(await inbox.openMessage(uid), testMessage(tag));
        assert.equal(purger.storageRefcount(inbox.messageGuid(uid)), 1);
      }
      await inbox.close();
      await purger.close();
    } finally {
      await killAll(children);
      await removeHome(processHome);
    }
  });
});
