/** Settings anvil reads. */
import type { JSONSchemaType } from 'ajv';

export interface AnvilSettings {
  mail_max_userip_connections: number;
}

export const anvilSettingsSchema: JSONSchemaType<AnvilSettings> = {
  type: 'object',
  properties: {
    mail_max_userip_connections: {
      type: 'integer', loftKind: 'uint', minimum: 0, default: 10,
      description: 'Most sessions one user may have open from one IP address at once; 0 means no limit.',
    },
  },
  required: ['mail_max_userip_connections'],
  additionalProperties: false,
};
