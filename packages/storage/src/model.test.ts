import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MailUser } from './mail-user.js';
import type { Mailbox } from './mailbox.js';
import { TINY_TUNING, testMessage, useTestUser } from './storage-test-support.js';

/** A small deterministic PRNG, so a failure can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

const FLAGS = ['\\Seen', '\\Flagged', '\\Deleted', 'todo', 'done'];
const OPS = 400;

describe('random operations from two sessions match a simple model', () => {
  let user: MailUser;
  useTestUser((_home, u) => { user = u; }, {}, TINY_TUNING);

  for (const seed of [1, 2]) {
    it(`seed ${seed}`, async () => {
      const name = `model${seed}`;
      await user.createMailbox(name);
      const rand = prng(seed);
      const model = new Map<number, { tag: string; flags: Set<string> }>();
      const sessions: Mailbox[] = [await user.openMailbox(name), await user.openMailbox(name)];
      const pick = <T>(items: readonly T[]): T => items[rand(items.length)]!;
      const someUids = (box: Mailbox): number[] => Array.from(box.uids()).filter(() => rand(3) === 0);
      let lastUid = 0;
      for (let op = 0; op < OPS; op++) {
        const i = rand(2);
        const box = sessions[i]!;
        const countBefore = sessions.map((s) => s.messageCount);
        const kind = rand(20);
        if (kind < 5) {
          const txn = box.transaction();
          const n = 1 + rand(3);
          const saved: Array<{ tag: string; flag: string }> = [];
          for (let k = 0; k < n; k++) {
            const tag = `${name}-${op}-${k}`;
            const flag = pick(FLAGS);
            saved.push({ tag, flag });
            await txn.save(testMessage(tag), { flags: [flag] });
          }
          const result = await txn.commit();
          result.saved.forEach(({ uid }, k) => {
            assert.ok(uid > lastUid, `UID ${uid} is not above ${lastUid}`);
            lastUid = uid;
            model.set(uid, { tag: saved[k]!.tag, flags: new Set([saved[k]!.flag]) });
          });
        } else if (kind < 12) {
          const uids = someUids(box);
          const op3 = pick(['add', 'remove', 'replace'] as const);
          const flags = [pick(FLAGS), pick(FLAGS)];
          await box.updateFlags(uids, { op: op3, flags });
          for (const uid of uids) {
            const m = model.get(uid);
            if (!m) continue;
            if (op3 === 'add') for (const f of flags) m.flags.add(f);
            else if (op3 === 'remove') for (const f of flags) m.flags.delete(f);
            else m.flags = new Set(flags);
          }
        } else if (kind < 14) {
          const uids = someUids(box);
          await box.expunge(uids);
          for (const uid of uids) model.delete(uid);
        } else if (kind < 18) {
          const changes = await box.refresh();
          for (const uid of changes.expunged) assert.ok(!model.has(uid), `refresh reported UID ${uid} expunged, the model has it`);
        } else if (kind < 19) {
          await box.close();
          sessions[i] = await user.openMailbox(name);
        } else if (rand(4) === 0) {
          await box.forceResync();
        }
        sessions.forEach((s, k) => {
          if (kind >= 14 && kind < 19) return; // refresh or reopen: the view may change
          assert.equal(s.messageCount, countBefore[k], `op ${op}: a view changed outside refresh()`);
        });
      }
      for (const box of sessions) {
        await box.refresh();
        assert.deepEqual(Array.from(box.uids()), [...model.keys()].sort((a, b) => a - b));
        for (const [uid, m] of model) {
          assert.deepEqual([...box.flags(uid)].filter((f) => f !== '\\Recent').sort(), [...m.flags].sort(), `flags of UID ${uid}`);
        }
      }
      for (const [uid, m] of model) assert.deepEqual(await sessions[0]!.openMessage(uid), testMessage(m.tag));
      for (const box of sessions) await box.close();
    });
  }
});
