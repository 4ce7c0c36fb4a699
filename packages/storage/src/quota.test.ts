import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isLoftError } from '@loft/errors';
import { checkQuota, parseQuotaRule } from './quota.js';
import { makeHome, openUser, removeHome, testMessage } from './storage-test-support.js';

const overQuota = (err: unknown): boolean => isLoftError(err, 'LOFT_E_QUOTA_EXCEEDED');

describe('quota_rule', () => {
  it('reads Dovecot\'s rules for the whole user and says what is wrong with others', () => {
    assert.deepEqual(parseQuotaRule(''), { storage: 0, messages: 0 });
    assert.deepEqual(parseQuotaRule('*:storage=1G'), { storage: 1024 ** 3, messages: 0 });
    assert.deepEqual(parseQuotaRule('*:storage=100'), { storage: 100 * 1024, messages: 0 }, 'a bare storage figure is KiB, as in Dovecot');
    assert.deepEqual(parseQuotaRule('*:bytes=100'), { storage: 100, messages: 0 });
    assert.deepEqual(parseQuotaRule('*:storage=512M:messages=10000'), { storage: 512 * 1024 ** 2, messages: 10_000 });
    assert.deepEqual(parseQuotaRule('*:storage=0'), { storage: 0, messages: 0 }, '0 is no limit');
    assert.throws(() => parseQuotaRule('Trash:storage=+100M'), /only rules for the whole user/);
    assert.throws(() => parseQuotaRule('*:storage=10%'), /'storage=10%' is not storage=SIZE/);
    assert.throws(() => parseQuotaRule('*'), /no limit given/);
    assert.throws(() => parseQuotaRule('*:messages=5k'), /messages takes a count/);
  });

  it('refuses a save past a limit; a delivery may go past it by a tenth, once', () => {
    const limits = { storage: 1000, messages: 0 };
    assert.doesNotThrow(() => checkQuota(limits, { storage: 900, messages: 9 }, 100, 1));
    assert.throws(() => checkQuota(limits, { storage: 900, messages: 9 }, 101, 1), overQuota);
    assert.doesNotThrow(() => checkQuota(limits, { storage: 900, messages: 9 }, 200, 1, true), 'grace: 1,100 is within 10% of 1,000');
    assert.throws(() => checkQuota(limits, { storage: 900, messages: 9 }, 201, 1, true), overQuota);
    assert.throws(() => checkQuota(limits, { storage: 1000, messages: 9 }, 1, 1, true), overQuota, 'no grace for a user already at the limit');
  });

  it('counts every mailbox, refuses APPEND and COPY past the limit, leaves no file behind, and lets MOVE and EXPUNGE through', async (t) => {
    const home = await makeHome();
    t.after(() => removeHome(home));
    const user = await openUser(home, { quota_rule: '*:messages=3' });
    await user.createMailbox('Archive');
    const inbox = await user.openMailbox('INBOX');
    const archive = await user.openMailbox('Archive');
    const first = await inbox.save(testMessage('a'));
    await inbox.save(testMessage('b'));
    await archive.save(testMessage('c'));
    await inbox.refresh(); // the view announces its own saves, as a session's EXISTS would
    assert.deepEqual(await user.quotaUsage(), { storage: testMessage('a').length * 3, messages: 3 });
    await assert.rejects(inbox.save(testMessage('d')), overQuota);
    await assert.rejects(inbox.copy([first.uid], archive), overQuota);
    const tmp = join(home, 'mail', 'mailboxes');
    for (const guid of await readdir(tmp)) {
      const left = await readdir(join(tmp, guid, 'tmp')).catch(() => []);
      assert.deepEqual(left, [], 'a refused save leaves no message file');
    }
    // Moving to Trash is how a user gets under quota; it must not be refused.
    await inbox.move([first.uid], archive);
    assert.equal((await user.quotaUsage()).messages, 3);
    await archive.refresh();
    await archive.expunge([...archive.uids()].slice(0, 1));
    await inbox.save(testMessage('e'));
    assert.equal((await user.quotaUsage()).messages, 3);
    await inbox.close();
    await archive.close();
    await user.close();
  });

  it('counts what was delivered since an open view last looked (another session\'s view of a shared MailUser)', async (t) => {
    const home = await makeHome();
    t.after(() => removeHome(home));
    const user = await openUser(home, { quota_rule: '*:messages=3' });
    const idle = await user.openMailbox('INBOX'); // a session that has not refreshed since
    const lmtp = await openUser(home, { quota_rule: '*:messages=3' });
    const delivery = await lmtp.openMailbox('INBOX');
    await delivery.save(testMessage('a'));
    await delivery.save(testMessage('b'));
    await delivery.save(testMessage('c'));
    await delivery.close();
    await lmtp.close();
    assert.equal(idle.messageCount, 0, 'the view has not looked yet');
    assert.deepEqual(await user.quotaUsage(), { storage: testMessage('a').length * 3, messages: 3 });
    const other = await user.openMailbox('INBOX');
    await assert.rejects(other.save(testMessage('d')), overQuota, 'the fourth message is past the limit');
    await other.close();
    await idle.close();
    await user.close();
  });
});
