/**
 * Special-use mailboxes from the configuration, as Dovecot gives them: Debian's
 * 15-mailboxes.conf, unchanged, and a mailbox every user gets. A client that looks for
 * \Sent or \Drafts (Thunderbird, Apple Mail, imapflow) finds the user's existing folders
 * instead of making its own "Sent Messages".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOFTCONF, runNode } from './harness.js';
import { ALICE, RawImap, imapflow, startImapServer } from './imap-support.js';

/** Debian's /etc/dovecot/conf.d/15-mailboxes.conf (Dovecot 2.3.19), comments left out. */
const DEBIAN_MAILBOXES = `namespace inbox {
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox "Sent Messages" {
    special_use = \\Sent
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
`;

test('namespace inbox { mailbox NAME { special_use auto } } reaches LIST and the clients', async (t) => {
  const { port } = await startImapServer(t, DEBIAN_MAILBOXES);
  const raw = await RawImap.login(t, port, ALICE);
  const first = await raw.command('LIST "" "*" RETURN (SUBSCRIBED)');
  assert.match(first, /^\* LIST \(\\HasNoChildren \\Subscribed \\Archive\) "\/" "?Archive"?\r\n/m, 'auto = subscribe: made and subscribed at login');
  assert.doesNotMatch(first, /Drafts|Sent|Trash|Junk/, 'auto = no: nothing made');
  assert.match(RawImap.status(await raw.command('CREATE Sent')), /OK/);
  assert.match(RawImap.status(await raw.command('CREATE Trash')), /OK/);
  assert.match(RawImap.status(await raw.command('CREATE Notes')), /OK/);
  const special = await raw.command('LIST (SPECIAL-USE) "" "*"');
  assert.deepEqual([...special.matchAll(/^\* LIST \(([^)]*)\) "\/" "?([^"\r]+)"?\r$/gm)].map((m) => `${m[2]}: ${m[1]}`), [
    'Archive: \\HasNoChildren \\Archive',
    'Sent: \\HasNoChildren \\Sent',
    'Trash: \\HasNoChildren \\Trash',
  ]);
  assert.match(await raw.command('LIST "" "Sent" RETURN (SPECIAL-USE)'), /^\* LIST \(\\HasNoChildren \\Sent\) "\/" "?Sent"?\r$/m);
  await raw.command('LOGOUT');

  const client = await imapflow(t, port);
  const folders = new Map((await client.list()).map((f) => [f.path, f.specialUse]));
  assert.equal(folders.get('Sent'), '\\Sent');
  assert.equal(folders.get('Trash'), '\\Trash');
  assert.equal(folders.get('Archive'), '\\Archive');
  assert.equal(folders.get('Notes'), undefined);
});

test('a namespace Loft cannot be is a configuration error, not a failure at every login', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-namespace-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'loft.conf');
  fs.writeFileSync(conf, 'namespace inbox {\n  prefix = INBOX.\n  separator = .\n  mailbox Sent {\n    special_use = \\Sent \\Archive\n  }\n}\n');
  const result = await runNode(LOFTCONF, ['-c', conf, '-n']);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /namespace inbox: prefix 'INBOX\.' is not supported; Loft's namespace has no prefix/);
  assert.match(result.stderr, /namespace inbox: separator '\.' is not supported; Loft's separator is \//);
  assert.match(result.stderr, /namespace inbox mailbox Sent: special_use '\\Sent \\Archive' is not one of/);
});
