import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyStructure, bodyText, envelope, parseMessage, preview, section, writeImapValue, type MimePart } from './index.js';

const FRAGMENTS = [
  'Content-Type: multipart/mixed; boundary=a\r\n',
  'Content-Type: multipart/alternative; boundary="b"\r\n',
  'Content-Type: message/rfc822\r\n',
  'Content-Type: text/plain; charset*0*=utf-8\'\'; charset*1="x"\r\n',
  'Content-Type: ;;;===\r\n',
  'Content-Transfer-Encoding: base64\r\n',
  'Content-Transfer-Encoding: quoted-printable\r\n',
  'From: "unterminated <a@b\r\n',
  'To: group: a@b, <c@d;\r\n',
  'Subject: =?utf-8?B?broken=?= =?x?q?y?=\r\n',
  ' folded continuation\r\n',
  '\r\n',
  '\n',
  '--a\r\n',
  '--a--\r\n',
  '--b\r\n',
  '--b--\r\n',
  'body text =C3=A9 \xff\xfe\r\n',
  'aGVsbG8gd29ybGQ=\r\n',
  '--\r\n',
  '(((\r\n',
];

function* random(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    yield x;
  }
}

function allParts(root: MimePart): MimePart[] {
  const out: MimePart[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    if (p.message) stack.push(p.message);
    stack.push(...p.parts);
  }
  return out;
}

test('random broken mail never throws and offsets stay inside the message', () => {
  const rnd = random(42);
  for (let n = 0; n < 1500; n++) {
    const count = rnd.next().value! % 40;
    let text = '';
    for (let i = 0; i < count; i++) text += FRAGMENTS[rnd.next().value! % FRAGMENTS.length];
    const raw = Buffer.from(text, 'latin1');
    const root = parseMessage(raw);
    for (const p of allParts(root)) {
      assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.end && p.end <= raw.length, JSON.stringify(text));
    }
    writeImapValue(bodyStructure(raw, root, true));
    writeImapValue(envelope(raw));
    bodyText(raw, root);
    preview(raw, root);
    assert.ok(section(raw, root, {}).equals(raw));
    section(raw, root, { part: [1, 1], text: 'HEADER.FIELDS', fields: ['from'] });
  }
});
