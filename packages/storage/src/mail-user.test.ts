import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import type { MailUser } from './mail-user.js';
import { Mailbox } from './mailbox.js';
import { openUser, testMessage, useTestUser } from './storage-test-support.js';

describe('MailUser and the mailbox list index', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; });

  const names = async (pattern = '*'): Promise<string[]> => (await user.listMailboxes('', pattern)).map((m) => m.name);

  it('has INBOX from the start, and creates parents with children', async () => {
    assert.deepEqual(await names(), ['INBOX']);
    await user.createMailbox('Work/Projects/Loft');
    await user.createMailbox('Sent', { specialUse: '\\Sent' });
    assert.deepEqual(await names(), ['INBOX', 'Sent', 'Work', 'Work/Projects', 'Work/Projects/Loft']);
    assert.deepEqual(await names('%'), ['INBOX', 'Sent', 'Work']);
    assert.deepEqual(await names('Work/%'), ['Work/Projects']);
    assert.deepEqual(await names('inbox'), ['INBOX']);
    const work = (await user.listMailboxes('', 'Work'))[0]!;
    assert.deepEqual(work.attributes, ['\\HasChildren']);
    const sent = (await user.listMailboxes('Se', 'nt'))[0]!;
    assert.equal(sent.specialUse, '\\Sent');
    assert.ok(sent.attributes.includes('\\HasNoChildren'));
    await assert.rejects(user.createMailbox('Sent'), (err) => isLoftError(err, 'LOFT_E_STORAGE_EXISTS'));
    await assert.rejects(user.createMailbox('inbox'), (err) => isLoftError(err, 'LOFT_E_STORAGE_EXISTS'));
    await assert.rejects(user.createMailbox('a//b'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await assert.rejects(user.createMailbox('../x'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
  });

  it('renames a mailbox with its children and keeps its messages', async () => {
    const box = await user.openMailbox('Work/Projects');
    await box.save(testMessage('kept'));
    await box.close();
    await user.renameMailbox('Work', 'Archive/2026');
    assert.deepEqual(await names(), ['INBOX', 'Archive', 'Archive/2026', 'Archive/2026/Projects', 'Archive/2026/Projects/Loft', 'Sent']);
    const moved = await user.openMailbox('Archive/2026/Projects');
    assert.deepEqual(await moved.openMessage(1), testMessage('kept'));
    await moved.close();
    await assert.rejects(user.renameMailbox('Archive', 'Archive/x'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await assert.rejects(user.renameMailbox('Sent', 'Archive'), (err) => isLoftError(err, 'LOFT_E_STORAGE_EXISTS'));
    await assert.rejects(user.renameMailbox('Nope', 'Other'), (err) => isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND'));
  });

  it('renames INBOX by moving its messages and leaving an empty INBOX', async () => {
    await user.createMailbox('INBOX/Child');
    const inbox = await user.openMailbox('INBOX');
    await inbox.save(testMessage('in-inbox'));
    await inbox.close();
    await user.renameMailbox('INBOX', 'Old-Inbox');
    const old = await user.openMailbox('Old-Inbox');
    await old.refresh();
    assert.equal(old.messageCount, 1);
    await old.close();
    assert.equal((await user.status('INBOX')).messages, 0);
    assert.ok((await names()).includes('INBOX/Child'), 'children of INBOX stay');
  });

  it('deletes mailboxes, refusing INBOX and parents', async () => {
    await assert.rejects(user.deleteMailbox('INBOX'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    await assert.rejects(user.deleteMailbox('Archive'), (err) => isLoftError(err, 'LOFT_E_STORAGE_HAS_CHILDREN'));
    const guid = (await user.listMailboxes('', 'Sent'))[0]!.guid;
    await user.deleteMailbox('Sent');
    assert.ok(!(await names()).includes('Sent'));
    assert.ok(!(await readdir(join(user.root, 'mailboxes'))).includes(guid), 'files removed');
    await assert.rejects(user.openMailbox('Sent'), (err) => isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND'));
    await user.createMailbox('Sent');
    const box = await user.openMailbox('Sent');
    assert.equal(box.messageCount, 0, 'a re-created mailbox starts empty');
    await box.close();
  });

  it('keeps subscriptions, including for names that do not exist', async () => {
    await user.subscribe('INBOX', true);
    await user.subscribe('Gone/Away', true);
    const subscribed = await user.listMailboxes('', '*', { subscribedOnly: true });
    assert.deepEqual(subscribed.map((m) => [m.name, m.attributes.includes('\\Subscribed')]), [['INBOX', true], ['Gone', false], ['Gone/Away', true]]);
    assert.ok(subscribed[2]!.attributes.includes('\\NonExistent'));
    await user.subscribe('Gone/Away', false);
    assert.deepEqual((await user.listMailboxes('', '*', { subscribedOnly: true })).map((m) => m.name), ['INBOX']);
  });

  // Each MailUser keeps the subscriptions it parsed until the file changes: what another
  // one (another process) subscribes must show at the next LIST.
  it('sees subscriptions another MailUser changed', async () => {
    const subscribedNames = async (u: MailUser): Promise<string[]> => (await u.listMailboxes('', 'Sub*', { subscribedOnly: true })).map((m) => m.name);
    assert.deepEqual(await subscribedNames(user), []);
    const other = await openUser(home);
    try {
      await other.subscribe('SubA', true);
      assert.deepEqual(await subscribedNames(user), ['SubA']);
      await other.subscribe('SubB', true);
      assert.deepEqual(await subscribedNames(user), ['SubA', 'SubB']);
      await other.subscribe('SubA', false);
      assert.deepEqual(await subscribedNames(user), ['SubB']);
      await user.subscribe('SubB', false);
      assert.deepEqual(await subscribedNames(other), []);
      assert.deepEqual(await subscribedNames(user), []);
    } finally {
      await other.close();
    }
  });

  it('answers STATUS from the list index until the mailbox changes', async () => {
    await user.createMailbox('Stats');
    const box = await user.openMailbox('Stats');
    await box.save(testMessage('s1'), { flags: ['\\Seen'] });
    await box.save(testMessage('s2'), { flags: ['\\Deleted'] });
    await box.close();
    const status = await user.status('Stats');
    assert.equal(status.messages, 2);
    assert.equal(status.unseen, 1);
    assert.equal(status.deleted, 1);
    assert.equal(status.uidNext, 3);
    assert.equal(status.size, testMessage('s1').length + testMessage('s2').length);
    const other = await openUser(home);
    const writer = await other.openMailbox('Stats');
    await writer.save(testMessage('s3'));
    assert.equal((await user.status('Stats')).messages, 3, 'a changed log is noticed without the list index');
    await other.close();
  });

  it('STATUS after a SELECT that took \\Recent: RECENT changes, the other counters stay right', async () => {
    await user.createMailbox('Taken');
    const box = await user.openMailbox('Taken');
    await box.save(testMessage('t1'), { flags: ['\\Seen'] });
    await box.save(testMessage('t2'));
    await box.close();
    const before = await user.status('Taken');
    assert.deepEqual([before.messages, before.unseen, before.recent], [2, 1, 2]);
    const selected = await user.openMailbox('Taken', { recent: true }); // logs that the recent ones are taken
    await selected.close();
    const after = await user.status('Taken');
    assert.deepEqual([after.messages, after.unseen, after.recent, after.size, after.uidNext], [2, 1, 0, before.size, 3]);
    const writer = await user.openMailbox('Taken');
    await writer.updateFlags([2], { op: 'add', flags: ['\\Seen', '\\Deleted'] });
    await writer.close();
    const flagged = await user.status('Taken');
    assert.deepEqual([flagged.unseen, flagged.deleted, flagged.recent], [0, 1, 0], 'a flag change is counted again');
  });

  it('does not rewrite the list index when a session only looked at a mailbox', async () => {
    const box = await user.openMailbox('INBOX');
    await box.save(testMessage('looked'));
    await box.close();
    await user.close();
    const listPath = join(user.root, 'loft.mailboxlist');
    const written = await stat(listPath);
    for (let session = 0; session < 3; session++) {
      const reader = await openUser(home);
      const view = await reader.openMailbox('INBOX');
      assert.equal(view.messageCount, 1);
      await view.close();
      await reader.close();
    }
    const after = await stat(listPath);
    assert.deepEqual([after.ino, after.mtimeMs], [written.ino, written.mtimeMs], 'the list index was not replaced');
    const reader = await openUser(home);
    try {
      assert.equal((await reader.status('INBOX')).messages, 1, 'STATUS still comes from the list index');
    } finally {
      await reader.close();
    }
  });

  it('answers LIST and STATUS of many mailboxes without opening any', async () => {
    const many = 150;
    for (let i = 0; i < many; i++) await user.createMailbox(`Many/box${String(i).padStart(3, '0')}`);
    const box = await user.openMailbox('Many/box007');
    await box.save(testMessage('m'));
    await box.close();
    await user.flushStatus();
    const fresh = await openUser(home);
    const original = Mailbox.open;
    let opened = 0;
    Mailbox.open = (ctx) => {
      opened++;
      return original.call(Mailbox, ctx);
    };
    try {
      const listed = await fresh.listMailboxes('', 'Many/%');
      assert.equal(listed.length, many);
      let messages = 0;
      for (const { name } of listed) messages += (await fresh.status(name)).messages;
      assert.equal(messages, 1);
      assert.equal(opened, 0, 'no mailbox was opened');
    } finally {
      Mailbox.open = original;
      await fresh.close();
    }
  });

  it('rebuilds a damaged list index from the mailbox directories', async () => {
    const before = await names();
    await writeFile(join(user.root, 'loft.mailboxlist'), 'garbage');
    const reopened = await openUser(home);
    assert.deepEqual((await reopened.listMailboxes('', '*')).map((m) => m.name), before);
    await reopened.close();
  });
});
