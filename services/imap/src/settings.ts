/** Settings the imap service reads (more arrive with the full IMAP service). */
import type { JSONSchemaType } from 'ajv';

export interface ImapSettings {
  imap_logout_format: string;
}

export const imapSettingsSchema: JSONSchemaType<ImapSettings> = {
  type: 'object',
  properties: {
    imap_logout_format: { type: 'string', default: 'in=%i out=%o', description: 'What the log line at logout says about the session (%i bytes in, %o bytes out).' },
  },
  required: ['imap_logout_format'],
  additionalProperties: false,
};
