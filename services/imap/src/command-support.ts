/** Small helpers shared by the command handlers. */
import { normalizeSequenceSet, type ImapCommand, type SequenceSet } from '@loft/imap-proto';
import type { UidRange } from '@loft/storage';
import { bad } from './command-failure.js';
import type { SelectedMailbox } from './selected-mailbox.js';
import type { SessionContext } from './session-context.js';

/** Largest UID a set may name (RFC 3501 uniqueid is a 32-bit number). */
const UID_MAX = 0xffffffff;

export function requireSelected(ctx: SessionContext): SelectedMailbox {
  if (ctx.selected === undefined) throw bad('No mailbox selected.');
  return ctx.selected;
}

/** The first argument as an atom (a sequence set). */
export function sequenceArg(command: ImapCommand): string {
  const arg = command.args[0];
  if (arg?.type !== 'atom') throw bad('Missing or invalid sequence set');
  return arg.value;
}

/** UIDs of `ranges` that `set` (a UID set) names, ascending. */
export function rangeUidsOf(ranges: readonly UidRange[], set: SequenceSet): number[] {
  const wanted = normalizeSequenceSet(set, UID_MAX);
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    for (const [a, b] of wanted) {
      const from = Math.max(lo, a);
      const to = Math.min(hi, b);
      for (let uid = from; uid <= to; uid++) out.push(uid);
    }
  }
  return out.sort((x, y) => x - y);
}

/** Writes `n`, a non-negative integer, in decimal at `at`; returns the offset after it. */
export function writeDecimal(buf: Buffer, at: number, n: number): number {
  const start = at;
  do {
    buf[at++] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  for (let a = start, b = at - 1; a < b; a++, b--) {
    const digit = buf[a]!;
    buf[a] = buf[b]!;
    buf[b] = digit;
  }
  return at;
}
