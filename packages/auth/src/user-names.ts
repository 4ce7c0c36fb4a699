/** What a user name (or a piece of one) may contain before it goes near a file path or a lookup. */

/** NUL, C0 controls (newline, tab…) and DEL: characters no login name has. */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** A name with NUL or control characters is nobody's: never looked up anywhere. */
export function isAcceptableUserName(user: string): boolean {
  return user !== '' && !hasControlCharacters(user);
}

/** A value that may become one path component: no `/`, no `..`, not empty, no control characters. */
export function isSafePathComponent(value: string): boolean {
  return value !== '' && value !== '.' && !value.includes('/') && !value.includes('..') && !hasControlCharacters(value);
}
