import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MailUser } from './mail-user.js';
import type { Mailbox } from './mailbox.js';
import { TINY_TUNING, openUser, testMessage, useTestUser } from './storage-test-support.js';

// A MailUser hands a closed mailbox's state to its next open of that mailbox; what other
// writers logged meanwhile must still be seen, exactly as a fresh read would show it.
describe('reopening a mailbox from the state its last view left', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; });

  it('the first unseen message is right after a reopen, after another writer\'s flag change and after an expunge', async () => {
    await user.createMailbox('Unseen');
    const first = await user.openMailbox('Unseen');
    for (let i = 1; i <= 4; i++) await first.save(testMessage(`u${i}`), { flags: ['\\Seen'] });
    await first.refresh();
    assert.equal(first.firstUnseenSeq(), 0);
    await first.close();

    const again = await user.openMailbox('Unseen'); // the state the first view left, and what it knew
    assert.equal(again.firstUnseenSeq(), 0);
    const other = await openUser(home);
    try {
      const box = await other.openMailbox('Unseen');
      await box.updateFlags([3], { op: 'remove', flags: ['\\Seen'] });
      await box.close();
    } finally {
      await other.close();
    }
    await again.refresh();
    assert.equal(again.firstUnseenSeq(), 3);
    await again.expunge([1]);
    assert.equal(again.firstUnseenSeq(), 3, 'the expunge is not announced yet');
    await again.refresh();
    assert.equal(again.firstUnseenSeq(), 2, 'announced: the messages moved up');
    await again.close();
  });

  it('sees saves, flag changes and expunges another writer made while it was closed', async () => {
    const first = await user.openMailbox('INBOX');
    for (let i = 1; i <= 4; i++) await first.save(testMessage(`m${i}`));
    await first.close();

    const other = await openUser(home);
    try {
      const box = await other.openMailbox('INBOX');
      await box.updateFlags([2], { op: 'add', flags: ['\\Flagged', '$Work'] });
      await box.expunge([3]);
      await box.save(testMessage('m5'));
      await box.close();
    } finally {
      await other.close();
    }

    const again = await user.openMailbox('INBOX');
    const fresh = await openUser(home);
    try {
      const truth = await fresh.openMailbox('INBOX');
      assert.deepEqual(Array.from(again.uids()), [1, 2, 4, 5]);
      assert.deepEqual(Array.from(again.uids()), Array.from(truth.uids()));
      assert.deepEqual([...again.flags(2)].sort(), ['$Work', '\\Flagged']);
      assert.equal(again.highestModseq, truth.highestModseq);
      assert.deepEqual(again.status(), truth.status());
      assert.deepEqual(await again.openMessage(5), testMessage('m5'));
      // Nothing is reported as changed to the new view: it starts from what it shows.
      const changes = await again.refresh();
      assert.deepEqual([changes.expunged, changes.appended, changes.flagsChanged], [[], [], []]);
      await truth.close();
    } finally {
      await again.close();
      await fresh.close();
    }
  });

  it('reads from disk again when the log was replaced meanwhile', async () => {
    await user.createMailbox('Replaced');
    const box = await user.openMailbox('Replaced');
    for (let i = 1; i <= 3; i++) await box.save(testMessage(`r${i}`));
    await box.close();
    const other = await openUser(home);
    try {
      const b = await other.openMailbox('Replaced');
      await b.forceResync();
      await b.save(testMessage('r4'));
      await b.close();
    } finally {
      await other.close();
    }
    const again = await user.openMailbox('Replaced');
    assert.deepEqual(Array.from(again.uids()), [1, 2, 3, 4]);
    assert.deepEqual(await again.openMessage(4), testMessage('r4'));
    await again.close();
  });

  // A kept state holds its log's descriptor open (the next view reads on from it); states
  // dropped from the store, and those of a closed MailUser, must give theirs back.
  it('closes the descriptors of the states it drops', async () => {
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const names = Array.from({ length: 40 }, (_, i) => `Many${i}`);
    for (const name of names) await user.createMailbox(name);
    const before = openFds();
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const box = await user.openMailbox(name);
        if (round === 0) await box.save(testMessage(name));
        await box.close();
      }
    }
    // At most the store's bound of states (16) keep a log and a cache descriptor each.
    assert.ok(openFds() - before <= 32, `${openFds() - before} descriptors more after reopening 40 mailboxes 3 times`);
    const other = await openUser(home);
    const base = openFds();
    for (const name of names.slice(0, 5)) await (await other.openMailbox(name)).close();
    assert.ok(openFds() > base, 'closed views keep their states open');
    await other.close();
    assert.equal(openFds(), base);
  });

  // The closed view's cache of parsed fields goes with its state, descriptor open. It must
  // still give what a fresh read gives after other writers cached, or rewrote, meanwhile.
  it('keeps the parsed-field cache, and sees what other writers cached or compacted meanwhile', async () => {
    await user.createMailbox('Cached');
    const envelopes = async (box: Mailbox, uids: number[]): Promise<unknown[]> => Promise.all(uids.map((uid) => box.cachedField(uid, 'envelope')));
    const truth = async (uids: number[]): Promise<unknown[]> => {
      const fresh = await openUser(home);
      try {
        const box = await fresh.openMailbox('Cached');
        const values = await envelopes(box, uids);
        await box.close();
        return values;
      } finally {
        await fresh.close();
      }
    };
    const box = await user.openMailbox('Cached');
    for (let i = 1; i <= 3; i++) await box.save(testMessage(`c${i}`));
    await box.refresh();
    assert.equal(((await box.cachedField(2, 'envelope')) as unknown[])[1], 'c2');
    await box.close();

    const other = await openUser(home);
    const writer = await other.openMailbox('Cached');
    try {
      await writer.save(testMessage('c4'));
      await writer.refresh();
      await writer.cachedField(4, 'envelope'); // a record appended while the first view is closed
      let again = await user.openMailbox('Cached');
      assert.deepEqual(await envelopes(again, [1, 2, 3, 4]), await truth([1, 2, 3, 4]));
      const subject = (uid: number): string => again.cachedFieldBytes(uid, 'envelope', 'test:subject', (v) => Buffer.from(String((v as unknown[])[1]))).toString();
      assert.deepEqual([1, 2, 3, 4].map(subject), ['c1', 'c2', 'c3', 'c4']);

      // Another process rewrites the cache file (as its compaction does), then caches a new message there.
      const cacheFile = join((again as unknown as { paths: { cache: string } }).paths.cache);
      const before = statSync(cacheFile).ino;
      copyFileSync(cacheFile, `${cacheFile}.copy`);
      renameSync(`${cacheFile}.copy`, cacheFile);
      assert.notEqual(statSync(cacheFile).ino, before);
      await writer.save(testMessage('c5'));
      await writer.refresh();
      await writer.cachedField(5, 'envelope');
      await again.refresh();
      assert.deepEqual(await envelopes(again, [1, 2, 3, 4, 5]), await truth([1, 2, 3, 4, 5]));
      await again.close();

      // A rotation by a writer with small limits replaces log and cache: the kept state is dropped.
      const busy = await openUser(home, {}, TINY_TUNING);
      try {
        const b = await busy.openMailbox('Cached');
        for (let i = 0; i < 20; i++) await b.updateFlags([1, 2, 3], { op: i % 2 ? 'remove' : 'add', flags: ['$Busy'] });
        await b.save(testMessage('c6'));
        await b.close();
      } finally {
        await busy.close();
      }
      again = await user.openMailbox('Cached');
      assert.deepEqual(await envelopes(again, [1, 2, 3, 4, 5, 6]), await truth([1, 2, 3, 4, 5, 6]));
      await again.close();
    } finally {
      await writer.close();
      await other.close();
    }
  });

  // A service's MailUsers share closed states process-wide (shareSnapshots): the next login
  // starts from the state the last session left, brought up to date from the log.
  it('shares closed states between MailUsers that ask for it, and they stay up to date', async () => {
    await user.createMailbox('Shared');
    const shared = (): Promise<MailUser> => MailUser.open({ user: 'test', home, settings: { mail_location: 'sdbox:~/mail', mail_fsync: 'never' }, shareSnapshots: true });
    const first = await shared();
    const box = await first.openMailbox('Shared');
    for (let i = 1; i <= 3; i++) await box.save(testMessage(`s${i}`));
    await box.close();
    await first.close();

    // Another writer, not sharing (as another process would be), changes it meanwhile.
    const other = await openUser(home);
    const b = await other.openMailbox('Shared');
    await b.updateFlags([1], { op: 'add', flags: ['\\Seen'] });
    await b.expunge([2]);
    await b.save(testMessage('s4'));
    await b.close();
    await other.close();

    const second = await shared();
    try {
      const again = await second.openMailbox('Shared');
      assert.deepEqual(Array.from(again.uids()), [1, 3, 4]);
      assert.ok(again.flags(1).has('\\Seen'));
      assert.deepEqual(await again.openMessage(4), testMessage('s4'));
      const changes = await again.refresh();
      assert.deepEqual([changes.expunged, changes.appended, changes.flagsChanged], [[], [], []]);
      await again.close();
    } finally {
      await second.close();
    }
  });
});
