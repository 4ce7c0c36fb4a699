/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, BINARY RFC 3516, CONDSTORE/QRESYNC RFC 7162,
 * SAVEDATE RFC 8514, PREVIEW RFC 8970). Message bytes come from the storage unchanged, so
 * BODY[] is byte-identical to what was appended; ENVELOPE, BODY and BODYSTRUCTURE come from
 * the storage's field cache (computed by @loft/mime on the first request and kept), so a
 * client listing a folder does not make the server read and parse every message again.
 * Output waits for the socket between messages.
 */
import { isLoftError } from '@loft/errors';
import {
  formatBodySection, formatDateTime, formatSequenceSet, literalPrefix, parseFetchArgs, parseSequenceSetOrSaved, string,
  type FetchItem, type FetchPartial, type ImapCommand,
} from '@loft/imap-proto';
import type { CachedFieldName, FlagIds, Mailbox } from '@loft/storage';
import { decodedBody, findPart, parseMessage, preview, section, writeImapValue, type ImapValue, type MimePart } from '@loft/mime';
import { rangeUidsOf, requireSelected, sequenceArg, writeDecimal } from './command-support.js';
import { CommandFailure, bad, no } from './command-failure.js';
import type { MessageRef, SelectedMailbox } from './selected-mailbox.js';
import { utf8Enabled, type SessionContext } from './session-context.js';

const FETCH_BATCH_BYTES = 32 * 1024;
/** Bytes an index-only FETCH lets wait for the socket before it waits too. */
const INDEX_FETCH_QUEUED_MAX = 256 * 1024;

/** Items answered from the storage's field cache: the cached field's name. */
const CACHED_ITEMS: Readonly<Record<string, CachedFieldName>> = { ENVELOPE: 'envelope', BODY: 'body', BODYSTRUCTURE: 'bodystructure' };

/**
 * The cached items as sent ("ENVELOPE (...)"), made once per message and kept by the storage
 * with its decoded fields, so a client listing a folder again costs no decoding or writing.
 */
const WIRE: Readonly<Record<string, { key: string; make: (value: unknown) => Buffer }>> = Object.fromEntries(Object.entries(CACHED_ITEMS).map(([item, field]) => {
  const prefix = Buffer.from(`${item} `);
  return [field, { key: `imap-wire:${item}`, make: (value: unknown) => Buffer.concat([prefix, writeImapValue(value as ImapValue)]) }];
}));

function cachedField(item: FetchItem): CachedFieldName | undefined {
  return item.type === 'attribute' ? CACHED_ITEMS[item.name] : undefined;
}

/** Items that need the message itself (not only the index and the field cache). */
function needsMessage(item: FetchItem): boolean {
  if (item.type !== 'attribute') return true;
  return item.name.startsWith('RFC822') && item.name !== 'RFC822.SIZE';
}

/** Items that set \Seen (RFC 3501: BODY[] and RFC822 do, BODY.PEEK[] and RFC822.HEADER do not). */
function setsSeen(item: FetchItem): boolean {
  if (item.type === 'body' || item.type === 'binary') return !item.peek;
  return item.type === 'attribute' && (item.name === 'RFC822' || item.name === 'RFC822.TEXT');
}

/**
 * A message's bytes, and its MIME structure parsed on first use: BODY[], BODY.PEEK[],
 * RFC822 and BINARY[] send the bytes as they are (a profile of FETCH n (BODY.PEEK[]) put
 * an eighth of its CPU in the parse it did not need).
 */
class Parsed {
  private parsedRoot: MimePart | undefined;

  constructor(readonly raw: Buffer) {}

  get root(): MimePart {
    return (this.parsedRoot ??= parseMessage(this.raw));
  }
}

/** Items answered from the top-level header block alone, so a large message is not read whole. */
function headerOnly(item: FetchItem): boolean {
  if (item.type === 'body') {
    const text = item.section.text;
    return item.section.part.length === 0 && (text === 'HEADER' || text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT');
  }
  return item.type === 'attribute' && (item.name === 'RFC822.HEADER' || !needsMessage(item));
}

/** The message's bytes up to and including the empty line that ends its header (all of it if there is none). */
async function readHeaderBlock(m: Mailbox, uid: number): Promise<Buffer> {
  const { stream } = await m.openMessageStream(uid);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      const soFar = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      const end = headerBlockEnd(soFar);
      if (end >= 0) return soFar.subarray(0, end);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, length);
}

/** Offset just past the first empty line, or -1 when the bytes hold none yet. */
function headerBlockEnd(bytes: Buffer): number {
  if (bytes[0] === 0x0a) return 1;
  if (bytes[0] === 0x0d && bytes[1] === 0x0a) return 2;
  for (let i = bytes.indexOf(0x0a); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0x0a, i + 1)) {
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

async function loadMessage(m: Mailbox, uid: number, headerBlockOnly: boolean): Promise<Parsed> {
  const raw = headerBlockOnly ? await readHeaderBlock(m, uid) : await m.openMessage(uid);
  return new Parsed(raw);
}

export async function fetchCommand(ctx: SessionContext, command: ImapCommand, byUid: boolean): Promise<string> {
  const sel = requireSelected(ctx);
  const set = parseSequenceSetOrSaved(sequenceArg(command));
  const { items, modifiers } = parseFetchArgs(command.args.slice(1));
  if (modifiers.vanished && (!byUid || !ctx.enabled.has('QRESYNC'))) throw bad('VANISHED needs UID FETCH and ENABLE QRESYNC');
  const wantsModseq = modifiers.changedSince !== undefined || items.some((i) => i.type === 'attribute' && i.name === 'MODSEQ');
  if (wantsModseq) ctx.condstore = true;
  const m = sel.mailbox;
  if (modifiers.vanished && modifiers.changedSince !== undefined && set !== '$') {
    const { vanished } = await m.changesSince(modifiers.changedSince);
    const inSet = rangeUidsOf(vanished, set);
    if (inSet.length > 0) ctx.writer.send(`* VANISHED (EARLIER) ${formatSequenceSet(inSet)}\r\n`);
  }

  if (items.every(indexOnly)) {
    const seqs = set === '$' ? sel.resolveSeqs(ctx.savedUids, true) : sel.resolveSeqs(set, byUid);
    await fetchIndexOnly(ctx, sel, seqs, items, { byUid, modseq: wantsModseq, changedSince: modifiers.changedSince });
    return 'Fetch completed.';
  }
  const refs = set === '$' ? sel.resolve(ctx.savedUids, true) : sel.resolve(set, byUid);

  const seenAdded = new Set<number>();
  if (!sel.readOnly && items.some(setsSeen)) {
    const unseen = refs.filter((r) => !m.isExpunged(r.uid) && !m.hasFlag(r.uid, '\\Seen')).map((r) => r.uid);
    if (unseen.length > 0) for (const u of (await m.updateFlags(unseen, { op: 'add', flags: ['\\Seen'] })).updated) seenAdded.add(u.uid);
  }

  let expungedSeen = false;
  const loadsMessage = items.some(needsMessage);
  const headerBlockOnly = items.every(headerOnly);
  // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
  const fields: CachedFieldName[] = [];
  for (const item of items) {
    const field = cachedField(item);
    if (field !== undefined && !fields.includes(field)) fields.push(field);
  }
  // One map for every message: messageResponse() is done with it before the next.
  const cached = new Map<CachedFieldName, Buffer>();
  for (const ref of refs) {
    if (ctx.closed) break;
    if (modifiers.changedSince !== undefined && m.modseq(ref.uid) <= modifiers.changedSince) continue;
    let parsed: Parsed | undefined;
    cached.clear();
    try {
      if (loadsMessage) parsed = await loadMessage(m, ref.uid, headerBlockOnly);
      for (const field of fields) cached.set(field, m.cachedFieldBytes(ref.uid, field, WIRE[field]!.key, WIRE[field]!.make));
    } catch (err) {
      if (!isLoftError(err, 'LOFT_E_STORAGE_EXPUNGED')) throw err;
      expungedSeen = true;
      continue;
    }
    // Index-only requests took the path above; these responses carry message data, and the
    // writer corks the socket, so what one turn of the loop produces goes out in one writev.
    const response = messageResponse(ctx, sel, ref, items, { parsed, cached }, { byUid, seenAdded: seenAdded.has(ref.uid), modseq: wantsModseq });
    if (!ctx.writer.send(response)) await ctx.writer.drained();
  }
  if (expungedSeen) throw no('Some of the requested messages no longer exist', 'EXPUNGEISSUED');
  return 'Fetch completed.';
}

/** Items answered from the index alone, without reading the message or the field cache. */
const INDEX_ITEMS = new Set(['UID', 'FLAGS', 'MODSEQ', 'INTERNALDATE', 'SAVEDATE', 'RFC822.SIZE', 'EMAILID', 'THREADID']);

function indexOnly(item: FetchItem): boolean {
  return item.type === 'attribute' && INDEX_ITEMS.has(item.name);
}

/**
 * FETCH of index-only items (FETCH 1:* (FLAGS), UID FETCH 1:* (UID FLAGS) on a resync): what
 * messageResponse() writes, written as bytes into ~32 KiB sends (LineBatch), with no string
 * per line. Nothing here sets \Seen.
 */
async function fetchIndexOnly(
  ctx: SessionContext,
  sel: SelectedMailbox,
  seqs: Uint32Array,
  items: readonly FetchItem[],
  o: { byUid: boolean; modseq: boolean; changedSince: bigint | undefined },
): Promise<void> {
  const m = sel.mailbox;
  const names: string[] = []; // push, not map(): see "Holey arrays" in docs/benchmark-notes.md
  for (const i of items) names.push(i.type === 'attribute' ? i.name : '');
  const uidFirst = o.byUid && !names.includes('UID');
  const modseqLast = o.modseq && !names.includes('MODSEQ');
  const flagsOnly = names.length === 1 && names[0] === 'FLAGS';
  const uidFlags = (flagsOnly && uidFirst) || (names.length === 2 && names[0] === 'UID' && names[1] === 'FLAGS');
  if ((flagsOnly || uidFlags) && !modseqLast && o.changedSince === undefined) {
    // FETCH 1:* (FLAGS) or UID FETCH 1:* (FLAGS), a client's resync of a large mailbox.
    const lines = new FlagLines(seqs, sel.flagIdsOfSeqs(seqs), uidFlags ? m : undefined);
    while (!lines.done() && !ctx.closed) {
      if (!ctx.writer.send(lines.next(ctx.writer.queued === 0)) && ctx.writer.queued > INDEX_FETCH_QUEUED_MAX) await ctx.writer.drained();
    }
    return;
  }
  // `* 12 FETCH (FLAGS (\Seen))` is ~30 bytes: a first guess; the Buffer grows if lines are longer.
  const batch = new LineBatch(seqs.length * BYTES_PER_INDEX_LINE);
  const open = uidFirst ? FETCH_OPEN_UID : FETCH_OPEN;
  for (let i = 0; i < seqs.length; i++) {
    if (ctx.closed) break;
    const seq = seqs[i]!;
    const uid = m.uidOfSeq(seq);
    if (o.changedSince !== undefined && m.modseq(uid) <= o.changedSince) continue;
    batch.line(seq, open);
    let first = true;
    if (uidFirst) {
      batch.number(uid);
      first = false;
    }
    for (const name of names) {
      if (!first) batch.byte(SPACE);
      first = false;
      if (name === 'FLAGS') {
        batch.bytes(flagsBytes(FLAGS_ITEMS, sel.flagTextOfSeq(seq)));
      } else if (name === 'UID') {
        batch.bytes(UID_ITEM);
        batch.number(uid);
      } else {
        batch.text(indexItemValue(sel, seq, uid, name));
      }
    }
    if (modseqLast) batch.text(`${first ? '' : ' '}MODSEQ (${m.modseq(uid)})`);
    batch.bytes(LINE_END);
    if (batch.length >= FETCH_BATCH_BYTES) await sendBatch(ctx, batch);
  }
  if (batch.length > 0) ctx.writer.send(batch.take());
}

/**
 * Hands a full batch to the writer. Short lines: go on while the client has a little to
 * read, so a FETCH 1:* (FLAGS) is not one wait for the socket per batch.
 */
async function sendBatch(ctx: SessionContext, batch: LineBatch): Promise<void> {
  if (!ctx.writer.send(batch.take()) && ctx.writer.queued > INDEX_FETCH_QUEUED_MAX) await ctx.writer.drained();
  if (ctx.writer.queued === 0) batch.reuse();
}

const FETCH_OPEN = Buffer.from(' FETCH (');
const FETCH_OPEN_UID = Buffer.from(' FETCH (UID ');
const UID_ITEM = Buffer.from('UID ');
const SPACE = 0x20;
const LINE_END = Buffer.from(')\r\n');

/**
 * Flag lists as bytes, by flag text (a mailbox has few distinct flag sets), in two forms:
 * the FLAGS item, and the whole rest of a FETCH (FLAGS) line after `* <seq>`.
 */
interface FlagsForm {
  readonly cache: Map<string, Buffer>;
  readonly make: (flagText: string) => string;
}
const FLAGS_ITEMS: FlagsForm = { cache: new Map(), make: (text) => `FLAGS (${text})` };
const FLAGS_LINES: FlagsForm = { cache: new Map(), make: (text) => ` FETCH (FLAGS (${text}))\r\n` };
/** The rest of a FETCH (UID FLAGS) line after `* <seq> FETCH (UID <uid>`. */
const UID_FLAGS_LINES: FlagsForm = { cache: new Map(), make: (text) => ` FLAGS (${text}))\r\n` };
const FLAGS_FORMS_MAX = 1024;

function flagsBytes(form: FlagsForm, flagText: string): Buffer {
  let bytes = form.cache.get(flagText);
  if (bytes === undefined) {
    bytes = Buffer.from(form.make(flagText), 'utf8');
    if (form.cache.size < FLAGS_FORMS_MAX) form.cache.set(flagText, bytes);
  }
  return bytes;
}

/**
 * The lines of a FETCH (FLAGS), `* <seq> FETCH (FLAGS (<flags>))`, or with `uids` of a FETCH
 * (UID FLAGS), `* <seq> FETCH (UID <uid> FLAGS (<flags>))`, up to a batch at a time. A UID
 * FETCH 1:* (FLAGS), most clients' resync, used to go through the general loop, and its UID
 * set became an object per message first (SelectedMailbox.resolveSeqs): at 100,000
 * messages 74-112 ms and 69-82 ms of the server's CPU once warm, now 26-59 and 17-19.
 * The loop is a plain function's: V8 compiles a loop of a synchronous function while it
 * runs (on-stack replacement), not one of an async function, so the first FETCH 1:* of a
 * process ran its 100,000 lines interpreted (92 ms against Dovecot's 49; 28-44 once warm).
 * Batches are cut from slabs of up to FLAG_SLAB_BYTES: a 33 KiB Buffer per batch took ~10
 * of the 15 ms that 100,000 lines cost once optimised (the socket keeps a slab until its
 * last batch is written, so a slab is at most what INDEX_FETCH_QUEUED_MAX lets wait).
 * Once the socket has written everything, the slab is filled again from its start. Each
 * new slab is memory the kernel maps afresh, a page fault per 4 KiB: a copy of this loop
 * made 100,000 lines in 20-21 ms in new slabs and in 4-7 ms in one slab filled again. A
 * warm FETCH 1:* (FLAGS) of 100,000 messages took ~1,000 page faults and 28-31 ms of the
 * server's CPU before, ~270 (the two arrays of sequence numbers and flag ids) and 11-20 ms
 * since.
 */
class FlagLines {
  private i = 0;
  private slab: Buffer = EMPTY_BATCH;
  private used = 0;
  /** The line's end (` FETCH (FLAGS (...))\r\n`) by flags id, made on first use. */
  private readonly ends: Array<Buffer | undefined> = [];

  /** Bytes a line may take besides its flags' part. */
  private readonly lineMax: number;

  constructor(
    private readonly seqs: Uint32Array,
    private readonly flags: FlagIds,
    private readonly uids?: Pick<Mailbox, 'uidOfSeq'>,
  ) {
    this.lineMax = 2 + MAX_DIGITS + (uids ? FETCH_OPEN_UID.length + MAX_DIGITS : 0);
  }

  done(): boolean {
    return this.i >= this.seqs.length;
  }

  private end(id: number): Buffer {
    return (this.ends[id] ??= flagsBytes(this.uids ? UID_FLAGS_LINES : FLAGS_LINES, this.flags.texts[id]!));
  }

  /** The next batch; `rewind`: the socket has written every batch so far, so the slab is free. */
  next(rewind: boolean): Buffer {
    const { seqs, uids, lineMax } = this;
    const { ids } = this.flags;
    if (rewind) this.used = 0;
    let i = this.i;
    let id = ids[i]!;
    let rest = this.end(id);
    // Room for this batch's expected lines, and at least for its first.
    const expected = (seqs.length - i) * BYTES_PER_INDEX_LINE;
    const longest = lineMax + rest.length;
    if (this.slab.length - this.used < Math.max(longest, Math.min(expected, FETCH_BATCH_BYTES))) {
      this.slab = Buffer.allocUnsafe(Math.max(longest, Math.min(expected, FLAG_SLAB_BYTES)) + LINE_SLACK_BYTES);
      this.used = 0;
    }
    const buf = this.slab;
    const start = this.used;
    const stop = start + FETCH_BATCH_BYTES;
    let at = start;
    for (; i < seqs.length; i++) {
      if (ids[i] !== id) {
        id = ids[i]!;
        rest = this.end(id);
      }
      if (at + lineMax + rest.length > buf.length || at >= stop) break;
      const seq = seqs[i]!;
      buf[at++] = 0x2a;
      buf[at++] = SPACE;
      at = writeDecimal(buf, at, seq);
      if (uids) {
        buf.set(FETCH_OPEN_UID, at);
        at = writeDecimal(buf, at + FETCH_OPEN_UID.length, uids.uidOfSeq(seq));
      }
      buf.set(rest, at);
      at += rest.length;
    }
    this.i = i;
    this.used = at;
    return buf.subarray(start, at);
  }
}
const FLAG_SLAB_BYTES = 256 * 1024;

/**
 * Response lines written straight into a Buffer. take() hands the bytes over (the socket
 * keeps them until written); the next line starts a new Buffer, so nothing handed over is
 * reused.
 *
 * Buffers are sized to the lines expected, up to one batch: a FETCH 1:* (FLAGS) of a
 * hundred messages (~3 KiB) is a slice of Node's shared pool, where a batch-sized Buffer
 * each time (twice per command: one made, one made again after the last take) was 66 KiB
 * of memory outside the heap per command, and 11% of an imap process's samples in the
 * garbage collector that such allocations start.
 */
class LineBatch {
  private buf: Buffer = EMPTY_BATCH;
  /** The Buffer of the bytes last taken, until reuse() or the next Buffer. */
  private taken: Buffer = EMPTY_BATCH;
  length = 0;
  /** Bytes expected in what is not written yet, so the next Buffer's size. */
  private expected: number;

  constructor(expectedBytes: number) {
    this.expected = expectedBytes;
  }

  /**
   * Copies with TypedArray set, a native call: a byte loop is faster once V8 has optimised
   * it, but a FETCH often runs in a process that has not (its first resync), and there it
   * is several times slower.
   */
  bytes(bytes: Buffer): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  byte(value: number): void {
    this.room(1);
    this.buf[this.length++] = value;
  }

  text(text: string): void {
    this.room(Buffer.byteLength(text, 'utf8'));
    this.length += this.buf.write(text, this.length, 'utf8');
  }

  /** `* <seq>` and then `rest`, in one call: an untagged FETCH line, or its start. */
  line(seq: number, rest: Buffer): void {
    this.room(2 + MAX_DIGITS + rest.length);
    const buf = this.buf;
    let at = this.length;
    buf[at++] = 0x2a;
    buf[at++] = SPACE;
    at = writeDecimal(buf, at, seq);
    buf.set(rest, at);
    this.length = at + rest.length;
  }

  /** A non-negative integer in decimal. */
  number(n: number): void {
    this.room(MAX_DIGITS);
    this.length = writeDecimal(this.buf, this.length, n);
  }

  take(): Buffer {
    const out = this.buf.subarray(0, this.length);
    this.expected = Math.max(0, this.expected - this.length);
    this.taken = this.buf;
    this.buf = EMPTY_BATCH;
    this.length = 0;
    return out;
  }

  /**
   * The socket has written what take() handed over (the writer holds nothing), so its
   * Buffer can take the next lines: a new one is memory the kernel maps afresh, a page
   * fault per 4 KiB of a large FETCH.
   */
  reuse(): void {
    if (this.length === 0 && this.buf === EMPTY_BATCH) this.buf = this.taken;
    this.taken = EMPTY_BATCH;
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    // A new Buffer: the lines still expected, or a whole batch once they are more than guessed.
    const fresh = this.expected > 0 ? Math.min(this.expected, FETCH_BATCH_BYTES + LINE_SLACK_BYTES) : FETCH_BATCH_BYTES + LINE_SLACK_BYTES;
    const size = this.buf.length === 0 ? Math.max(fresh, bytes) : Math.max(this.buf.length * 2, this.length + bytes);
    const bigger = Buffer.allocUnsafe(size);
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
  }
}

const EMPTY_BATCH = Buffer.alloc(0);

const LINE_SLACK_BYTES = 1024;
/** A guess at an index-only FETCH line's length, to size the first Buffer of a batch. */
const BYTES_PER_INDEX_LINE = 40;
const MAX_DIGITS = 20;

/** One index-only item, as itemValue() writes it. */
function indexItemValue(sel: SelectedMailbox, seq: number, uid: number, name: string): string {
  const m = sel.mailbox;
  switch (name) {
    case 'UID':
      return `UID ${uid}`;
    case 'FLAGS':
      return `FLAGS ${sel.flagListOfSeq(seq)}`;
    case 'MODSEQ':
      return `MODSEQ (${m.modseq(uid)})`;
    case 'INTERNALDATE':
      return `INTERNALDATE "${formatDateTime(m.internalDate(uid))}"`;
    case 'SAVEDATE':
      return `SAVEDATE "${formatDateTime(m.saveDate(uid))}"`;
    case 'RFC822.SIZE':
      return `RFC822.SIZE ${m.messageSize(uid)}`;
    case 'EMAILID':
      return `EMAILID (M${m.messageGuid(uid)})`;
    default:
      return 'THREADID NIL';
  }
}

interface ResponseOptions {
  byUid: boolean;
  seenAdded: boolean;
  modseq: boolean;
}

/** What FETCH read for one message: the message (when an item needs it) and cached fields, as sent. */
interface Loaded {
  parsed: Parsed | undefined;
  cached: ReadonlyMap<CachedFieldName, Buffer>;
}

function messageResponse(ctx: SessionContext, sel: SelectedMailbox, ref: MessageRef, items: readonly FetchItem[], loaded: Loaded, o: ResponseOptions): Buffer | string {
  const m = sel.mailbox;
  let hasUid = false;
  let hasFlags = false;
  let hasModseq = false;
  for (const item of items) {
    if (item.type !== 'attribute') continue;
    if (item.name === 'UID') hasUid = true;
    else if (item.name === 'FLAGS') hasFlags = true;
    else if (item.name === 'MODSEQ') hasModseq = true;
  }
  const out: ItemValue[] = [];
  let binary = false;
  if (o.byUid && !hasUid) out.push(`UID ${ref.uid}`);
  for (const item of items) {
    const value = itemValue(ctx, sel, ref, item, loaded);
    if (typeof value !== 'string') binary = true;
    out.push(value);
  }
  if (o.seenAdded && !hasFlags) out.push(`FLAGS ${sel.flagList(ref.uid)}`);
  if ((o.modseq || (o.seenAdded && ctx.condstore)) && !hasModseq) out.push(`MODSEQ (${m.modseq(ref.uid)})`);
  // Index-only items (FLAGS, UID, sizes, dates) stay one string; literals make it a Buffer.
  if (!binary) return `* ${ref.seq} FETCH (${out.join(' ')})\r\n`;
  return fetchLine(ref.seq, out);
}

/**
 * An item's value as sent: text, bytes, or pieces sent one after the other (a literal's
 * `{n}\r\n` and then the message's own bytes, which are not copied to be joined).
 */
type ItemValue = string | Buffer | ReadonlyArray<string | Buffer>;

/**
 * `* seq FETCH (item item)\r\n` as one Buffer: each piece is copied once, into a Buffer of the
 * line's size, where joining them in steps would copy a message body two or three times and
 * make a small Buffer per piece.
 */
function fetchLine(seq: number, values: readonly ItemValue[]): Buffer {
  const head = `* ${seq} FETCH (`;
  let length = head.length + values.length - 1 + FETCH_LINE_END.length;
  const pieceLength = (piece: string | Buffer): number => (typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length);
  for (const value of values) {
    if (typeof value === 'string' || Buffer.isBuffer(value)) length += pieceLength(value);
    else for (const piece of value) length += pieceLength(piece);
  }
  const line = Buffer.allocUnsafe(length);
  let at = line.write(head, 0, 'latin1');
  const put = (piece: string | Buffer): void => {
    at += typeof piece === 'string' ? line.write(piece, at) : piece.copy(line, at);
  };
  values.forEach((value, i) => {
    if (i > 0) line[at++] = SPACE;
    if (typeof value === 'string' || Buffer.isBuffer(value)) put(value);
    else for (const piece of value) put(piece);
  });
  FETCH_LINE_END.copy(line, at);
  return line;
}

const FETCH_LINE_END = Buffer.from(')\r\n');

function sliced(bytes: Buffer, partial: FetchPartial | undefined): Buffer {
  if (partial === undefined) return bytes;
  return bytes.subarray(Math.min(partial.offset, bytes.length), Math.min(partial.offset + partial.length, bytes.length));
}

function origin(partial: FetchPartial | undefined): string {
  return partial === undefined ? '' : `<${partial.offset}>`;
}

function need(parsed: Parsed | undefined): Parsed {
  if (parsed === undefined) throw new CommandFailure('NO', 'message not loaded', 'SERVERBUG');
  return parsed;
}

/** `name`, the literal's prefix and the bytes, as pieces (the bytes are not copied here). */
function literalValue(name: string, bytes: Buffer, literal8 = false): ItemValue {
  return [`${name}${literalPrefix(bytes.length, literal8)}`, bytes];
}

function itemValue(ctx: SessionContext, sel: SelectedMailbox, ref: MessageRef, item: FetchItem, loaded: Loaded): ItemValue {
  const { parsed } = loaded;
  switch (item.type) {
    case 'body': {
      const p = need(parsed);
      const spec = { part: item.section.part, ...(item.section.text ? { text: item.section.text } : {}), ...(item.section.fields ? { fields: item.section.fields } : {}) };
      // BODY[] is the message as it is: no need for its structure.
      const whole = spec.part.length === 0 && spec.text === undefined;
      const bytes = sliced(whole ? p.raw : section(p.raw, p.root, spec), item.partial);
      return literalValue(`BODY[${formatBodySection(item.section)}]${origin(item.partial)} `, bytes);
    }
    case 'binary': {
      const bytes = sliced(binaryContent(need(parsed), item.part), item.partial);
      const name = `BINARY[${item.part.join('.')}]${origin(item.partial)} `;
      return literalValue(name, bytes, bytes.includes(0));
    }
    case 'binary-size':
      return `BINARY.SIZE[${item.part.join('.')}] ${binaryContent(need(parsed), item.part).length}`;
    case 'preview': {
      const p = need(parsed);
      return Buffer.concat([Buffer.from('PREVIEW '), string(preview(p.raw, p.root), { utf8: utf8Enabled(ctx) })]);
    }
    case 'attribute':
      break;
  }
  switch (item.name) {
    case 'ENVELOPE':
    case 'BODY':
    case 'BODYSTRUCTURE': {
      const value = loaded.cached.get(CACHED_ITEMS[item.name]!);
      if (value === undefined) throw new CommandFailure('NO', `${item.name} not loaded`, 'SERVERBUG');
      return value;
    }
    case 'RFC822':
      return literalValue('RFC822 ', need(parsed).raw);
    case 'RFC822.HEADER': {
      const p = need(parsed);
      return literalValue('RFC822.HEADER ', section(p.raw, p.root, { text: 'HEADER' }));
    }
    case 'RFC822.TEXT': {
      const p = need(parsed);
      return literalValue('RFC822.TEXT ', section(p.raw, p.root, { text: 'TEXT' }));
    }
    default:
      return indexItemValue(sel, ref.seq, ref.uid, item.name);
  }
}

/** BINARY[part]: the part's content with its transfer encoding undone (RFC 3516). */
function binaryContent(p: Parsed, part: readonly number[]): Buffer {
  if (part.length === 0) return p.raw;
  const target = findPart(p.root, part);
  if (target === null) throw no('Invalid BINARY part', 'UNKNOWN-CTE');
  try {
    return decodedBody(p.raw, target);
  } catch (err) {
    if (isLoftError(err, 'LOFT_E_MIME_UNKNOWN_CTE')) throw no(`Unknown Content-Transfer-Encoding: ${err.detail}`, 'UNKNOWN-CTE');
    throw err;
  }
}
