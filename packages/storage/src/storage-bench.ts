/**
 * The storage benchmark (subpath @loft/storage/bench). runStorageBench() measures Loft's
 * sdbox storage on a temporary mail directory: single and batched saves per second, a
 * mailbox of `messages` messages, its open time, FLAGS 1:*, SEARCH on a header and on body
 * text, SORT by date, size and subject, THREAD REFERENCES, the bytes one flag change writes
 * and index bytes per message. runStorageComparison() runs the same operations on the same
 * messages in Dovecot 2.3 (dovecot-bench.ts) and returns rows side by side. Nothing is
 * printed; the caller reports.
 *
 * Loft's query figures are the storage and query engine alone (what the IMAP service will
 * call); Dovecot's include its imap process writing the response to a pipe, which for
 * FETCH 1:* FLAGS of 100,000 messages is a real part of the time. Both sides run with
 * mail_fsync = never, so the figures measure the software, not the disk.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MailUser } from './mail-user.js';
import type { Mailbox } from './mailbox.js';
import { compileSearch, searchMatches, sortMessages, threadMessages, type QueryContext, type QueryMessage } from './query/index.js';
import type { MailFsync } from './settings.js';
import { dovecotVersion, runDovecotBench, type DovecotBenchResult } from './dovecot-bench.js';

export { dovecotVersion, runDovecotBench, type DovecotBenchResult } from './dovecot-bench.js';

export interface StorageBenchOptions {
  /** Messages in the big mailbox (default 100,000; 10,000 with `quick`). */
  messages?: number;
  /** 10,000 messages instead of 100,000 (an explicit `messages` wins). */
  quick?: boolean;
  /** Single saves timed one by one (default 2,000). */
  singleSaves?: number;
  /** mail_fsync for the run (default 'never': measures Loft, not the disk). */
  fsync?: MailFsync;
  /** Parent of the temporary mail directory (default the OS temp dir). */
  dir?: string;
}

export interface StorageBenchResult {
  messages: number;
  /** One save (APPEND/LMTP-style: file, lock, UID, log) at a time. */
  savesPerSecond: number;
  /** Saves committed 1,000 per transaction (MULTIAPPEND, COPY-like). */
  batchedSavesPerSecond: number;
  /** Opening the mailbox in a fresh MailUser: checkpoint + log tail. */
  openMs: number;
  /** Reading the flags of every message (FETCH 1:* FLAGS, without the network). */
  flagsAllMs: number;
  /** SEARCH SUBJECT over all messages, the first time (parses and caches the header field). */
  searchHeaderFirstMs: number;
  /** The same SEARCH again (from loft.index.cache). */
  searchHeaderMs: number;
  /** SEARCH BODY over all messages (reads and decodes every message). */
  searchBodyMs: number;
  /** SORT (DATE), (SIZE), (SUBJECT) of all messages, after the searches above. */
  sortDateMs: number;
  sortSizeMs: number;
  sortSubjectMs: number;
  /** THREAD REFERENCES of all messages. */
  threadReferencesMs: number;
  /** Log bytes written by one STORE of one flag on one message. */
  bytesPerFlagChange: number;
  /** loft.index size / messages, after a checkpoint. */
  indexBytesPerMessage: number;
  /** loft.index.cache size / messages after the queries above. */
  cacheBytesPerMessage: number;
}

const BATCH = 1000;
const FLAG_CHANGES = 200;
const DEFAULT_MESSAGES = 100_000;
const QUICK_MESSAGES = 10_000;
const THREAD_SIZE = 5;
const WORDS = ['budget', 'meeting', 'report', 'lunch', 'release', 'invoice', 'server', 'backup', 'review', 'travel'];

/**
 * Benchmark message `i`: threads of THREAD_SIZE messages (Re: subjects, In-Reply-To and
 * References), Date headers not in arrival order, bodies of varying length with words to
 * search and one token (`needle<i>x`) unique to the message.
 */
export function benchMessage(i: number): Buffer {
  const thread = Math.floor(i / THREAD_SIZE);
  const first = thread * THREAD_SIZE;
  const date = new Date(Date.UTC(2026, 0, 1) + ((i * 7919) % 1_000_003) * 60_000).toUTCString().replace('GMT', '+0000');
  const refs = i === first ? '' : `In-Reply-To: <${i - 1}@bench.example>\r\nReferences: ${Array.from({ length: i - first }, (_, k) => `<${first + k}@bench.example>`).join(' ')}\r\n`;
  const words = Array.from({ length: 30 + (i % 50) * 4 }, (_, k) => WORDS[(i + k * 3) % WORDS.length]).join(' ');
  return Buffer.from(
    `From: Sender ${i % 97} <sender${i % 97}@example.org>\r\nTo: you@example.org\r\nSubject: ${i === first ? '' : 'Re: '}topic ${thread} ${WORDS[thread % WORDS.length]}\r\n` +
      `Date: ${date}\r\nMessage-ID: <${i}@bench.example>\r\n${refs}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n` +
      `${words.replace(/(.{70}) /g, '$1\r\n')}\r\nneedle${i}x\r\n`,
  );
}

/** The subject and body token the benchmark searches for (one thread, one message). */
export function benchSearchTerms(messages: number): { subject: string; body: string } {
  const target = Math.floor(messages * 0.77);
  return { subject: `topic ${Math.floor(target / THREAD_SIZE)} `, body: `needle${target}x` };
}

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

function views(box: Mailbox): QueryMessage[] {
  const out: QueryMessage[] = [];
  for (let seq = 1; seq <= box.messageCount; seq++) out.push(box.messageView(seq));
  return out;
}

export async function runStorageBench(options: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const total = options.messages ?? (options.quick ? QUICK_MESSAGES : DEFAULT_MESSAGES);
  const single = Math.min(options.singleSaves ?? 2_000, total);
  const home = await mkdtemp(join(options.dir ?? tmpdir(), 'loft-storage-bench-'));
  const settings = { mail_location: 'sdbox:~/mail', mail_fsync: options.fsync ?? 'never' } as const;
  try {
    const user = await MailUser.open({ user: 'bench', home, settings });
    const box = await user.openMailbox('INBOX');
    let t0 = performance.now();
    for (let i = 0; i < single; i++) await box.save(benchMessage(i));
    const savesPerSecond = single / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let done = single; done < total; ) {
      const txn = box.transaction();
      const n = Math.min(BATCH, total - done);
      for (let i = 0; i < n; i++) await txn.save(benchMessage(done + i));
      await txn.commit();
      done += n;
    }
    const batchedSavesPerSecond = (total - single) / ((performance.now() - t0) / 1000);
    await box.refresh();
    const mailboxDir = join(user.root, 'mailboxes', box.guid);
    const logPath = join(mailboxDir, 'loft.index.log');
    const logBefore = (await stat(logPath)).size;
    const uids = box.uids();
    for (let i = 0; i < FLAG_CHANGES; i++) await box.updateFlags([uids[(i * 7919) % uids.length]!], { op: 'add', flags: ['\\Seen'] });
    const bytesPerFlagChange = ((await stat(logPath)).size - logBefore) / FLAG_CHANGES;
    await box.forceResync(); // leaves a fresh checkpoint of all messages
    await user.close();
    const indexBytesPerMessage = (await stat(join(mailboxDir, 'loft.index'))).size / total;

    const reader = await MailUser.open({ user: 'bench', home, settings });
    t0 = performance.now();
    const opened = await reader.openMailbox('INBOX', { readOnly: true });
    const openMs = performance.now() - t0;
    t0 = performance.now();
    let seen = 0;
    for (const uid of opened.uids()) if (opened.flags(uid).has('\\Seen')) seen++;
    const flagsAllMs = performance.now() - t0;
    if (seen === 0) throw new Error('benchmark flag changes were not visible');

    const terms = benchSearchTerms(total);
    const ctx: QueryContext = { messageCount: opened.messageCount, maxUid: opened.uidNext - 1, now: new Date() };
    const search = (key: Parameters<typeof compileSearch>[0]): number => {
      const compiled = compileSearch(key);
      return views(opened).filter((m) => searchMatches(compiled, m, ctx)).length;
    };
    const headerFirst = timed(() => search({ type: 'header', field: 'subject', value: terms.subject }));
    const header = timed(() => search({ type: 'header', field: 'subject', value: terms.subject }));
    const body = timed(() => search({ type: 'body', value: terms.body }));
    if (header.value === 0 || body.value !== 1) throw new Error(`benchmark searches found ${header.value} and ${body.value} messages`);
    const sortDateMs = timed(() => sortMessages(views(opened), [{ key: 'DATE', reverse: false }])).ms;
    const sortSizeMs = timed(() => sortMessages(views(opened), [{ key: 'SIZE', reverse: false }])).ms;
    const sortSubjectMs = timed(() => sortMessages(views(opened), [{ key: 'SUBJECT', reverse: false }])).ms;
    const threadReferencesMs = timed(() => threadMessages(views(opened), 'REFERENCES')).ms;
    await reader.close();
    const cacheBytesPerMessage = (await stat(join(mailboxDir, 'loft.index.cache'))).size / total;
    return {
      messages: total,
      savesPerSecond,
      batchedSavesPerSecond,
      openMs,
      flagsAllMs,
      searchHeaderFirstMs: headerFirst.ms,
      searchHeaderMs: header.ms,
      searchBodyMs: body.ms,
      sortDateMs,
      sortSizeMs,
      sortSubjectMs,
      threadReferencesMs,
      bytesPerFlagChange,
      indexBytesPerMessage,
      cacheBytesPerMessage,
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

export interface ComparisonRow {
  metric: string;
  unit: string;
  loft: number;
  /** null where Dovecot could not be measured (not installed, or it failed: see `dovecotError`). */
  dovecot: number | null;
  /** loft / dovecot; for rates (saves/s) above 1 means Loft is faster, for times and bytes below 1 does. */
  ratio: number | null;
}

export interface StorageComparison {
  messages: number;
  loft: StorageBenchResult;
  dovecot?: DovecotBenchResult;
  dovecotVersion?: string;
  /** Why the Dovecot side is missing, if it is. */
  dovecotError?: string;
  rows: ComparisonRow[];
}

const METRICS: ReadonlyArray<readonly [keyof StorageBenchResult & keyof DovecotBenchResult, string, string]> = [
  ['savesPerSecond', 'saves, one per transaction', 'msg/s'],
  ['batchedSavesPerSecond', 'saves, 1,000 per transaction (MULTIAPPEND)', 'msg/s'],
  ['openMs', 'open mailbox (EXAMINE)', 'ms'],
  ['flagsAllMs', 'FETCH 1:* FLAGS', 'ms'],
  ['searchHeaderFirstMs', 'SEARCH SUBJECT, first', 'ms'],
  ['searchHeaderMs', 'SEARCH SUBJECT, repeated (cached)', 'ms'],
  ['searchBodyMs', 'SEARCH BODY', 'ms'],
  ['sortDateMs', 'SORT (DATE)', 'ms'],
  ['sortSizeMs', 'SORT (SIZE)', 'ms'],
  ['sortSubjectMs', 'SORT (SUBJECT)', 'ms'],
  ['threadReferencesMs', 'THREAD REFERENCES', 'ms'],
  ['bytesPerFlagChange', 'log bytes per flag change', 'B'],
  ['indexBytesPerMessage', 'index bytes per message', 'B'],
  ['cacheBytesPerMessage', 'cache bytes per message (after the queries)', 'B'],
];

/**
 * Loft and Dovecot 2.3 on the same messages, as rows {metric, loft, dovecot, ratio}. The
 * default run (100,000 messages) takes a few minutes; `quick` uses 10,000. Dovecot's side
 * is skipped (dovecot: null) when doveadm is missing or fails, with the reason.
 */
export async function runStorageComparison(options: StorageBenchOptions & { dovecot?: boolean } = {}): Promise<StorageComparison> {
  const messages = options.messages ?? (options.quick ? QUICK_MESSAGES : DEFAULT_MESSAGES);
  const singleSaves = Math.min(options.singleSaves ?? 2_000, messages);
  const loft = await runStorageBench({ ...options, messages, singleSaves });
  let dovecot: DovecotBenchResult | undefined;
  let dovecotError: string | undefined;
  const version = options.dovecot === false ? undefined : dovecotVersion();
  if (options.dovecot === false) dovecotError = 'not requested';
  else if (!version) dovecotError = 'doveadm is not installed';
  else {
    const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'loft-dovecot-bench-'));
    try {
      const terms = benchSearchTerms(messages);
      dovecot = await runDovecotBench({ dir, messages, singleSaves, flagChanges: FLAG_CHANGES, batch: BATCH, message: benchMessage, searchSubject: terms.subject, searchBody: terms.body });
    } catch (err) {
      dovecotError = err instanceof Error ? err.message : String(err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const rows = METRICS.map(([key, metric, unit]): ComparisonRow => {
    const other = dovecot ? dovecot[key] : null;
    return { metric, unit, loft: loft[key], dovecot: other, ratio: other === null || other === 0 ? null : loft[key] / other };
  });
  return { messages, loft, ...(dovecot ? { dovecot } : {}), ...(version ? { dovecotVersion: version } : {}), ...(dovecotError ? { dovecotError } : {}), rows };
}
