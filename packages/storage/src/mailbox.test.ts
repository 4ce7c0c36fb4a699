import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { constants, mkdtempSync, rmSync } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import type { MailUser } from './mail-user.js';
import type { Mailbox } from './mailbox.js';
import { blockingIo, openCreating, setBlockingIo } from './io-mode.js';
import { mailboxPaths, readDiskState } from './mailbox-disk.js';
import { TINY_TUNING, makeHome, openUser, removeHome, testMessage, useTestUser } from './storage-test-support.js';

describe('Mailbox', () => {
  let user: MailUser;
  let home: string;
  useTestUser((h, u) => { home = h; user = u; });

  async function fresh(name: string): Promise<Mailbox> {
    await user.createMailbox(name);
    return user.openMailbox(name);
  }

  it('saves messages with increasing UIDs and returns them byte-identical', async () => {
    const box = await fresh('save');
    const a = await box.save(testMessage('a'), { flags: ['\\Seen'], keywords: ['$Forwarded'], internalDate: new Date('2026-01-02T03:04:05Z') });
    const b = await box.save(testMessage('b'));
    assert.equal(a.uid, 1);
    assert.equal(b.uid, 2);
    assert.match(a.guid, /^[0-9a-f]{32}$/);
    assert.equal(box.messageCount, 0, 'new messages appear only at refresh');
    const changes = await box.refresh();
    assert.deepEqual(changes.appended, [1, 2]);
    assert.deepEqual(Array.from(box.uids()), [1, 2]);
    assert.deepEqual(await box.openMessage(1), testMessage('a'));
    assert.deepEqual(await box.openMessage(2), testMessage('b'));
    assert.ok(box.flags(1).has('\\Seen'));
    assert.ok(box.flags(1).has('$Forwarded'));
    assert.ok(!box.flags(2).has('\\Seen'));
    assert.equal(box.internalDate(1).toISOString(), '2026-01-02T03:04:05.000Z');
    assert.equal(box.messageSize(2), testMessage('b').length);
    assert.equal(box.messageGuid(1), a.guid);
    assert.equal(box.seqOfUid(2), 2);
    assert.equal(box.seqOfUid(3), 0);
    assert.deepEqual(box.keywords(), ['$Forwarded']);
    await box.updateFlags([2], { op: 'add', flags: ['$forwarded'] });
    assert.ok(box.flags(2).has('$Forwarded'), 'keywords are case-insensitive, first spelling kept');
    assert.deepEqual(box.keywords(), ['$Forwarded']);
    const stream = await box.openMessageStream(2);
    const chunks: Buffer[] = [];
    for await (const chunk of stream.stream) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), testMessage('b'));
    await box.close();
  });

  it('firstUnseenSeq: the first message without \\Seen, 0 when all are read', async () => {
    const box = await fresh('unseen');
    for (const name of ['a', 'b', 'c', 'd']) await box.save(testMessage(name), { flags: name === 'c' ? [] : ['\\Seen'] });
    assert.equal(box.firstUnseenSeq(), 0, 'nothing announced yet');
    await box.refresh();
    assert.equal(box.firstUnseenSeq(), 3);
    await box.updateFlags([3], { op: 'add', flags: ['\\Seen', '$label'] });
    assert.equal(box.firstUnseenSeq(), 0, 'all read');
    await box.updateFlags([1], { op: 'remove', flags: ['\\Seen'] });
    assert.equal(box.firstUnseenSeq(), 1);
    await box.close();
  });

  it('saves from an async iterable', async () => {
    const box = await fresh('stream');
    const message = testMessage('streamed', 100_000);
    async function* parts(): AsyncGenerator<Buffer> {
      for (let i = 0; i < message.length; i += 8192) yield message.subarray(i, i + 8192);
    }
    const { uid } = await box.save(parts());
    await box.refresh();
    assert.deepEqual(await box.openMessage(uid), message);
    await box.close();
  });

  it('never reuses a UID after expunge, and keeps state across reopen', async () => {
    const box = await fresh('uids');
    for (let i = 0; i < 3; i++) await box.save(testMessage(`u${i}`));
    await box.refresh();
    assert.deepEqual(await box.expunge([3]), [3]);
    const changes = await box.refresh();
    assert.deepEqual(changes.expunged, [3]);
    assert.deepEqual(changes.expungedSeqs, [3]);
    const { uid } = await box.save(testMessage('u3'));
    assert.equal(uid, 4);
    await box.close();
    const again = await user.openMailbox('uids');
    assert.deepEqual(Array.from(again.uids()), [1, 2, 4]);
    assert.equal(again.uidNext, 5);
    await assert.rejects(again.openMessage(3), (err) => isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND'));
    await again.close();
  });

  it('raises modseq on every change and supports UNCHANGEDSINCE and changesSince', async () => {
    const box = await fresh('modseq');
    await box.save(testMessage('m1'));
    await box.save(testMessage('m2'));
    await box.refresh();
    const start = box.highestModseq;
    const first = await box.updateFlags([1], { op: 'add', flags: ['\\Flagged'] });
    assert.equal(first.updated.length, 1);
    assert.ok(first.updated[0]!.modseq > start);
    assert.ok(first.updated[0]!.flags.includes('\\Flagged'));
    assert.equal(box.modseq(1), first.updated[0]!.modseq);
    assert.equal(box.highestModseq, first.updated[0]!.modseq);
    const noop = await box.updateFlags([1], { op: 'add', flags: ['\\Flagged'] });
    assert.equal(noop.updated.length, 0, 'a STORE that changes nothing does not bump modseq');
    const conditional = await box.updateFlags([1, 2], { op: 'add', flags: ['\\Seen'], unchangedSince: start });
    assert.deepEqual(conditional.failed, [1]);
    assert.deepEqual(conditional.updated.map((u) => u.uid), [2]);
    const replaced = await box.updateFlags([2], { op: 'replace', flags: ['\\Answered', 'todo'] });
    assert.deepEqual([...box.flags(2)].sort(), ['\\Answered', 'todo']);
    assert.equal(replaced.updated.length, 1);
    await box.updateFlags([1], { op: 'add', flags: ['\\Deleted'] });
    assert.deepEqual(await box.expungeDeleted([2]), [], 'UID EXPUNGE leaves messages not in its set');
    assert.deepEqual(await box.expungeDeleted(), [1]);
    const since = await box.changesSince(start);
    assert.deepEqual(since.changed, [2]);
    assert.deepEqual(since.vanished, [[1, 1]]);
    await box.close();
  });

  it('commits a transaction of saves, flags and expunges as one modseq', async () => {
    const box = await fresh('txn');
    await box.save(testMessage('t0'));
    await box.refresh();
    const before = box.highestModseq;
    const txn = box.transaction();
    await txn.save(testMessage('t1'));
    await txn.save(testMessage('t2'), { flags: ['\\Draft'] });
    txn.updateFlags([1], { op: 'add', flags: ['\\Deleted'] });
    const result = await txn.commit();
    assert.deepEqual(result.saved.map((s) => s.uid), [2, 3]);
    assert.equal(result.modseq, before + 1n);
    const rolled = box.transaction();
    await rolled.save(testMessage('never'));
    await rolled.rollback();
    const changes = await box.refresh();
    assert.deepEqual(changes.appended, [2, 3]);
    assert.equal(box.uidNext, 4);
    assert.deepEqual(await readdir(join(user.root, 'mailboxes', box.guid, 'tmp')), [], 'rolled-back file removed');
    await box.close();
  });

  it('copies and moves with UIDPLUS maps, keeping GUIDs and flags', async () => {
    const src = await fresh('copy-src');
    const dst = await fresh('copy-dst');
    await src.save(testMessage('c1'), { flags: ['\\Seen'], keywords: ['work'] });
    await src.save(testMessage('c2'));
    await src.refresh();
    const copied = await src.copy([1, 2], dst);
    assert.deepEqual([...copied], [[1, 1], [2, 2]]);
    await dst.refresh();
    assert.deepEqual(await dst.openMessage(1), testMessage('c1'));
    assert.equal(dst.messageGuid(1), src.messageGuid(1));
    assert.ok(dst.flags(1).has('work'));
    const moved = await src.move([2], dst);
    assert.deepEqual([...moved], [[2, 3]]);
    const srcChanges = await src.refresh();
    assert.deepEqual(srcChanges.expunged, [2]);
    await dst.refresh();
    assert.deepEqual(await dst.openMessage(3), testMessage('c2'));
    await src.close();
    await dst.close();
  });

  it('keeps sequence numbers stable until refresh announces expunges', async () => {
    await user.createMailbox('views');
    const one = await user.openMailbox('views');
    const two = await user.openMailbox('views');
    for (let i = 0; i < 3; i++) await one.save(testMessage(`v${i}`));
    await one.refresh();
    await two.refresh();
    await one.expunge([2]);
    await two.updateFlags([3], { op: 'add', flags: ['\\Seen'] }); // syncs the log internally
    assert.equal(two.messageCount, 3, 'the other session still sees 3 messages');
    assert.equal(two.seqOfUid(3), 3);
    assert.ok(two.isExpunged(2));
    await assert.rejects(two.openMessage(2), (err) => isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED'));
    const changes = await two.refresh();
    assert.deepEqual(changes.expunged, [2]);
    assert.deepEqual(changes.expungedSeqs, [2]);
    assert.equal(two.seqOfUid(3), 2);
    await one.close();
    await two.close();
  });

  it('reports flag changes of other sessions at refresh', async () => {
    await user.createMailbox('flags-seen');
    const one = await user.openMailbox('flags-seen');
    const two = await user.openMailbox('flags-seen');
    await one.save(testMessage('f'));
    await one.refresh();
    await two.refresh();
    await one.updateFlags([1], { op: 'add', flags: ['\\Answered'] });
    const changes = await two.refresh();
    assert.deepEqual(changes.flagsChanged, [1]);
    assert.ok(two.flags(1).has('\\Answered'));
    await one.close();
    await two.close();
  });

  it('calls watch() listeners when another session changes the mailbox, until stopped', async () => {
    await user.createMailbox('watched');
    const watcher = await user.openMailbox('watched');
    const writer = await user.openMailbox('watched');
    let calls = 0;
    // The watcher does not keep the process alive on its own (persistent: false); the
    // deadline timer does, and fails the test if no call comes within a second.
    const nextCall = async (what: string, change: () => Promise<unknown>): Promise<void> => {
      let deadline: NodeJS.Timeout | undefined;
      const notified = new Promise<void>((resolve, reject) => {
        deadline = setTimeout(() => reject(new Error(`no call of the ${what} watch() within 1 s`)), 1000);
        const stop = watcher.watch(() => {
          calls++;
          stop();
          resolve();
        });
      });
      await change();
      await notified.finally(() => clearTimeout(deadline));
    };
    await nextCall('first', () => writer.save(testMessage('w')));
    assert.equal(calls, 1);
    assert.deepEqual((await watcher.refresh()).appended, [1]);
    // A second watch() after the first stopped (as IDLE, DONE, IDLE does) is called too.
    await nextCall('second', () => writer.save(testMessage('w2')));
    assert.equal(calls, 2);
    assert.deepEqual((await watcher.refresh()).appended, [2]);
    await watcher.close();
    await writer.close();
  });

  it('gives \\Recent to the first session only', async () => {
    const box = await fresh('recent');
    await box.save(testMessage('r'));
    await box.close();
    const lmtp = await user.openMailbox('recent');
    assert.ok(!lmtp.flags(1).has('\\Recent'), 'a non-SELECT session neither sees nor takes \\Recent');
    await lmtp.close();
    const first = await user.openMailbox('recent', { recent: true });
    assert.ok(first.flags(1).has('\\Recent'));
    assert.equal((await user.status('recent')).recent, 0, 'taken by the first SELECT');
    const second = await user.openMailbox('recent', { recent: true });
    assert.ok(!second.flags(1).has('\\Recent'));
    await first.close();
    await second.close();
  });

  it('refuses writes to a read-only mailbox and bad flags', async () => {
    await user.createMailbox('ro');
    const box = await user.openMailbox('ro', { readOnly: true });
    await assert.rejects(box.save(testMessage('x')), (err) => isLoftError(err, 'LOFT_E_STORAGE_READ_ONLY'));
    await box.close();
    const rw = await user.openMailbox('ro');
    await assert.rejects(rw.save(testMessage('x'), { flags: ['\\Bogus'] }), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await assert.rejects(rw.save(testMessage('x'), { keywords: ['has space'] }), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await rw.close();
  });

  it('caches header fields and serves the query accessor', async () => {
    const box = await fresh('cache');
    await box.save(testMessage('cached'));
    await box.refresh();
    assert.deepEqual(await box.cachedField(1, 'headers:subject'), ['cached']);
    assert.equal(await box.cachedField(1, 'sentDate'), Date.parse('2026-11-28T10:00:00Z'));
    // The @loft/mime parser is the default now; NO_PARSER is covered in mime-fields.test.ts.
    assert.equal(((await box.cachedField(1, 'envelope')) as unknown[]).length, 10);
    const view = box.messageView(1);
    assert.equal(view.uid, 1);
    assert.deepEqual(view.header('Message-ID'), ['<cached@example.org>']);
    assert.match(view.bodyText(), /^body of cached/);
    assert.match(view.headerText(), /^From: a@example.org/);
    await box.close();
    const again = await user.openMailbox('cache');
    assert.deepEqual(await again.cachedField(1, 'headers:subject'), ['cached'], 'from the cache file');
    await again.close();
  });

  it('caches the header fields SORT and THREAD read as it saves, from a Buffer or a stream', async () => {
    const box = await fresh('saved-fields');
    await box.save(testMessage('whole'));
    const streamed = testMessage('streamed');
    async function* chunks(): AsyncIterable<Uint8Array> {
      // The header arrives in two pieces, the blank line in the second.
      yield streamed.subarray(0, 40);
      yield streamed.subarray(40);
    }
    await box.save(chunks());
    await box.close();
    // Without their files, only what the cache holds can be answered.
    for (const uid of [1, 2]) await unlink(join(user.root, 'mailboxes', box.guid, `u.${uid}`));
    const reader = await openUser(home);
    try {
      const again = await reader.openMailbox('saved-fields');
      assert.deepEqual(await again.cachedField(1, 'headers:subject'), ['whole']);
      assert.deepEqual(await again.cachedField(2, 'headers:subject'), ['streamed']);
      assert.deepEqual(await again.cachedField(2, 'headers:message-id'), ['<streamed@example.org>']);
      assert.deepEqual(await again.cachedField(2, 'headers:references'), []);
      await assert.rejects(again.cachedField(2, 'headers:from'), 'a field not cached at save needs the file');
      await again.close();
    } finally {
      await reader.close();
    }
  });

  it('keeps a value computed over a set of messages until it is asked for over another set', async () => {
    const box = await fresh('over');
    for (let i = 0; i < 3; i++) await box.save(testMessage(`over${i}`));
    await box.refresh();
    let computed = 0;
    const order = (uids: number[]): string => box.overMessages('test order', Uint32Array.from(uids), () => `${++computed}:${uids.join(',')}`, (v) => v.length);
    assert.equal(order([1, 2, 3]), '1:1,2,3');
    assert.equal(order([1, 2, 3]), '1:1,2,3', 'the same set: the kept value');
    assert.equal(order([1, 3]), '2:1,3', 'another set: computed again');
    assert.equal(order([1, 2, 3]), '3:1,2,3', 'only the last set is kept');
    await box.close();
    // Another view of the mailbox in the process finds it (the values are per mailbox, not per view).
    const again = await user.openMailbox('over');
    assert.equal(again.overMessages('test order', Uint32Array.of(1, 2, 3), () => 'computed', (v) => v.length), '3:1,2,3');
    assert.equal(again.overMessages('other key', Uint32Array.of(1, 2, 3), () => 'computed', (v) => v.length), 'computed');
    await again.close();
  });

  it('stores message files under hashed directories', async () => {
    const hashedHome = await makeHome();
    try {
      const hashed = await openUser(hashedHome, { mail_dir_hash: 2 });
      const box = await hashed.openMailbox('INBOX');
      for (let i = 0; i < 3; i++) await box.save(testMessage(`h${i}`));
      await box.refresh();
      const dir = join(hashed.root, 'mailboxes', box.guid);
      assert.deepEqual(await readdir(join(dir, '02', '00')), ['u.2']);
      assert.deepEqual(await box.openMessage(3), testMessage('h2'));
      await box.forceResync();
      await box.refresh();
      assert.deepEqual(Array.from(box.uids()), [1, 2, 3]);
      await hashed.close();
    } finally {
      await removeHome(hashedHome);
    }
  });

  it('writes index checkpoints and reopens from them', async () => {
    const box = await fresh('checkpoint');
    const txn = box.transaction();
    for (let i = 0; i < 50; i++) await txn.save(testMessage(`cp${i}`));
    await txn.commit();
    await box.refresh();
    // Enough single-message changes to pass CHECKPOINT_MIN_LOG_BYTES of log.
    for (let i = 0; i < 2000; i++) await box.updateFlags([(i % 50) + 1], { op: i % 3 ? 'add' : 'remove', flags: [`kw${i % 40}`, '\\Seen'] });
    const status = box.status();
    await box.close();
    const dir = join(user.root, 'mailboxes', box.guid);
    assert.ok((await readdir(dir)).includes('loft.index'), 'a checkpoint was written');
    const again = await user.openMailbox('checkpoint');
    assert.deepEqual(again.status(), status);
    assert.equal(again.keywords().length, 40);
    await again.close();
  });
});

describe('Mailbox after another process force-resyncs it', () => {
  let user: MailUser;
  useTestUser((_home, u) => { user = u; });

  it('keeps the view, then writes to the new log', async () => {
    const one = await user.openMailbox('INBOX');
    for (let i = 0; i < 3; i++) await one.save(testMessage(`rs${i}`));
    await one.updateFlags([1], { op: 'add', flags: ['\\Seen'] }); // before refresh: not in view
    await one.refresh();
    await one.updateFlags([2], { op: 'add', flags: ['\\Flagged'] });
    const modseqBefore = one.highestModseq;
    const two = await user.openMailbox('INBOX');
    await two.forceResync();
    await two.close();
    const result = await one.updateFlags([3], { op: 'add', flags: ['\\Answered'] });
    assert.deepEqual(result.updated.map((u) => u.uid), [3]);
    assert.ok(result.updated[0]!.modseq > modseqBefore, 'modseq never goes back after a resync');
    const changes = await one.refresh();
    assert.deepEqual(changes.expunged, []);
    assert.deepEqual(Array.from(one.uids()), [1, 2, 3]);
    assert.ok(one.flags(2).has('\\Flagged'), 'flags survive the resync');
    await one.close();
    const three = await user.openMailbox('INBOX');
    assert.ok(three.flags(3).has('\\Answered'), 'the change after the resync reached the new log');
    await three.close();
  });
});

describe('Mailbox across frequent checkpoints and log rotations', () => {
  let user: MailUser;
  useTestUser((_home, u) => { user = u; }, {}, TINY_TUNING);

  it('keeps every change and every session view consistent', async () => {
    const writer = await user.openMailbox('INBOX');
    const other = await user.openMailbox('INBOX');
    const idle = await user.openMailbox('INBOX', { readOnly: true });
    for (let i = 0; i < 30; i++) await writer.save(testMessage(`rot${i}`));
    await writer.refresh();
    for (const uid of writer.uids()) await writer.cachedField(uid, 'headers:subject');
    const cachePath = join(user.root, 'mailboxes', writer.guid, 'loft.index.cache');
    const cacheBefore = (await stat(cachePath)).size;
    await other.refresh();
    await idle.refresh();
    for (let round = 0; round < 5; round++) {
      for (const uid of writer.uids()) {
        await writer.updateFlags([uid], { op: 'add', flags: [`w${round}`] });
        await other.updateFlags([uid], { op: 'add', flags: [`o${round}`] });
      }
    }
    await other.expunge([5, 6]);
    await writer.expunge(Array.from({ length: 18 }, (_, i) => 13 + i)); // UIDs 13-30
    for (let round = 0; round < 8; round++) for (const uid of writer.uids()) await writer.updateFlags([uid], { op: 'add', flags: [`x${round}`] });
    assert.ok((await stat(cachePath)).size < cacheBefore, 'the cache was compacted at a rotation');
    const log = await stat(join(user.root, 'mailboxes', writer.guid, 'loft.index.log'));
    assert.ok(log.size < 4096, `the log was rotated (${log.size} bytes)`);
    const changes = await idle.refresh();
    assert.deepEqual(changes.expunged.slice(0, 2), [5, 6]);
    assert.equal(idle.messageCount, 10);
    for (const uid of idle.uids()) {
      const flags = idle.flags(uid);
      for (let round = 0; round < 5; round++) assert.ok(flags.has(`w${round}`) && flags.has(`o${round}`), `UID ${uid}: ${[...flags].join(' ')}`);
      assert.deepEqual(await idle.cachedField(uid, 'headers:subject'), [`rot${uid - 1}`]);
    }
    const since = await idle.changesSince(1n);
    assert.deepEqual(since.vanished, [[5, 6], [13, 30]], 'vanished after rotation: every missing UID below uidNext');
    for (const box of [writer, other, idle]) await box.close();
    const reopened = await user.openMailbox('INBOX');
    assert.equal(reopened.messageCount, 10);
    assert.deepEqual(await reopened.openMessage(12), testMessage('rot11'));
    await reopened.close();
  });

  it('calls a watch() listener for changes written to each new log after rotations', async () => {
    await user.createMailbox('rotwatch');
    const writer = await user.openMailbox('rotwatch');
    await writer.save(testMessage('rw'));
    const watcher = await user.openMailbox('rotwatch');
    const logPath = join(user.root, 'mailboxes', writer.guid, 'loft.index.log');
    const rotate = async (): Promise<void> => {
      const { ino } = await stat(logPath);
      for (let i = 0; (await stat(logPath)).ino === ino; i++) {
        assert.ok(i < 500, 'the log was not rotated after 500 flag changes');
        await writer.updateFlags([1], { op: i % 2 ? 'remove' : 'add', flags: ['\\Seen'] });
      }
    };
    // The listener does what IDLE does: refresh at every call, then look.
    let waiting: { keyword: string; resolve: () => void } | undefined;
    const listen = (): (() => void) =>
      watcher.watch(() => {
        void watcher.refresh().then(() => {
          if (waiting && watcher.flags(1).has(waiting.keyword)) waiting.resolve();
        });
      });
    const shows = async (keyword: string): Promise<void> => {
      let deadline: NodeJS.Timeout | undefined;
      const seen = new Promise<void>((resolve, reject) => {
        deadline = setTimeout(() => reject(new Error(`no watch() call showed ${keyword} within 2 s`)), 2000);
        waiting = { keyword, resolve };
      });
      await writer.updateFlags([1], { op: 'add', flags: [keyword] });
      await seen.finally(() => clearTimeout(deadline));
    };
    let stop = listen();
    try {
      for (let rotation = 0; rotation < 3; rotation++) {
        await rotate();
        await shows(`after${rotation}`);
      }
      // Rotated while no listener was there (the watch lingers after IDLE ends): the next
      // listener hears of the new log too.
      stop();
      await rotate();
      stop = listen();
      await shows('afterlinger');
    } finally {
      stop();
      await watcher.close();
      await writer.close();
    }
  });
});

// setBlockingIo(true): a one-session process makes file creation and fsyncs directly.
describe('Mailbox with blocking I/O', () => {
  let user: MailUser;
  useTestUser((_h, u) => { user = u; }, { mail_fsync: 'always' });

  it('saves, syncs and reads back as with the thread pool, and a failed create is reported', async () => {
    setBlockingIo(true);
    try {
      const box = await user.openMailbox('INBOX');
      for (let i = 1; i <= 3; i++) await box.save(testMessage(`b${i}`));
      await box.refresh();
      assert.deepEqual(Array.from(box.uids()), [1, 2, 3]);
      assert.deepEqual(await box.openMessage(2), testMessage('b2'));
      await box.updateFlags([1], { op: 'add', flags: ['\\Seen'] });
      await box.expunge([3]);
      await box.refresh();
      assert.deepEqual(Array.from(box.uids()), [1, 2]);
      assert.equal(blockingIo(), true);
      await assert.rejects(openCreating('/nonexistent-dir/x', constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600), /ENOENT/);
      await box.close();
    } finally {
      setBlockingIo(false);
    }
  });
});

// A seteuid delivery child must not start libuv's pool: every set*id() call stops each thread.
describe('A new user with blocking I/O', () => {
  it('gets its mail root, INBOX, a second mailbox and its first messages without the thread pool', async () => {
    const home = mkdtempSync(join(tmpdir(), 'loft-blocking-'));
    const pooled: string[] = [];
    const hook = createHook({
      init(_id, type) {
        if (/^(FSREQ|FILEHANDLE)/.test(type)) pooled.push(`${type}: ${new Error().stack?.split('\n').slice(3, 7).join(' < ')}`);
      },
    });
    setBlockingIo(true);
    hook.enable();
    try {
      const fresh = await openUser(join(home, 'new-user'), { mail_fsync: 'always' });
      const box = await fresh.openMailbox('INBOX');
      for (let i = 1; i <= 2; i++) await box.save(testMessage(`n${i}`));
      await fresh.createMailbox('Sent');
      await box.close();
      await fresh.close();
    } finally {
      hook.disable();
      setBlockingIo(false);
      rmSync(home, { recursive: true, force: true });
    }
    assert.deepEqual(pooled, [], 'no file-system call went through the thread pool');
  });
});

describe('Mailbox checkpoints of a large index', () => {
  let user: MailUser;
  // From ~150 messages a quarter of the index is more than the cap: the cap decides.
  useTestUser((_home, u) => { user = u; }, {}, { checkpointMinLogBytes: 512, checkpointMaxLogBytes: 2048 });

  it('leaves at most the cap of log past the checkpoint for an open to replay', async () => {
    const box = await user.openMailbox('INBOX');
    const paths = mailboxPaths(join(user.root, 'mailboxes', box.guid));
    let worst = 0;
    for (let i = 0; i < 600; i++) {
      await box.save(testMessage(`big${i}`));
      if (i < 300 || i % 10 !== 0) continue;
      const disk = await readDiskState(paths, true);
      assert.ok(disk.kind === 'ok', `the mailbox reads back: ${disk.kind}`);
      await disk.log.close();
      worst = Math.max(worst, disk.offset - disk.indexOffset);
    }
    await box.close();
    assert.ok(worst > 0 && worst <= 2048 + 512, `at most the cap and one save of log past the checkpoint: ${worst} bytes`);
  });
});
