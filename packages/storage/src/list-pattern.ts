/**
 * IMAP LIST patterns (RFC 9051 6.3.9): `*` matches anything, `%` anything but the hierarchy
 * separator. INBOX is case-insensitive, other names are not.
 */
import { LoftError } from '@loft/errors';

export const SEPARATOR = '/';
const NAME_MAX_BYTES = 1024;
const DEPTH_MAX = 32;

/** INBOX in any case becomes INBOX (also as the first level of a child's name). */
export function normalizeName(name: string): string {
  if (name.length >= 5 && name.slice(0, 5).toUpperCase() === 'INBOX' && (name.length === 5 || name[5] === SEPARATOR)) {
    return `INBOX${name.slice(5)}`;
  }
  return name;
}

/** Refuses names no client should be able to create. */
export function validateName(name: string): void {
  const parts = name.split(SEPARATOR);
  const problem =
    name === ''
      ? 'is empty'
      : Buffer.byteLength(name) > NAME_MAX_BYTES
        ? `is longer than ${NAME_MAX_BYTES} bytes`
        : // eslint-disable-next-line no-control-regex
          /[\x00-\x1f\x7f]/.test(name)
          ? 'contains control characters'
          : parts.some((p) => p === '' || p === '.' || p === '..')
            ? `has an empty, "." or ".." level (separator is ${SEPARATOR})`
            : /[*%]/.test(name)
              ? 'contains the wildcards * or %'
              : parts.length > DEPTH_MAX
                ? `is more than ${DEPTH_MAX} levels deep`
                : undefined;
  if (problem) throw new LoftError('LOFT_E_STORAGE_INVALID', `mailbox name ${JSON.stringify(name)} ${problem}`);
}

/** Names of all levels above `name` ("a/b/c" -> ["a", "a/b"]). */
export function ancestors(name: string): string[] {
  if (!name.includes(SEPARATOR)) return [];
  const parts = name.split(SEPARATOR);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(SEPARATOR));
  return out;
}

/** Matchers made, by reference + pattern: a client asks the same LIST again and again. */
const matchers = new Map<string, (name: string) => boolean>();
const MATCHERS_MAX = 64;

/** A matcher for LIST reference + pattern. */
export function listMatcher(reference: string, pattern: string): (name: string) => boolean {
  const key = `${reference}\0${pattern}`;
  let matcher = matchers.get(key);
  if (matcher === undefined) {
    if (matchers.size >= MATCHERS_MAX) matchers.clear();
    matcher = makeListMatcher(reference, pattern);
    matchers.set(key, matcher);
  }
  return matcher;
}

function makeListMatcher(reference: string, pattern: string): (name: string) => boolean {
  const full = normalizeName(reference + pattern);
  let source = '';
  for (const ch of full) {
    if (ch === '*') source += '.*';
    else if (ch === '%') source += '[^/]*';
    else source += ch.replace(/[.+?^${}()|[\]\\/]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`, 's');
  return (name) => re.test(name);
}
