/** IMAP dates (RFC 3501 §9 date, date-time): `1-Feb-1994` and `"17-Jul-1996 02:44:25 -0700"`. */
import { syntaxError } from './arg-reader.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_INDEX = new Map(MONTHS.map((m, i) => [m.toUpperCase(), i]));

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

function checkDay(year: number, month: number, day: number, text: string): void {
  if (day < 1 || day > daysInMonth(year, month)) throw syntaxError(`Invalid day in date ${text}`);
}

function monthOf(name: string, text: string): number {
  const month = MONTH_INDEX.get(name.toUpperCase());
  if (month === undefined) throw syntaxError(`Invalid month in date ${text} (expected Jan…Dec)`);
  return month;
}

/** A SEARCH date (`d-Mon-yyyy`, month case-insensitive) as `YYYY-MM-DD`. */
export function parseSearchDate(text: string): string {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  const shown = text.slice(0, 40);
  if (m === null) throw syntaxError(`Invalid date ${shown} (expected d-Mon-yyyy, e.g. 1-Feb-1994)`);
  const day = Number(m[1]);
  const month = monthOf(m[2]!, shown);
  const year = Number(m[3]);
  checkDay(year, month, day, shown);
  return `${m[3]}-${String(month + 1).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** APPEND's date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`, day may be space-padded) as an instant. */
export function parseDateTime(text: string): Date {
  const m = /^([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(text);
  const shown = text.slice(0, 40);
  if (m === null) throw syntaxError(`Invalid date-time ${shown} (expected "dd-Mon-yyyy hh:mm:ss +zzzz")`);
  const day = Number(m[1]!.trim());
  const month = monthOf(m[2]!, shown);
  const year = Number(m[3]);
  const [hour, minute, second, zoneHours, zoneMinutes] = [m[4], m[5], m[6], m[8], m[9]].map(Number) as [number, number, number, number, number];
  checkDay(year, month, day, shown);
  if (hour > 23 || minute > 59 || second > 60 || zoneMinutes > 59) throw syntaxError(`Invalid time in date-time ${shown}`);
  const offsetMinutes = (m[7] === '-' ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offsetMinutes * 60_000;
  return new Date(utc);
}

/**
 * An instant as IMAP date-time (INTERNALDATE), in the zone `offsetMinutes` east of UTC
 * (default: UTC): `17-Jul-1996 02:44:25 -0700`, without the quotes.
 */
export function formatDateTime(date: Date, offsetMinutes = 0): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const two = (n: number): string => String(n).padStart(2, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return (
    `${two(local.getUTCDate())}-${MONTHS[local.getUTCMonth()]}-${local.getUTCFullYear()} ` +
    `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}
