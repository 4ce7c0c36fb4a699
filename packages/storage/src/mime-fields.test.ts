import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bodyStructure, envelope, parseMessage, writeImapValue, type ImapValue } from '@loft/mime';
import { isLoftError } from '@loft/errors';
import { MailUser } from './mail-user.js';
import { headerFieldParser } from './message-fields.js';
import { decodeFieldJson, encodeFieldJson } from './mime-fields.js';
import { compileSearch, searchMatches, sortMessages, type QueryContext } from './query/index.js';
import { useTestUser } from './storage-test-support.js';

const MULTIPART = Buffer.concat([
  Buffer.from(
    'From: =?utf-8?Q?Ren=C3=A9e?= <renee@example.org>\r\n' +
      'To: b@example.org\r\n' +
      'Subject: =?iso-8859-1?Q?Caf=E9?=\r\n' +
      '  menu\r\n' +
      'Date: Fri, 27 Nov 2026 09:30:00 +0100\r\n' +
      'Message-ID: <mp@example.org>\r\n' +
      'X-Raw: ',
  ),
  Buffer.from([0xe9, 0x74, 0xe9]), // latin1 "été": not UTF-8, so ENVELOPE keeps it as bytes
  Buffer.from(
    '\r\n' +
      'MIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b1"\r\n' +
      '\r\n' +
      '--b1\r\n' +
      'Content-Type: text/plain; charset=iso-8859-1\r\n' +
      'Content-Transfer-Encoding: quoted-printable\r\n' +
      '\r\n' +
      'Un caf=E9 cr=E8me, s\'il vous pla=EEt.\r\n' +
      '--b1\r\n' +
      'Content-Type: text/html; charset=utf-8\r\n' +
      'Content-Transfer-Encoding: base64\r\n' +
      '\r\n' +
      Buffer.from('<p>Gr&#252;&#xdf;e aus <b>Zürich</b></p>').toString('base64') +
      '\r\n' +
      '--b1--\r\n',
  ),
]);

const LATIN1_SUBJECT = Buffer.concat([Buffer.from('From: x@example.org\r\nSubject: '), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from('\r\n\r\nbody\r\n')]);

const ctx: QueryContext = { messageCount: 2, maxUid: 2, now: new Date('2026-11-28T00:00:00Z'), timeZoneOffsetMinutes: 0 };

describe('@loft/mime fields', () => {
  let home: string;
  let user: MailUser;
  useTestUser((h, u) => { home = h; user = u; }); // no parser passed: the @loft/mime one is the default

  it('caches ENVELOPE, BODYSTRUCTURE and BODY out of the box, equal to @loft/mime', async () => {
    await user.createMailbox('fields');
    let box = await user.openMailbox('fields');
    await box.save(MULTIPART);
    await box.save(LATIN1_SUBJECT);
    await box.refresh();
    const root = parseMessage(MULTIPART);
    const env = await box.cachedField(1, 'envelope');
    assert.deepEqual(writeImapValue(env as ImapValue), writeImapValue(envelope(MULTIPART)));
    assert.deepEqual(writeImapValue((await box.cachedField(1, 'bodystructure')) as ImapValue), writeImapValue(bodyStructure(MULTIPART, root, true)));
    assert.equal(await box.cachedField(1, 'sentDate'), Date.parse('2026-11-27T08:30:00Z'));
    const subject = ((await box.cachedField(2, 'envelope')) as ImapValue[])[1];
    assert.ok(Buffer.isBuffer(subject), 'a subject that is not UTF-8 stays bytes');
    const cacheFile = await readFile(join(user.root, 'mailboxes', box.guid, 'loft.index.cache'));
    for (const field of ['envelope', 'bodystructure', 'body', 'sentDate']) assert.ok(cacheFile.includes(field), `${field} is in loft.index.cache`);
    await box.close();

    // A fresh session reads the cache, Buffers included, and gets the same bytes on the wire.
    box = await user.openMailbox('fields');
    const again = (await box.cachedField(2, 'envelope')) as ImapValue[];
    assert.ok(Buffer.isBuffer(again[1]));
    assert.deepEqual(writeImapValue(again), writeImapValue(envelope(LATIN1_SUBJECT)));
    assert.deepEqual(writeImapValue((await box.cachedField(1, 'body')) as ImapValue), writeImapValue(bodyStructure(MULTIPART, root, false)));
    assert.equal(await box.cachedField(1, 'preview'), "Un café crème, s'il vous plaît.");
    await box.close();
  });

  it('gives SEARCH decoded body and header text, and raw unfolded header values', async () => {
    const box = await user.openMailbox('fields');
    const view = box.messageView(1);
    assert.match(view.bodyText(), /Un café crème/);
    assert.match(view.bodyText(), /Grüße aus Zürich/);
    assert.doesNotMatch(view.bodyText(), /<b>/);
    assert.match(view.headerText(), /Subject: Café {2}menu/);
    assert.match(view.headerText(), /From: Renée <renee@example.org>/);
    assert.deepEqual(view.header('subject'), ['=?iso-8859-1?Q?Caf=E9?=  menu']);
    assert.deepEqual(view.header('X-Missing'), []);
    const search = (key: Parameters<typeof compileSearch>[0]): number[] =>
      [1, 2].map((seq) => box.messageView(seq)).filter((m) => searchMatches(compileSearch(key), m, ctx)).map((m) => m.uid);
    assert.deepEqual(search({ type: 'body', value: 'CAFÉ CRÈME' }), [1]);
    assert.deepEqual(search({ type: 'body', value: 'zürich' }), [1]);
    assert.deepEqual(search({ type: 'body', value: 'Subject' }), [], 'BODY does not look in the header');
    assert.deepEqual(search({ type: 'text', value: 'renée' }), [1]);
    // A part's header is body to RFC 3501: TEXT finds an attachment's type or file name there.
    assert.deepEqual(search({ type: 'text', value: 'TEXT/HTML; charset' }), [1]);
    assert.deepEqual(search({ type: 'body', value: 'text/html' }), [], 'BODY searches decoded text only');
    assert.deepEqual(search({ type: 'header', field: 'subject', value: 'café' }), [1]);
    const sorted = sortMessages([box.messageView(1), box.messageView(2)], [{ key: 'SUBJECT', reverse: true }]);
    assert.deepEqual(sorted.map((m) => m.uid), [2, 1]);
    await box.close();
  });

  it('refuses ENVELOPE with a parser that only knows header fields', async () => {
    const headersOnly = await MailUser.open({ user: 'test', home, settings: { mail_location: 'sdbox:~/mail', mail_fsync: 'never' }, parser: headerFieldParser });
    await headersOnly.createMailbox('headers-only');
    const box = await headersOnly.openMailbox('headers-only');
    await box.save(MULTIPART);
    await box.refresh();
    await assert.rejects(box.cachedField(1, 'envelope'), (err) => isLoftError(err, 'LOFT_E_STORAGE_NO_PARSER'));
    assert.deepEqual(await box.cachedField(1, 'headers:message-id'), ['<mp@example.org>']);
    await headersOnly.close();
  });

  it('round-trips Buffers through the cache JSON', () => {
    const value = ['a', Buffer.from([0xff, 0x00]), [null, 3, Buffer.alloc(0)]];
    assert.deepEqual(decodeFieldJson(encodeFieldJson(value)), value);
    assert.deepEqual(decodeFieldJson('{"$b":"AQ==","x":1}'), { $b: 'AQ==', x: 1 }, 'only a lone $b key is a Buffer');
  });
});
