/**
 * Where each value of a settings tree was written, keyed by JSON Pointer (the form of ajv's
 * `instancePath`), so an error found later in the tree can name the line to fix.
 */
import type { OrderedLocation } from './conf-error.js';

export interface ValueSource extends OrderedLocation {
  /** The value as written (after unquoting), or a section header's words. */
  raw: string;
}

export function toPointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${segment.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

export function fromPointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export class ValueSources {
  private readonly byPointer = new Map<string, ValueSource>();

  set(segments: readonly string[], source: ValueSource): void {
    this.byPointer.set(toPointer(segments), source);
  }

  /** The source of `pointer` or of its nearest ancestor that has one. */
  nearest(pointer: string): { pointer: string; source: ValueSource } | undefined {
    for (let segments = fromPointer(pointer); ; segments = segments.slice(0, -1)) {
      const at = toPointer(segments);
      const source = this.byPointer.get(at);
      if (source) return { pointer: at, source };
      if (segments.length === 0) return undefined;
    }
  }
}
