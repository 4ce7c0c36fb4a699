import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '@loft/log';
import { EuidSwitch, type EuidCalls } from './euid-switch.js';

const logger = createLogger({ service: 'lmtp-test', level: 'silent' });

/** Fake system calls that record the effective uid over time. */
function fakeCalls(): EuidCalls & { euid: number; trace: string[] } {
  const calls = {
    euid: 0,
    trace: [] as string[],
    seteuid(uid: number) {
      calls.euid = uid;
      calls.trace.push(`euid ${uid}`);
    },
    setegid: () => undefined,
    setgroups: () => undefined,
    geteuid: () => calls.euid,
  };
  return calls;
}

test('deliveries and root operations never overlap, whatever they await', async () => {
  const calls = fakeCalls();
  const euid = new EuidSwitch(logger, calls, (reason) => assert.fail(reason));
  let inside = 0;
  let maxInside = 0;
  const seen: Array<[number, number]> = [];
  const work = (expected: number) => async (): Promise<number> => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      seen.push([expected, calls.euid]);
    }
    inside--;
    return expected;
  };
  const results = await Promise.all([
    euid.asUser({ uid: 5001, gid: 5001 }, work(5001)),
    euid.asUser({ uid: 5002, gid: 5002 }, work(5002)),
    euid.asRoot(work(0)),
    euid.asUser({ uid: 5001, gid: 5001 }, work(5001)),
  ]);
  assert.deepEqual(results, [5001, 5002, 0, 5001]);
  assert.equal(maxInside, 1);
  for (const [expected, actual] of seen) assert.equal(actual, expected, 'every await ran under the identity of its holder');
  assert.equal(calls.euid, 5001, 'the last user\'s euid stays in effect until another identity holds the switch');
});

test('after a failing delivery the next holder still gets its own identity, and uid 0 is refused', async () => {
  const calls = fakeCalls();
  const euid = new EuidSwitch(logger, calls, (reason) => assert.fail(reason));
  await assert.rejects(euid.asUser({ uid: 5001, gid: 5001 }, () => Promise.reject(new Error('disk full'))), /disk full/);
  assert.equal(await euid.asRoot(() => Promise.resolve(calls.euid)), 0, 'a root operation runs as root');
  await assert.rejects(euid.asUser({ uid: 0, gid: 5001 }, () => Promise.resolve(1)), /LOFT_E_LMTP_PRIVSEP|root must not deliver/);
  await assert.rejects(euid.asUser({ uid: 5001, gid: 5001 }, () => Promise.reject(new Error('disk full'))), /disk full/);
  assert.equal(await euid.asUser({ uid: 5002, gid: 5002 }, () => Promise.resolve(calls.euid)), 5002, 'the switch is usable after a failure');
});

test('groups are emptied once, a repeated identity switches nothing, egid changes only with the gid, and root gets egid 0 back before a root operation', async () => {
  const trace: string[] = [];
  let euid = 0;
  const calls: EuidCalls = {
    seteuid: (uid) => {
      euid = uid;
      trace.push(`euid ${uid}`);
    },
    setegid: (gid) => trace.push(`egid ${gid}`),
    setgroups: (groups) => trace.push(`groups ${groups.join(',')}`),
    geteuid: () => euid,
  };
  const sw = new EuidSwitch(logger, calls, (reason) => assert.fail(reason));
  await sw.asUser({ uid: 5001, gid: 5001 }, () => Promise.resolve());
  await sw.asUser({ uid: 5001, gid: 5001 }, () => Promise.resolve());
  await sw.asUser({ uid: 5002, gid: 5002 }, () => Promise.resolve());
  await sw.asUser({ uid: 5003, gid: 5002 }, () => Promise.resolve());
  await sw.asRoot(() => Promise.resolve());
  await sw.asUser({ uid: 5002, gid: 5002 }, () => Promise.resolve());
  assert.deepEqual(trace, [
    'groups ', 'egid 5001', 'euid 5001',
    // the same uid and gid again: no call
    'euid 0', 'egid 5002', 'euid 5002',
    'euid 0', 'euid 5003',
    'euid 0', 'egid 0',
    'egid 5002', 'euid 5002',
  ]);
});

test('relax() returns an idle switch to root after a change of user, and keeps a repeated one', async () => {
  const calls = fakeCalls();
  const euid = new EuidSwitch(logger, calls, (reason) => assert.fail(reason));
  const a = { uid: 5001, gid: 5001 };
  const b = { uid: 5002, gid: 5002 };
  await euid.asUser(a, () => Promise.resolve());
  await euid.asUser(a, () => Promise.resolve());
  euid.relax();
  assert.equal(calls.euid, 5001, 'one identity delivering again and again keeps its euid');
  await euid.asUser(b, () => Promise.resolve());
  // Busy, or with a holder queued: relax() must leave the holder's identity alone.
  let release!: () => void;
  const holding = euid.asUser(b, () => new Promise<void>((resolve) => (release = resolve)));
  const queued = euid.asUser(a, () => Promise.resolve(calls.euid));
  euid.relax();
  await new Promise((resolve) => setImmediate(resolve));
  euid.relax();
  assert.equal(calls.euid, 5002, 'relax() does nothing while a delivery holds the switch');
  release();
  await holding;
  assert.equal(await queued, 5001, 'the queued delivery ran as its own user');
  calls.trace.length = 0;
  euid.relax();
  assert.equal(calls.euid, 0, 'idle after a change of user: back to root');
  assert.deepEqual(calls.trace, ['euid 0']);
  assert.equal(await euid.asUser(b, () => Promise.resolve(calls.euid)), 5002, 'the next user enters from root');
  assert.deepEqual(calls.trace, ['euid 0', 'euid 5002'], 'without a second return to root');
});
