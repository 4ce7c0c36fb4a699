/**
 * Mail storage settings (Dovecot's mail_location, mail_fsync, …), declared beside the code
 * that reads them. Services that open storage merge `storageSettingsSchema` into their own.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { JSONSchemaType } from 'ajv';
import { LoftError } from '@loft/errors';

export type MailFsync = 'always' | 'optimized' | 'never';

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
}

export const STORAGE_SETTINGS_DEFAULTS: Readonly<StorageSettings> = Object.freeze({
  mail_location: 'sdbox:~/mail',
  mail_fsync: 'optimized',
  mail_dir_hash: 0,
  mdbox_rotate_size: 10 * 1024 * 1024,
  mail_attachment_dir: '',
  mail_attachment_min_size: 128 * 1024,
});

export const storageSettingsSchema: JSONSchemaType<StorageSettings> = {
  type: 'object',
  properties: {
    mail_location: { type: 'string', loftKind: 'string', default: STORAGE_SETTINGS_DEFAULTS.mail_location, description: 'Mail storage format and directory, e.g. sdbox:~/mail (~ is the user\'s home).' },
    mail_fsync: { type: 'string', loftKind: 'enum', enum: ['always', 'optimized', 'never'], default: STORAGE_SETTINGS_DEFAULTS.mail_fsync, description: 'When to fsync: always, optimized (what a save acknowledges), never.' },
    mail_dir_hash: { type: 'integer', loftKind: 'uint', minimum: 0, maximum: 2, default: STORAGE_SETTINGS_DEFAULTS.mail_dir_hash, description: 'Levels of hashed directories for message files (0 = all in the mailbox directory).' },
    mdbox_rotate_size: { type: 'integer', loftKind: 'size', minimum: 1024, default: STORAGE_SETTINGS_DEFAULTS.mdbox_rotate_size, description: 'mdbox: start a new storage file once one reaches this size.' },
    mail_attachment_dir: { type: 'string', loftKind: 'path', default: STORAGE_SETTINGS_DEFAULTS.mail_attachment_dir, description: 'Directory for single-instance attachment storage; empty disables it.' },
    mail_attachment_min_size: { type: 'integer', loftKind: 'size', minimum: 0, default: STORAGE_SETTINGS_DEFAULTS.mail_attachment_min_size, description: 'Attachments at least this large are stored once in mail_attachment_dir.' },
  },
  required: ['mail_location', 'mail_fsync', 'mail_dir_hash', 'mdbox_rotate_size', 'mail_attachment_dir', 'mail_attachment_min_size'],
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
  return problems;
}
