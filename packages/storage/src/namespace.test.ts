import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MailboxInfo } from './mail-user.js';
import { checkStorageSettings, STORAGE_SETTINGS_DEFAULTS, type NamespaceSettings, type StorageSettings } from './settings.js';
import { makeHome, openUser, removeHome } from './storage-test-support.js';

/** Dovecot's 15-mailboxes.conf as Debian ships it, with two mailboxes made for everyone. */
const NAMESPACE: Record<string, NamespaceSettings> = {
  inbox: {
    inbox: true,
    prefix: '',
    separator: '',
    mailbox: {
      Drafts: { special_use: '\\Drafts', auto: 'create' },
      Sent: { special_use: '\\Sent', auto: 'subscribe' },
      'Sent Messages': { special_use: '\\Sent', auto: 'no' },
      Junk: { special_use: '\\junk', auto: 'no' },
      'Archive/2026': { special_use: '', auto: 'subscribe' },
    },
  },
};

const shown = (boxes: readonly MailboxInfo[]): string[] => boxes.map((m) => `${m.name} ${m.attributes.join(' ')}`);

describe('the namespace settings: special-use attributes and mailboxes every user gets', () => {
  it('makes the auto mailboxes at the first open, subscribes the subscribe ones once, and shows the special uses', async (t) => {
    const home = await makeHome();
    t.after(() => removeHome(home));
    const settings = { namespace: NAMESPACE };
    const user = await openUser(home, settings);
    assert.deepEqual(shown(await user.listMailboxes('', '*')), [
      'INBOX \\HasNoChildren',
      'Archive \\HasChildren',
      'Archive/2026 \\HasNoChildren \\Subscribed',
      'Drafts \\HasNoChildren \\Drafts',
      'Sent \\HasNoChildren \\Subscribed \\Sent',
    ], 'auto = no mailboxes (Junk, Sent Messages) are not made');
    // A mailbox the user makes under a configured name gets its special use; one of its own wins.
    await user.createMailbox('Junk');
    await user.createMailbox('Sent Messages', { specialUse: '\\Archive' });
    const byName = new Map((await user.listMailboxes('', '*')).map((m) => [m.name, m]));
    assert.equal(byName.get('Junk')?.specialUse, '\\Junk', 'written \\junk in the config, shown as RFC 6154 spells it');
    assert.equal(byName.get('Sent Messages')?.specialUse, '\\Archive');
    await user.close();

    // The user unsubscribes Sent and deletes Drafts: Sent stays unsubscribed, Drafts comes back.
    const again = await openUser(home, settings);
    await again.subscribe('Sent', false);
    await again.deleteMailbox('Drafts');
    await again.close();
    const third = await openUser(home, settings);
    const now = new Map((await third.listMailboxes('', '*')).map((m) => [m.name, m]));
    assert.equal(now.get('Sent')?.subscribed, false);
    assert.ok(now.get('Drafts')?.guid, 'an auto = create mailbox is made again');
    await third.close();

    // Without the settings the same mail has no special uses but its own.
    const plain = await openUser(home);
    const bare = new Map((await plain.listMailboxes('', '*')).map((m) => [m.name, m]));
    assert.equal(bare.get('Sent')?.specialUse, undefined);
    assert.equal(bare.get('Sent Messages')?.specialUse, '\\Archive');
    await plain.close();
  });

  it('refuses what Loft\'s one namespace cannot be, each with the fix', () => {
    const check = (namespace: Record<string, NamespaceSettings>): string[] => checkStorageSettings({ ...STORAGE_SETTINGS_DEFAULTS, namespace } as StorageSettings);
    assert.deepEqual(check(NAMESPACE), []);
    const base = NAMESPACE.inbox!;
    assert.match(check({ inbox: base, other: base }).join('\n'), /one namespace per user, and 2 are configured \(inbox, other\)/);
    assert.match(check({ inbox: { ...base, prefix: 'INBOX.' } }).join('\n'), /prefix 'INBOX\.' is not supported/);
    assert.match(check({ inbox: { ...base, separator: '.' } }).join('\n'), /separator '\.' is not supported; Loft's separator is \//);
    assert.match(check({ inbox: { ...base, inbox: false } }).join('\n'), /set inbox = yes/);
    assert.match(check({ inbox: { ...base, mailbox: { Sent: { special_use: '\\Sent \\Archive', auto: 'no' } } } }).join('\n'), /mailbox Sent: special_use '\\Sent \\Archive' is not one of/);
    assert.match(check({ inbox: { ...base, mailbox: { 'a//b': { special_use: '', auto: 'create' } } } }).join('\n'), /mailbox a\/\/b: .*empty/);
  });
});
