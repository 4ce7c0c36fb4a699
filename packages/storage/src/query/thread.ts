/**
 * THREAD (RFC 5256): ORDEREDSUBJECT, REFERENCES, Dovecot's REFS, and X-REFERENCES2
 * (REFERENCES with threads ordered by their newest message, from Dovecot's 2007 roadmap).
 * Trees can be as deep as the mailbox is long, so nothing here recurses.
 */
import { messageIds } from '@loft/mime';
import { firstHeader, memoized, sortDate, subjectKey } from './message-keys.js';
import type { QueryMessage } from './query-message.js';

export type ThreadAlgorithm = 'REFERENCES' | 'REFS' | 'ORDEREDSUBJECT' | 'X-REFERENCES2';

/** A message in a thread, or a dummy parent (uid 0, seq 0) holding sibling threads together. */
export type ThreadNode = { uid: number; seq: number; children: ThreadNode[] };

/** A Message-ID table entry (RFC 5256 §2.2 step 1); `msg` is absent for a dummy. */
interface Container {
  msg?: QueryMessage;
  date: number;
  parent?: Container;
  childCount: number;
  /** Cached ancestor (valid while upGen equals the links' generation), for fast root lookups. */
  up?: Container;
  upGen: number;
}

function newContainer(): Container {
  return { date: 0, childCount: 0, upGen: -1 };
}

/**
 * Parent links with a cached path to each tree's root. Linking only merges trees, so a
 * cached ancestor stays an ancestor; unlinking splits one, so it invalidates every cache.
 * This keeps loop checks near-constant even when References chains build very deep trees.
 */
class Links {
  private gen = 0;

  root(x: Container): Container {
    const path: Container[] = [];
    let r = x;
    for (;;) {
      const next = r.upGen === this.gen && r.up ? r.up : r.parent;
      if (!next) break;
      path.push(r);
      r = next;
    }
    for (const p of path) {
      p.up = r;
      p.upGen = this.gen;
    }
    return r;
  }

  /** Whether `a` is `b` or one of its ancestors (a link b → a would make a loop). */
  isAncestorOrSelf(a: Container, b: Container): boolean {
    if (a === b) return true;
    if (a.childCount === 0) return false;
    if (!a.parent) return this.root(b) === a;
    for (let c: Container | undefined = b.parent; c; c = c.parent) if (c === a) return true;
    return false;
  }

  link(parent: Container, child: Container): void {
    child.parent = parent;
    parent.childCount++;
  }

  unlink(c: Container): void {
    if (!c.parent) return;
    c.parent.childCount--;
    c.parent = undefined;
    this.gen++;
  }
}

interface ThreadIds {
  /** The Message-ID, if any. */
  readonly id: string | undefined;
  /** References, or else the first In-Reply-To id: the parent chain, oldest first. */
  readonly refs: readonly string[];
}

function threadIds(msg: QueryMessage): ThreadIds {
  return memoized(msg, 'q:threadIds', computeThreadIds);
}

function computeThreadIds(msg: QueryMessage): ThreadIds {
  const idHeader = firstHeader(msg, 'message-id');
  const id = idHeader === undefined ? undefined : messageIds(idHeader)[0];
  const refsHeader = firstHeader(msg, 'references');
  let refs = refsHeader === undefined ? [] : messageIds(refsHeader);
  if (refs.length === 0) {
    const irt = firstHeader(msg, 'in-reply-to');
    const first = irt === undefined ? undefined : messageIds(irt)[0];
    refs = first === undefined ? [] : [first];
  }
  return { id, refs };
}

/** Step 1: containers linked by References / In-Reply-To; returns every container. */
function buildContainers(msgs: readonly QueryMessage[]): Container[] {
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const links = new Links();
  const lookup = (id: string): Container => {
    let c = byId.get(id);
    if (!c) {
      c = newContainer();
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };
  const ordered = [...msgs].sort((a, b) => a.uid - b.uid);
  for (const msg of ordered) {
    const { id, refs } = threadIds(msg);
    let own: Container;
    const existing = id === undefined ? undefined : byId.get(id);
    if (id !== undefined && (!existing || !existing.msg)) {
      own = lookup(id);
    } else {
      // No Message-ID, or a duplicate: the message gets a container of its own.
      own = newContainer();
      all.push(own);
    }
    own.msg = msg;
    own.date = sortDate(msg);

    // 1.B: link the references in order, never re-parenting and never making a loop.
    let prev: Container | undefined;
    for (const ref of refs) {
      const c = lookup(ref);
      if (prev && !c.parent && !links.isAncestorOrSelf(c, prev)) links.link(prev, c);
      prev = c;
    }
    // 1.C: the last reference is the parent; a different parent (set by a truncated
    // References elsewhere) is dropped first, and a link that would loop is not made.
    if (own.parent !== prev) {
      links.unlink(own);
      if (prev && !links.isAncestorOrSelf(own, prev)) links.link(prev, own);
    }
  }
  return all;
}

/** A thread in the making: a real message or a dummy, with its real children. */
interface Tree {
  msg?: QueryMessage;
  date: number;
  uid: number;
  children: Tree[];
}

function realTree(c: Container): Tree {
  return { msg: c.msg, date: c.date, uid: c.msg ? c.msg.uid : 0, children: [] };
}

/**
 * Steps 2-3: the root set with dummies removed. A message hangs under its nearest real
 * ancestor; messages with none stay under their topmost dummy, which becomes a dummy root.
 */
function rootSet(all: readonly Container[]): Tree[] {
  const trees = new Map<Container, Tree>();
  const treeOf = (c: Container): Tree => {
    let t = trees.get(c);
    if (!t) {
      t = realTree(c);
      trees.set(c, t);
    }
    return t;
  };
  const roots: Tree[] = [];
  for (const c of all) {
    if (!c.parent) {
      roots.push(treeOf(c));
      continue;
    }
    if (!c.msg) continue;
    let p: Container = c.parent;
    while (!p.msg && p.parent) p = p.parent;
    treeOf(p).children.push(treeOf(c));
  }
  return roots.filter((r) => r.msg || r.children.length > 0);
}

function byDate(a: Tree, b: Tree): number {
  return a.date - b.date || a.uid - b.uid;
}

/** Sorts every set of siblings by date (then UID), iteratively. */
function sortChildren(roots: readonly Tree[]): void {
  const stack = [...roots];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t.children.length > 1) t.children.sort(byDate);
    for (const c of t.children) stack.push(c);
  }
}

/** Step 4: a root's sort key; a dummy takes its first child's, and one with a single child is dropped. */
function settleRoot(t: Tree, promote: boolean): Tree {
  if (t.msg) return t;
  if (promote && t.children.length === 1) return t.children[0];
  t.date = t.children[0].date;
  t.uid = t.children[0].uid;
  return t;
}

interface RootEntry {
  tree: Tree;
  dummy: boolean;
  reply: boolean;
  parent?: RootEntry;
  ignore: boolean;
}

/** Step 5: threads whose roots share a base subject are merged (Dovecot's reading of §2.2 (5)). */
function mergeBySubject(roots: Tree[]): { roots: Tree[]; changed: boolean } {
  const entries: RootEntry[] = roots.map((tree) => ({ tree, dummy: !tree.msg, reply: false, ignore: false }));
  const table = new Map<string, RootEntry>();
  for (const e of entries) {
    const subjectMsg = e.tree.msg ?? e.tree.children[0]?.msg;
    if (!subjectMsg) continue;
    const subject = subjectKey(subjectMsg);
    if (!subject.present || subject.base === '') continue;
    const held = table.get(subject.base);
    if (!held) {
      table.set(subject.base, e);
    } else if (!held.dummy && (e.dummy || (held.reply && !subject.isReplyOrForward))) {
      held.parent = e;
      table.set(subject.base, e);
    } else {
      e.parent = held;
    }
    e.reply = subject.isReplyOrForward;
  }
  let changed = false;
  for (let i = 0; i < entries.length; i++) {
    const cur = entries[i];
    if (!cur.parent || cur.ignore) continue;
    changed = true;
    let top = cur.parent;
    while (top.parent) top = top.parent;
    if (cur.dummy && top.dummy) {
      top.tree.children.push(...cur.tree.children);
      cur.tree.children = [];
      cur.ignore = true;
    } else if (!cur.dummy && (top.dummy || (cur.reply && !top.reply))) {
      top.tree.children.push(cur.tree);
      cur.ignore = true;
    } else {
      const dummy: RootEntry = { tree: { date: 0, uid: 0, children: [top.tree, cur.tree] }, dummy: true, reply: false, ignore: false };
      top.parent = dummy;
      top.ignore = true;
      cur.ignore = true;
      entries.push(dummy);
    }
  }
  return { roots: entries.filter((e) => !e.ignore).map((e) => e.tree), changed };
}

/** The newest date in each thread (for REFS and X-REFERENCES2). */
function newestDate(root: Tree): number {
  let newest = root.msg ? root.date : -Infinity;
  const stack = [...root.children];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t.msg && t.date > newest) newest = t.date;
    stack.push(...t.children);
  }
  return newest;
}

function sortByNewest(roots: Tree[], tieUid: (t: Tree) => number): Tree[] {
  return roots
    .map((tree) => ({ tree, newest: newestDate(tree), uid: tieUid(tree) }))
    .sort((a, b) => a.newest - b.newest || a.uid - b.uid)
    .map((r) => r.tree);
}

function referencesThreads(msgs: readonly QueryMessage[], algorithm: ThreadAlgorithm): Tree[] {
  let roots = rootSet(buildContainers(msgs));
  sortChildren(roots);
  if (algorithm === 'REFS') {
    // Dovecot's REFS: no subject merging, threads ordered by their newest message.
    return sortByNewest(roots, (t) => (t.msg ? t.uid : 0));
  }
  roots = roots.map((t) => settleRoot(t, true)).sort(byDate);
  const merged = mergeBySubject(roots);
  roots = merged.roots;
  if (merged.changed) {
    sortChildren(roots);
    roots = roots.map((t) => settleRoot(t, true)).sort(byDate);
  }
  if (algorithm === 'X-REFERENCES2') return sortByNewest(roots, (t) => t.uid);
  return roots;
}

/** ORDEREDSUBJECT (§2.1): by base subject then sent date; each run's first message is the parent of the rest. */
function orderedSubjectThreads(msgs: readonly QueryMessage[]): Tree[] {
  const rows = msgs.map((msg) => ({ msg, subject: subjectKey(msg).base, date: sortDate(msg) }));
  rows.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.date - b.date || a.msg.uid - b.msg.uid));
  const roots: Tree[] = [];
  let current: Tree | undefined;
  let currentSubject = '';
  for (const row of rows) {
    const t: Tree = { msg: row.msg, date: row.date, uid: row.msg.uid, children: [] };
    if (current && row.subject === currentSubject) {
      current.children.push(t);
    } else {
      current = t;
      currentSubject = row.subject;
      roots.push(t);
    }
  }
  return roots.sort(byDate);
}

function toNodes(roots: readonly Tree[]): ThreadNode[] {
  const convert = (t: Tree): ThreadNode => ({ uid: t.msg ? t.msg.uid : 0, seq: t.msg ? t.msg.seq : 0, children: [] });
  const out = roots.map(convert);
  const stack: Array<[Tree, ThreadNode]> = roots.map((t, i) => [t, out[i]]);
  while (stack.length > 0) {
    const [t, node] = stack.pop()!;
    for (const c of t.children) {
      const child = convert(c);
      node.children.push(child);
      stack.push([c, child]);
    }
  }
  return out;
}

/** THREAD: the threads of `msgs` (already filtered by the search), in answer order. */
export function threadMessages(msgs: readonly QueryMessage[], algorithm: ThreadAlgorithm): ThreadNode[] {
  const roots = algorithm === 'ORDEREDSUBJECT' ? orderedSubjectThreads(msgs) : referencesThreads(msgs, algorithm);
  return toNodes(roots);
}

/**
 * The THREAD response body, e.g. `(2)(3 6 (4 23)(44 7 96))`: an only child follows its
 * parent after a space, several children are each parenthesised, and a dummy parent shows
 * only its children.
 */
export function formatThread(nodes: readonly ThreadNode[], useUid: boolean): string {
  const out: string[] = [];
  type Task = string | { node: ThreadNode; wrapped: boolean };
  const stack: Task[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) stack.push({ node: nodes[i], wrapped: true });
  while (stack.length > 0) {
    const task = stack.pop()!;
    if (typeof task === 'string') {
      out.push(task);
      continue;
    }
    const { node, wrapped } = task;
    const real = node.uid !== 0;
    if (wrapped) out.push('(');
    if (real) out.push(String(useUid ? node.uid : node.seq));
    if (wrapped) stack.push(')');
    const kids = node.children;
    if (kids.length === 1) {
      stack.push({ node: kids[0], wrapped: false });
    } else {
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i], wrapped: true });
    }
    if (real && kids.length > 0) stack.push(' ');
  }
  return out.join('');
}
