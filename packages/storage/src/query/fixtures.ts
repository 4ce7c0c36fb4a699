/** Test messages for the query engine, built from header lines the way storage would serve them. */
import { allHeaderText, bodyText, headerValues, parseMessage } from '@loft/mime';
import type { QueryMessage } from './query-message.js';

export interface FakeOptions {
  seq: number;
  uid?: number;
  headers?: string[];
  body?: string;
  flags?: string[];
  internalDate?: string;
  saveDate?: string | null;
  size?: number;
  modseq?: bigint;
  /** Throw from bodyText(), to prove a search never reached it. */
  bodyForbidden?: boolean;
}

export function fakeMessage(o: FakeOptions): QueryMessage {
  const raw = Buffer.from((o.headers ?? []).join('\r\n') + '\r\n\r\n' + (o.body ?? ''));
  const cache = new Map<string, string[]>();
  return {
    seq: o.seq,
    uid: o.uid ?? o.seq,
    modseq: o.modseq ?? 1n,
    flags: new Set(o.flags ?? []),
    internalDate: new Date(o.internalDate ?? '2024-01-01T12:00:00Z'),
    saveDate: o.saveDate === undefined || o.saveDate === null ? null : new Date(o.saveDate),
    size: o.size ?? raw.length,
    header(name: string): string[] {
      const key = name.toLowerCase();
      let v = cache.get(key);
      if (!v) {
        v = headerValues(raw, key);
        cache.set(key, v);
      }
      return v;
    },
    bodyText(): string {
      if (o.bodyForbidden) throw new Error('bodyText() was called');
      return bodyText(raw, parseMessage(raw));
    },
    headerText(): string {
      return allHeaderText(raw, parseMessage(raw));
    },
  };
}

/** A message served from precomputed header values (fast, for the big benchmarks). */
export function lightMessage(seq: number, headers: Record<string, string>, internalMs: number, size: number): QueryMessage {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
  return {
    seq,
    uid: seq,
    modseq: 1n,
    flags: new Set(),
    internalDate: new Date(internalMs),
    saveDate: null,
    size,
    header: (name) => lower.get(name.toLowerCase()) ?? [],
    bodyText: () => '',
    headerText: () => '',
  };
}
