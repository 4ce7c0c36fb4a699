/**
 * Mail storage settings (Dovecot's mail_location, mail_fsync, …), declared beside the code
 * that reads them. Services that open storage merge `storageSettingsSchema` into their own.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { JSONSchemaType } from 'ajv';
import { LoftError } from '@loft/errors';
import { normalizeName, validateName } from './list-pattern.js';
import { parseQuotaRule } from './quota.js';

export type MailFsync = 'always' | 'optimized' | 'never';

/** `special_use` values of RFC 6154 a configured mailbox may carry. */
export const SPECIAL_USES = ['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'] as const;

/** Dovecot's `auto`: no, create (made when the user's mail is opened), subscribe (made and subscribed). */
export type AutoMailbox = 'no' | 'create' | 'subscribe';

/** `mailbox NAME { special_use = \\Sent  auto = subscribe }` inside the namespace. */
export interface NamespaceMailboxSettings {
  special_use: string;
  auto: AutoMailbox;
}

/**
 * Dovecot's `namespace inbox { }`, for its mailbox sections: Loft has one private namespace
 * (prefix "", separator "/", INBOX in it), which is what this section must describe.
 */
export interface NamespaceSettings {
  inbox: boolean;
  prefix: string;
  separator: string;
  mailbox: Record<string, NamespaceMailboxSettings>;
}

export interface StorageSettings {
  /** `sdbox:<dir>` (a file per message) or `mdbox:<dir>` (shared storage files); `~` is the user's home. */
  mail_location: string;
  /**
   * always: fsync message files, their directory and the log on every change.
   * optimized: fsync only what a save/copy acknowledges (message file, directory, log);
   *   flag changes and expunges are written but not fsynced (Dovecot's meaning).
   * never: no fsync at all.
   */
  mail_fsync: MailFsync;
  /** Levels of hashed directories for message files (0-2); each level is 256 directories. */
  mail_dir_hash: number;
  /** mdbox: rotate a storage file once it is this many bytes. */
  mdbox_rotate_size: number;
  /** Single-instance attachment directory; empty disables it. */
  mail_attachment_dir: string;
  /** Attachments at least this many bytes go to mail_attachment_dir. */
  mail_attachment_min_size: number;
  /** At most one: the user's namespace, with its special-use and auto-created mailboxes. */
  namespace: Record<string, NamespaceSettings>;
  /** Dovecot's quota_rule for the whole user (`*:storage=1G:messages=10000`); '' = no quota. userdb's quota_rule field overrides it. */
  quota_rule: string;
}

export const STORAGE_SETTINGS_DEFAULTS: Readonly<StorageSettings> = Object.freeze({
  mail_location: 'sdbox:~/mail',
  mail_fsync: 'optimized',
  mail_dir_hash: 0,
  mdbox_rotate_size: 10 * 1024 * 1024,
  mail_attachment_dir: '',
  mail_attachment_min_size: 128 * 1024,
  namespace: {},
  quota_rule: '',
});

const namespaceMailboxSchema: JSONSchemaType<NamespaceMailboxSettings> = {
  type: 'object',
  properties: {
    special_use: { type: 'string', default: '', description: 'The mailbox\'s RFC 6154 attribute in LIST: \\Drafts, \\Sent, \\Trash, \\Junk, \\Archive, \\All or \\Flagged, so clients use it instead of making their own.' },
    auto: { type: 'string', loftKind: 'enum', enum: ['no', 'create', 'subscribe'], default: 'no', description: 'create: made when the user\'s mail is first opened; subscribe: made and subscribed; no: left to the user.' },
  },
  required: ['special_use', 'auto'],
  additionalProperties: false,
};

const namespaceSchema: JSONSchemaType<NamespaceSettings> = {
  type: 'object',
  properties: {
    inbox: { type: 'boolean', loftKind: 'bool', default: true, description: 'The namespace holds INBOX (Loft\'s one namespace always does).' },
    prefix: { type: 'string', default: '', description: 'Namespace prefix; Loft\'s one namespace has none.' },
    separator: { type: 'string', default: '', description: 'Hierarchy separator; Loft\'s is / (empty means the default).' },
    mailbox: { type: 'object', loftSection: 'named', required: [], additionalProperties: namespaceMailboxSchema, default: {}, description: 'A mailbox with a special use or made for every user: mailbox NAME { special_use auto }.' },
  },
  required: ['inbox', 'prefix', 'separator', 'mailbox'],
  additionalProperties: false,
};

export const storageSettingsSchema: JSONSchemaType<StorageSettings> = {
  type: 'object',
  properties: {
    mail_location: { type: 'string', loftKind: 'string', default: STORAGE_SETTINGS_DEFAULTS.mail_location, description: 'Mail storage format and directory, e.g. sdbox:~/mail (~ is the user\'s home).' },
    mail_fsync: { type: 'string', loftKind: 'enum', enum: ['always', 'optimized', 'never'], default: STORAGE_SETTINGS_DEFAULTS.mail_fsync, description: 'When to fsync: always, optimized (what a save acknowledges), never.' },
    mail_dir_hash: { type: 'integer', loftKind: 'uint', minimum: 0, maximum: 2, default: STORAGE_SETTINGS_DEFAULTS.mail_dir_hash, description: 'Levels of hashed directories for message files (0 = all in the mailbox directory).' },
    mdbox_rotate_size: { type: 'integer', loftKind: 'size', minimum: 1024, default: STORAGE_SETTINGS_DEFAULTS.mdbox_rotate_size, description: 'mdbox: start a new storage file once one reaches this size.' },
    mail_attachment_dir: { type: 'string', loftKind: 'path', default: STORAGE_SETTINGS_DEFAULTS.mail_attachment_dir, description: 'Directory for single-instance attachment storage; empty disables it.' },
    mail_attachment_min_size: { type: 'integer', loftKind: 'size', minimum: 0, default: STORAGE_SETTINGS_DEFAULTS.mail_attachment_min_size, description: 'Attachments at least this large are stored once in mail_attachment_dir.' },
    quota_rule: { type: 'string', loftKind: 'string', default: STORAGE_SETTINGS_DEFAULTS.quota_rule, description: 'Quota of every user, as Dovecot\'s quota_rule: *:storage=1G, *:messages=10000 or both (*:storage=1G:messages=10000); userdb\'s quota_rule overrides it; empty: no quota.' },
    namespace: { type: 'object', loftSection: 'named', required: [], additionalProperties: namespaceSchema, default: {}, description: 'The user\'s namespace, as Dovecot\'s namespace inbox { mailbox Sent { special_use = \\Sent } }; at most one.' },
  },
  required: ['mail_location', 'mail_fsync', 'mail_dir_hash', 'mdbox_rotate_size', 'mail_attachment_dir', 'mail_attachment_min_size', 'namespace', 'quota_rule'],
  additionalProperties: false,
};

export interface MailLocation {
  driver: 'sdbox' | 'mdbox';
  /** Absolute root directory of the user's mail. */
  root: string;
}

/** Parses mail_location for one user; the message suggests the fix. */
export function parseMailLocation(location: string, home: string): MailLocation {
  const match = /^(sdbox|mdbox):(.+)$/.exec(location.trim());
  if (!match) {
    throw new LoftError('LOFT_E_STORAGE_INVALID', `mail_location (${location}) must look like sdbox:~/mail or mdbox:~/mdbox`);
  }
  const driver = match[1] as 'sdbox' | 'mdbox';
  let dir = match[2]!.split(':')[0]!;
  if (dir === '~' || dir.startsWith('~/')) dir = join(home || homedir(), dir.slice(1));
  if (!isAbsolute(dir)) {
    throw new LoftError('LOFT_E_STORAGE_INVALID', `mail_location (${location}) needs an absolute path or one starting with ~/`);
  }
  return { driver, root: resolve(dir) };
}

/** Cross-field checks the schema cannot express. */
export function checkStorageSettings(settings: StorageSettings): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(settings.mail_dir_hash) || settings.mail_dir_hash < 0 || settings.mail_dir_hash > 2) {
    problems.push(`mail_dir_hash (${settings.mail_dir_hash}) must be 0, 1 or 2`);
  }
  if (!['always', 'optimized', 'never'].includes(settings.mail_fsync)) {
    problems.push(`mail_fsync (${String(settings.mail_fsync)}) must be always, optimized or never`);
  }
  const attachmentDir = settings.mail_attachment_dir;
  if (attachmentDir !== '' && !isAbsolute(attachmentDir) && attachmentDir !== '~' && !attachmentDir.startsWith('~/')) {
    problems.push(`mail_attachment_dir (${attachmentDir}) needs an absolute path or one starting with ~/`);
  }
  problems.push(...checkNamespaces(settings.namespace ?? {}));
  try {
    parseQuotaRule(settings.quota_rule ?? '');
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  }
  return problems;
}

function checkNamespaces(namespaces: Readonly<Record<string, NamespaceSettings>>): string[] {
  const problems: string[] = [];
  const names = Object.keys(namespaces);
  if (names.length > 1) problems.push(`namespace: Loft has one namespace per user, and ${names.length} are configured (${names.join(', ')}); keep the one with inbox = yes`);
  for (const [name, ns] of Object.entries(namespaces)) {
    if (!ns.inbox) problems.push(`namespace ${name}: inbox = no, but Loft's one namespace holds INBOX; set inbox = yes`);
    if (ns.prefix !== '') problems.push(`namespace ${name}: prefix '${ns.prefix}' is not supported; Loft's namespace has no prefix`);
    if (ns.separator !== '' && ns.separator !== '/') problems.push(`namespace ${name}: separator '${ns.separator}' is not supported; Loft's separator is /`);
    for (const [mailbox, box] of Object.entries(ns.mailbox)) {
      try {
        validateName(normalizeName(mailbox));
      } catch (err) {
        problems.push(`namespace ${name} mailbox ${mailbox}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (box.special_use !== '' && canonicalSpecialUse(box.special_use) === undefined) {
        problems.push(`namespace ${name} mailbox ${mailbox}: special_use '${box.special_use}' is not one of ${SPECIAL_USES.join(' ')} (one per mailbox)`);
      }
    }
  }
  return problems;
}

/** The namespace's mailbox sections by (normalised) mailbox name. */
export function configuredMailboxes(settings: Pick<StorageSettings, 'namespace'>): Map<string, { specialUse: string | undefined; auto: AutoMailbox }> {
  const out = new Map<string, { specialUse: string | undefined; auto: AutoMailbox }>();
  for (const ns of Object.values(settings.namespace ?? {})) {
    for (const [name, box] of Object.entries(ns.mailbox)) out.set(normalizeName(name), { specialUse: canonicalSpecialUse(box.special_use), auto: box.auto });
  }
  return out;
}

/** `\\sent` → `\\Sent`; undefined for anything that is not one special use. */
export function canonicalSpecialUse(text: string): string | undefined {
  const wanted = text.trim().toLowerCase();
  return SPECIAL_USES.find((use) => use.toLowerCase() === wanted);
}
