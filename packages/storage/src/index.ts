/**
 * @loft/storage: the mail storage API that IMAP, LMTP, loftadm and replication use.
 * MailUser -> mailboxes (one private namespace, prefix "", separator "/") -> Mailbox.
 */
export { MailUser, type MailUserOptions, type MailboxInfo } from './mail-user.js';
export type { PurgeResult } from './mdbox-store.js';
export {
  Mailbox,
  MailboxTransaction,
  parseFlags,
  type CommitResult,
  type FlagChange,
  type FlagIds,
  type FlagUpdateResult,
  type MailboxChanges,
  type MailboxStatus,
  type MessageView,
  type SaveOptions,
  type StorageTuning,
} from './mailbox.js';
export { headerFieldParser, headerValues, type CachedFieldName, type MessageFieldParser } from './message-fields.js';
export { mimeFieldParser } from './mime-fields.js';
export {
  SPECIAL_USES,
  STORAGE_SETTINGS_DEFAULTS,
  checkStorageSettings,
  parseMailLocation,
  storageSettingsSchema,
  type AutoMailbox,
  type MailFsync,
  type MailLocation,
  type NamespaceSettings,
  type StorageSettings,
} from './settings.js';
export { SILENT_LOGGER, type StorageLogger } from './storage-logger.js';
export { QUOTA_ROOT, QUOTA_GRACE_RATIO, checkQuota, hasQuota, parseQuotaRule, type QuotaLimits, type QuotaUsage } from './quota.js';
export { lowerBound } from './mail-index.js';
export type { UidRange } from './binary.js';
export * from './query/index.js';
export { setBlockingIo, blockingIo } from './io-mode.js';
export { lstatOrUndefined, spaceErrorCode, storageErrorFields } from './safe-fs.js';
