import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromLineDate, mboxFile, type SourceMessage } from './mail-sources.js';

async function collect(source: AsyncIterable<SourceMessage>): Promise<SourceMessage[]> {
  const out: SourceMessage[] = [];
  for await (const m of source) out.push(m);
  return out;
}

test('mbox: split at real From_ lines only, unquote >From, status headers become flags', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-mbox-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'box');
  fs.writeFileSync(file, [
    'From a@example.com Tue Jan  3 10:00:00 2023',
    'Subject: one',
    'X-Keywords: $Todo',
    'X-UID: 7',
    'Status: RO',
    '',
    'From the start of a line, but no date: not a separator.',
    '>>From quoted twice',
    '',
    'From b@example.com Wed Jan  4 11:00:00 2023 +0100',
    'Subject: two',
    'X-Status: AD',
    '',
    'two',
    '',
  ].join('\r\n'));
  const messages = await collect(mboxFile(file, 'INBOX'));
  assert.equal(messages.length, 2);
  assert.equal(messages[0]!.raw.toString(), 'Subject: one\r\n\r\nFrom the start of a line, but no date: not a separator.\r\n>From quoted twice\r\n');
  assert.deepEqual(messages[0]!.flags, ['$Todo', '\\Seen']);
  assert.equal(messages[1]!.raw.toString(), 'Subject: two\r\n\r\ntwo\r\n');
  assert.deepEqual(messages[1]!.flags, ['\\Answered', '\\Deleted']);
  assert.equal(messages[1]!.received?.toISOString(), '2023-01-04T10:00:00.000Z');
});

test('a file that does not start with a From_ line is not an mbox', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-mbox-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'x'), 'Subject: hi\n\nbody\n');
  await assert.rejects(collect(mboxFile(path.join(dir, 'x'), 'INBOX')), /not an mbox file/);
  assert.equal(fromLineDate('From nobody'), undefined);
});
