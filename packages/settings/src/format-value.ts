/** Typed values → conf text that conf-lexer.ts and value-kinds.ts read back to the same value. */
import { formatDuration, formatSize } from './units.js';
import type { LoftKind } from './value-kinds.js';

export function formatValue(value: unknown, kind: LoftKind): string {
  if (typeof value === 'number') return formatNumber(value, kind);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  // Lists are read back by splitting on blanks and commas, so one line of words is exact.
  if (Array.isArray(value)) return value.length === 0 ? '' : quoteIfNeeded(value.join(' '));
  return quoteIfNeeded(String(value));
}

function formatNumber(value: number, kind: LoftKind): string {
  switch (kind) {
    case 'size':
      return formatSize(value);
    case 'duration':
      return formatDuration(value);
    case 'octal':
      return `0${value.toString(8).padStart(3, '0')}`;
    default:
      return String(value);
  }
}

/** A section instance name: one word in the header, so inner blanks need quotes too. */
export function formatSectionName(name: string): string {
  return /\s/.test(name) ? quote(name) : quoteIfNeeded(name);
}

/**
 * Quotes text that would not read back as itself unquoted: empty, blank at either end,
 * starting with `#` or `<`, or holding quotes, braces or line breaks.
 */
export function quoteIfNeeded(text: string): string {
  const plain = text !== '' && !/^\s|\s$/.test(text) && !/^[#<]/.test(text) && !/["'{}\n\r\t]/.test(text);
  return plain ? text : quote(text);
}

/** Double quotes with the escapes conf-lexer.ts reads. */
function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}
