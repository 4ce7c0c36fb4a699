/**
 * The same IMAP exchanges against Loft and Debian's Dovecot 2.3, answers compared: a client
 * written against Dovecot must see the same data from Loft. Answers are compared after
 * taking out what may differ between two correct servers: UIDVALIDITY and modseq values,
 * the human text after a status and its response code, the order of LIST lines and of
 * flags, and quoting an atom-safe mailbox name.
 *
 * Loft differs from Dovecot on purpose in a few places, left out here: it sends
 * HIGHESTMODSEQ on every SELECT (RFC 7162 §3.1.2.1 allows it without CONDSTORE), RFC 5530
 * codes (NONEXISTENT, CANNOT) on NOs where Dovecot 2.3 sends none, child flags in LIST
 * answers that did not ask for them (RFC 5258 §4 allows it) and no \Marked, echoes
 * HEADER.FIELDS names as the client spelled them, keeps INBOX's children in place on RENAME
 * INBOX (RFC 3501 §6.3.5), makes a real parent mailbox for CREATE "a/b", allows SUBSCRIBE
 * to a name that does not exist (RFC 9051 §6.3.7), and answers BAD where the grammar is
 * broken (`BODY[0]`, a partial of length 0, `SINCE 32-Jan-2020`) where Dovecot lets it by,
 * and answers a STORE that changes nothing with the FETCH Dovecot leaves out.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness.js';
import { ALICE, startImapServer } from './imap-support.js';
import { RawImap } from './raw-imap.js';

interface Dovecot { port: number; stop(): Promise<void> }
const dovecotLib = (await import(path.join(REPO_ROOT, 'scripts/lib/dovecot.js'))) as {
  dovecotAvailable(): boolean;
  startDovecot(options: { users: Array<{ user: string; password: string; uid: number }> }): Promise<Dovecot>;
};

const MESSAGES = [
  'From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hello world\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <a1@example.org>\r\n\r\nHello body text\r\n',
  'From: "Bob B." <bob@example.org>\r\nTo: alice@example.org, carol@example.org\r\nCc: dave@example.org\r\nSubject: Re: hello world\r\n' +
    'Date: Tue, 8 Feb 1994 10:00:00 +0000\r\nMessage-ID: <b1@example.org>\r\nIn-Reply-To: <a1@example.org>\r\nReferences: <a1@example.org>\r\n' +
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="BB"\r\n\r\npreamble\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    'Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe caf=C3=A9\r\n--BB\r\nContent-Type: application/pdf; name="x.pdf"\r\n' +
    'Content-Disposition: attachment; filename="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--BB--\r\n',
  'From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\nSubject: =?utf-8?b?w6lsw6h2ZQ==?=\r\nDate: Wed, 9 Feb 1994 10:00:00 +0100\r\n' +
    'Content-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner\r\n\r\ninner body\r\n',
  'Subject: no date no from\r\n\r\nx',
];

/** In order, on one session; each answer is compared. */
const EXCHANGES = [
  'NAMESPACE', 'LIST "" ""', 'LIST "" "*"', 'LSUB "" "*"',
  'CREATE Sent', 'CREATE Drafts', 'CREATE INBOX/sub', 'CREATE inbox', 'CREATE "&ZeVnLIqe-"', 'SUBSCRIBE Sent',
  'LIST "" "*"', 'LIST "" "%"', 'LIST "" "INBOX*"', 'LIST "" "inbox"', 'LSUB "" "*"', 'LIST (SUBSCRIBED) "" "*"',
  'LIST "" "*" RETURN (CHILDREN SUBSCRIBED)', 'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))',
  ...MESSAGES.map((m, i) => `APPEND INBOX ${i === 0 ? '(\\Seen) ' : ''}"0${i + 1}-Jan-2020 10:00:00 +0000" {${Buffer.byteLength(m)}+}\r\n${m}`),
  'APPEND INBOX (\\Seen $Junk) "31-Dec-1999 23:59:59 -1200" {3+}\r\nabc',
  'STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN SIZE)', 'STATUS Sent (MESSAGES)',
  'SELECT INBOX',
  'FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)', 'FETCH 1:* ENVELOPE', 'FETCH 1:* BODYSTRUCTURE', 'FETCH 1:* BODY', 'FETCH 1:4 FAST', 'FETCH 1 FULL',
  'FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<0.10> BODY.PEEK[1]<2.5>)', 'FETCH 2 BINARY.SIZE[1]', 'FETCH 2 BODY.PEEK[2.1]',
  'FETCH 3 (BODY.PEEK[1] BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[1.1])', 'FETCH 1 (RFC822.HEADER RFC822.TEXT)', 'FETCH 2 BODY.PEEK[5]',
  'FETCH 1 BODY.PEEK[]<10.5>', 'FETCH 1 BODY.PEEK[]<1000.5>', 'FETCH 4:2 UID', 'UID FETCH 3:1 UID', 'FETCH *:3 UID', 'UID FETCH 2:99 UID',
  'FETCH 99 FLAGS', 'FETCH 1 (FOO)',
  'SEARCH UNSEEN', 'SEARCH SEEN', 'SEARCH FROM "alice"', 'SEARCH SUBJECT "HELLO"', 'SEARCH BODY "body"', 'SEARCH TEXT "inner"', 'SEARCH TEXT "pdf"',
  'SEARCH BODY "JVBERi0"', 'SEARCH OR SUBJECT hello FROM jurgen', 'SEARCH CHARSET UTF-8 SUBJECT "élève"', 'SEARCH CHARSET UTF-8 BODY "café"',
  'SEARCH CHARSET UTF-8 FROM "Jürgen"', 'SEARCH LARGER 300', 'SEARCH SMALLER 100', 'SEARCH SENTBEFORE 8-Feb-1994', 'SEARCH SINCE 2-Jan-2020',
  'SEARCH ON 1-Jan-2020', 'SEARCH HEADER Message-ID "<b1@"', 'SEARCH HEADER Subject ""', 'SEARCH NOT 1:2', 'UID SEARCH 2:*', 'SEARCH TO bob', 'SEARCH CC dave',
  'SEARCH RETURN (MIN MAX COUNT) ALL', 'SEARCH KEYWORD $Junk', 'SEARCH NEW', 'SEARCH UNDELETED',
  'SORT (DATE) UTF-8 ALL', 'SORT (REVERSE ARRIVAL) UTF-8 ALL', 'SORT (SUBJECT) UTF-8 ALL', 'SORT (FROM) UTF-8 ALL', 'SORT (SIZE) UTF-8 ALL',
  'SORT (DISPLAYFROM) UTF-8 ALL', 'SORT (CC) UTF-8 ALL', 'SORT (TO) UTF-8 ALL', 'UID SORT (SUBJECT) UTF-8 ALL',
  'THREAD REFERENCES UTF-8 ALL', 'THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD REFS UTF-8 ALL',
  'STORE 1 +FLAGS (\\Flagged $Label1)', 'STORE 2 FLAGS.SILENT (\\Seen)', 'STORE 3 +FLAGS (\\Answered)', 'FETCH 1:* FLAGS',
  'COPY 1 Sent', 'COPY 1 Nope', 'UID MOVE 4 Sent', 'STATUS Sent (MESSAGES UIDNEXT)',
  'STORE 3 +FLAGS.SILENT (\\Deleted)', 'EXPUNGE', 'UID EXPUNGE 1', 'CHECK', 'NOOP', 'FETCH 1:* (UID FLAGS)',
  'CLOSE', 'EXAMINE Sent', 'FETCH 1:* (UID FLAGS)', 'UNSELECT', 'SELECT Nope', 'FETCH 1 FLAGS',
  'CREATE Drafts', 'RENAME Drafts Templates', 'RENAME Sent Templates', 'DELETE Nope', 'DELETE INBOX', 'DELETE Templates', 'LIST "" "*"',
];

/** What may differ between two correct answers, taken out; the rest must be equal. */
function normalise(answer: string, exchange: string): string {
  // Child flags only where the LIST asked for them (or the plain LIST, where both send them).
  const childInfo = !/^LIST \(|RETURN \((?!.*CHILDREN)/.test(exchange);
  const lines = answer
    .split('\r\n')
    .filter((l) => l !== '' && !/^\* OK \[HIGHESTMODSEQ /.test(l))
    .map((l) => l
      .replace(/ \[(NONEXISTENT|CANNOT)\]/, '')
      .replace(/^\* (LIST|LSUB) \(([^)]*)\)/, (_, kind: string, attrs: string) => {
        const kept = attrs.split(' ').filter((a) => a !== '' && a !== '\\Marked' && a !== '\\UnMarked' && (childInfo || !/^\\Has(No)?Children$/.test(a)));
        return `* ${kind} (${kept.sort().join(' ')})`;
      })
      .replace(/UIDVALIDITY \d+/g, 'UIDVALIDITY n')
      .replace(/(APPENDUID|COPYUID) \d+/g, '$1 n')
      .replace(/MODSEQ \(\d+\)/g, 'MODSEQ (n)')
      .replace(/^(\S+ (?:OK|NO|BAD)(?: \[[^\]]*\])?) .*$/, '$1')
      .replace(/^t\d+ /, 'T ')
      .replace(/ "([A-Za-z0-9&+_./-]+)"(?=$| \()/g, ' $1')
      .replace(/FLAGS \(([^)]*)\)/g, (_, flags: string) => `FLAGS (${flags.split(' ').sort().join(' ')})`));
  // LIST and LSUB lines (and LIST-STATUS's STATUS lines) come in no defined order.
  const sorted = lines.filter((l) => /^\* (LIST|LSUB|STATUS) /.test(l)).sort();
  return [...sorted, ...lines.filter((l) => !/^\* (LIST|LSUB|STATUS) /.test(l))].join('\n');
}

async function run(port: number): Promise<string[]> {
  const imap = await RawImap.connect(port);
  try {
    assert.equal((await imap.command(`LOGIN ${ALICE.user} ${ALICE.password}`)).status, 'OK');
    const answers: string[] = [];
    for (const exchange of EXCHANGES) answers.push(normalise((await imap.command(exchange)).lines, exchange));
    await imap.command('LOGOUT');
    return answers;
  } finally {
    imap.socket.destroy();
  }
}

test('Loft answers as Dovecot 2.3 does: LIST, APPEND, FETCH of every kind, SEARCH, SORT, THREAD, STORE, COPY, MOVE, EXPUNGE, and their errors', { skip: dovecotLib.dovecotAvailable() ? false : 'needs root and Debian\'s dovecot-imapd' }, async (t) => {
  const dovecot = await dovecotLib.startDovecot({ users: [ALICE] });
  t.after(() => dovecot.stop());
  const { port } = await startImapServer(t);
  const [loft, reference] = [await run(port), await run(dovecot.port)];
  const differing = EXCHANGES.flatMap((exchange, i) => (loft[i] === reference[i] ? [] : [`${exchange.split('\r\n')[0]}\n--- Loft\n${loft[i]}\n--- Dovecot\n${reference[i]}`]));
  assert.equal(differing.length, 0, `answers differ from Dovecot's:\n\n${differing.join('\n\n')}`);
});
