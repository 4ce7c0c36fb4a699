/**
 * SORT (RFC 5256) and SORT=DISPLAY (RFC 5957). Every key is computed once per message, then
 * one comparison sort runs; ties fall through to the next key and finally to the sequence
 * number, so the answer is fully determined.
 */
import { addressKey, displayKey, sortDate, subjectKey } from './message-keys.js';
import type { QueryMessage } from './query-message.js';

export type SortKeyName = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export type SortKey = { key: SortKeyName; reverse: boolean };

type KeyValue = number | string;

function keyOf(msg: QueryMessage, key: SortKeyName): KeyValue {
  switch (key) {
    case 'ARRIVAL':
      return msg.internalDate.getTime();
    case 'DATE':
      return sortDate(msg);
    case 'SIZE':
      return msg.size;
    case 'SUBJECT':
      return subjectKey(msg).base;
    case 'FROM':
      return addressKey(msg, 'from');
    case 'TO':
      return addressKey(msg, 'to');
    case 'CC':
      return addressKey(msg, 'cc');
    case 'DISPLAYFROM':
      return displayKey(msg, 'from');
    case 'DISPLAYTO':
      return displayKey(msg, 'to');
  }
}

/** Messages in SORT order; `msgs` is not modified. */
export function sortMessages(msgs: readonly QueryMessage[], keys: readonly SortKey[]): QueryMessage[] {
  return Array.from(sortOrder(msgs, keys), (i) => msgs[i]!);
}

/**
 * Messages by position, each made when asked for: an array of them, or views a caller makes
 * on demand (Mailbox.messageView), so that a view need not outlive its keys.
 */
export interface MessageList {
  readonly length: number;
  at(position: number): QueryMessage | undefined;
}

/**
 * SORT order as positions in `msgs`: every key is computed once per message into an array,
 * and the positions are sorted on them, ties by sequence number. Each message is asked for
 * once: with views made on demand, a first SORT of 100,000 messages does not keep 100,000
 * views alive while it computes their keys, which the young generation's collector would
 * copy out of it (scavenges were a third of a first SORT (SUBJECT), --trace-gc).
 */
export function sortOrder(msgs: MessageList, keys: readonly SortKey[]): Uint32Array {
  const n = msgs.length;
  const values = keys.map(() => new Array<KeyValue>(n));
  const seqs = new Float64Array(n);
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const msg = msgs.at(i)!;
    for (let k = 0; k < keys.length; k++) values[k]![i] = keyOf(msg, keys[k]!.key);
    seqs[i] = msg.seq;
    order[i] = i;
  }
  const signs = keys.map((k) => (k.reverse ? -1 : 1));
  order.sort((a, b) => {
    for (let k = 0; k < values.length; k++) {
      const x = values[k]![a]!;
      const y = values[k]![b]!;
      if (x !== y) return (x < y ? -1 : 1) * signs[k]!;
    }
    return seqs[a]! - seqs[b]!;
  });
  return Uint32Array.from(order);
}
