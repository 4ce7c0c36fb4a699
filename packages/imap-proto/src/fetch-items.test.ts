import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoftError } from '@loft/errors';
import { parseLine } from './command-parser.js';
import { formatBodySection, parseFetchArgs, parseFetchItems, parseFetchModifiers, type FetchItem } from './fetch-items.js';

/** The items of `tag FETCH <set> <items…>`. */
function items(line: string): FetchItem[] {
  return parseFetchItems(parseLine(`a FETCH 1 ${line}`).args.slice(1));
}

test('macros expand as RFC 3501 §6.4.5 defines them', () => {
  assert.deepEqual(
    items('FAST').map((i) => i.type === 'attribute' && i.name),
    ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  );
  assert.equal(items('ALL').length, 4);
  assert.deepEqual(items('full').at(-1), { type: 'attribute', name: 'BODY' });
  assert.throws(() => items('(ALL)'), /Unknown FETCH item ALL/);
});

test('RFC 3501 §8 and §6.4.5 examples: body[header], BODY[HEADER.FIELDS (DATE FROM)], partial ranges', () => {
  assert.deepEqual(items('body[header]'), [{ type: 'body', peek: false, section: { part: [], text: 'HEADER' } }]);
  assert.deepEqual(items('(FLAGS BODY[HEADER.FIELDS (DATE FROM)])')[1], {
    type: 'body',
    peek: false,
    section: { part: [], text: 'HEADER.FIELDS', fields: ['DATE', 'FROM'] },
  });
  assert.deepEqual(items('BODY.PEEK[1.2.TEXT]<0.2048>'), [
    { type: 'body', peek: true, section: { part: [1, 2], text: 'TEXT' }, partial: { offset: 0, length: 2048 } },
  ]);
  assert.deepEqual(items('BODY[]'), [{ type: 'body', peek: false, section: { part: [] } }]);
  assert.deepEqual(items('BODY[3.MIME]')[0], { type: 'body', peek: false, section: { part: [3], text: 'MIME' } });
  assert.deepEqual(items('BODY.PEEK[HEADER.FIELDS.NOT ("X-Spam" Received)]')[0], {
    type: 'body',
    peek: true,
    section: { part: [], text: 'HEADER.FIELDS.NOT', fields: ['X-Spam', 'Received'] },
  });
});

test('BINARY (RFC 3516), MODSEQ, SAVEDATE, object ids and PREVIEW (RFC 8970)', () => {
  assert.deepEqual(items('(BINARY.PEEK[1]<100.200> BINARY.SIZE[2.1] BINARY[])'), [
    { type: 'binary', peek: true, part: [1], partial: { offset: 100, length: 200 } },
    { type: 'binary-size', part: [2, 1] },
    { type: 'binary', peek: false, part: [] },
  ]);
  assert.deepEqual(items('(UID MODSEQ SAVEDATE EMAILID THREADID)').map((i) => i.type === 'attribute' && i.name), ['UID', 'MODSEQ', 'SAVEDATE', 'EMAILID', 'THREADID']);
  assert.deepEqual(items('(UID PREVIEW (LAZY) FLAGS)'), [
    { type: 'attribute', name: 'UID' },
    { type: 'preview', lazy: true },
    { type: 'attribute', name: 'FLAGS' },
  ]);
  assert.deepEqual(items('PREVIEW'), [{ type: 'preview', lazy: false }]);
});

test('bad sections and items say what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['BODY[MIME]', /MIME needs a part number/],
    ['BODY[0]', /must not be 0/],
    ['BODY[1.]', /Invalid section/],
    ['BODY[HEADER.FIELDS]', /header field list/],
    ['BODY[HEADER.FIELDS ()]', /Empty header field list/],
    ['BODY[TEXT]<5>', /partial range/],
    ['BODY[TEXT]<1.0>', /must not be 0/],
    ['BODY[FOO]', /Unknown section FOO/],
    ['BINARY.SIZE[1]<0.1>', /no partial/],
    ['RFC822.FOO', /Unknown FETCH item/],
    ['()', /Empty FETCH item list/],
    ['"FLAGS"', /Expected a FETCH item/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => items(text), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX') && message.test(err.message), text);
  }
});

test('FETCH modifiers (RFC 7162): CHANGEDSINCE and VANISHED', () => {
  const cmd = parseLine('s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)');
  const { items: fetched, modifiers } = parseFetchArgs(cmd.args.slice(1));
  assert.deepEqual(fetched, [{ type: 'attribute', name: 'FLAGS' }]);
  assert.deepEqual(modifiers, { changedSince: 12345n, vanished: true });
  assert.throws(() => parseFetchModifiers(parseLine('a X (VANISHED)').args[0]), /VANISHED needs CHANGEDSINCE/);
  assert.throws(() => parseFetchModifiers(parseLine('a X (CHANGEDSINCE 0)').args[0]), /must not be 0/);
  assert.throws(() => parseFetchModifiers(parseLine('a X (FOO)').args[0]), /Unknown FETCH modifier/);
});

test('formatBodySection gives the section back as a FETCH response names it', () => {
  for (const section of ['', 'HEADER', '1.2.TEXT', '3.MIME', 'HEADER.FIELDS (DATE FROM)', '2.HEADER.FIELDS.NOT (X)']) {
    const [item] = items(`BODY[${section}]`);
    assert.equal(item?.type === 'body' && formatBodySection(item.section), section);
  }
});
