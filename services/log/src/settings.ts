/** Settings the log service reads, declared next to the code that uses them. */
import type { JSONSchemaType } from 'ajv';

export interface LogSettings {
  log_path: string;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  log_format: 'json' | 'text';
  log_errors_keep: number;
}

export const logSettingsSchema: JSONSchemaType<LogSettings> = {
  type: 'object',
  properties: {
    log_path: {
      type: 'string', loftKind: 'path', default: '',
      description: 'File all processes log to (reopened on SIGUSR1); empty means loftd\'s stderr.',
    },
    log_level: {
      type: 'string', loftKind: 'enum', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info',
      description: 'Least severe level that is logged.',
    },
    log_format: {
      type: 'string', loftKind: 'enum', enum: ['json', 'text'], default: 'json',
      description: 'json: one pino JSON object per line; text: "time service[pid]: level: message".',
    },
    log_errors_keep: {
      type: 'integer', loftKind: 'uint', minimum: 0, maximum: 100000, default: 1000,
      description: 'How many recent error lines the log service keeps for `loftadm log errors`.',
    },
  },
  required: ['log_path', 'log_level', 'log_format', 'log_errors_keep'],
  additionalProperties: false,
};
