/** Settings the adm service reads (more arrive with the service). */
import type { JSONSchemaType } from 'ajv';

export interface AdmSettings {
  adm_worker_limit: number;
}

export const admSettingsSchema: JSONSchemaType<AdmSettings> = {
  type: 'object',
  properties: {
    adm_worker_limit: {
      type: 'integer', loftKind: 'uint', minimum: 1, default: 4,
      description: 'Most per-user worker processes running mail commands at once.',
    },
  },
  required: ['adm_worker_limit'],
  additionalProperties: false,
};
