import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MailUser, STORAGE_SETTINGS_DEFAULTS, SILENT_LOGGER } from '@loft/storage';
import { deliverMessage, type BodySource, type DeliveryRequest } from './delivery.js';
import { OpenMailUsers } from './open-mail-users.js';

/** Runs as whoever runs the tests: the identity switch is the caller's business, not tested here. */
function setup(t: { after(fn: () => void): void }): { home: string; request: (mailbox: string) => DeliveryRequest } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-lmtp-open-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  return {
    home,
    request: (mailbox) => ({
      user: 'alice', uid, gid, home, mailbox, autocreate: true, prepend: 'Delivered-To: alice\r\n',
      storage: { ...STORAGE_SETTINGS_DEFAULTS, mail_fsync: 'never' },
    }),
  };
}

function body(text: string): BodySource {
  const source: BodySource = async function* message() {
    yield Buffer.from(`Subject: ${text}\r\n\r\n${text}\r\n`);
  };
  source.replayable = true;
  return source;
}

async function messages(home: string, mailbox: string): Promise<number> {
  const user = await MailUser.open({ user: 'alice', home, settings: { ...STORAGE_SETTINGS_DEFAULTS, mail_fsync: 'never' } });
  try {
    return (await user.status(mailbox)).messages;
  } finally {
    await user.close();
  }
}

test('a kept-open user delivers again, and a mailbox deleted meanwhile is recreated rather than failing', async (t) => {
  const { home, request } = setup(t);
  const open = new OpenMailUsers((_who, fn) => fn(), SILENT_LOGGER, 60_000);
  t.after(() => open.closeAll());
  for (let i = 0; i < 3; i++) {
    const outcome = await deliverMessage(request('lists'), body(`kept ${i}`), SILENT_LOGGER, open);
    assert.deepEqual(outcome, { ok: true, mailbox: 'lists', uid: i + 1 });
  }
  // Another process (an IMAP session) deletes the folder while lmtp keeps it open.
  const imap = await MailUser.open({ user: 'alice', home, settings: { ...STORAGE_SETTINGS_DEFAULTS, mail_fsync: 'never' } });
  await imap.deleteMailbox('lists');
  await imap.close();
  const outcome = await deliverMessage(request('lists'), body('after delete'), SILENT_LOGGER, open);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  await open.closeAll();
  assert.equal(await messages(home, 'lists'), 1, 'the recreated folder holds the new message only');
});

test('messages delivered through kept-open users are all there once they are closed', async (t) => {
  const { home, request } = setup(t);
  const open = new OpenMailUsers((_who, fn) => fn(), SILENT_LOGGER, 60_000);
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => deliverMessage(request('INBOX'), body(`parallel ${i}`), SILENT_LOGGER, open)));
  assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes.filter((o) => !o.ok)));
  assert.deepEqual(new Set(outcomes.map((o) => (o.ok ? o.uid : 0))).size, 20, 'distinct UIDs');
  await open.closeAll();
  assert.equal(await messages(home, 'INBOX'), 20);
});

test('a user is kept open for the idle time it was given (lmtp_privsep_linger) and closed after it', async (t) => {
  const { home, request } = setup(t);
  const idleMs = 300;
  const closes: number[] = [];
  let closed!: () => void;
  const firstClose = new Promise<void>((resolve) => (closed = resolve));
  const open = new OpenMailUsers(async (_who, fn) => {
    await fn();
    closes.push(performance.now());
    closed();
  }, SILENT_LOGGER, idleMs);
  t.after(() => open.closeAll());
  const started = performance.now();
  assert.equal((await deliverMessage(request('INBOX'), body('first'), SILENT_LOGGER, open)).ok, true);
  // A second delivery within the idle time finds the user open: nothing was closed between.
  assert.equal((await deliverMessage(request('INBOX'), body('second'), SILENT_LOGGER, open)).ok, true);
  assert.deepEqual(closes, [], 'closed while deliveries kept coming');
  // The idle timer does not keep a process alive; this one does, and bounds the wait.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([firstClose, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not closed ${idleMs + 5_000} ms after the last delivery`)), idleMs + 5_000)))]).finally(() => clearTimeout(timer));
  assert.equal(closes.length, 1);
  assert.ok(closes[0]! - started >= idleMs, `closed ${(closes[0]! - started).toFixed(0)} ms after the first delivery began, before its idle time of ${idleMs} ms`);
  assert.equal(await messages(home, 'INBOX'), 2);
});
