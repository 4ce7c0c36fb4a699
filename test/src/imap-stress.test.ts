/**
 * Several sessions of one user change one mailbox at once (APPEND, STORE, COPY, EXPUNGE);
 * after each round every session sees the same messages, flags and modseqs, and no session
 * was ever sent a sequence number before it was announced. Then a fuzz run: random and
 * mutated commands from logged-in clients crash nothing, and a well-formed client in the
 * same process stays served.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Loftd } from './harness.js';
import { RawImap, message, startImapServer } from './imap-support.js';

const SESSIONS = 3;
const ROUNDS = 8;
const FUZZ_COMMANDS = 400;
const FUZZ_BATCH = 10;

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one session has been told: the message count, checked against every FETCH it gets. */
class Announced {
  count = 0;
  errors: string[] = [];

  observe(text: string): void {
    for (const line of text.split('\r\n')) {
      let m = /^\* (\d+) EXISTS$/.exec(line);
      if (m) {
        this.count = Number(m[1]);
        continue;
      }
      m = /^\* (\d+) EXPUNGE$/.exec(line);
      if (m) {
        if (Number(m[1]) > this.count) this.errors.push(`EXPUNGE ${m[1]} beyond count ${this.count}`);
        this.count--;
        continue;
      }
      m = /^\* (\d+) FETCH/.exec(line);
      if (m && Number(m[1]) > this.count) this.errors.push(`FETCH of ${m[1]} before it was announced (count ${this.count})`);
    }
  }
}

interface Session {
  raw: RawImap;
  seen: Announced;
}

async function run(s: Session, line: string): Promise<string> {
  const answer = await s.raw.command(line);
  s.seen.observe(answer);
  return answer;
}

async function appendTo(s: Session, data: Buffer, flags: string): Promise<void> {
  // LITERAL+ keeps the exchange to one round trip.
  const answer = await s.raw.command(Buffer.concat([Buffer.from(`APPEND Stress ${flags} {${data.length}+}\r\n`), data]));
  s.seen.observe(answer);
  assert.match(RawImap.status(answer), /OK/, answer);
}

function snapshot(answer: string): string[] {
  return answer.split('\r\n').filter((l) => /^\* \d+ FETCH \(UID/.test(l)).map((l) => l.replace(/\\Recent ?/, '').replace(/ \)/, ')'));
}

async function consistency(t: TestContext, port: number): Promise<void> {
  const random = prng(0x10f7);
  const sessions: Session[] = [];
  for (let i = 0; i < SESSIONS; i++) sessions.push({ raw: await RawImap.login(t, port), seen: new Announced() });
  await run(sessions[0]!, 'CREATE Stress');
  for (let i = 0; i < 4; i++) await appendTo(sessions[0]!, message({ Subject: `seed ${i}` }, `seed ${i}\r\n`), '()');
  for (const s of sessions) {
    await run(s, 'ENABLE CONDSTORE');
    const select = await run(s, 'SELECT Stress');
    s.seen.count = Number(/\* (\d+) EXISTS/.exec(select)?.[1]);
  }
  const flags = ['\\Seen', '\\Flagged', '\\Answered', '$Label1', '\\Deleted'];
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(sessions.map(async (s, i) => {
      for (let op = 0; op < 4; op++) {
        const pick = random();
        const n = Math.max(1, s.seen.count);
        const seq = 1 + Math.floor(random() * n);
        const flag = flags[Math.floor(random() * flags.length)]!;
        if (pick < 0.25) await appendTo(s, message({ Subject: `r${round} s${i} o${op}` }, `round ${round}\r\n`), '()');
        else if (pick < 0.55 && s.seen.count > 0) await run(s, `STORE ${seq} ${random() < 0.7 ? '+' : '-'}FLAGS (${flag})`);
        else if (pick < 0.7 && s.seen.count > 0) await run(s, `COPY ${seq} Stress`);
        else if (pick < 0.85) await run(s, 'EXPUNGE');
        else if (s.seen.count > 0) await run(s, `FETCH 1:${s.seen.count} (UID FLAGS MODSEQ)`);
        else await run(s, 'NOOP');
      }
    }));
    const views: string[][] = [];
    for (const s of sessions) {
      await run(s, 'NOOP');
      const answer = await run(s, 'FETCH 1:* (UID FLAGS MODSEQ)').catch(() => '');
      const lines = s.seen.count === 0 ? [] : snapshot(answer);
      assert.equal(lines.length, s.seen.count, `round ${round}: FETCH 1:* agrees with what was announced`);
      views.push(lines);
    }
    for (let i = 1; i < views.length; i++) assert.deepEqual(views[i], views[0], `round ${round}: session ${i} sees what session 0 sees`);
    for (const s of sessions) assert.deepEqual(s.seen.errors, [], `round ${round}`);
  }
}

function mutate(random: () => number, text: string): string {
  const chars = [...text];
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (chars.length + 1));
    const choice = random();
    const ch = String.fromCharCode(Math.floor(random() * 128));
    if (choice < 0.4) chars.splice(at, 1);
    else if (choice < 0.8) chars.splice(at, 0, ch);
    else chars.splice(at, 0, ...['(', ')', '{5}', '{99999999+}', '"', '\\', '*', '[', ']', '~{3}', ' '][Math.floor(random() * 11)]!);
  }
  return chars.join('').replace(/\r|\n/g, ' ');
}

async function fuzz(t: TestContext, port: number): Promise<void> {
  const random = prng(0xf022);
  const good = await RawImap.login(t, port);
  await good.command('SELECT Stress');
  const templates = [
    'FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE ENVELOPE)', 'UID FETCH 1:* (BODY[1.2.3]<0.10> BINARY[1] RFC822.SIZE) (CHANGEDSINCE 1)',
    'SEARCH OR (FROM "a" SUBJECT b) NOT (LARGER 10 SMALLER 5) UID 1:*', 'SORT (REVERSE ARRIVAL SUBJECT) UTF-8 ALL', 'THREAD REFS UTF-8 ALL',
    'STORE 1 +FLAGS (\\Seen $x)', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*" RETURN (CHILDREN STATUS (MESSAGES))', 'STATUS INBOX (MESSAGES SIZE)',
    'SELECT Stress (QRESYNC (1 1 1:5))', 'ENABLE QRESYNC UTF8=ACCEPT', 'CREATE "a/b/c"', 'RENAME "a" "b"', 'COPY 1:2 INBOX', 'EXAMINE INBOX', 'UNSELECT',
    'APPEND Stress (\\Seen) "01-Jan-2020 00:00:00 +0000" {10+}\r\n0123456789', 'SEARCH RETURN (SAVE MIN) ALL', 'FETCH $ FLAGS', 'ID NIL', 'NAMESPACE',
  ];
  let fuzzer = await RawImap.login(t, port);
  let sent = 0;
  for (let batch = 0; batch < FUZZ_COMMANDS / FUZZ_BATCH; batch++) {
    // A client that earns BYE (too many BADs, an overlong line) is replaced by a new one.
    if (fuzzer.closed) fuzzer = await RawImap.login(t, port);
    for (let i = 0; i < FUZZ_BATCH; i++) {
      const template = templates[Math.floor(random() * templates.length)]!;
      const line = random() < 0.15 ? Buffer.from(Array.from({ length: 1 + Math.floor(random() * 200) }, () => 1 + Math.floor(random() * 254))).toString('latin1').replace(/[\r\n]/g, ' ') : mutate(random, template);
      fuzzer.write(Buffer.from(`f${i} ${line}\r\n`, 'latin1'));
      sent++;
    }
    fuzzer.write('fz NOOP\r\n');
    await fuzzer.until(/fz (OK|NO|BAD)|\* BYE/, 20_000).catch(() => fuzzer.socket.destroy());
    fuzzer.take();
    if (!fuzzer.closed && /\* BYE/.test(fuzzer.take())) fuzzer.socket.destroy();
  }
  assert.ok(sent > 0);
  assert.match(RawImap.status(await good.command('NOOP')), /OK/, 'the well-formed client in the same process is still served');
  const fresh = await RawImap.login(t, port);
  assert.match(RawImap.status(await fresh.command('SELECT Stress')), /OK/);
}

/** Error lines of the imap service: a command that failed inside the server, not the client's fault. */
function serverErrors(loftd: Loftd): string[] {
  return loftd.logLines().filter((l) => Number(l.level) >= 50 && String(l.service ?? l.name ?? '').includes('imap')).map((l) => JSON.stringify(l));
}

test('several sessions of one user stay consistent; fuzzed commands crash nothing', async (t) => {
  const { port, loftd } = await startImapServer(t);
  await t.test('sessions agree after each round of concurrent changes', (st) => consistency(st, port));
  await t.test('random and mutated commands crash nothing', (st) => fuzz(st, port));
  // The filter below must see imap's lines at all, or finding no errors would prove nothing.
  assert.ok(loftd.logLines().some((l) => String(l.service ?? '').includes('imap') && String(l.msg).startsWith('logged in')));
  assert.deepEqual(serverErrors(loftd), []);
});
