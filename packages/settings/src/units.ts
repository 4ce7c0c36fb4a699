/**
 * Sizes (bytes) and durations (milliseconds) as Dovecot writes them. The tables are shared by
 * the parser and the formatter, so every unit that is printed is also one that is read back.
 */

const SIZE_UNITS: readonly (readonly [suffix: string, bytes: number])[] = [
  ['T', 1024 ** 4],
  ['G', 1024 ** 3],
  ['M', 1024 ** 2],
  ['k', 1024],
];

/** `10M`, `512 kB`, `1G`, `100` (bytes); 1024-based, case-insensitive. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*(?:([bkmgt])(?:i?b)?)?$/i.exec(text);
  if (!match) return undefined;
  const unit = match[2]?.toUpperCase();
  const factor = SIZE_UNITS.find(([suffix]) => suffix.toUpperCase() === unit)?.[1] ?? 1;
  const bytes = Number(match[1]) * factor;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The largest unit that divides exactly: 10485760 → `10M`, 1000 → `1000`. */
export function formatSize(bytes: number): string {
  const unit = SIZE_UNITS.find(([, factor]) => bytes !== 0 && bytes % factor === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : String(bytes);
}

interface DurationUnit { ms: number; names: readonly string[]; singular: string; plural: string }

const DURATION_UNITS: readonly DurationUnit[] = [
  { ms: 7 * 86_400_000, names: ['w', 'week', 'weeks'], singular: 'week', plural: 'weeks' },
  { ms: 86_400_000, names: ['d', 'day', 'days'], singular: 'day', plural: 'days' },
  { ms: 3_600_000, names: ['h', 'hour', 'hours'], singular: 'hour', plural: 'hours' },
  { ms: 60_000, names: ['m', 'min', 'mins', 'minute', 'minutes'], singular: 'min', plural: 'mins' },
  { ms: 1000, names: ['s', 'sec', 'secs', 'second', 'seconds'], singular: 'sec', plural: 'secs' },
  { ms: 1, names: ['ms', 'msec', 'msecs', 'millisecond', 'milliseconds'], singular: 'ms', plural: 'ms' },
];

/** `5 mins`, `30s`, `1 hour`, `100ms`; a bare number is seconds, as in Dovecot. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text);
  if (!match) return undefined;
  const unitName = match[2].toLowerCase();
  const factor = unitName === '' ? 1000 : DURATION_UNITS.find((unit) => unit.names.includes(unitName))?.ms;
  if (factor === undefined) return undefined;
  const ms = Number(match[1]) * factor;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The largest unit that divides exactly: 300000 → `5 mins`, 250 → `250 ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const unit = DURATION_UNITS.find((candidate) => ms % candidate.ms === 0) ?? DURATION_UNITS[DURATION_UNITS.length - 1];
  const count = ms / unit.ms;
  return `${count} ${count === 1 ? unit.singular : unit.plural}`;
}
