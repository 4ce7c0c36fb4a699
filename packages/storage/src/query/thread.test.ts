import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatThread, threadMessages, type ThreadAlgorithm, type ThreadNode } from './index.js';
import type { QueryMessage } from './query-message.js';
import { fakeMessage, lightMessage } from './fixtures.js';

interface Spec {
  id?: string;
  refs?: string;
  irt?: string;
  subject?: string;
  /** Minutes after 2024-01-01T00:00Z for the Date: header. */
  at?: number;
}

function mailbox(specs: Spec[]): QueryMessage[] {
  return specs.map((s, i) => {
    const headers: string[] = [];
    if (s.id) headers.push(`Message-ID: <${s.id}@x.test>`);
    if (s.refs) headers.push(`References: ${s.refs.split(' ').map((r) => `<${r}@x.test>`).join(' ')}`);
    if (s.irt) headers.push(`In-Reply-To: <${s.irt}@x.test>`);
    if (s.subject !== undefined) headers.push(`Subject: ${s.subject}`);
    headers.push(`Date: ${new Date(Date.UTC(2024, 0, 1) + (s.at ?? i) * 60_000).toUTCString()}`);
    return fakeMessage({ seq: i + 1, uid: (i + 1) * 10, headers });
  });
}

function thread(specs: Spec[], algorithm: ThreadAlgorithm = 'REFERENCES'): string {
  return formatThread(threadMessages(mailbox(specs), algorithm), false);
}

test('formatThread writes the RFC 5256 example shape', () => {
  const n = (seq: number, ...children: ThreadNode[]): ThreadNode => ({ uid: seq * 10, seq, children });
  const nodes = [n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))];
  assert.equal(formatThread(nodes, false), '(2)(3 6 (4 23)(44 7 96))');
  assert.equal(formatThread(nodes, true), '(20)(30 60 (40 230)(440 70 960))');
  const dummy: ThreadNode = { uid: 0, seq: 0, children: [n(3), n(5)] };
  assert.equal(formatThread([dummy], false), '((3)(5))');
  assert.equal(formatThread([], false), '');
});

test('REFERENCES: parent/child links from References and In-Reply-To', () => {
  assert.equal(
    thread([
      { id: 'a', subject: 'one' },
      { id: 'b', refs: 'a', subject: 'Re: one' },
      { id: 'c', irt: 'a', subject: 'Re: one' },
      { id: 'd', refs: 'a b', subject: 'Re: one' },
      { id: 'e', subject: 'other' },
    ]),
    '(1 (2 4)(3))(5)',
  );
});

test('REFERENCES: a missing parent becomes a dummy, pruned when it has one child', () => {
  assert.equal(thread([{ id: 'b', refs: 'lost', subject: 'x' }, { id: 'c', refs: 'lost', subject: 'y' }]), '((1)(2))');
  assert.equal(thread([{ id: 'b', refs: 'lost', subject: 'x' }]), '(1)');
  // A dummy between two real messages disappears.
  assert.equal(thread([{ id: 'a', subject: 'p' }, { id: 'c', refs: 'a gone', subject: 'q' }]), '(1 2)');
});

test('REFERENCES: loops in References are not followed', () => {
  assert.equal(
    thread([
      { id: 'a', refs: 'b', subject: 'loop 1' },
      { id: 'b', refs: 'a', subject: 'loop 2' },
      { id: 'c', refs: 'c', subject: 'self' },
    ]),
    // a made b its parent; b's link back to a would close the loop, so b stays the root.
    '(2 1)(3)',
  );
});

test('REFERENCES: the last reference wins over an earlier truncated chain', () => {
  assert.equal(
    thread([
      { id: 'a', subject: 'p' },
      { id: 'b', subject: 'q' },
      { id: 'c', refs: 'a', subject: 'r' },
      { id: 'd', refs: 'b c', subject: 's' },
    ]),
    '(1 3 4)(2)',
  );
});

test('REFERENCES: duplicate Message-IDs and messages without one stand alone', () => {
  assert.equal(thread([{ id: 'a', subject: 'p' }, { id: 'a', subject: 'q' }, { subject: 'r' }]), '(1)(2)(3)');
});

test('REFERENCES step 5: subject-only threads are merged', () => {
  // A reply goes under the original.
  assert.equal(thread([{ id: 'a', subject: 'Hello' }, { id: 'b', subject: 'Re: Hello' }]), '(1 2)');
  // Two originals with one subject share a dummy parent.
  assert.equal(thread([{ id: 'a', subject: 'Hello' }, { id: 'b', subject: 'hello' }, { id: 'c', subject: 'Bye' }]), '((1)(2))(3)');
  // The reply came first: the original still becomes the parent.
  assert.equal(thread([{ id: 'a', subject: 'Re: Hi', at: 1 }, { id: 'b', subject: 'Hi', at: 2 }]), '(2 1)');
  // Empty subjects are never merged.
  assert.equal(thread([{ id: 'a', subject: '' }, { id: 'b', subject: 'Re:' }]), '(1)(2)');
});

test('REFERENCES sorts threads and siblings by sent date, REFS and X-REFERENCES2 by the newest message', () => {
  const specs: Spec[] = [
    { id: 'a', subject: 'old thread', at: 10 },
    { id: 'b', subject: 'new thread', at: 20 },
    { id: 'c', refs: 'a', subject: 'Re: old thread', at: 30 },
    { id: 'd', refs: 'a', subject: 'Re: old thread', at: 25 },
  ];
  assert.equal(thread(specs, 'REFERENCES'), '(1 (4)(3))(2)');
  assert.equal(thread(specs, 'REFS'), '(2)(1 (4)(3))');
  assert.equal(thread(specs, 'X-REFERENCES2'), '(2)(1 (4)(3))');
  // REFS does not merge by subject.
  assert.equal(thread([{ id: 'a', subject: 'Hello' }, { id: 'b', subject: 'Re: Hello' }], 'REFS'), '(1)(2)');
});

test('ORDEREDSUBJECT: by base subject then date, first message is the parent', () => {
  assert.equal(
    thread(
      [
        { subject: 'b topic', at: 5 },
        { subject: 'Re: a topic', at: 3 },
        { subject: 'A Topic', at: 1 },
        { subject: 'Re: b topic', at: 2 },
        { subject: 'a topic', at: 4 },
      ],
      'ORDEREDSUBJECT',
    ),
    '(3 (2)(5))(4 1)',
  );
});

function bigMailbox(count: number): QueryMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const headers: Record<string, string> = {
      'message-id': `<m${i}@bench.test>`,
      subject: `${i % 5 ? 'Re: ' : ''}topic ${i % 20_000}`,
      date: new Date(Date.UTC(2020, 0, 1) + i * 60_000).toUTCString(),
    };
    if (i % 5) {
      const parent = i - 1 - ((i * 31) % Math.min(i, 50));
      const grand = Math.max(0, parent - 3);
      headers.references = `<m${grand}@bench.test> <m${parent}@bench.test>`;
    }
    return lightMessage(i + 1, headers, Date.UTC(2020, 0, 1) + i * 1000, 1000);
  });
}

test('THREAD REFERENCES of 100,000 messages', (t) => {
  const msgs = bigMailbox(100_000);
  for (const algorithm of ['REFERENCES', 'REFS', 'ORDEREDSUBJECT'] as const) {
    const started = process.hrtime.bigint();
    const text = formatThread(threadMessages(msgs, algorithm), true);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    t.diagnostic(`${algorithm}: threaded 100,000 messages in ${ms.toFixed(0)} ms`);
    assert.ok(text.length > 0);
    assert.ok(ms < 8000, `took ${ms} ms`);
  }
});

test('a 100,000-message reply chain threads and formats without recursion', () => {
  const msgs = Array.from({ length: 100_000 }, (_, i) =>
    lightMessage(i + 1, { 'message-id': `<c${i}@x>`, ...(i > 0 ? { 'in-reply-to': `<c${i - 1}@x>` } : {}) }, i * 1000, 10),
  );
  const text = formatThread(threadMessages(msgs, 'REFERENCES'), false);
  assert.ok(text.startsWith('(1 2 3 '));
  assert.ok(text.endsWith(' 100000)'));
});
