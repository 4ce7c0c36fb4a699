/** Settings the adm service reads, declared beside the code that uses them. */
import type { JSONSchemaType } from 'ajv';

export interface AdmSettings {
  /** Per-user worker processes running mail commands at once; more wait their turn. */
  adm_worker_limit: number;
  /** ms a worker may run one command before it is killed (an import of a big mbox needs long). */
  adm_worker_timeout: number;
}

export const admSettingsSchema: JSONSchemaType<AdmSettings> = {
  type: 'object',
  properties: {
    adm_worker_limit: {
      type: 'integer', loftKind: 'uint', minimum: 1, default: 4,
      description: 'Most per-user worker processes running mail commands at once.',
    },
    adm_worker_timeout: {
      type: 'integer', loftKind: 'duration', minimum: 1000, default: 30 * 60_000,
      description: 'How long one loftadm mail command may run before its worker is killed.',
    },
  },
  required: ['adm_worker_limit', 'adm_worker_timeout'],
  additionalProperties: false,
};
