/** Settings the imap service reads (the storage's mail_* settings arrive beside them). */
import type { JSONSchemaType } from 'ajv';

export interface ImapSettings {
  imap_logout_format: string;
  /** Longest command line of an authenticated session (without literals), bytes. */
  imap_command_line_limit: number;
  /** Largest message APPEND accepts, bytes (advertised as APPENDLIMIT). */
  imap_append_limit: number;
  /** Output held for a client that does not read before it is disconnected, bytes. */
  imap_output_buffer_limit: number;
  /** Interval of `* OK Still here` during IDLE, ms; 0 disables. */
  imap_idle_notify_interval: number;
  /** How long a client may read none of the output waiting for it before it is disconnected, ms. */
  imap_client_output_timeout: number;
  /** How often IDLE (and NOTIFY on the selected mailbox) re-reads the mailbox besides its change notifications, ms. */
  mailbox_idle_check_interval: number;
}

export const imapSettingsSchema: JSONSchemaType<ImapSettings> = {
  type: 'object',
  properties: {
    imap_logout_format: { type: 'string', default: 'in=%i out=%o', description: 'What the log line at logout says about the session (%i bytes in, %o bytes out).' },
    imap_command_line_limit: {
      type: 'integer', loftKind: 'size', minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024,
      description: 'Longest IMAP command line after login (without literals); a longer one ends the session with BYE.',
    },
    imap_append_limit: {
      type: 'integer', loftKind: 'size', minimum: 1024, maximum: 2 * 1024 * 1024 * 1024 - 1, default: 64 * 1024 * 1024,
      description: 'Largest message APPEND accepts (APPENDLIMIT); a larger one is refused with NO [TOOBIG].',
    },
    imap_output_buffer_limit: {
      type: 'integer', loftKind: 'size', minimum: 64 * 1024, maximum: 1024 * 1024 * 1024, default: 8 * 1024 * 1024,
      description: 'Output held for a client that stops reading; past it the client is disconnected.',
    },
    imap_idle_notify_interval: {
      type: 'integer', loftKind: 'duration', minimum: 0, default: 2 * 60 * 1000,
      description: 'How often IDLE sends "* OK Still here" so NAT and firewalls keep the connection (0 = never).',
    },
    imap_client_output_timeout: {
      type: 'integer', loftKind: 'duration', minimum: 1000, default: 5 * 60 * 1000,
      description: 'A client that reads none of the output waiting for it this long is disconnected; until then its session produces no more output.',
    },
    mailbox_idle_check_interval: {
      type: 'integer', loftKind: 'duration', minimum: 1000, default: 30 * 1000,
      description: 'How often an IDLE session re-reads its mailbox in case a change notification (inotify) was lost, as on a network file system. Each check costs a little CPU per idling session.',
    },
  },
  required: ['imap_logout_format', 'imap_command_line_limit', 'imap_append_limit', 'imap_output_buffer_limit', 'imap_idle_notify_interval', 'imap_client_output_timeout', 'mailbox_idle_check_interval'],
  additionalProperties: false,
};
