/**
 * doveadm's search query syntax (doveadm-search-query(7)) parsed into a tree whose leaves
 * are the storage query engine's SearchKeys, plus the keys only doveadm has: `mailbox`,
 * `mailbox-guid`, `guid`, and saved dates at an exact time. Per mailbox, `resolveQuery`
 * turns the tree into one SearchKey for compileSearch().
 *
 * Grammar: query = or+ (implicitly AND-ed; the word `and` may be written);
 * or = unary ("or" unary)*; unary = "not" unary | "(" query ")" | key. As in Dovecot, OR
 * binds tighter than the implicit AND: `mailbox INBOX seen or flagged` is
 * mailbox INBOX AND (seen OR flagged).
 *
 * Dates: YYYY-MM-DD or an IMAP date (d-Mon-yyyy) compare by day, as IMAP does; a UNIX
 * timestamp or an interval back from now (`2d`, `3h`, `1w`, `30 mins`) compares the exact
 * instant, as Dovecot does for them.
 */
import { LoftError } from '@loft/errors';
import { parseSearchDate, parseSequenceSet, type SearchKey, type SequenceSet } from '@loft/imap-proto';

export type QueryNode =
  | { type: 'key'; key: SearchKey }
  | { type: 'mailbox'; pattern: string }
  | { type: 'mailbox-guid'; guid: string }
  /** Message GUID. */
  | { type: 'guid'; guid: string }
  /** Save date against an exact instant (ms since the epoch). */
  | { type: 'saved-time'; op: 'before' | 'since'; ms: number }
  | { type: 'and'; nodes: QueryNode[] }
  | { type: 'or'; left: QueryNode; right: QueryNode }
  | { type: 'not'; node: QueryNode };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  answered: ['\\Answered', true], unanswered: ['\\Answered', false],
  deleted: ['\\Deleted', true], undeleted: ['\\Deleted', false],
  draft: ['\\Draft', true], undraft: ['\\Draft', false],
  flagged: ['\\Flagged', true], unflagged: ['\\Flagged', false],
  seen: ['\\Seen', true], unseen: ['\\Seen', false],
  recent: ['\\Recent', true],
};
const HEADER_KEYS = new Set(['from', 'to', 'cc', 'bcc', 'subject']);
const DATE_KEYS: Record<string, ['internal' | 'sent' | 'saved', 'before' | 'on' | 'since']> = {
  before: ['internal', 'before'], on: ['internal', 'on'], since: ['internal', 'since'],
  sentbefore: ['sent', 'before'], senton: ['sent', 'on'], sentsince: ['sent', 'since'],
  savedbefore: ['saved', 'before'], savedon: ['saved', 'on'], savedsince: ['saved', 'since'],
};
const INTERVAL_UNITS_S: Array<[RegExp, number]> = [
  [/^(s|secs?|seconds?)$/, 1],
  [/^(m|mins?|minutes?)$/, 60],
  [/^(h|hours?)$/, 3600],
  [/^(d|days?)$/, 86_400],
  [/^(w|weeks?)$/, 604_800],
];
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4 };

function invalid(detail: string): LoftError {
  return new LoftError('LOFT_E_ADM_QUERY', detail);
}

type HumanDate = { kind: 'day'; date: string } | { kind: 'instant'; ms: number };

/** A doveadm date: a day, or an exact instant (UNIX time or an interval back from `now`). */
export function parseHumanDate(text: string, now: Date): HumanDate {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const [y, m, d] = text.split('-').map(Number) as [number, number, number];
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) throw invalid(`date ${text} does not exist`);
    return { kind: 'day', date: text };
  }
  if (/^\d{1,2}-[A-Za-z]{3}-\d{4}$/.test(text)) {
    try {
      return { kind: 'day', date: parseSearchDate(text) };
    } catch (err) {
      throw new LoftError('LOFT_E_ADM_QUERY', `date ${text} is not valid`, { cause: err });
    }
  }
  if (/^\d+$/.test(text)) return { kind: 'instant', ms: Number(text) * 1000 };
  const interval = /^(\d+)\s*([a-z]+)$/i.exec(text);
  if (interval) {
    const unit = INTERVAL_UNITS_S.find(([re]) => re.test(interval[2]!.toLowerCase()));
    if (unit) return { kind: 'instant', ms: now.getTime() - Number(interval[1]) * unit[1] * 1000 };
  }
  throw invalid(`'${text}' is not a date: use YYYY-MM-DD, d-Mon-yyyy, a UNIX time, or an interval such as 2d, 3h, 1w`);
}

/** YYYY-MM-DD of an instant in this process's zone (the zone day comparisons use). */
function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function dateNode(field: 'internal' | 'sent' | 'saved', op: 'before' | 'on' | 'since', text: string, now: Date): QueryNode {
  const date = parseHumanDate(text, now);
  if (date.kind === 'day' || op === 'on' || field === 'sent') {
    // The Date: header carries no comparable instant here, so sent dates compare by day.
    return { type: 'key', key: { type: 'date', field, op, date: date.kind === 'day' ? date.date : localDay(date.ms) } };
  }
  if (field === 'saved') return { type: 'saved-time', op: op === 'since' ? 'since' : 'before', ms: date.ms };
  const seconds = Math.max(0, Math.round((now.getTime() - date.ms) / 1000));
  return { type: 'key', key: { type: 'age', op: op === 'since' ? 'younger' : 'older', seconds } };
}

/** `3600`, `2d`, `30 mins`: an interval in seconds. */
export function parseSeconds(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const m = /^(\d+)\s*([a-z]+)$/i.exec(text);
  const unit = m ? INTERVAL_UNITS_S.find(([re]) => re.test(m[2]!.toLowerCase())) : undefined;
  if (!m || !unit) throw invalid(`'${text}' is not an interval (e.g. 3600, 2d, 3h)`);
  return Number(m[1]) * unit[1];
}

export function parseSize(text: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw invalid(`'${text}' is not a size (e.g. 2000, 10k, 5M)`);
  return Number(m[1]) * unit;
}

function sequenceSet(text: string): SequenceSet {
  try {
    return parseSequenceSet(text);
  } catch (err) {
    throw new LoftError('LOFT_E_ADM_QUERY', `'${text}' is not a UID or sequence set (e.g. 1:10,15,20:*)`, { cause: err });
  }
}

class QueryParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: string[], private readonly now: Date) {}

  parse(): QueryNode {
    const node = this.sequence();
    if (this.pos < this.tokens.length) throw invalid(`unexpected '${this.tokens[this.pos]}'`);
    return node;
  }

  private peek(): string | undefined {
    return this.tokens[this.pos];
  }

  /** A key's argument. Inside parentheses, a `)` stuck to the last value closes them. */
  private value(key: string): string {
    const token = this.tokens[this.pos++];
    if (token === undefined) throw invalid(`${key} needs a value`);
    if (this.depth > 0 && token.endsWith(')') && count(token, ')') > count(token, '(')) {
      this.tokens.splice(this.pos, 0, ')');
      return token.slice(0, -1);
    }
    return token;
  }

  private sequence(): QueryNode {
    const nodes: QueryNode[] = [];
    for (;;) {
      const token = this.peek();
      if (token === undefined || token === ')') break;
      if (token.toLowerCase() === 'and') {
        this.pos++;
        continue;
      }
      nodes.push(this.or());
    }
    if (nodes.length === 0) throw invalid('empty search query (use `all` to match every message)');
    return nodes.length === 1 ? nodes[0]! : { type: 'and', nodes };
  }

  private or(): QueryNode {
    let node = this.unary();
    while (this.peek()?.toLowerCase() === 'or') {
      this.pos++;
      node = { type: 'or', left: node, right: this.unary() };
    }
    return node;
  }

  private unary(): QueryNode {
    const token = this.tokens[this.pos];
    if (token === undefined) throw invalid('the query ends where a search key was expected');
    if (token.startsWith('(')) {
      if (token === '(') this.pos++;
      else this.tokens[this.pos] = token.slice(1);
      this.depth++;
      const inner = this.sequence();
      if (this.tokens[this.pos] !== ')') throw invalid('missing )');
      this.pos++;
      this.depth--;
      return inner;
    }
    if (this.depth > 0 && token.length > 1 && token.endsWith(')')) {
      // `flagged)`: the key, then the parenthesis it closes.
      this.tokens.splice(this.pos, 1, token.slice(0, -1), ')');
      return this.unary();
    }
    this.pos++;
    const word = token.toLowerCase();
    if (word === 'not') return { type: 'not', node: this.unary() };
    return this.key(word, token);
  }

  private key(word: string, token: string): QueryNode {
    const flag = FLAG_KEYS[word];
    if (flag) return { type: 'key', key: { type: 'flag', flag: flag[0], set: flag[1] } };
    const date = DATE_KEYS[word];
    if (date) return dateNode(date[0], date[1], this.value(word), this.now);
    if (HEADER_KEYS.has(word)) return { type: 'key', key: { type: 'header', field: word, value: this.value(word) } };
    switch (word) {
      case 'all':
        return { type: 'key', key: { type: 'all' } };
      case 'new':
        return { type: 'key', key: { type: 'and', keys: [{ type: 'flag', flag: '\\Recent', set: true }, { type: 'flag', flag: '\\Seen', set: false }] } };
      case 'old':
        return { type: 'key', key: { type: 'not', key: { type: 'flag', flag: '\\Recent', set: true } } };
      case 'keyword':
      case 'unkeyword':
        return { type: 'key', key: { type: 'flag', flag: this.value(word), set: word === 'keyword' } };
      case 'header': {
        const field = this.value(word);
        return { type: 'key', key: { type: 'header', field: field.toLowerCase(), value: this.value(word) } };
      }
      case 'body':
      case 'text':
        return { type: 'key', key: { type: word, value: this.value(word) } };
      case 'larger':
      case 'smaller':
        return { type: 'key', key: { type: 'size', op: word, bytes: parseSize(this.value(word)) } };
      case 'older':
      case 'younger':
        return { type: 'key', key: { type: 'age', op: word, seconds: parseSeconds(this.value(word)) } };
      case 'uid':
        return { type: 'key', key: { type: 'uid', set: sequenceSet(this.value(word)) } };
      case 'modseq': {
        const text = this.value(word);
        if (!/^\d+$/.test(text)) throw invalid(`modseq '${text}' is not a number`);
        return { type: 'key', key: { type: 'modseq', modseq: BigInt(text) } };
      }
      case 'mailbox':
        return { type: 'mailbox', pattern: this.value(word) };
      case 'mailbox-guid':
        return { type: 'mailbox-guid', guid: this.value(word).toLowerCase() };
      case 'guid':
        return { type: 'guid', guid: this.value(word).toLowerCase() };
      default:
        if (/^[\d*][\d:,*]*$/.test(token)) return { type: 'key', key: { type: 'seq', set: sequenceSet(token) } };
        throw invalid(`unknown search key '${token}'`);
    }
  }
}

function count(text: string, ch: string): number {
  let n = 0;
  for (const c of text) if (c === ch) n++;
  return n;
}

/** Parses doveadm's query words; throws LOFT_E_ADM_QUERY with what is wrong. */
export function parseQuery(words: readonly string[], now = new Date()): QueryNode {
  return new QueryParser([...words], now).parse();
}

/** A doveadm mailbox pattern: `*` any run, `%` any run within one level, `?` one character. */
export function mailboxPatternMatcher(pattern: string, separator = '/'): (name: string) => boolean {
  const sep = separator.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '%') source += `[^${sep}]*`;
    else if (ch === '?') source += '.';
    else source += ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`, 'su');
  const inboxRe = /^inbox(?=$|\/)/i.test(pattern) ? new RegExp(`^${source.replace(/^inbox/i, 'INBOX')}$`, 'su') : undefined;
  return (name) => re.test(name) || (inboxRe?.test(name) ?? false);
}

/** What the mailbox keys alone say about one mailbox: a match, no match, or it depends on the messages. */
export function mailboxVerdict(node: QueryNode, name: string, guid: string): boolean | undefined {
  switch (node.type) {
    case 'mailbox':
      return mailboxPatternMatcher(node.pattern)(name);
    case 'mailbox-guid':
      return node.guid === guid;
    case 'not': {
      const inner = mailboxVerdict(node.node, name, guid);
      return inner === undefined ? undefined : !inner;
    }
    case 'and': {
      let result: boolean | undefined = true;
      for (const child of node.nodes) {
        const v = mailboxVerdict(child, name, guid);
        if (v === false) return false;
        if (v === undefined) result = undefined;
      }
      return result;
    }
    case 'or': {
      const l = mailboxVerdict(node.left, name, guid);
      const r = mailboxVerdict(node.right, name, guid);
      if (l === true || r === true) return true;
      return l === false && r === false ? false : undefined;
    }
    default:
      return undefined;
  }
}

/** True when every branch of the query names a mailbox (doveadm expunge's guard). */
export function namesMailboxEverywhere(node: QueryNode): boolean {
  switch (node.type) {
    case 'mailbox':
    case 'mailbox-guid':
      return true;
    case 'and':
      return node.nodes.some(namesMailboxEverywhere);
    case 'or':
      return namesMailboxEverywhere(node.left) && namesMailboxEverywhere(node.right);
    default:
      return false;
  }
}

/** What resolveQuery needs to know of the open mailbox. */
export interface ResolveTarget {
  name: string;
  guid: string;
  /** UIDs of the messages whose save date / GUID passes the test. */
  uidsWhere(test: (m: { saveDate: Date | null; guid: string }) => boolean): number[];
}

const NOTHING: SearchKey = { type: 'not', key: { type: 'all' } };

/** The query as one SearchKey for this mailbox: doveadm-only keys become constants or UID sets. */
export function resolveQuery(node: QueryNode, target: ResolveTarget): SearchKey {
  switch (node.type) {
    case 'key':
      return node.key;
    case 'mailbox':
    case 'mailbox-guid':
      return mailboxVerdict(node, target.name, target.guid) ? { type: 'all' } : NOTHING;
    case 'guid':
      return uidKey(target.uidsWhere((m) => m.guid === node.guid));
    case 'saved-time':
      return uidKey(target.uidsWhere((m) => m.saveDate !== null && (node.op === 'since' ? m.saveDate.getTime() >= node.ms : m.saveDate.getTime() < node.ms)));
    case 'not':
      return { type: 'not', key: resolveQuery(node.node, target) };
    case 'or':
      return { type: 'or', left: resolveQuery(node.left, target), right: resolveQuery(node.right, target) };
    case 'and':
      return { type: 'and', keys: node.nodes.map((n) => resolveQuery(n, target)) };
  }
}

function uidKey(uids: number[]): SearchKey {
  return uids.length === 0 ? NOTHING : { type: 'uid', set: uids.map((uid) => ({ from: uid, to: uid })) };
}
