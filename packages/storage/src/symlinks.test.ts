import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import type { MailUser } from './mail-user.js';
import { makeHome, openUser, removeHome, testMessage } from './storage-test-support.js';

describe('symlinks planted in the mail directory', () => {
  let home: string;
  let user: MailUser;
  let outside: string;
  before(async () => {
    home = await makeHome();
    user = await openUser(home);
    outside = join(home, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'do not touch');
  });
  after(async () => {
    await user?.close();
    await removeHome(home);
  });

  const untouched = async (): Promise<void> => {
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'do not touch');
    assert.deepEqual(await readdir(outside), ['secret']);
  };

  it('makes a missing mail root with its parents, and refuses one that is a symlink or a file', async () => {
    const deep = await openUser(home, { mail_location: 'sdbox:~/a/b/mail' });
    await deep.close();
    assert.ok((await readdir(join(home, 'a', 'b', 'mail'))).includes('mailboxes'));
    await symlink(outside, join(home, 'linked'));
    await assert.rejects(openUser(home, { mail_location: 'sdbox:~/linked' }), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    await writeFile(join(home, 'plain'), 'a file');
    await assert.rejects(openUser(home, { mail_location: 'sdbox:~/plain' }), /not a directory/);
    await untouched();
  });

  it('refuses a symlinked transaction log', async () => {
    await user.createMailbox('log-link');
    const guid = (await user.listMailboxes('', 'log-link'))[0]!.guid;
    const dir = join(user.root, 'mailboxes', guid);
    await rename(join(dir, 'loft.index.log'), join(dir, 'old.log'));
    await symlink(join(outside, 'secret'), join(dir, 'loft.index.log'));
    await assert.rejects(user.openMailbox('log-link'), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    await untouched();
  });

  it('refuses a symlinked mailbox or tmp directory', async () => {
    await user.createMailbox('dir-link');
    await user.createMailbox('tmp-link');
    const [dirGuid, tmpGuid] = await Promise.all(['dir-link', 'tmp-link'].map(async (n) => (await user.listMailboxes('', n))[0]!.guid));
    const dir = join(user.root, 'mailboxes', dirGuid!);
    await rename(dir, join(home, 'moved'));
    await symlink(outside, dir);
    await assert.rejects(user.openMailbox('dir-link'), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    const tmp = join(user.root, 'mailboxes', tmpGuid!, 'tmp');
    await rename(tmp, join(home, 'moved-tmp'));
    await symlink(outside, tmp);
    await assert.rejects(user.openMailbox('tmp-link'), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    await untouched();
  });

  it('never writes through a symlink planted at the next message file', async () => {
    const inbox = await user.openMailbox('INBOX');
    await inbox.save(testMessage('first'));
    const dir = join(user.root, 'mailboxes', inbox.guid);
    await symlink(join(outside, 'secret'), join(dir, 'u.2'));
    const { uid } = await inbox.save(testMessage('second'));
    assert.equal(uid, 2, 'the planted link was moved aside');
    await inbox.refresh();
    assert.deepEqual(await inbox.openMessage(2), testMessage('second'));
    await untouched();
    await inbox.close();
  });

  it('refuses to read a message file replaced by a symlink', async () => {
    const inbox = await user.openMailbox('INBOX');
    const dir = join(user.root, 'mailboxes', inbox.guid);
    await rename(join(dir, 'u.1'), join(dir, 'tmp', 'saved'));
    await symlink(join(outside, 'secret'), join(dir, 'u.1'));
    await assert.rejects(inbox.openMessage(1), (err) => isLoftError(err, 'LOFT_E_STORAGE_UNSAFE_PATH'));
    await untouched();
    await inbox.close();
  });
});
