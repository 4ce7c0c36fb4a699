import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MailUser } from './mail-user.js';
import { openUser, testMessage, useTestUser } from './storage-test-support.js';

// A MailUser hands a closed mailbox's state to its next open of that mailbox; what other
// writers logged meanwhile must still be seen, exactly as a fresh read would show it.
describe('reopening a mailbox from the state its last view left', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; });

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
});
