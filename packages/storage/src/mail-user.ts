/**
 * A user's mail: one private namespace (prefix "", separator "/") of mailboxes.
 *
 * Layout under the mail_location root:
 *   loft.mailboxlist    the mailbox list index (framed JSON, magic "FLML", version 1):
 *                       { mailboxes: [{ name, guid, uidValidity, specialUse?, createdMs,
 *                         status?: STATUS counters + the log identity they were taken at }] }
 *   loft.subscriptions  subscribed names (framed JSON, magic "FLSU", version 1)
 *   loft.lock           lock for changes to the two files above
 *   mailboxes/<guid>/   one directory per mailbox, named by its GUID, never by its name
 *
 * Naming directories by GUID (Dovecot's LAYOUT=index) makes RENAME a list-index update,
 * keeps client-chosen names out of file paths entirely, and lets INBOX be renamed by moving
 * its directory to the new name and giving INBOX a fresh one. Each mailbox directory also
 * records its name in loft.mailbox, so a lost list index is rebuilt from the directories.
 *
 * LIST reads only the list index. STATUS uses the counters cached there while the mailbox's
 * log is unchanged (one lstat), and opens the mailbox only when it has changed.
 */
import { lstatSync, promises as fsp, readdirSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isLoftError, LoftError } from '@loft/errors';
import { readFramedJson, writeFramedJson } from './framed-json.js';
import { ancestors, listMatcher, normalizeName, SEPARATOR, validateName } from './list-pattern.js';
import { Mailbox, SnapshotStore, processSnapshots, type MailboxStatus, type StorageTuning } from './mailbox.js';
import { initMailboxDir, mailboxPaths, newUidValidity, readDiskState, readMeta, removeStaleStaging, writeMeta, type MailboxPaths } from './mailbox-disk.js';
import { MailboxLock } from './mailbox-lock.js';
import { MdboxStore, type MailboxMembers, type PurgeResult } from './mdbox-store.js';
import { AttachmentStore } from './attachment-store.js';
import type { MessageFieldParser } from './message-fields.js';
import { assertInside, ensureRealDir, ensureRealDirs, isErrno, lstatOrUndefined, storageErrorFields } from './safe-fs.js';
import { STORAGE_SETTINGS_DEFAULTS, SPECIAL_USES, checkStorageSettings, configuredMailboxes, parseMailLocation, type AutoMailbox, type StorageSettings } from './settings.js';
import { SILENT_LOGGER, type StorageLogger } from './storage-logger.js';
import { checkQuota, hasQuota, parseQuotaRule, type QuotaLimits, type QuotaUsage } from './quota.js';
import { reportedModseq } from './transaction-log.js';

const LIST_MAGIC = 0x4c4d4c46; // "FLML"
const SUBS_MAGIC = 0x55534c46; // "FLSU"
const LIST_VERSION = 1;
/** Closed mailboxes whose STATUS counters are kept in memory before the list index is rewritten. */
const STATUS_FLUSH_COUNT = 100;

/** A mailbox the namespace settings name: its special use and whether every user gets it. */
interface ConfiguredMailbox {
  specialUse: string | undefined;
  auto: AutoMailbox;
}

export interface MailUserOptions {
  user: string;
  /** The user's home directory; `~` in mail_location. */
  home: string;
  settings?: Partial<StorageSettings>;
  logger?: StorageLogger;
  /** Computes ENVELOPE/BODYSTRUCTURE for the cache; default: mimeFieldParser (@loft/mime). */
  parser?: MessageFieldParser;
  /** Internal thresholds, for tests and benchmarks. */
  tuning?: StorageTuning;
  /**
   * Keep closed mailboxes' states in the process-wide store (processSnapshots), so the next
   * MailUser of this process that opens the mailbox starts from them. For the services; a
   * MailUser without it reads every mailbox it opens from disk.
   */
  shareSnapshots?: boolean;
}

export interface MailboxInfo {
  name: string;
  /** Empty for a level that exists only as the parent of others. */
  guid: string;
  /** IMAP LIST attributes: \HasChildren or \HasNoChildren, \Noselect, \Subscribed, \NonExistent, special use. */
  attributes: string[];
  specialUse?: string;
  subscribed: boolean;
}

interface CachedStatus {
  messages: number;
  unseen: number;
  recent: number;
  uidNext: number;
  uidValidity: number;
  highestModseq: string;
  size: number;
  deleted: number;
  logIno: number;
  logSize: number;
}

interface ListEntry {
  name: string;
  guid: string;
  uidValidity: number;
  specialUse?: string;
  createdMs: number;
  status?: CachedStatus;
}

interface ListData {
  mailboxes: ListEntry[];
}

export class MailUser {
  readonly user: string;
  readonly root: string;
  /** The list index and the subscriptions file (looked at by every LIST, STATUS and SELECT). */
  private readonly listPath: string;
  private readonly subscriptionsPath: string;
  readonly separator = SEPARATOR;
  private readonly settings: StorageSettings;
  private readonly logger: StorageLogger;
  private readonly parser: MessageFieldParser | undefined;
  private readonly tuning: StorageTuning | undefined;
  private readonly lock: MailboxLock;
  private readonly open = new Set<Mailbox>();
  /** States of mailboxes this user closed, for a quick reopen (SELECT after SELECT). */
  private readonly snapshots: SnapshotStore;
  /** STATUS counters of closed mailboxes, written to the list index in one go. */
  private readonly pendingStatus = new Map<string, CachedStatus>();
  /** Mailbox paths by GUID (pathsOf). */
  private readonly pathsByGuid = new Map<string, MailboxPaths>();
  private listCache: { stamp: string; data: ListData } | undefined;
  private subscriptionsCache: { stamp: string; names: readonly string[] } | undefined;
  /** mdbox: the shared storage files and map; undefined for sdbox. */
  private store: MdboxStore | undefined;
  /** mail_attachment_dir: single-instance attachment storage; undefined when not set. */
  private attachments: AttachmentStore | undefined;
  /** The namespace's mailbox sections: special uses LIST shows, mailboxes every user gets. */
  private readonly configured: ReadonlyMap<string, ConfiguredMailbox>;
  /** quota_rule's limits (no limit: both 0). */
  readonly quotaLimits: QuotaLimits;

  private constructor(options: MailUserOptions, root: string, settings: StorageSettings) {
    this.user = options.user;
    this.root = root;
    this.listPath = join(root, 'loft.mailboxlist');
    this.subscriptionsPath = join(root, 'loft.subscriptions');
    this.settings = settings;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.parser = options.parser;
    this.tuning = options.tuning;
    this.lock = new MailboxLock(root, this.logger);
    this.snapshots = options.shareSnapshots ? processSnapshots : new SnapshotStore();
    this.configured = configuredMailboxes(settings);
    this.quotaLimits = parseQuotaRule(settings.quota_rule);
  }

  static async open(options: MailUserOptions): Promise<MailUser> {
    const settings = Object.freeze({ ...STORAGE_SETTINGS_DEFAULTS, ...options.settings });
    const problems = checkStorageSettings(settings);
    if (problems.length > 0) throw new LoftError('LOFT_E_STORAGE_INVALID', problems.join('; '));
    const { root, driver } = parseMailLocation(settings.mail_location, options.home);
    await ensureRealDirs(root);
    const user = new MailUser(options, root, settings);
    await ensureRealDir(join(root, 'mailboxes'));
    if (settings.mail_attachment_dir !== '') {
      const dir = expandHome(settings.mail_attachment_dir, options.home);
      await ensureRealDirs(dir);
      user.attachments = new AttachmentStore(dir, settings.mail_attachment_min_size, options.user, settings.mail_fsync !== 'never', user.logger);
    }
    if (driver === 'mdbox') {
      user.store = new MdboxStore({ dir: join(root, 'storage'), rotateBytes: settings.mdbox_rotate_size, fsync: settings.mail_fsync, logger: user.logger, mailboxes: () => user.mailboxMembers() });
      await user.store.init();
    }
    // Most opens find INBOX (and the auto mailboxes) in place and write nothing.
    const autos = [...user.configured].filter(([, box]) => box.auto !== 'no').map(([name]) => name);
    const listed = new Set((await user.readListShared()).mailboxes.map((m) => m.name));
    const missing = ['INBOX', ...autos].filter((name) => !listed.has(name));
    if (missing.length > 0) await user.createMissing(missing);
    return user;
  }

  /**
   * INBOX and the namespace's auto = create / subscribe mailboxes that are not there yet (a
   * first login, or the user deleted one). A new auto = subscribe mailbox is subscribed once:
   * a user who unsubscribes it later stays unsubscribed.
   */
  private async createMissing(names: readonly string[]): Promise<void> {
    const created: string[] = [];
    const made: string[] = [];
    try {
      await this.withList(async (data) => {
        for (const name of names) {
          if (MailUser.find(data, name)) continue;
          await this.addWithParents(data, name, made);
          created.push(name);
        }
      });
    } catch (err) {
      await this.removeUnlisted(made);
      throw err;
    }
    for (const name of created) if (this.configured.get(name)?.auto === 'subscribe') await this.subscribe(name, true);
  }

  /** Adds `name` and its missing parent levels to the list; their GUIDs go into `made`. */
  private async addWithParents(data: ListData, name: string, made: string[], specialUse?: string): Promise<void> {
    for (const parent of ancestors(name)) if (!MailUser.find(data, parent)) made.push((await this.addMailbox(data, parent)).guid);
    made.push((await this.addMailbox(data, name, specialUse)).guid);
  }

  private get fsync(): boolean {
    return this.settings.mail_fsync !== 'never';
  }

  /**
   * A mailbox's directory and files, by GUID. A GUID's directory never moves (a rename
   * changes only the list), so they are worked out once: a SELECT asked for them twice and a
   * STATUS once, and the joins and checks were a tenth of a warm SELECT's CPU.
   */
  private pathsOf(guid: string): MailboxPaths {
    let paths = this.pathsByGuid.get(guid);
    if (paths) return paths;
    if (!/^[0-9a-f]{32}$/.test(guid)) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `mailbox list names a bad GUID ${JSON.stringify(guid)}`);
    const dir = join(this.root, 'mailboxes', guid);
    assertInside(this.root, dir);
    paths = mailboxPaths(dir);
    this.pathsByGuid.set(guid, paths);
    return paths;
  }

  // ---- the list index ----------------------------------------------------------------

  /**
   * The list for reading only: parsed again only when the file changed (STATUS of 1,000
   * mailboxes then costs 1,000 lstat calls, not 1,000 parses). Callers must not modify it.
   */
  private async readListShared(): Promise<ListData> {
    const stat = lstatOrUndefined(this.listPath);
    const stamp = stat ? fileStamp(stat) : '';
    if (stat && this.listCache?.stamp === stamp) return this.listCache.data;
    const data = await this.readList();
    if (stat) this.listCache = { stamp, data };
    return data;
  }

  private async readList(): Promise<ListData> {
    const path = this.listPath;
    const read = await readFramedJson(path, LIST_MAGIC, LIST_VERSION);
    if (read.state === 'ok') {
      const value = read.value as Partial<ListData>;
      if (Array.isArray(value.mailboxes)) return { mailboxes: value.mailboxes };
    }
    if (read.state === 'corrupt') this.logger.error({ path, reason: read.reason }, 'mailbox list index is damaged; rebuilding it from the mailbox directories');
    return this.rebuildList();
  }

  /** The list from each mailbox directory's loft.mailbox. */
  private async rebuildList(): Promise<ListData> {
    const mailboxes: ListEntry[] = [];
    const seen = new Set<string>();
    let dirs: string[] = [];
    try {
      dirs = readdirSync(join(this.root, 'mailboxes'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await removeStaleStaging(join(this.root, 'mailboxes'), dirs, this.logger);
    // Only whole mailboxes are named by a GUID: one being made is renamed to its GUID when complete.
    for (const guid of dirs.filter((d) => /^[0-9a-f]{32}$/.test(d)).sort()) {
      const meta = await readMeta(this.pathsOf(guid));
      if (!meta || meta.guid !== guid) {
        this.logger.warn({ guid }, 'mailbox directory without valid loft.mailbox left out of the list');
        continue;
      }
      let name = normalizeName(meta.name);
      if (seen.has(name)) name = `${name}-${guid.slice(0, 8)}`;
      seen.add(name);
      mailboxes.push({ name, guid, uidValidity: meta.uidValidity, createdMs: meta.createdMs });
    }
    return { mailboxes };
  }

  private async writeList(data: ListData): Promise<void> {
    await writeFramedJson(this.listPath, LIST_MAGIC, LIST_VERSION, data, this.fsync);
  }

  /** Runs `change` on the current list under the list lock and writes the result. */
  private async withList<T>(change: (data: ListData) => Promise<T>): Promise<T> {
    const release = await this.lock.acquire();
    try {
      const data = await this.readList();
      const result = await change(data);
      await this.writeList(data);
      return result;
    } finally {
      await release?.();
    }
  }

  private async addMailbox(data: ListData, name: string, specialUse?: string): Promise<ListEntry> {
    const guid = randomBytes(16).toString('hex');
    const uidValidity = newUidValidity();
    const createdMs = Date.now();
    const paths = this.pathsOf(guid);
    await initMailboxDir(paths, { guid, uidValidity, name, createdMs }, this.fsync);
    // STATUS of the new, empty mailbox, so even the first STATUS opens nothing.
    const log = lstatSync(paths.log);
    const status: CachedStatus = { messages: 0, unseen: 0, recent: 0, uidNext: 1, uidValidity, highestModseq: String(reportedModseq(0)), size: 0, deleted: 0, logIno: log.ino, logSize: log.size };
    const entry: ListEntry = { name, guid, uidValidity, createdMs, status, ...(specialUse ? { specialUse } : {}) };
    data.mailboxes.push(entry);
    return entry;
  }

  private static find(data: ListData, name: string): ListEntry | undefined {
    return data.mailboxes.find((m) => m.name === name);
  }

  private static checkedName(name: string): string {
    const normal = normalizeName(name);
    validateName(normal);
    return normal;
  }

  // ---- namespace operations ----------------------------------------------------------

  /** IMAP LIST / LSUB from the list index; opens no mailbox. */
  async listMailboxes(reference: string, pattern: string, options: { subscribedOnly?: boolean } = {}): Promise<MailboxInfo[]> {
    const data = await this.readListShared();
    const subscribed = new Set(await this.readSubscriptionsShared());
    const byName = new Map(data.mailboxes.map((m) => [m.name, m]));
    const candidates = new Set<string>(options.subscribedOnly ? subscribed : byName.keys());
    for (const name of [...candidates]) for (const parent of ancestors(name)) candidates.add(parent);
    const withChildren = new Set<string>();
    const withRealChildren = new Set<string>();
    for (const name of byName.keys()) for (const parent of ancestors(name)) withRealChildren.add(parent);
    for (const name of [...byName.keys(), ...subscribed]) for (const parent of ancestors(name)) withChildren.add(parent);
    const matches = listMatcher(reference, pattern);
    const out: MailboxInfo[] = [];
    for (const name of candidates) {
      if (!matches(name)) continue;
      const entry = byName.get(name);
      const isSubscribed = subscribed.has(name);
      if (options.subscribedOnly && !isSubscribed && !withChildren.has(name)) continue;
      const attributes: string[] = [];
      if (!entry) attributes.push(options.subscribedOnly && isSubscribed ? '\\NonExistent' : '\\Noselect');
      attributes.push(withRealChildren.has(name) ? '\\HasChildren' : '\\HasNoChildren');
      if (isSubscribed) attributes.push('\\Subscribed');
      // The mailbox's own (CREATE ... USE) first, else the one the namespace settings give its name.
      const specialUse = entry ? entry.specialUse ?? this.configured.get(name)?.specialUse : undefined;
      if (specialUse) attributes.push(specialUse);
      out.push({ name, guid: entry?.guid ?? '', attributes, subscribed: isSubscribed, ...(specialUse ? { specialUse } : {}) });
    }
    return out.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** CREATE; missing parent levels are created as mailboxes too (RFC 9051 6.3.4). */
  async createMailbox(name: string, options: { specialUse?: string } = {}): Promise<void> {
    const normal = MailUser.checkedName(name);
    if (options.specialUse !== undefined && !(SPECIAL_USES as readonly string[]).includes(options.specialUse)) {
      throw new LoftError('LOFT_E_STORAGE_INVALID', `special use ${options.specialUse} is not one of ${SPECIAL_USES.join(' ')}`);
    }
    const made: string[] = [];
    try {
      await this.withList(async (data) => {
        if (MailUser.find(data, normal)) throw new LoftError('LOFT_E_STORAGE_EXISTS', normal);
        await this.addWithParents(data, normal, made, options.specialUse);
      });
    } catch (err) {
      await this.removeUnlisted(made);
      throw err;
    }
  }

  /**
   * After a CREATE whose list was not written (a full disk, say): its new mailbox directories
   * go, or the next rebuild of the list would bring them back as mailboxes nobody created
   * ("Foo-4bf50143" beside "Foo"). They are kept when the list cannot be read to tell.
   */
  private async removeUnlisted(guids: readonly string[]): Promise<void> {
    if (guids.length === 0) return;
    const read = await readFramedJson(this.listPath, LIST_MAGIC, LIST_VERSION).catch(() => undefined);
    if (read?.state !== 'ok') return;
    const listed = new Set(((read.value as Partial<ListData>).mailboxes ?? []).map((m) => m.guid));
    for (const guid of guids) {
      if (listed.has(guid)) continue;
      await fsp.rm(this.pathsOf(guid).dir, { recursive: true, force: true }).catch((err: unknown) => this.logger.warn({ err, guid }, 'could not remove the directory of a mailbox that was not created'));
    }
  }

  /** DELETE; INBOX and mailboxes with children are refused (as Dovecot does). */
  async deleteMailbox(name: string): Promise<void> {
    const normal = MailUser.checkedName(name);
    if (normal === 'INBOX') throw new LoftError('LOFT_E_STORAGE_INVALID', 'INBOX cannot be deleted');
    const removed = await this.withList(async (data) => {
      const entry = MailUser.find(data, normal);
      if (!entry) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', normal);
      if (data.mailboxes.some((m) => m.name.startsWith(`${normal}${SEPARATOR}`))) throw new LoftError('LOFT_E_STORAGE_HAS_CHILDREN', normal);
      data.mailboxes.splice(data.mailboxes.indexOf(entry), 1);
      return entry;
    });
    // Gone from the list first, so nobody opens it; then the files.
    const dir = this.pathsOf(removed.guid).dir;
    const aside = join(this.root, 'mailboxes', `.deleted.${removed.guid}`);
    await fsp.rename(dir, aside).catch(() => undefined);
    await fsp.rm(aside, { recursive: true, force: true });
    await this.store?.dropMailbox(removed.guid);
  }

  /** mdbox: every mailbox directory with a reader of its live UID -> GUID pairs. */
  private async mailboxMembers(): Promise<MailboxMembers[]> {
    const dirs = await fsp.readdir(join(this.root, 'mailboxes')).catch(() => [] as string[]);
    return dirs
      .filter((d) => /^[0-9a-f]{32}$/.test(d))
      .map((guid) => {
        const paths = this.pathsOf(guid);
        return {
          mailboxGuid: guid,
          lock: async () => {
            const release = await new MailboxLock(paths.dir, this.logger).acquire();
            if (!release) throw new LoftError('LOFT_E_STORAGE_LOCKED', `${paths.dir}/loft.lock`);
            return release;
          },
          read: async () => {
            const disk = await readDiskState(paths, false).catch(() => undefined);
            if (disk?.kind !== 'ok') return undefined;
            await disk.log.close().catch(() => undefined);
            const t = disk.state.table;
            const live = new Map<number, string>();
            for (let slot = 0; slot < t.count; slot++) live.set(t.uids[slot]!, t.guidHex(slot));
            return live;
          },
        };
      });
  }

  /**
   * loftadm purge: mdbox storage files are rewritten without the messages no mailbox refers
   * to any more. Nothing to do for sdbox (an expunge removes the file at once).
   */
  async purge(): Promise<PurgeResult> {
    const result: PurgeResult = this.store ? await this.store.purge() : { removed: 0, filesRewritten: 0, freedBytes: 0, staleRefs: 0 };
    if (this.attachments) {
      const attachments = await this.attachments.purge(() => this.liveMessageGuids());
      result.attachmentsFreed = attachments.freed;
      result.attachmentBytesFreed = attachments.freedBytes;
    }
    return result;
  }

  /**
   * GUIDs of every message of this user that exists or is being saved: mdbox's stored ones;
   * for sdbox each mailbox's index plus its tmp/ files (named by GUID), read under the
   * mailbox lock so a save is seen either in tmp/ or in the log.
   */
  private async liveMessageGuids(): Promise<Set<string>> {
    if (this.store) return this.store.storedGuids();
    const live = new Set<string>();
    for (const member of await this.mailboxMembers()) {
      const release = await member.lock();
      try {
        for (const name of await fsp.readdir(this.pathsOf(member.mailboxGuid).tmp).catch(() => [] as string[])) {
          const guid = /^([0-9a-f]{32})\./.exec(name)?.[1];
          if (guid) live.add(guid);
        }
        const guids = await member.read();
        // An unreadable mailbox: keep every attachment rather than guess.
        if (!guids) throw new LoftError('LOFT_E_STORAGE_CORRUPT', `mailbox ${member.mailboxGuid} cannot be read; run force-resync before purge`);
        for (const guid of guids.values()) live.add(guid);
      } finally {
        await release();
      }
    }
    return live;
  }

  /** mdbox: reference count of a message GUID in the shared storage (0 for sdbox). */
  storageRefcount(messageGuid: string): number {
    return this.store?.refcount(messageGuid) ?? 0;
  }

  /**
   * RENAME with all children. Renaming INBOX moves its messages to the new name and leaves
   * an empty INBOX; INBOX's children stay where they are (RFC 9051 6.3.6).
   */
  async renameMailbox(from: string, to: string): Promise<void> {
    const source = MailUser.checkedName(from);
    const target = MailUser.checkedName(to);
    if (target === 'INBOX') throw new LoftError('LOFT_E_STORAGE_EXISTS', 'INBOX');
    if (target === source || target.startsWith(`${source}${SEPARATOR}`)) throw new LoftError('LOFT_E_STORAGE_INVALID', `cannot rename ${source} into itself`);
    const renamed = await this.withList(async (data) => {
      const entry = MailUser.find(data, source);
      if (!entry) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', source);
      if (MailUser.find(data, target)) throw new LoftError('LOFT_E_STORAGE_EXISTS', target);
      const moved = source === 'INBOX' ? [entry] : data.mailboxes.filter((m) => m.name === source || m.name.startsWith(`${source}${SEPARATOR}`));
      for (const m of moved) {
        const newName = target + m.name.slice(source.length);
        if (m !== entry && MailUser.find(data, newName)) throw new LoftError('LOFT_E_STORAGE_EXISTS', newName);
      }
      for (const m of moved) m.name = target + m.name.slice(source.length);
      for (const parent of ancestors(target)) if (!MailUser.find(data, parent)) await this.addMailbox(data, parent);
      if (source === 'INBOX') await this.addMailbox(data, 'INBOX');
      return moved.map((m) => ({ ...m }));
    });
    // The directories' own record of their names only matters for rebuilding the list.
    for (const m of renamed) {
      const paths = this.pathsOf(m.guid);
      const meta = await readMeta(paths);
      if (meta) await writeMeta(paths, { ...meta, name: m.name }, this.fsync).catch((err: unknown) => this.logger.warn({ err, guid: m.guid }, 'could not record the new name in loft.mailbox'));
    }
  }

  /**
   * The subscriptions for reading only, parsed again only when the file changed, as
   * readListShared(). Most users never subscribe: no file, and no failed open() (whose
   * exception cost LIST a quarter of its time).
   */
  private async readSubscriptionsShared(): Promise<readonly string[]> {
    const stat = lstatOrUndefined(this.subscriptionsPath);
    if (!stat) return [];
    const stamp = fileStamp(stat);
    if (this.subscriptionsCache?.stamp === stamp) return this.subscriptionsCache.names;
    const names = await this.readSubscriptions();
    this.subscriptionsCache = { stamp, names };
    return names;
  }

  private async readSubscriptions(): Promise<string[]> {
    const path = this.subscriptionsPath;
    const read = await readFramedJson(path, SUBS_MAGIC, LIST_VERSION);
    if (read.state === 'corrupt') this.logger.error({ path, reason: read.reason }, 'subscriptions file is damaged; treating it as empty');
    if (read.state !== 'ok') return [];
    const names = (read.value as { names?: unknown }).names;
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
  }

  /** SUBSCRIBE / UNSUBSCRIBE; a name need not exist (RFC 9051 6.3.7). */
  async subscribe(name: string, on: boolean): Promise<void> {
    const normal = MailUser.checkedName(name);
    const release = await this.lock.acquire();
    try {
      const names = new Set(await this.readSubscriptions());
      if (on) names.add(normal);
      else names.delete(normal);
      this.subscriptionsCache = undefined;
      await writeFramedJson(this.subscriptionsPath, SUBS_MAGIC, LIST_VERSION, { names: [...names].sort() }, this.fsync);
    } finally {
      await release?.();
    }
  }

  /**
   * What the user's mailboxes hold, for the quota: each mailbox's STATUS (from the list
   * index while unchanged). A mailbox this user has open counts as its view has it, if the
   * view has read all of its log: a view of another session (they share this MailUser) may
   * not have refreshed since a delivery.
   */
  async quotaUsage(): Promise<QuotaUsage> {
    const openByGuid = new Map<string, Mailbox>();
    for (const mailbox of this.open) {
      if (lstatOrUndefined(this.pathsOf(mailbox.guid).log)?.size === mailbox.logStamp().offset) openByGuid.set(mailbox.guid, mailbox);
    }
    let storage = 0;
    let messages = 0;
    for (const entry of (await this.readListShared()).mailboxes) {
      let status: MailboxStatus;
      const open = openByGuid.get(entry.guid);
      try {
        status = open ? open.status() : await this.status(entry.name);
      } catch (err) {
        if (isLoftError(err, 'LOFT_E_STORAGE_NOT_FOUND')) continue; // deleted meanwhile
        throw err;
      }
      storage += status.size;
      messages += status.messages;
    }
    return { storage, messages };
  }

  private async enforceQuota(bytes: number, messages: number, grace: boolean): Promise<void> {
    checkQuota(this.quotaLimits, await this.quotaUsage(), bytes, messages, grace);
  }

  /** STATUS from the list index while the mailbox's log is unchanged; else opens it. */
  async status(name: string): Promise<MailboxStatus> {
    const normal = MailUser.checkedName(name);
    const data = await this.readListShared();
    const entry = MailUser.find(data, normal);
    if (!entry) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', normal);
    const cached = this.pendingStatus.get(entry.guid) ?? entry.status;
    if (cached) {
      const stat = lstatOrUndefined(this.pathsOf(entry.guid).log);
      if (stat && stat.ino === cached.logIno && stat.size === cached.logSize) return fromCached(cached);
    }
    const mailbox = await this.openEntry(entry, true);
    try {
      return mailbox.status();
    } finally {
      await mailbox.close();
    }
  }

  /**
   * Opens a mailbox. `readOnly` for EXAMINE; `recent` for IMAP SELECT and EXAMINE only: the
   * session shows \Recent and, unless read-only, takes it for new messages (LMTP, loftadm and
   * replication must not). `logger` for the view's lines, if not the MailUser's.
   */
  async openMailbox(name: string, options: { readOnly?: boolean; recent?: boolean; logger?: StorageLogger } = {}): Promise<Mailbox> {
    const normal = MailUser.checkedName(name);
    const entry = MailUser.find(await this.readListShared(), normal);
    if (!entry) throw new LoftError('LOFT_E_STORAGE_NOT_FOUND', normal);
    return this.openEntry(entry, options.readOnly ?? false, options.recent ?? false, options.logger);
  }

  /** `logger`: the view's own (a session's, when sessions share this MailUser); default the user's. */
  private async openEntry(entry: ListEntry, readOnly: boolean, claimRecent = false, logger = this.logger): Promise<Mailbox> {
    const mailbox = await Mailbox.open({
      paths: this.pathsOf(entry.guid),
      name: entry.name,
      settings: this.settings,
      logger,
      readOnly,
      claimRecent,
      ...(this.parser ? { parser: this.parser } : {}),
      ...(this.tuning ? { tuning: this.tuning } : {}),
      ...(this.store ? { store: this.store } : {}),
      ...(this.attachments ? { attachments: this.attachments } : {}),
      onClose: (m) => this.mailboxClosed(m),
      snapshots: this.snapshots,
      ...(hasQuota(this.quotaLimits) ? { quota: (bytes: number, messages: number, grace: boolean) => this.enforceQuota(bytes, messages, grace) } : {}),
    });
    this.open.add(mailbox);
    return mailbox;
  }

  /** Remembers the closed mailbox's STATUS counters for the list index. */
  private async mailboxClosed(mailbox: Mailbox): Promise<void> {
    this.open.delete(mailbox);
    const stat = lstatOrUndefined(this.pathsOf(mailbox.guid).log);
    if (!stat || stat.size !== mailbox.logStamp().offset) return; // changed meanwhile; compute next time
    // A mailbox only looked at (most SELECTs) has the counters the list holds (as this
    // process read it last): rewriting the list would cost a write and an fsync per session,
    // and counting them a pass over every message. STATUS checks the log's identity anyway.
    const listed = this.listCache?.data.mailboxes.find((entry) => entry.guid === mailbox.guid)?.status;
    const known = this.pendingStatus.get(mailbox.guid) ?? listed;
    if (known && known.logIno === stat.ino && known.logSize === stat.size) return;
    const status = known ? mailbox.statusSince(known) : mailbox.status();
    this.pendingStatus.set(mailbox.guid, { ...status, highestModseq: status.highestModseq.toString(), logIno: stat.ino, logSize: stat.size });
    if (this.pendingStatus.size >= STATUS_FLUSH_COUNT) await this.flushStatus();
  }

  /** Writes remembered STATUS counters into the list index (one rewrite for many). */
  async flushStatus(): Promise<void> {
    if (this.pendingStatus.size === 0) return;
    const pending = new Map(this.pendingStatus);
    this.pendingStatus.clear();
    await this.withList(async (data) => {
      for (const entry of data.mailboxes) {
        const status = pending.get(entry.guid);
        if (status) entry.status = status;
      }
    }).catch((err: unknown) => this.logger.warn(storageErrorFields(err), 'could not update STATUS counters in the mailbox list index'));
  }

  async close(): Promise<void> {
    for (const mailbox of [...this.open]) await mailbox.close();
    if (this.snapshots !== processSnapshots) this.snapshots.clear();
    await this.flushStatus();
    this.store?.close();
  }
}

function expandHome(dir: string, home: string): string {
  return dir === '~' || dir.startsWith('~/') ? join(home, dir.slice(1)) : dir;
}

function fromCached(c: CachedStatus): MailboxStatus {
  return { messages: c.messages, unseen: c.unseen, recent: c.recent, uidNext: c.uidNext, uidValidity: c.uidValidity, highestModseq: BigInt(reportedModseq(Number(c.highestModseq))), size: c.size, deleted: c.deleted };
}

/** What tells that a file read before changed since: a rewrite is a rename over it (new inode). */
function fileStamp(stat: Stats): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}
