import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import { MailUser } from './mail-user.js';
import { makeHome, removeHome } from './storage-test-support.js';

/** A multipart message with a base64 attachment of `attachment` and a short text part. */
function withAttachment(tag: string, attachment: Buffer): Buffer {
  const b64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    `From: a@example.org\r\nTo: b@example.org\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@example.org>\r\nMIME-Version: 1.0\r\n` +
      'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n' +
      `--XX\r\nContent-Type: text/plain\r\n\r\nSee the attached file, ${tag}.\r\n` +
      `--XX\r\nContent-Type: application/octet-stream; name="big.bin"\r\nContent-Disposition: attachment; filename="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n` +
      '--XX--\r\n',
  );
}

const ATTACHMENT = Buffer.from(Buffer.alloc(20_000, 0).map((_, i) => (i * 31) & 0xff));
const MIN_SIZE = 4096;

async function contentFiles(dir: string): Promise<Array<{ name: string; nlink: number }>> {
  const out: Array<{ name: string; nlink: number }> = [];
  for (const a of await readdir(dir).catch(() => [] as string[])) {
    for (const b of await readdir(join(dir, a))) {
      for (const name of await readdir(join(dir, a, b))) {
        if (/^[0-9a-f]{64}$/.test(name)) out.push({ name, nlink: (await stat(join(dir, a, b, name))).nlink });
      }
    }
  }
  return out;
}

describe('single-instance attachment storage', () => {
  let home: string;
  let attachmentDir: string;
  const users: MailUser[] = [];
  before(async () => {
    home = await makeHome();
    attachmentDir = join(home, 'attachments');
  });
  after(async () => {
    for (const user of users) await user.close();
    await removeHome(home);
  });

  async function open(name: string, location: string): Promise<MailUser> {
    // Distinct user names: the attachment links of each user are told apart by them.
    const user = await MailUser.open({
      user: name,
      home: join(home, name),
      settings: { mail_location: location, mail_fsync: 'never', mail_attachment_dir: attachmentDir, mail_attachment_min_size: MIN_SIZE },
    });
    users.push(user);
    return user;
  }

  for (const driver of ['sdbox', 'mdbox'] as const) {
    it(`${driver}: stores a shared attachment once, reads messages back byte-identical, frees it with the last reference`, async () => {
      const dir = join(attachmentDir);
      const alice = await open(`${driver}-alice`, `${driver}:~/mail`);
      const bob = await open(`${driver}-bob`, `${driver}:~/mail`);
      const a = await alice.openMailbox('INBOX');
      const b = await bob.openMailbox('INBOX');
      const messages = [withAttachment('one', ATTACHMENT), withAttachment('two', ATTACHMENT), withAttachment('three', ATTACHMENT)];
      for (const m of messages) await a.save(m);
      await b.save(withAttachment('bob', ATTACHMENT));
      await a.refresh();
      await b.refresh();
      const hash = createHash('sha256').update(Buffer.from(ATTACHMENT.toString('base64').replace(/.{76}/g, '$&\r\n'))).digest('hex');
      let files = await contentFiles(dir);
      assert.deepEqual(files.map((f) => f.name), [hash], 'one content file for four messages of two users');
      assert.equal(files[0]!.nlink, 5, 'the content name plus one link per message');
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await a.openMessage(i + 1), messages[i]);
        assert.equal(a.messageSize(i + 1), messages[i]!.length, 'RFC822.SIZE is that of the whole message');
      }
      const view = a.messageView(1);
      assert.match(view.bodyText(), /See the attached file, one/);
      const { stream } = await a.openMessageStream(2);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), messages[1]);
      const mailDir = join(home, `${driver}-alice`, 'mail');
      const stored = driver === 'sdbox' ? (await stat(join(mailDir, 'mailboxes', a.guid, 'u.1'))).size : 0;
      if (driver === 'sdbox') assert.ok(stored < 2000, `the message file holds a stub (${stored} bytes)`);

      // A copy shares the attachment through the message GUID.
      await alice.createMailbox('Archive');
      const archive = await alice.openMailbox('Archive');
      await a.copy([1], archive);
      await archive.refresh();
      assert.deepEqual(await archive.openMessage(1), messages[0]);

      await a.expunge([1, 2, 3]);
      let purged = await alice.purge();
      assert.equal(purged.attachmentsFreed ?? 0, 0);
      files = await contentFiles(dir);
      assert.equal(files.length, 1, 'Archive and bob still hold it');
      assert.deepEqual(await archive.openMessage(1), messages[0]);
      await archive.expunge([1]);
      purged = await alice.purge();
      assert.equal(purged.attachmentsFreed ?? 0, 0, "bob's message still holds it");
      assert.equal((await contentFiles(dir))[0]!.nlink, 2);
      assert.deepEqual(await b.openMessage(1), withAttachment('bob', ATTACHMENT));
      await b.expunge([1]);
      purged = await bob.purge();
      assert.equal(purged.attachmentsFreed, 1);
      assert.equal(purged.attachmentBytesFreed, Buffer.from(ATTACHMENT.toString('base64').replace(/.{76}/g, '$&\r\n')).length);
      assert.deepEqual(await contentFiles(dir), []);
      await a.close();
      await b.close();
      await archive.close();
    });
  }

  it('keeps small parts inline and refuses a tampered attachment', async () => {
    const carol = await open('carol', 'sdbox:~/mail');
    const box = await carol.openMailbox('INBOX');
    const small = withAttachment('small', Buffer.alloc(100, 7));
    await box.save(small);
    const other = Buffer.from(Buffer.alloc(9000, 0).map((_, i) => (i * 7) & 0xff));
    await box.save(withAttachment('tamper', other));
    await box.refresh();
    assert.deepEqual(await box.openMessage(1), small);
    const hash = createHash('sha256').update(Buffer.from(other.toString('base64').replace(/.{76}/g, '$&\r\n'))).digest('hex');
    const content = join(attachmentDir, hash.slice(0, 2), hash.slice(2, 4), hash);
    const size = (await stat(content)).size;
    await writeFile(content, Buffer.alloc(size, 0x41)); // same inode, so the message's link sees it
    await assert.rejects(box.openMessage(2), (err) => isLoftError(err, 'LOFT_E_STORAGE_CORRUPT'));
    await box.close();
  });
});
