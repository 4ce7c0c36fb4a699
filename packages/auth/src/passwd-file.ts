/**
 * Dovecot's passwd-file: `user:password:uid:gid:gecos:home:shell:extra_fields`, one user a
 * line, `#` comments. Extra fields are space-separated `key=value`; `userdb_`-prefixed ones
 * belong to userdb, the rest to passdb. Files are re-read when they change, checked with
 * one stat at most once a second per file, so an admin's edit needs no reload.
 */
import { readFile, stat } from 'node:fs/promises';
import { hasControlCharacters } from './user-names.js';

export interface PasswdEntry {
  user: string;
  /** `{SCHEME}hash` or bare data; '' when the field is empty. */
  password: string;
  /** As written: a number or a name; '' when empty. */
  uid: string;
  gid: string;
  home: string;
  /** Fields without the userdb_ prefix (proxy, host, nopassword…). */
  passdbExtra: Record<string, string>;
  /** userdb_ fields with the prefix removed (mail, quota_rule…). */
  userdbExtra: Record<string, string>;
  /** 1-based, for messages. */
  line: number;
}

export interface ParsedPasswdFile<E = PasswdEntry> {
  entries: ReadonlyMap<string, E>;
  /** `path:line: problem` for each line that was skipped or partly ignored. */
  warnings: string[];
}

/** Lines with bad syntax are skipped with a warning, never fatal: one typo must not lock every user out. */
export function parsePasswdFile(text: string, path: string): ParsedPasswdFile {
  const entries = new Map<string, PasswdEntry>();
  const warnings: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const where = `${path}:${index + 1}`;
    const fields = line.split(':');
    const user = fields[0];
    if (user === '' || /\s/.test(user) || hasControlCharacters(user)) {
      warnings.push(`${where}: the user name is empty or has spaces or control characters; line skipped`);
      return;
    }
    if (fields.length < 2) {
      warnings.push(`${where}: user '${user}' has no password field (expected user:password:uid:gid:gecos:home:shell:extra); line skipped`);
      return;
    }
    if (entries.has(user)) {
      warnings.push(`${where}: user '${user}' is already defined on line ${entries.get(user)?.line}; this line is ignored`);
      return;
    }
    const [uid = '', gid = ''] = [fields[2], fields[3]];
    if (!/^(\d+|[A-Za-z_][\w.-]*\$?)?$/.test(uid) || !/^(\d+|[A-Za-z_][\w.-]*)?$/.test(gid)) {
      warnings.push(`${where}: user '${user}' has a uid or gid that is neither a number nor a name; line skipped`);
      return;
    }
    // Extra fields may themselves contain ':' (allow_nets with IPv6), so they are the rest of the line.
    const extra = parseExtraFields(fields.slice(7).join(':'), (problem) => warnings.push(`${where}: ${problem}`));
    entries.set(user, { user, password: fields[1], uid, gid, home: fields[5] ?? '', ...extra, line: index + 1 });
  });
  return { entries, warnings };
}

/** `proxy=y host=10.0.0.2 nopassword userdb_mail=sdbox:~/mail` → passdb and userdb fields. */
export function parseExtraFields(text: string, warn: (problem: string) => void): { passdbExtra: Record<string, string>; userdbExtra: Record<string, string> } {
  const passdbExtra: Record<string, string> = {};
  const userdbExtra: Record<string, string> = {};
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    if (!/^[A-Za-z_][\w.-]*$/.test(key)) {
      warn(`extra field '${key}' is not a valid field name; ignored`);
      continue;
    }
    const value = eq < 0 ? '' : word.slice(eq + 1);
    if (key.startsWith('userdb_')) userdbExtra[key.slice('userdb_'.length)] = value;
    else passdbExtra[key] = value;
  }
  return { passdbExtra, userdbExtra };
}

export type PasswdFileLookup<E = PasswdEntry> =
  | { kind: 'found'; entry: E }
  | { kind: 'no-user' }
  | { kind: 'no-file' }
  | { kind: 'error'; reason: string };

/** At most one stat per file per interval: a busy server does not stat on every login. */
const PASSWD_FILE_CHECK_INTERVAL_MS = 1000;
/** Per-domain files are kept up to this many; the least recently loaded goes first. */
const PASSWD_FILE_CACHE_MAX_FILES = 1000;

interface CachedFile<E> {
  parsed: ParsedPasswdFile<E>;
  /** Identity of the version read: any change means re-read. */
  version: string;
  checkedAt: number;
}

/**
 * Files of `user:…` lines by path, parsed by `parse` (passwd-file's format by default; the
 * shadow passdb gives /etc/shadow's), each re-read when it changes.
 */
export class PasswdFileCache<E = PasswdEntry> {
  private readonly files = new Map<string, CachedFile<E>>();
  private readonly loading = new Map<string, Promise<CachedFile<E> | 'no-file'>>();

  constructor(
    private readonly now: () => number,
    private readonly warn: (message: string) => void,
    private readonly parse: (text: string, path: string) => ParsedPasswdFile<E>,
    /** How the file is named in messages. */
    private readonly kind: string,
  ) {}

  async lookup(path: string, user: string): Promise<PasswdFileLookup<E>> {
    let file: CachedFile<E> | 'no-file';
    try {
      file = await this.current(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { kind: 'error', reason: `${this.kind} ${path} cannot be read (${code})` };
    }
    if (file === 'no-file') return { kind: 'no-file' };
    const entry = file.parsed.entries.get(user);
    return entry ? { kind: 'found', entry } : { kind: 'no-user' };
  }

  /** Every entry of a file (for iterate). */
  async entries(path: string): Promise<ReadonlyMap<string, E> | 'no-file'> {
    const file = await this.current(path);
    return file === 'no-file' ? file : file.parsed.entries;
  }

  private async current(path: string): Promise<CachedFile<E> | 'no-file'> {
    const cached = this.files.get(path);
    if (cached && this.now() - cached.checkedAt < PASSWD_FILE_CHECK_INTERVAL_MS) return cached;
    // Logins arriving together while the file is checked share one stat and one read.
    let pending = this.loading.get(path);
    if (!pending) {
      pending = this.refresh(path, cached).finally(() => this.loading.delete(path));
      this.loading.set(path, pending);
    }
    return pending;
  }

  private async refresh(path: string, cached: CachedFile<E> | undefined): Promise<CachedFile<E> | 'no-file'> {
    const checkedAt = this.now();
    let version: string;
    try {
      const info = await stat(path, { bigint: true });
      version = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.files.delete(path);
      return 'no-file';
    }
    if (cached && cached.version === version) {
      cached.checkedAt = checkedAt;
      return cached;
    }
    const parsed = this.parse(await readFile(path, 'utf8'), path);
    for (const warning of parsed.warnings) this.warn(warning);
    const file = { parsed, version, checkedAt };
    this.files.delete(path);
    this.files.set(path, file);
    if (this.files.size > PASSWD_FILE_CACHE_MAX_FILES) this.files.delete(this.files.keys().next().value as string);
    return file;
  }
}
