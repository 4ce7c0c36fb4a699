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
  if (keys.length === 1) return sortByOneKey(msgs, keys[0]!);
  const rows = msgs.map((msg) => ({ msg, values: keys.map((k) => keyOf(msg, k.key)) }));
  const signs = keys.map((k) => (k.reverse ? -1 : 1));
  rows.sort((a, b) => {
    for (let i = 0; i < signs.length; i++) {
      const x = a.values[i];
      const y = b.values[i];
      if (x !== y) return (x < y ? -1 : 1) * signs[i];
    }
    return a.msg.seq - b.msg.seq;
  });
  return rows.map((r) => r.msg);
}

/** sortMessages() with one key: the keys in one array, the messages' positions sorted. */
function sortByOneKey(msgs: readonly QueryMessage[], key: SortKey): QueryMessage[] {
  const n = msgs.length;
  const values: KeyValue[] = new Array<KeyValue>(n);
  const seqs = new Float64Array(n);
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const msg = msgs[i]!;
    values[i] = keyOf(msg, key.key);
    seqs[i] = msg.seq;
    order[i] = i;
  }
  const sign = key.reverse ? -1 : 1;
  order.sort((a, b) => {
    const x = values[a]!;
    const y = values[b]!;
    if (x !== y) return (x < y ? -1 : 1) * sign;
    return seqs[a]! - seqs[b]!;
  });
  const out = new Array<QueryMessage>(n);
  for (let i = 0; i < n; i++) out[i] = msgs[order[i]!]!;
  return out;
}
