/** Settings the lmtp service reads (more arrive with the service). */
import type { JSONSchemaType } from 'ajv';

export interface LmtpSettings {
  lmtp_privsep: 'fork' | 'seteuid';
}

export const lmtpSettingsSchema: JSONSchemaType<LmtpSettings> = {
  type: 'object',
  properties: {
    lmtp_privsep: {
      type: 'string', loftKind: 'enum', enum: ['fork', 'seteuid'], default: 'fork',
      description: 'fork: deliver in a child per user uid with privileges dropped for good; seteuid: switch the effective uid in one process (Dovecot\'s way).',
    },
  },
  required: ['lmtp_privsep'],
  additionalProperties: false,
};
