/** RFC 5322 Date: values, including the obsolete forms (RFC 5322 §4.3) seen in old mail. */
import { Lexer } from './rfc822-lexer.js';
import { firstField, parseHeaderBlock } from './header.js';

export interface MessageDate {
  /** The instant, in UTC. */
  date: Date;
  /** The calendar day as written in the header (its own zone), for SENTON and friends. */
  year: number;
  month: number;
  day: number;
  /** The zone offset written in the header, in minutes east of UTC. */
  offsetMinutes: number;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ZONES: Record<string, number> = {
  ut: 0, gmt: 0, utc: 0, z: 0,
  est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
};

/** Removes comments so the regular expression sees only the date tokens. */
function stripComments(value: string): string {
  if (!value.includes('(')) return value;
  const lex = new Lexer(value);
  let out = '';
  while (!lex.atEnd) {
    if (lex.peek() === '(') {
      lex.skipCfws();
      out += ' ';
    } else {
      out += lex.s[lex.pos++];
    }
  }
  return out;
}

const DATE_RE =
  /^\s*(?:[a-z]+\s*,?\s*)?(\d{1,2})[\s-]*([a-z]{3})[a-z]*\.?[\s-]*(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?(?:\.\d+)?\s*([+-]\d{4}|[+-]\d{2}:?\d{2}|[a-z]+)?/i;

/** Parses a Date: header value; null when it is not a date. */
export function parseDate(value: string): MessageDate | null {
  const m = DATE_RE.exec(stripComments(value));
  if (!m) return null;
  const day = Number(m[1]);
  const month = MONTHS.indexOf(m[2].toLowerCase()) + 1;
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month === 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const offsetMinutes = zoneOffset(m[7]);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  if (!Number.isFinite(utc)) return null;
  return { date: new Date(utc), year, month, day, offsetMinutes };
}

function zoneOffset(zone: string | undefined): number {
  if (zone === undefined) return 0;
  if (zone[0] === '+' || zone[0] === '-') {
    const digits = zone.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    return zone[0] === '-' ? -minutes : minutes;
  }
  // Military zones are unreliable (RFC 5322 §4.3): treat them, and unknown names, as UTC.
  return ZONES[zone.toLowerCase()] ?? 0;
}

/** The message's Date: header as an instant, or null when missing or unparsable. */
export function sentDate(raw: Buffer): Date | null {
  const field = firstField(parseHeaderBlock(raw, 0, raw.length).fields, 'date');
  if (!field) return null;
  return parseDate(field.value.toString('latin1'))?.date ?? null;
}
