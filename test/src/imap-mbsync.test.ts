/**
 * mbsync (isync, from Debian) against a real loftd: a two-way sync of a populated account to
 * a local Maildir, then a change on each side (a new message and a flag), synced again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ALICE, imapflow, message, startImapServer } from './imap-support.js';

const MBSYNC_TIMEOUT_MS = 60_000;

function mbsync(conf: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('mbsync', ['-c', conf, '-a'], { timeout: MBSYNC_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** Maildir message files of a folder (new/ and cur/), by name. */
function maildirFiles(folder: string): string[] {
  return ['new', 'cur'].flatMap((sub) => {
    const dir = path.join(folder, sub);
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
  });
}

test('mbsync syncs a populated account both ways, with a change on each side', { skip: fs.existsSync('/usr/bin/mbsync') ? false : 'isync is not installed' }, async (t) => {
  const { port, dir } = await startImapServer(t);
  const client = await imapflow(t, port);
  await client.mailboxCreate('Work');
  for (let i = 1; i <= 3; i++) await client.append('INBOX', message({ From: 'x@example.org', Subject: `inbox ${i}`, 'Message-ID': `<inbox-${i}@example.org>` }, `inbox body ${i}\r\n`));
  await client.append('Work', message({ From: 'x@example.org', Subject: 'work 1', 'Message-ID': '<work-1@example.org>' }, 'work\r\n'), ['\\Seen']);

  const local = path.join(dir, 'maildir');
  fs.mkdirSync(local);
  const conf = path.join(dir, 'mbsyncrc');
  fs.writeFileSync(conf, `IMAPAccount loft
Host 127.0.0.1
Port ${port}
User ${ALICE.user}
Pass ${ALICE.password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account loft

MaildirStore local
Path ${local}/
Inbox ${local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`);
  const first = await mbsync(conf);
  assert.equal(first.code, 0, first.out);
  assert.equal(maildirFiles(path.join(local, 'INBOX')).length, 3, first.out);
  const work = maildirFiles(path.join(local, 'Work'));
  assert.equal(work.length, 1);
  assert.match(path.basename(work[0]!), /:2,.*S/, '\\Seen became the Maildir S flag');

  // Local side: a new message, and message "inbox 1" marked flagged.
  const inboxFiles = maildirFiles(path.join(local, 'INBOX'));
  const first1 = inboxFiles.find((f) => fs.readFileSync(f, 'utf8').includes('Subject: inbox 1'))!;
  fs.renameSync(first1, path.join(local, 'INBOX', 'cur', `${path.basename(first1).split(':')[0]}:2,F`));
  fs.writeFileSync(path.join(local, 'INBOX', 'new', `${Date.now()}.local.host`), 'From: me@example.org\r\nSubject: written locally\r\nMessage-ID: <local-1@example.org>\r\n\r\nlocal\r\n');
  // Remote side: a new message, and "inbox 2" marked seen.
  await client.append('INBOX', message({ From: 'y@example.org', Subject: 'delivered remotely', 'Message-ID': '<remote-1@example.org>' }, 'remote\r\n'));
  await client.mailboxOpen('INBOX');
  const found = await client.search({ subject: 'inbox 2' });
  assert.ok(found && found.length === 1);
  await client.messageFlagsAdd(String(found[0]), ['\\Seen']);
  await client.mailboxClose();

  const second = await mbsync(conf);
  assert.equal(second.code, 0, second.out);
  const after = maildirFiles(path.join(local, 'INBOX')).map((f) => ({ name: path.basename(f), text: fs.readFileSync(f, 'utf8') }));
  assert.equal(after.length, 5);
  assert.ok(after.some((m) => m.text.includes('delivered remotely')), 'the remote message arrived locally');
  assert.match(after.find((m) => m.text.includes('Subject: inbox 2'))!.name, /:2,.*S/, 'the remote \\Seen arrived locally');

  await client.mailboxOpen('INBOX');
  const remote = new Map<string, Set<string>>();
  for await (const m of client.fetch('1:*', { envelope: true, flags: true })) remote.set(m.envelope?.subject ?? '', m.flags ?? new Set());
  assert.equal(remote.size, 5);
  assert.ok(remote.has('written locally'), 'the local message arrived on the server');
  assert.ok(remote.get('inbox 1')?.has('\\Flagged'), 'the local F flag arrived as \\Flagged');
});
