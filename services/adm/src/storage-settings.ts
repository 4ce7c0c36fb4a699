/** The storage settings a worker opens the user's mail with. */
import { STORAGE_SETTINGS_DEFAULTS, type StorageSettings } from '@loft/storage';

/** Global storage settings from config, with userdb's `mail` as mail_location and its quota_rule, when it gives them. */
export function storageSettingsFor(globals: Readonly<Record<string, unknown>>, userMail: string | undefined, userQuotaRule?: string): Partial<StorageSettings> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(STORAGE_SETTINGS_DEFAULTS)) if (globals[key] !== undefined) out[key] = globals[key];
  if (userMail) out.mail_location = userMail;
  if (userQuotaRule !== undefined) out.quota_rule = userQuotaRule;
  return out as Partial<StorageSettings>;
}
