/** Which files an `!include` names, and reading them through the loader's file access. */
import { basename, dirname, resolve } from 'node:path';

/** File access used by the parser; tests and /dev/stdin replace the real file system. */
export interface ConfSource {
  readFile(path: string): string;
  listDir(dir: string): string[];
}

/** Read from once: relative paths in it are taken relative to the working directory. */
export const STDIN_PATH = '/dev/stdin';

/** Directory that relative paths inside `file` are relative to. */
export function baseDirOf(file: string): string {
  return file === STDIN_PATH ? process.cwd() : dirname(file);
}

/** The files `pattern` names, sorted by name; a `*`/`?` wildcard may appear in the last component only. */
export function includeTargets(pattern: string, baseDir: string, source: ConfSource): string[] | { error: string } {
  const path = resolve(baseDir, pattern);
  const name = basename(path);
  if (/[*?]/.test(dirname(path))) return { error: `'${pattern}': wildcards are only allowed in the file name` };
  if (!/[*?]/.test(name)) return [path];
  let entries: string[];
  try {
    entries = source.listDir(dirname(path));
  } catch (err) {
    // Like glob(3): a directory that does not exist matches nothing.
    if (isMissingFileError(err)) return [];
    return { error: `cannot list '${dirname(path)}': ${readErrorText(err)}` };
  }
  const matcher = globMatcher(name);
  return entries.filter((entry) => matcher.test(entry)).sort(compareNames).map((entry) => resolve(dirname(path), entry));
}

/** `*` and `?` as in the shell; hidden files match only a pattern that starts with a dot. */
function globMatcher(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(pattern.startsWith('.') ? `^${body}$` : `^(?!\\.)${body}$`);
}

/** Code-unit order, so the include order does not depend on the locale. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isMissingFileError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** `ENOENT`, or the message of an error without an errno code. */
export function readErrorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}
