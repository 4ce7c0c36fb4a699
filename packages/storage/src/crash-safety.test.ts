import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { exited, killAll, makeHome, openUser, removeHome, startChild, testMessage } from './storage-test-support.js';

const ROUNDS = 20;

/** The message storage-test-child.js saves for `tag` (`<prefix>-<i>`). */
function expected(tag: string): Buffer {
  const i = Number(tag.split('-').pop());
  return testMessage(tag, 200 + (i % 7) * 1000);
}

describe('crash safety', () => {
  let home: string;
  const children = new Set<ChildProcess>();
  before(async () => {
    home = await makeHome();
  });
  after(async () => {
    await killAll(children);
    await removeHome(home);
  });

  /** Kills a saving child `rounds` times at random moments, checking every acknowledged message each time. */
  async function killLoop(home: string, rounds: number, mdbox: boolean): Promise<void> {
    const location = mdbox ? { mail_location: 'mdbox:~/mdbox' } : {};
    const acked = new Map<number, string>();
    for (let round = 0; round < rounds; round++) {
      // Every third round also checkpoints and rotates the log every few saves.
      const env: Record<string, string> = round % 3 === 2 ? { LOFT_STORAGE_TEST_TINY: '1' } : {};
      if (mdbox) env.LOFT_STORAGE_TEST_MDBOX = '1';
      const child = startChild(['save-loop', home, round % 2 ? 'always' : 'optimized', `r${round}`], children, env);
      const wanted = randomInt(1, 25);
      let count = 0;
      await child.waitFor((line) => line.startsWith('ACK ') && ++count >= wanted);
      child.process.kill('SIGKILL');
      await exited(child.process);
      for (const line of child.lines) {
        const [, uid, tag] = line.split(' ');
        assert.ok(!acked.has(Number(uid)), `UID ${uid} acknowledged twice`);
        acked.set(Number(uid), tag!);
      }
      // Reopen as a new process would, and check everything.
      const user = await openUser(home, location);
      const inbox = await user.openMailbox('INBOX', { readOnly: true });
      for (const [uid, tag] of acked) {
        assert.ok(inbox.seqOfUid(uid) > 0, `acknowledged UID ${uid} (${tag}) is missing after round ${round}`);
        assert.deepEqual(await inbox.openMessage(uid), expected(tag), `UID ${uid} differs`);
      }
      for (const uid of inbox.uids()) {
        const message = await inbox.openMessage(uid);
        const tag = /Subject: (\S+)/.exec(message.toString('latin1'))?.[1];
        assert.ok(tag, `UID ${uid} has no subject: a partial message is visible`);
        assert.deepEqual(message, expected(tag), `UID ${uid} is not a complete message`);
      }
      if (mdbox && round % 4 === 3) {
        // A purge after a crash must not take anything a mailbox still refers to.
        await user.purge();
        for (const [uid, tag] of acked) assert.deepEqual(await inbox.openMessage(uid), expected(tag), `UID ${uid} lost by purge`);
      }
      await user.close();
    }
    assert.ok(acked.size >= rounds);
  }

  it('keeps every acknowledged message across SIGKILL at random moments, and shows no partial one', async () => {
    await killLoop(home, ROUNDS, false);
  });

  it('does the same for mdbox, whose saves append to shared storage files and the map', async () => {
    const mdboxHome = await makeHome();
    try {
      await killLoop(mdboxHome, ROUNDS, true);
    } finally {
      await removeHome(mdboxHome);
    }
  });
});
