import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isLoftError } from '@loft/errors';
import { parseLine } from './command-parser.js';
import { parseSearch, parseSortCommand, parseThreadCommand, type ParsedSearch } from './search-program.js';

function search(line: string, esearch = true): ParsedSearch {
  return parseSearch(parseLine(line).args, { esearch });
}

test('the charset converters load only for a search in another charset (~3 MiB of every imap process)', () => {
  // A fresh process: whether iconv-lite is in the CommonJS cache after each search.
  const script = `
    import { createRequire } from 'node:module';
    import { parseLine, parseSearch } from '@loft/imap-proto';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('iconv-lite'));
    parseSearch(parseLine('a SEARCH CHARSET UTF-8 SUBJECT "caf\u00e9"').args, {});
    const afterUtf8 = loaded();
    parseSearch(parseLine('a SEARCH CHARSET ISO-8859-1 SUBJECT x').args, {});
    console.log(JSON.stringify({ afterUtf8, afterLatin1: loaded() }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('../../..', import.meta.url).pathname });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), { afterUtf8: false, afterLatin1: true });
});

test('RFC 3501 §6.4.4: FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', () => {
  assert.deepEqual(search('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'), {
    key: {
      type: 'and',
      keys: [
        { type: 'flag', flag: '\\Flagged', set: true },
        { type: 'date', field: 'internal', op: 'since', date: '1994-02-01' },
        { type: 'not', key: { type: 'header', field: 'From', value: 'Smith' } },
      ],
    },
  });
  assert.deepEqual(search('A283 SEARCH TEXT "string not in mailbox"').key, { type: 'text', value: 'string not in mailbox' });
});

test('RFC 3501 §6.4.4: CHARSET UTF-8 with the string as a literal; other charsets are decoded, unknown ones BADCHARSET', () => {
  const parsed = search('A284 SEARCH CHARSET UTF-8 TEXT {7}\r\nZürich');
  assert.deepEqual(parsed, { charset: 'UTF-8', key: { type: 'text', value: 'Zürich' } });
  // "Привет" in KOI8-R, and "Zürich" in ISO-8859-1, inside OR and parentheses too.
  const koi8 = parseSearch(parseLine(Buffer.concat([Buffer.from('A285 SEARCH CHARSET koi8-r SUBJECT {6}\r\n'), Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4])])).args);
  assert.deepEqual(koi8, { charset: 'KOI8-R', key: { type: 'header', field: 'Subject', value: 'Привет' } });
  const latin1 = parseSearch(parseLine(Buffer.from('A286 SEARCH CHARSET ISO-8859-1 OR (BODY {6}\r\nZ\xfcrich) FROM x', 'latin1')).args);
  assert.deepEqual(latin1.key, { type: 'or', left: { type: 'body', value: 'Zürich' }, right: { type: 'header', field: 'From', value: 'x' } });
  assert.equal(parseSortCommand(parseLine(Buffer.from('a SORT (DATE) ISO-8859-1 TEXT "caf\xe9"', 'latin1')).args).key.type, 'text');
  assert.throws(
    () => search('A287 SEARCH CHARSET X-NO-SUCH TEXT x'),
    (err) => isLoftError(err, 'LOFT_E_IMAP_BAD_CHARSET') && /X-NO-SUCH/.test(err.message),
  );
  assert.throws(() => search('A288 SEARCH CHARSET "" TEXT x'), (err) => isLoftError(err, 'LOFT_E_IMAP_BAD_CHARSET'), 'an empty charset is none');
  assert.throws(() => parseSearch(parseLine(Buffer.from('a SEARCH TEXT {2}\r\n\xff\xfe', 'latin1')).args), /not valid UTF-8/);
});

test('every RFC 3501 / 9051 key maps onto SearchKey', () => {
  const cases: Array<[string, unknown]> = [
    ['ALL', { type: 'all' }],
    ['ANSWERED', { type: 'flag', flag: '\\Answered', set: true }],
    ['UNDELETED', { type: 'flag', flag: '\\Deleted', set: false }],
    ['draft', { type: 'flag', flag: '\\Draft', set: true }],
    ['UNDRAFT', { type: 'flag', flag: '\\Draft', set: false }],
    ['UNFLAGGED', { type: 'flag', flag: '\\Flagged', set: false }],
    ['RECENT', { type: 'flag', flag: '\\Recent', set: true }],
    ['SEEN', { type: 'flag', flag: '\\Seen', set: true }],
    ['UNSEEN', { type: 'flag', flag: '\\Seen', set: false }],
    ['UNANSWERED', { type: 'flag', flag: '\\Answered', set: false }],
    ['DELETED', { type: 'flag', flag: '\\Deleted', set: true }],
    ['NEW', { type: 'and', keys: [{ type: 'flag', flag: '\\Recent', set: true }, { type: 'flag', flag: '\\Seen', set: false }] }],
    ['OLD', { type: 'not', key: { type: 'flag', flag: '\\Recent', set: true } }],
    ['KEYWORD $Forwarded', { type: 'flag', flag: '$Forwarded', set: true }],
    ['UNKEYWORD Junk', { type: 'flag', flag: 'Junk', set: false }],
    ['BCC x@y', { type: 'header', field: 'Bcc', value: 'x@y' }],
    ['CC "a b"', { type: 'header', field: 'Cc', value: 'a b' }],
    ['TO ""', { type: 'header', field: 'To', value: '' }],
    ['SUBJECT hi', { type: 'header', field: 'Subject', value: 'hi' }],
    ['HEADER List-Id ""', { type: 'header', field: 'List-Id', value: '' }],
    ['BODY needle', { type: 'body', value: 'needle' }],
    ['BEFORE 29-Feb-2024', { type: 'date', field: 'internal', op: 'before', date: '2024-02-29' }],
    ['ON "7-jul-1996"', { type: 'date', field: 'internal', op: 'on', date: '1996-07-07' }],
    ['SENTBEFORE 1-Jan-2000', { type: 'date', field: 'sent', op: 'before', date: '2000-01-01' }],
    ['SENTON 1-Jan-2000', { type: 'date', field: 'sent', op: 'on', date: '2000-01-01' }],
    ['SENTSINCE 1-Jan-2000', { type: 'date', field: 'sent', op: 'since', date: '2000-01-01' }],
    ['SAVEDBEFORE 1-Jan-2000', { type: 'date', field: 'saved', op: 'before', date: '2000-01-01' }],
    ['SAVEDON 1-Jan-2000', { type: 'date', field: 'saved', op: 'on', date: '2000-01-01' }],
    ['SAVEDSINCE 1-Jan-2000', { type: 'date', field: 'saved', op: 'since', date: '2000-01-01' }],
    ['SAVEDATESUPPORTED', { type: 'savedatesupported' }],
    ['LARGER 50000', { type: 'size', op: 'larger', bytes: 50000 }],
    ['SMALLER 4096', { type: 'size', op: 'smaller', bytes: 4096 }],
    ['UID 1:100,200', { type: 'uid', set: [{ from: 1, to: 100 }, { from: 200, to: 200 }] }],
    ['2:4,*', { type: 'seq', set: [{ from: 2, to: 4 }, { from: '*', to: '*' }] }],
    ['$', { type: 'saved', uid: false }],
    ['UID $', { type: 'saved', uid: true }],
    ['YOUNGER 259200', { type: 'age', op: 'younger', seconds: 259200 }],
    ['OLDER 3600', { type: 'age', op: 'older', seconds: 3600 }],
    ['(SEEN)', { type: 'flag', flag: '\\Seen', set: true }],
    ['OR SEEN (FROM a TO b)', {
      type: 'or',
      left: { type: 'flag', flag: '\\Seen', set: true },
      right: { type: 'and', keys: [{ type: 'header', field: 'From', value: 'a' }, { type: 'header', field: 'To', value: 'b' }] },
    }],
  ];
  for (const [text, key] of cases) assert.deepEqual(search(`a SEARCH ${text}`).key, key, text);
});

test('RFC 7162 CONDSTORE MODSEQ keys, with and without an entry name', () => {
  assert.deepEqual(search('a SEARCH MODSEQ "/flags/\\\\draft" all 620162338').key, {
    type: 'modseq',
    modseq: 620162338n,
    entry: { name: '/flags/\\draft', kind: 'all' },
  });
  assert.deepEqual(search('t SEARCH OR NOT MODSEQ 720162338 LARGER 50000').key, {
    type: 'or',
    left: { type: 'not', key: { type: 'modseq', modseq: 720162338n } },
    right: { type: 'size', op: 'larger', bytes: 50000 },
  });
  assert.throws(() => search('a SEARCH MODSEQ "/flags/x" bogus 5'), /priv, shared or all/);
});

test('RFC 4731 / 5182 / 9394 RETURN options; RETURN () means ALL', () => {
  const parsed = search('A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"');
  assert.deepEqual(parsed.returnOptions, { min: true, max: false, all: false, count: true, save: false });
  assert.deepEqual(search('A283 SEARCH RETURN () FLAGGED').returnOptions, { min: false, max: false, all: true, count: false, save: false });
  assert.deepEqual(search('a SEARCH RETURN (SAVE MAX) FROM x').returnOptions?.save, true);
  assert.deepEqual(search('a SEARCH RETURN (PARTIAL -1:-100) ALL').returnOptions?.partial, { from: -1, to: -100 });
  assert.deepEqual(search('a SEARCH RETURN (PARTIAL 1:500) ALL').returnOptions?.partial, { from: 1, to: 500 });
  assert.throws(() => search('a SEARCH RETURN (PARTIAL 1:-5) ALL'), /PARTIAL/);
  assert.throws(() => search('a SEARCH RETURN (FOO) ALL'), /Unknown SEARCH RETURN option FOO/);
  assert.throws(() => search('a SEARCH RETURN (MIN) ALL', false), /ESEARCH/);
});

test('RFC 5267 CONTEXT return options: UPDATE and CONTEXT; one PARTIAL or ALL', () => {
  assert.deepEqual(search('B01 UID SEARCH RETURN (UPDATE COUNT) DELETED').returnOptions, { min: false, max: false, all: false, count: true, save: false, update: true });
  // UPDATE or CONTEXT alone still asks for the result, as RETURN () does.
  assert.deepEqual(search('A01 SEARCH RETURN (CONTEXT UPDATE) ALL').returnOptions, { min: false, max: false, all: true, count: false, save: false, update: true, context: true });
  assert.equal(search('a SEARCH RETURN (PARTIAL 1:10) ALL').returnOptions?.all, false);
  assert.throws(() => search('a SEARCH RETURN (PARTIAL 1:10 ALL) ALL'), /PARTIAL and ALL/);
  assert.throws(() => search('a SEARCH RETURN (PARTIAL 1:10 PARTIAL 11:20) ALL'), /PARTIAL given twice/);
  // RFC 5465 §7: UPDATE may carry FETCH attributes, kept as sent.
  assert.equal(search('a SEARCH RETURN (COUNT UPDATE (UID BODY.PEEK[HEADER.FIELDS (TO FROM SUBJECT)])) FROM "boss"').returnOptions?.updateFetch?.type, 'list');
  assert.throws(() => search('a SEARCH RETURN (UPDATE (NOSUCHATT)) ALL'), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX'));
});

test('bad programs are LOFT_E_IMAP_SYNTAX with a useful message; deep nesting is refused', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /Missing search criteria/],
    ['FOO', /Unknown search key FOO/],
    ['SINCE 31-Feb-2020', /Invalid day/],
    ['SINCE 2020-02-01', /expected d-Mon-yyyy/],
    ['SINCE 1-Fev-2020', /Invalid month/],
    ['LARGER -1', /Invalid LARGER size/],
    ['OR SEEN', /Missing search key/],
    ['KEYWORD \\Seen', /Invalid keyword/],
    ['HEADER "a:b" x', /Invalid header field name/],
    ['()', /Empty parenthesised/],
    ['UID 0', /Invalid sequence set/],
    ['YOUNGER 0', /must not be 0/],
    [`${'NOT '.repeat(500)}ALL`, /nested deeper than 100/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => search(`a SEARCH ${text}`), (err) => isLoftError(err, 'LOFT_E_IMAP_SYNTAX') && message.test(err.message), text);
  }
});

test('RFC 5256 SORT and THREAD examples', () => {
  const sort = parseSortCommand(parseLine('A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL').args);
  assert.deepEqual(sort, {
    criteria: [{ key: 'SUBJECT', reverse: false }, { key: 'DATE', reverse: true }],
    charset: 'UTF-8',
    key: { type: 'all' },
  });
  const sort2 = parseSortCommand(parseLine('A285 SORT (ARRIVAL cc date) UTF-8 UNDELETED OR FROM "Smith" FROM "Jones"').args);
  assert.deepEqual(sort2.criteria.map((c) => c.key), ['ARRIVAL', 'CC', 'DATE']);
  assert.equal(sort2.key.type, 'and');
  const esort = parseSortCommand(parseLine('a SORT RETURN (MIN) (REVERSE DISPLAYFROM DISPLAYTO) US-ASCII ALL').args);
  assert.equal(esort.returnOptions?.min, true);
  assert.throws(() => parseSortCommand(parseLine('a SORT (SUBJECT) ALL').args), (err) => isLoftError(err, 'LOFT_E_IMAP_BAD_CHARSET'));
  assert.throws(() => parseSortCommand(parseLine('a SORT (REVERSE) UTF-8 ALL').args), /sort key after REVERSE/);
  assert.throws(() => parseSortCommand(parseLine('a SORT (SIZE FOO) UTF-8 ALL').args), /Unknown sort key FOO/);

  assert.deepEqual(parseThreadCommand(parseLine('A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000').args), {
    algorithm: 'ORDEREDSUBJECT',
    charset: 'UTF-8',
    key: { type: 'date', field: 'internal', op: 'since', date: '2000-03-05' },
  });
  assert.equal(parseThreadCommand(parseLine('A285 THREAD references US-ASCII TEXT "gewp"').args).algorithm, 'REFERENCES');
  assert.throws(() => parseThreadCommand(parseLine('a THREAD BOGUS UTF-8 ALL').args), /Unknown THREAD algorithm/);
});
