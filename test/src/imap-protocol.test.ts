/**
 * Protocol-level exchanges of the IMAP service, written from the RFCs' examples: SELECT,
 * FETCH sections and \Seen, byte-identical 8-bit APPEND, STORE with UNCHANGEDSINCE
 * (RFC 7162), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), EXPUNGE ordering and when other
 * sessions' expunges may be told (RFC 3501 §7.4.1), QRESYNC, LIST-STATUS, modified UTF-7,
 * SORT and THREAD, limits; and Python's imaplib as an independent client.
 */
import { test, type TestContext } from 'node:test';
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { python } from './harness.js';
import { ALICE, BOB, RawImap, message, startImapServer } from './imap-support.js';

const APPEND_LIMIT_BYTES = 65_536;
const IDLE_NOTIFY_MS = 1000;

/** APPEND with a synchronizing literal: waits for the continuation like a careful client. */
async function append(raw: RawImap, mailbox: string, flags: string, data: Buffer): Promise<string> {
  const tag = raw.nextTag();
  raw.write(Buffer.from(`${tag} APPEND ${mailbox} ${flags} {${data.length}}\r\n`, 'latin1'));
  const first = await raw.until(new RegExp(`^\\+ |\\r\\n\\+ |${tag} (NO|BAD)`));
  if (new RegExp(`${tag} (NO|BAD)`).test(first)) return raw.take();
  raw.take();
  raw.write(Buffer.concat([data, Buffer.from('\r\n')]));
  await raw.until(new RegExp(`${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
  return raw.take();
}

test('IMAP protocol exchanges against a real loftd', async (t) => {
  const { port, tlsPort } = await startImapServer(t, `imap_append_limit = ${APPEND_LIMIT_BYTES}\nimap_idle_notify_interval = ${IDLE_NOTIFY_MS} ms\n`);
  await t.test('APPEND of an 8-bit message is fetched back byte-identical; SELECT says what RFC 3501 lists', (st) => appendSelectFetch(st, port));
  await t.test('STORE UNCHANGEDSINCE answers MODIFIED; ESEARCH and SEARCHRES', (st) => condstoreSearch(st, port));
  await t.test('EXPUNGE order, and no EXPUNGE during FETCH for another session\'s expunge', (st) => expungeOrdering(st, port));
  await t.test('QRESYNC SELECT reports VANISHED (EARLIER) and changed flags', (st) => qresync(st, port));
  await t.test('an empty mailbox has HIGHESTMODSEQ 1, not 0, and its first message has a higher one', (st) => emptyModseq(st, port));
  await t.test('FETCH 1:* (FLAGS) answers every message, lines longer than usual and over 32 KiB in all', (st) => fetchAllFlags(st, port));
  await t.test('LIST, LIST-STATUS, LSUB, NAMESPACE, modified UTF-7 names, RENAME, DELETE', (st) => mailboxes(st, port));
  await t.test('SORT and THREAD', (st) => sortThread(st, port));
  await t.test('limits: TOOBIG APPEND, a line over the limit ends the session, others are served', (st) => limits(st, port));
  await t.test('Python imaplib over plain: select, append, fetch, search, store, expunge', () => imaplib(port, false, 'Py'));
  await t.test('Python imaplib over TLS (imaps): the same', () => imaplib(tlsPort, true, 'PyTls'));
  await t.test('IDLE: continuation, keep-alive per imap_idle_notify_interval, DONE', (st) => idleKeepalive(st, port));
  await t.test('curl fetches a message by imap:// URL', () => curlFetch(port));
  await t.test('CATENATE joins a URL section and a TEXT literal; a bad URL is NO [BADURL]', (st) => catenateTest(st, port));
  await t.test('ENABLE IMAP4rev2: no \\Recent, SEARCH answers ESEARCH, UTF-8 mailbox names', (st) => rev2(st, port));
});

async function appendSelectFetch(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  const eightBit = Buffer.concat([
    Buffer.from('From: Jörg <joerg@example.org>\r\nSubject: Übung\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n', 'utf8'),
    Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x0d, 0x0a, 0xe9, 0xe8, 0x0d, 0x0a, 0xff, 0x80, 0x0d, 0x0a]),
  ]);
  const appended = await append(raw, 'INBOX', '(\\Draft $Work)', eightBit);
  assert.match(RawImap.status(appended), /^t\d+ OK \[APPENDUID \d+ 1\] /);

  const select = await raw.command('SELECT INBOX');
  assert.match(select, /^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft \$Work\)\r\n/m);
  assert.match(select, /^\* OK \[PERMANENTFLAGS \(.*\\\*\)\]/m);
  assert.match(select, /^\* 1 EXISTS\r\n/m);
  assert.match(select, /^\* 1 RECENT\r\n/m);
  assert.match(select, /^\* OK \[UIDVALIDITY \d+\]/m);
  assert.match(select, /^\* OK \[UIDNEXT 2\]/m);
  assert.match(select, /^\* OK \[HIGHESTMODSEQ \d+\]/m);
  assert.match(RawImap.status(select), /OK \[READ-WRITE\]/);

  // I18NLEVEL=1: i;unicode-casemap, so "übung" finds "Übung".
  const lower = Buffer.from('übung', 'utf8');
  const found = await raw.command(Buffer.concat([Buffer.from(`SEARCH CHARSET UTF-8 SUBJECT {${lower.length}+}\r\n`), lower]));
  assert.match(found, /^\* SEARCH 1\r\n/m);
  // BODY searches the decoded text: the body is ISO-8859-1 on disk, the key UTF-8.
  const word = Buffer.from('grüße', 'utf8');
  const inBody = await raw.command(Buffer.concat([Buffer.from(`SEARCH CHARSET UTF-8 BODY {${word.length}+}\r\n`), word]));
  assert.match(inBody, /^\* SEARCH 1\r\n/m);

  const peek = await raw.command('FETCH 1 (BODY.PEEK[] FLAGS)');
  const literal = `BODY[] {${eightBit.length}}\r\n`;
  const start = peek.indexOf(literal);
  assert.ok(start > 0, peek);
  const bytes = Buffer.from(peek, 'latin1').subarray(start + literal.length, start + literal.length + eightBit.length);
  assert.equal(Buffer.compare(bytes, eightBit), 0, 'BODY[] is byte-identical');
  assert.doesNotMatch(peek, /\\Seen/);

  const header = await raw.command('FETCH 1 (BODY.PEEK[HEADER] ENVELOPE)');
  const headerBytes = eightBit.subarray(0, eightBit.indexOf('\r\n\r\n') + 4);
  assert.ok(header.includes(`BODY[HEADER] {${headerBytes.length}}\r\n${headerBytes.toString('latin1')}`), header);
  assert.ok(header.includes('ENVELOPE (NIL {6}\r\n\xc3\x9cbung (({5}'), `an 8-bit Subject goes as a literal: ${header}`);

  // A large message with a bare-LF header: the header alone is read, and still exactly.
  const big = Buffer.concat([Buffer.from('Subject: big\nFrom: a@b\n\n'), Buffer.alloc(40_000, 0x61), Buffer.from('\n')]);
  assert.match(RawImap.status(await append(raw, 'INBOX', '()', big)), /OK/);
  const bigHeader = await raw.command('UID FETCH 2 (BODY.PEEK[HEADER] RFC822.SIZE)');
  assert.ok(bigHeader.includes('BODY[HEADER] {24}\r\nSubject: big\nFrom: a@b\n\n'), bigHeader);
  assert.ok(bigHeader.includes(`RFC822.SIZE ${big.length}`), bigHeader);

  const partial = await raw.command('FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)] BODY[TEXT]<0.3>)');
  assert.ok(partial.includes('BODY[HEADER.FIELDS (SUBJECT)] {'), partial);
  assert.ok(partial.includes('BODY[TEXT]<0> {3}\r\nGr\xfc'), partial);
  assert.match(partial, /FLAGS \([^)]*\\Seen/, 'BODY[] sets \\Seen and says so');

  const sizes = await raw.command('UID FETCH 1 (RFC822.SIZE BINARY.SIZE[1] INTERNALDATE)');
  assert.match(sizes, new RegExp(`^\\* 1 FETCH \\(UID 1 RFC822.SIZE ${eightBit.length} BINARY.SIZE\\[1\\] 15 INTERNALDATE "`, 'm'));
  const examine = await raw.command('EXAMINE INBOX');
  assert.match(examine, /^\* OK \[CLOSED\]/m);
  assert.match(RawImap.status(examine), /OK \[READ-ONLY\]/);
  assert.match(RawImap.status(await raw.command('STORE 1 +FLAGS (\\Deleted)')), /^t\d+ NO /);
  assert.match(RawImap.status(await raw.command('UNSELECT')), /OK/);
  assert.match(RawImap.status(await raw.command('FETCH 1 FLAGS')), /^t\d+ BAD /);

  // Several literals in one response: each in place, byte for byte, one space between items;
  // BINARY[] of bytes with a NUL is a literal8 (RFC 3516).
  assert.match(RawImap.status(await raw.command('CREATE Pieces')), /OK/);
  const withNul = Buffer.from('Subject: nul\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\nAGFi\r\n');
  assert.match(RawImap.status(await append(raw, 'Pieces', '()', withNul)), /OK/);
  await raw.command('EXAMINE Pieces');
  const head = withNul.subarray(0, withNul.indexOf('\r\n\r\n') + 4).toString('latin1');
  const text = withNul.subarray(head.length).toString('latin1');
  const pieces = await raw.command('FETCH 1 (RFC822.HEADER UID RFC822.TEXT BINARY.PEEK[1])');
  assert.ok(pieces.includes(`* 1 FETCH (RFC822.HEADER {${head.length}}\r\n${head} UID 1 RFC822.TEXT {${text.length}}\r\n${text} BINARY[1] ~{3}\r\n\x00ab)\r\n`), pieces);
  assert.match(RawImap.status(await raw.command('UNSELECT')), /OK/);
  assert.match(RawImap.status(await raw.command('DELETE Pieces')), /OK/);
}

async function condstoreSearch(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port, BOB);
  await raw.command('CREATE Cond');
  for (let i = 1; i <= 5; i++) await append(raw, 'Cond', i % 2 ? '(\\Flagged)' : '()', message({ Subject: `c${i}` }, `text ${i}\r\n`));
  await raw.command('SELECT Cond (CONDSTORE)');
  const stored = await raw.command('STORE 1 +FLAGS.SILENT (\\Seen)');
  const modseq = Number(/MODSEQ \((\d+)\)/.exec(stored)?.[1]);
  assert.ok(modseq > 0, `silent STORE under CONDSTORE still reports MODSEQ: ${stored}`);
  // RFC 7162 §3.1.3: message 1 changed after `modseq - 1`, so it is refused; 2 is stored.
  const conditional = await raw.command(`STORE 1:2 (UNCHANGEDSINCE ${modseq - 1}) +FLAGS (\\Answered)`);
  assert.match(RawImap.status(conditional), /^t\d+ OK \[MODIFIED 1\]/);
  assert.match(conditional, /^\* 2 FETCH \(FLAGS \(\\Answered \\Recent\) MODSEQ \(\d+\)\)/m);

  const esearch = await raw.command('SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED');
  assert.match(esearch, /^\* ESEARCH \(TAG "t\d+"\) MIN 1 MAX 5 COUNT 3 ALL 1,3,5\r\n/m);
  const uidEsearch = await raw.command('UID SEARCH RETURN (COUNT) UNFLAGGED');
  assert.match(uidEsearch, /^\* ESEARCH \(TAG "t\d+"\) UID COUNT 2\r\n/m);
  const plain = await raw.command(`SEARCH MODSEQ ${modseq}`);
  assert.match(plain, /^\* SEARCH 1 2 \(MODSEQ \d+\)\r\n/m);

  const saved = await raw.command('SEARCH RETURN (SAVE) FLAGGED');
  assert.doesNotMatch(saved, /ESEARCH/, 'SAVE alone sends no ESEARCH');
  const fetched = await raw.command('FETCH $ (UID)');
  assert.deepEqual([...fetched.matchAll(/^\* (\d+) FETCH/gm)].map((m) => Number(m[1])), [1, 3, 5]);
}

async function expungeOrdering(t: TestContext, port: number): Promise<void> {
  const a = await RawImap.login(t, port);
  const b = await RawImap.login(t, port);
  await a.command('CREATE Ordered');
  for (let i = 1; i <= 5; i++) await append(a, 'Ordered', '()', message({ Subject: `o${i}` }, `x${i}\r\n`));
  await a.command('SELECT Ordered');
  await b.command('SELECT Ordered');
  await a.command('STORE 2:3 +FLAGS.SILENT (\\Deleted)');
  const expunge = await a.command('EXPUNGE');
  assert.match(expunge, /^\* 3 EXPUNGE\r\n\* 2 EXPUNGE\r\n/m);

  // b has not been told: its FETCH must not carry EXPUNGE; sequence numbers stay as b knows them.
  const fetch = await b.command('FETCH 1:5 (UID)');
  assert.doesNotMatch(fetch, /EXPUNGE/);
  assert.match(fetch, /^\* 4 FETCH \(UID 4\)/m);
  const noop = await b.command('NOOP');
  assert.match(noop, /^\* 3 EXPUNGE\r\n\* 2 EXPUNGE\r\n/m);
  const after = await b.command('FETCH 1:* (UID)');
  assert.deepEqual([...after.matchAll(/UID (\d+)/g)].map((m) => Number(m[1])), [1, 4, 5]);

  // A new message from a is announced to b at its next command that allows it.
  await append(a, 'Ordered', '()', message({ Subject: 'o6' }, 'x6\r\n'));
  const check = await b.command('CHECK');
  assert.match(check, /^\* 4 EXISTS\r\n/m);
}

async function qresync(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('CREATE Resync');
  for (let i = 1; i <= 4; i++) await append(raw, 'Resync', '()', message({ Subject: `q${i}` }, `q${i}\r\n`));
  assert.match(await raw.command('ENABLE QRESYNC'), /^\* ENABLED QRESYNC\r\n/m);
  const select = await raw.command('SELECT Resync');
  const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(select)?.[1]);
  const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(select)?.[1]);
  assert.match(await raw.command('STORE 1 +FLAGS (\\Flagged)'), /^\* 1 FETCH \(FLAGS \(\\Flagged \\Recent\) UID 1 MODSEQ \(\d+\)\)/m, 'under QRESYNC a STORE\'s FETCH carries the UID');
  assert.match(await raw.command('STORE 2 +FLAGS.SILENT (\\Seen)'), /^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)/m);
  await raw.command('UID STORE 3 +FLAGS.SILENT (\\Deleted)');
  const vanished = await raw.command('UID EXPUNGE 3');
  assert.match(vanished, /^\* VANISHED 3\r\n/m, 'under QRESYNC expunges are VANISHED');
  const afterExpunge = Number(/^t\d+ OK \[HIGHESTMODSEQ (\d+)\]/m.exec(vanished)?.[1]);
  assert.ok(afterExpunge > highest, `the tagged OK of the expunge says where it left HIGHESTMODSEQ: ${vanished}`);
  await raw.command('UNSELECT');
  await raw.command('SELECT Resync');
  await raw.command('UID STORE 4 +FLAGS.SILENT (\\Deleted)');
  const closed = await raw.command('CLOSE');
  assert.ok(Number(/^t\d+ OK \[HIGHESTMODSEQ (\d+)\]/m.exec(closed)?.[1]) > afterExpunge, `so does CLOSE's: ${closed}`);
  const resync = await raw.command(`SELECT Resync (QRESYNC (${uidValidity} ${highest} 1:4))`);
  assert.match(resync, /^\* VANISHED \(EARLIER\) 3:4\r\n/m);
  assert.match(resync, /^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)/m);
  const changed = await raw.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${highest} VANISHED)`);
  assert.match(changed, /^\* VANISHED \(EARLIER\) 3:4\r\n/m);
  assert.match(changed, /^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)/m);
}

/**
 * RFC 7162: HIGHESTMODSEQ is at least 1, and STATUS HIGHESTMODSEQ 0 means a mailbox without
 * modseqs, after which Horde (Nextcloud Mail) resynchronises the folder on every poll.
 */
async function emptyModseq(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('CREATE NeverUsed');
  assert.match(await raw.command('STATUS NeverUsed (HIGHESTMODSEQ)'), /\(HIGHESTMODSEQ 1\)/);
  assert.match(await raw.command('SELECT NeverUsed (CONDSTORE)'), /^\* OK \[HIGHESTMODSEQ 1\]/m);
  await append(raw, 'NeverUsed', '()', message({ Subject: 'first' }, 'first\r\n'));
  const changed = await raw.command('UID FETCH 1:* (UID) (CHANGEDSINCE 1)');
  assert.match(changed, /^\* 1 FETCH \(UID 1 MODSEQ \((\d+)\)\)/m, 'a client that saw HIGHESTMODSEQ 1 finds the first message');
  assert.match(await raw.command('STATUS NeverUsed (HIGHESTMODSEQ)'), /\(HIGHESTMODSEQ 2\)/);
}

/**
 * The index-only FETCH writes its lines into Buffers sized by a guess of ~40 bytes a line:
 * here lines carry two 100-byte keywords, and 300 of them are more than one 32 KiB send.
 */
async function fetchAllFlags(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('CREATE LongFlags');
  const keywords = ['a', 'b', 'c'].map((c) => `$${c.repeat(100)}`);
  const appendLong = async (from: number, to: number): Promise<void> => {
    const tag = raw.nextTag();
    const parts: Buffer[] = [Buffer.from(`${tag} APPEND LongFlags`)];
    for (let i = from; i <= to; i++) {
      const data = message({ Subject: `f${i}` }, `f${i}\r\n`);
      parts.push(Buffer.from(` (${keywords[i % 3]} ${keywords[(i + 1) % 3]}${i % 2 ? ' \\Seen' : ''}) {${data.length}+}\r\n`), data);
    }
    parts.push(Buffer.from('\r\n'));
    raw.write(Buffer.concat(parts));
    await raw.until(new RegExp(`${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
    assert.match(raw.take(), new RegExp(`${tag} OK \\[APPENDUID \\d+ ${from}:${to}\\]`));
  };
  const fetchLong = async (count: number, slowReader: boolean): Promise<void> => {
    for (const command of ['FETCH 1:* (FLAGS)', 'UID FETCH 1:* (FLAGS)', 'FETCH 1:* (UID FLAGS)']) {
      // A reader that stops after each chunk: the server's writes back up, and what it
      // queued must arrive intact while it goes on making lines.
      const stall = (): void => {
        raw.socket.pause();
        setTimeout(() => raw.socket.resume(), 1);
      };
      if (slowReader) raw.socket.on('data', stall);
      const answer = await raw.command(command);
      raw.socket.off('data', stall);
      assert.ok(answer.length > 32 * 1024, `${command}: ${answer.length} bytes`);
      const lines = [...answer.matchAll(/^\* (\d+) FETCH \((?:UID (\d+) )?FLAGS \(([^)]*)\)\)\r\n/gm)];
      assert.equal(lines.length, count, `${command}: one line per message`);
      lines.forEach((m, i) => {
        assert.equal(Number(m[1]), i + 1);
        assert.equal(m[2] === undefined ? undefined : Number(m[2]), command.includes('UID') ? i + 1 : undefined, `${command}: UID of ${i + 1}`);
        const want = [keywords[(i + 1) % 3], keywords[(i + 2) % 3], ...((i + 1) % 2 ? ['\\Seen'] : [])].sort();
        // \Recent: this SELECT was the first to see them.
        assert.deepEqual(m[3]!.split(' ').filter((f) => f !== '\\Recent').sort(), want, `${command}: flags of ${i + 1}`);
      });
    }
  };
  await appendLong(1, 300);
  await raw.command('SELECT LongFlags');
  await fetchLong(300, false);
  // Over 256 KiB of lines: the server waits for the socket in the middle of the response,
  // and fills its buffers again once the socket has written them.
  // Each APPEND within imap_command_line_limit: the flag lists count towards it.
  for (let from = 301; from <= 1000; from += 175) await appendLong(from, from + 174);
  await raw.command('NOOP');
  await fetchLong(1000, false);
  await fetchLong(1000, true);
  // UID sets resolved against the UIDs there are: past the end, and around expunged ones.
  const uidsOf = (answer: string): number[][] => [...answer.matchAll(/^\* (\d+) FETCH \(UID (\d+)[ )]/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(uidsOf(await raw.command('UID FETCH 998:2000 (FLAGS)')), [[998, 998], [999, 999], [1000, 1000]]);
  await raw.command('STORE 10:12 +FLAGS.SILENT (\\Deleted)');
  await raw.command('EXPUNGE');
  assert.deepEqual(uidsOf(await raw.command('UID FETCH 9:13,11,2000:* (FLAGS)')), [[9, 9], [10, 13], [997, 1000]]);
  assert.deepEqual(uidsOf(await raw.command('UID FETCH 10:12 (UID)')), []);
  // Sequence numbers with gaps, and where they gain a digit (9 to 10, 99 to 100).
  const some = await raw.command('FETCH 2,9:11,99:101,300 (FLAGS)');
  assert.deepEqual([...some.matchAll(/^\* (\d+) FETCH/gm)].map((m) => Number(m[1])), [2, 9, 10, 11, 99, 100, 101, 300]);

  // A mailbox that never had a keyword (system flags only), half of it \Recent to this session.
  await raw.command('CREATE Plain');
  const appendAll = async (from: number, to: number): Promise<void> => {
    const tag = raw.nextTag();
    const parts: Buffer[] = [Buffer.from(`${tag} APPEND Plain`)];
    for (let i = from; i <= to; i++) {
      const data = message({ Subject: `p${i}` }, `p${i}\r\n`);
      parts.push(Buffer.from(` (${i % 3 === 0 ? '\\Seen' : i % 3 === 1 ? '\\Flagged \\Answered' : ''}) {${data.length}+}\r\n`), data);
    }
    parts.push(Buffer.from('\r\n'));
    raw.write(Buffer.concat(parts));
    await raw.until(new RegExp(`${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
    assert.match(raw.take(), new RegExp(`${tag} OK`));
  };
  await appendAll(1, 60);
  await raw.command('SELECT Plain');
  await raw.command('CLOSE');
  await appendAll(61, 120);
  await raw.command('SELECT Plain');
  const plain = await raw.command('FETCH 1:* (FLAGS)');
  const sorted = (text: string): string => text.split(' ').sort().join(' ');
  const flagsBySeq = [...plain.matchAll(/^\* (\d+) FETCH \(FLAGS \(([^)]*)\)\)\r\n/gm)].map((m) => [Number(m[1]), sorted(m[2]!)]);
  assert.deepEqual(flagsBySeq, Array.from({ length: 120 }, (_, k) => {
    const i = k + 1;
    const flags = [...(i % 3 === 0 ? ['\\Seen'] : i % 3 === 1 ? ['\\Answered', '\\Flagged'] : []), ...(i > 60 ? ['\\Recent'] : [])];
    return [i, sorted(flags.join(' '))];
  }));
  const gaps = await raw.command('FETCH 1,9:10,99:100 (FLAGS)');
  assert.deepEqual([...gaps.matchAll(/^\* (\d+) FETCH \(FLAGS \(([^)]*)\)\)/gm)].map((m) => [Number(m[1]), sorted(m[2]!)]), [
    [1, '\\Answered \\Flagged'], [9, '\\Seen'], [10, '\\Answered \\Flagged'], [99, '\\Recent \\Seen'], [100, '\\Answered \\Flagged \\Recent'],
  ]);
}

async function mailboxes(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port, BOB);
  assert.match(await raw.command('NAMESPACE'), /^\* NAMESPACE \(\("" "\/"\)\) NIL NIL\r\n/m);
  assert.match(await raw.command('ID ("name" "test")'), /^\* ID \(/m);
  assert.match(RawImap.status(await raw.command('CREATE "&ZeVnLIqe-/Sub"')), /OK/);
  assert.match(RawImap.status(await raw.command('CREATE Drafts (USE (\\Drafts))')), /OK/);
  assert.match(RawImap.status(await raw.command('CREATE Drafts')), /NO \[ALREADYEXISTS\]/);
  await raw.command('SUBSCRIBE "&ZeVnLIqe-/Sub"');
  const list = await raw.command('LIST "" "*"');
  assert.match(list, /^\* LIST \(\\HasChildren\) "\/" "&ZeVnLIqe-"\r\n/m);
  assert.match(list, /^\* LIST \(\\HasNoChildren\) "\/" "&ZeVnLIqe-\/Sub"\r\n/m);
  assert.match(list, /^\* LIST \(\\HasNoChildren \\Drafts\) "\/" Drafts|^\* LIST \(\\HasNoChildren \\Drafts\) "\/" "Drafts"/m);
  const percent = await raw.command('LIST "" "%"');
  assert.doesNotMatch(percent, /Sub/);
  const status = await raw.command('LIST "" "INBOX" RETURN (STATUS (MESSAGES UIDNEXT SIZE))');
  assert.match(status, /^\* STATUS "?INBOX"? \(MESSAGES \d+ UIDNEXT \d+ SIZE \d+\)\r\n/m);
  const special = await raw.command('LIST (SPECIAL-USE) "" "*"');
  assert.deepEqual([...special.matchAll(/^\* LIST/gm)].length, 1);
  const lsub = await raw.command('LSUB "" "*"');
  assert.match(lsub, /^\* LSUB \(\) "\/" "&ZeVnLIqe-\/Sub"\r\n/m);
  assert.match(RawImap.status(await raw.command('RENAME "&ZeVnLIqe-/Sub" Renamed')), /OK/);
  assert.match(RawImap.status(await raw.command('STATUS Renamed (MESSAGES)')), /OK/);
  assert.match(RawImap.status(await raw.command('STATUS Missing (MESSAGES)')), /NO \[NONEXISTENT\]/);
  assert.match(RawImap.status(await raw.command('SELECT Missing')), /NO \[NONEXISTENT\]/);
  assert.match(RawImap.status(await raw.command('COPY 1 Missing')), /BAD/);
  assert.match(RawImap.status(await raw.command('DELETE Renamed')), /OK/);
  assert.match(RawImap.status(await raw.command('DELETE INBOX')), /NO/);
  assert.match(RawImap.status(await raw.command('CREATE "bad&name"')), /NO/);
}

async function sortThread(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('CREATE Threads');
  const msgs: Array<Record<string, string>> = [
    { 'Message-ID': '<a@x>', Subject: 'Zebra', Date: 'Wed, 1 Jan 2020 10:00:00 +0000', From: 'c@x' },
    { 'Message-ID': '<b@x>', Subject: 'Re: Zebra', 'In-Reply-To': '<a@x>', References: '<a@x>', Date: 'Thu, 2 Jan 2020 10:00:00 +0000', From: 'a@x' },
    { 'Message-ID': '<c@x>', Subject: 'Apple', Date: 'Tue, 31 Dec 2019 10:00:00 +0000', From: 'b@x' },
  ];
  for (const h of msgs) await append(raw, 'Threads', '()', message(h, 'x\r\n'));
  await raw.command('SELECT Threads');
  assert.match(await raw.command('SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 1 2\r\n/m);
  assert.match(await raw.command('SORT (REVERSE DATE) UTF-8 ALL'), /^\* SORT 2 1 3\r\n/m);
  assert.match(await raw.command('UID SORT (FROM) UTF-8 ALL'), /^\* SORT 2 3 1\r\n/m);
  assert.match(await raw.command('SORT RETURN (COUNT MIN) (DATE) UTF-8 ALL'), /^\* ESEARCH \(TAG "t\d+"\) MIN 3 COUNT 3\r\n/m);
  assert.match(await raw.command('THREAD REFERENCES UTF-8 ALL'), /^\* THREAD \(3\)\(1 2\)\r\n/m);
  assert.match(await raw.command('THREAD ORDEREDSUBJECT UTF-8 ALL'), /^\* THREAD \(3\)\(1 2\)\r\n/m);

  // The mailbox keeps SORT's order and THREAD's answer for the set they were made for. Another
  // session gets them for the same set; a new message or an expunge changes the set.
  const other = await RawImap.login(t, port);
  await other.command('SELECT Threads');
  assert.match(await other.command('THREAD REFERENCES UTF-8 ALL'), /^\* THREAD \(3\)\(1 2\)\r\n/m);
  assert.match(await other.command('UID SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 1 2\r\n/m);
  assert.match(await other.command('SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 1 2\r\n/m);
  assert.match(await other.command('SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 1 2\r\n/m);
  await append(raw, 'Threads', '()', message({ 'Message-ID': '<d@x>', Subject: 'Re: Apple', References: '<c@x>', Date: 'Fri, 3 Jan 2020 10:00:00 +0000', From: 'd@x' }, 'x\r\n'));
  assert.match(await raw.command('SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 3 4 1 2\r\n/m);
  assert.match(await raw.command('THREAD REFERENCES UTF-8 ALL'), /^\* THREAD \(3 4\)\(1 2\)\r\n/m);
  assert.match(await raw.command('SORT (SUBJECT) UTF-8 NOT SUBJECT Zebra'), /^\* SORT 3 4\r\n/m);
  assert.match(await raw.command('THREAD REFERENCES UTF-8 NOT SUBJECT Zebra'), /^\* THREAD \(3 4\)\r\n/m);
  // Expunging a message the search leaves out keeps its UIDs but moves its sequence numbers.
  await raw.command('STORE 1 +FLAGS.SILENT (\\Deleted)');
  assert.match(await raw.command('EXPUNGE'), /^\* 1 EXPUNGE\r\n/m);
  assert.match(await raw.command('SORT (SUBJECT) UTF-8 NOT SUBJECT Zebra'), /^\* SORT 2 3\r\n/m);
  assert.match(await raw.command('UID SORT (SUBJECT) UTF-8 NOT SUBJECT Zebra'), /^\* SORT 3 4\r\n/m);
  assert.match(await raw.command('THREAD REFERENCES UTF-8 NOT SUBJECT Zebra'), /^\* THREAD \(2 3\)\r\n/m);
  assert.match(await raw.command('UID THREAD REFERENCES UTF-8 NOT SUBJECT Zebra'), /^\* THREAD \(3 4\)\r\n/m);
  assert.match(await raw.command('THREAD REFERENCES UTF-8 ALL'), /^\* THREAD \(2 3\)\(1\)\r\n/m);
  assert.match(await raw.command('SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 2 3 1\r\n/m);
}

async function limits(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port, BOB);
  const tooBig = await raw.command(`APPEND INBOX {${APPEND_LIMIT_BYTES + 1}}`);
  assert.match(RawImap.status(tooBig), /^t\d+ NO \[TOOBIG\]/);
  assert.match(RawImap.status(await raw.command('NOOP')), /OK/, 'the session goes on after TOOBIG');
  assert.match(RawImap.status(await raw.command('FETCH 1:* FLAGS')), /BAD/);
  raw.write(`x ${'A'.repeat(70 * 1024)}\r\n`);
  await raw.until(/\* BYE/);
  const other = await RawImap.login(t, port, BOB);
  assert.match(RawImap.status(await other.command('NOOP')), /OK/);
}

async function imaplib(port: number, tls: boolean, mailbox: string): Promise<void> {
  const out = await python(`
import imaplib, json
r = {}
import ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL('127.0.0.1', ${port}, ssl_context=ctx) if ${tls ? 'True' : 'False'} else imaplib.IMAP4('127.0.0.1', ${port})
m.login('${ALICE.user}', '${ALICE.password}')
m.create('${mailbox}')
typ, data = m.append('${mailbox}', '(\\\\Seen)', None, b'Subject: from python\\r\\nFrom: py@example.org\\r\\n\\r\\nhello \\xc3\\xa9\\r\\n')
r['append'] = typ
typ, data = m.select('${mailbox}')
r['exists'] = data[0].decode()
typ, data = m.search(None, 'SUBJECT', 'python')
r['search'] = data[0].decode()
typ, data = m.fetch('1', '(RFC822)')
r['body'] = data[0][1].decode('utf-8')
m.store('1', '+FLAGS', '\\\\Deleted')
typ, data = m.expunge()
r['expunged'] = [d.decode() for d in data]
typ, data = m.list()
r['list'] = sorted(d.decode() for d in data)
m.logout()
print(json.dumps(r))
`);
  const r = JSON.parse(out) as { append: string; exists: string; search: string; body: string; expunged: string[]; list: string[] };
  assert.equal(r.append, 'OK');
  assert.equal(r.exists, '1');
  assert.equal(r.search, '1');
  assert.equal(r.body, 'Subject: from python\r\nFrom: py@example.org\r\n\r\nhello é\r\n');
  assert.deepEqual(r.expunged, ['1']);
  assert.ok(r.list.some((l) => l.endsWith(`"/" ${mailbox}`) || l.endsWith(`"/" "${mailbox}"`)), r.list.join('\n'));
}

async function idleKeepalive(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('SELECT INBOX');
  raw.write('i1 IDLE\r\n');
  await raw.until(/^\+ /m);
  const started = Date.now();
  await raw.until(/\* OK Still here\r\n/, 5000);
  assert.ok(Date.now() - started < 3000);
  raw.take();
  raw.write('DONE\r\n');
  assert.match(await raw.until(/i1 OK/), /^i1 OK Idle completed\.\r\n/m);
  raw.take();
  assert.match(RawImap.status(await raw.command('NOOP')), /OK/);
}

function curlFetch(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '--max-time', '20', '--user', `${ALICE.user}:${ALICE.password}`, `imap://127.0.0.1:${port}/INBOX;UID=1`], (err, stdout) => {
      if (err) return reject(err);
      try {
        assert.match(stdout, /^From: J/);
        assert.match(stdout, /Subject: /);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function rev2(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port, BOB);
  // The wire carries UTF-8; RawImap reads it as latin1 text.
  const name = 'Grüße';
  const wire = Buffer.from(name, 'utf8').toString('latin1');
  assert.match(await raw.command('ENABLE IMAP4rev2'), /^\* ENABLED IMAP4rev2\r\n/m);
  assert.match(RawImap.status(await raw.command(Buffer.from(`CREATE "${name}"`, 'utf8'))), /OK/);
  assert.ok((await raw.command('LIST "" "Gr*"')).includes(`* LIST (\\HasNoChildren) "/" "${wire}"\r\n`));
  assert.match(RawImap.status(await append(raw, `"${wire}"`, '(\\Seen)', message({ Subject: 'rev2' }, 'x\r\n'))), /OK/);
  const select = await raw.command(Buffer.from(`SELECT "${name}"`, 'utf8'));
  assert.doesNotMatch(select, /RECENT/);
  assert.match(select, /^\* 1 EXISTS\r\n/m);
  assert.match(await raw.command('FETCH 1 FLAGS'), /^\* 1 FETCH \(FLAGS \(\\Seen\)\)\r\n/m);
  assert.match(await raw.command('SEARCH SEEN'), /^\* ESEARCH \(TAG "t\d+"\) ALL 1\r\n/m);
  assert.match(await raw.command('UID SEARCH UNSEEN'), /^\* ESEARCH \(TAG "t\d+"\) UID\r\n/m);
}

async function catenateTest(t: TestContext, port: number): Promise<void> {
  const raw = await RawImap.login(t, port);
  await raw.command('CREATE Cat');
  const original = message({ From: 'a@example.org', Subject: 'forward me' }, 'original body\r\n');
  const first = await append(raw, 'Cat', '()', original);
  const uidValidity = /APPENDUID (\d+) 1\]/.exec(first)?.[1];
  assert.ok(uidValidity, first);
  const text = 'new body\r\n';
  // RFC 4469 §5's shape: the old header by URL, then a new body as a (LITERAL+) TEXT literal.
  const answer = await raw.command(`APPEND Cat (\\Draft) CATENATE (URL "/Cat;UIDVALIDITY=${uidValidity}/;UID=1/;SECTION=HEADER" TEXT {${text.length}+}\r\n${text})`);
  assert.match(RawImap.status(answer), /OK \[APPENDUID \d+ 2\]/);
  await raw.command('EXAMINE Cat');
  const fetched = await raw.command('UID FETCH 2 BODY.PEEK[]');
  const header = original.subarray(0, original.indexOf('\r\n\r\n') + 4).toString('latin1');
  assert.ok(fetched.includes(`BODY[] {${header.length + text.length}}\r\n${header}${text}`), fetched);
  const badUrl = await raw.command('APPEND Cat CATENATE (URL "/Cat/;UID=99")');
  assert.match(RawImap.status(badUrl), /NO \[BADURL \/Cat\/;UID=99\]/);
}
