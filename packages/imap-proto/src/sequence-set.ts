/** Sequence sets (RFC 3501 §9 sequence-set; RFC 9051; `$` from SEARCHRES, RFC 5182). */
import { parseNumber, syntaxError } from './arg-reader.js';
import type { SequenceRange, SequenceSet } from './search-key.js';

const SEQ_NUMBER_MAX = 0xffffffff;
/** A sequence set longer than this many ranges is refused; a 64 KiB line holds fewer anyway. */
const SEQUENCE_RANGES_MAX = 100_000;

function parseSeqNumber(text: string): number | '*' {
  if (text === '*') return '*';
  return parseNumber(text, 'sequence number', true);
}

/** `1:3,5,*` into ranges, order and overlaps kept as written. Throws LOFT_E_IMAP_SYNTAX. */
export function parseSequenceSet(text: string): SequenceSet {
  if (text === '') throw syntaxError('Empty sequence set');
  const parts = text.split(',');
  if (parts.length > SEQUENCE_RANGES_MAX) throw syntaxError(`Sequence set has more than ${SEQUENCE_RANGES_MAX} ranges`);
  const ranges: SequenceRange[] = [];
  for (const part of parts) {
    const colon = part.indexOf(':');
    try {
      if (colon === -1) {
        const n = parseSeqNumber(part);
        ranges.push({ from: n, to: n });
      } else {
        ranges.push({ from: parseSeqNumber(part.slice(0, colon)), to: parseSeqNumber(part.slice(colon + 1)) });
      }
    } catch {
      throw syntaxError(`Invalid sequence set ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`);
    }
  }
  return ranges;
}

/** A sequence set, or `$` (the saved SEARCH result, RFC 5182) where a command allows it. */
export function parseSequenceSetOrSaved(text: string): SequenceSet | '$' {
  return text === '$' ? '$' : parseSequenceSet(text);
}

/** Whether `text` is a syntactically valid sequence set (used to tell a set from a search key). */
export function isSequenceSet(text: string): boolean {
  return /^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$/.test(text);
}

/**
 * Numbers (UIDs or sequence numbers) as a compact set: sorted, duplicates removed, runs
 * joined into ranges (`[5, 1, 2, 3]` → `1:3,5`). An empty input gives ''.
 */
export function formatSequenceSet(numbers: readonly number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i]!;
    let end = start;
    i++;
    while (i < sorted.length && sorted[i]! <= end + 1) {
      end = Math.max(end, sorted[i]!);
      i++;
    }
    out.push(start === end ? String(start) : `${start}:${end}`);
  }
  return out.join(',');
}

/** Ranges as written back to text (`1:3,5,*`). */
export function sequenceSetToString(set: SequenceSet): string {
  return set.map((r) => (r.from === r.to ? String(r.from) : `${r.from}:${r.to}`)).join(',');
}

/**
 * The set's ranges resolved against `max` (the highest sequence number or UID in use; `*`
 * means it), each ordered low:high (`5:2` is `2:5`), clipped to 1..max, sorted and merged.
 * RFC 3501: a range past the end still includes the last message (`559:*` when the last UID
 * is 500 means 500), so the low end is clipped too.
 */
export function normalizeSequenceSet(set: SequenceSet, max: number): Array<[number, number]> {
  if (max < 1) return [];
  const ranges: Array<[number, number]> = [];
  for (const range of set) {
    const a = range.from === '*' ? max : range.from;
    const b = range.to === '*' ? max : range.to;
    const lo = Math.min(a, b);
    const hi = Math.min(Math.max(a, b), max);
    if (lo > hi || lo > SEQ_NUMBER_MAX) continue;
    ranges.push([lo, hi]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range[0] <= last[1] + 1) last[1] = Math.max(last[1], range[1]);
    else merged.push([range[0], range[1]]);
  }
  return merged;
}

/**
 * The numbers of the set that exist in 1..max, ascending and each once, produced lazily so
 * `1:4294967295` costs nothing until iterated.
 */
export function* expandSequenceSet(set: SequenceSet, max: number): Generator<number, void, undefined> {
  for (const [lo, hi] of normalizeSequenceSet(set, max)) {
    for (let n = lo; n <= hi; n++) yield n;
  }
}

/** The largest explicit number in the set (ignoring `*`), to check message sequence numbers against EXISTS. */
export function sequenceSetMaxNumber(set: SequenceSet): number {
  let max = 0;
  for (const range of set) {
    if (range.from !== '*') max = Math.max(max, range.from);
    if (range.to !== '*') max = Math.max(max, range.to);
  }
  return max;
}
