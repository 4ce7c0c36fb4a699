/**
 * Settings the lmtp service reads, declared beside the code that uses them. Storage
 * settings (mail_location, mail_fsync…) come from @loft/storage's schema; first_valid_uid
 * and last_valid_uid from the master's.
 */
import type { JSONSchemaType } from 'ajv';

export interface LmtpSettings {
  lmtp_privsep: 'fork' | 'seteuid';
  /** fork mode: ms a delivery child for a uid is kept after its last delivery. */
  lmtp_privsep_linger: number;
  /** fork mode: most delivery children (one per uid) at once (>= 1). */
  lmtp_privsep_max_children: number;
  /** seteuid mode: most root delivery processes at once, each delivering one message at a time (>= 1). */
  lmtp_privsep_seteuid_processes: number;
  /** Delivery children kept started and idle (fork: not yet given a uid), so a delivery does not wait for Node to start. */
  lmtp_privsep_min_spare: number;
  /** Largest message accepted, in bytes (advertised in SIZE); 0 = unlimited. */
  lmtp_max_message_size: number;
  /** Most recipients in one transaction (>= 1). */
  lmtp_max_recipients: number;
  /** Create the target mailbox (a +detail folder) when it does not exist. */
  lda_mailbox_autocreate: boolean;
  /** Characters that separate user and detail in `user+detail@domain`; empty disables detail. */
  recipient_delimiter: string;
  /** Deliver `user+detail` into the folder named `detail` instead of INBOX. */
  lmtp_save_to_detail_mailbox: boolean;
  /** Address shown in error replies for people to contact. */
  postmaster_address: string;
  /** Over quota (quota_rule): 452 (the MTA retries) instead of 552 (it bounces). */
  quota_full_tempfail: boolean;
  /** Host name in the greeting, LHLO reply and Received header; empty = the system host name. */
  hostname: string;
}

export const lmtpSettingsSchema: JSONSchemaType<LmtpSettings> = {
  type: 'object',
  properties: {
    lmtp_privsep: {
      type: 'string', loftKind: 'enum', enum: ['fork', 'seteuid'], default: 'seteuid',
      description: 'seteuid: root delivery processes that take each user\'s effective uid for one delivery at a time (Dovecot\'s way); fork: a child per user uid with privileges dropped for good.',
    },
    lmtp_privsep_linger: {
      type: 'integer', loftKind: 'duration', minimum: 0, default: 60_000,
      description: 'Keep an idle delivery process this long after its last delivery (beyond lmtp_privsep_min_spare), and the users it delivered to open in it, so that the next message for them reuses both (as Dovecot keeps an idle lmtp process for idle_kill, 1 min).',
    },
    lmtp_privsep_max_children: {
      type: 'integer', loftKind: 'uint', minimum: 1, default: 100,
      description: 'fork mode: most delivery children (one per uid) one lmtp process keeps at once; an idle one is stopped to make room.',
    },
    lmtp_privsep_seteuid_processes: {
      type: 'integer', loftKind: 'uint', minimum: 1, default: 8,
      description: 'seteuid mode: most root delivery processes one lmtp process runs; each delivers one message at a time, so this is how many deliveries run in parallel.',
    },
    lmtp_privsep_min_spare: {
      type: 'integer', loftKind: 'uint', minimum: 0, default: 2,
      description: 'Delivery processes kept started and idle (fork mode: loaded but not yet given a uid), so that a delivery does not wait for Node to start.',
    },
    lmtp_max_message_size: {
      type: 'integer', loftKind: 'size', minimum: 0, default: 50 * 1024 * 1024,
      description: 'Largest message accepted (advertised in SIZE); 0 means unlimited.',
    },
    lmtp_max_recipients: {
      type: 'integer', loftKind: 'uint', minimum: 1, default: 1000,
      description: 'Most recipients one LMTP transaction may name.',
    },
    lda_mailbox_autocreate: {
      type: 'boolean', loftKind: 'bool', default: false,
      description: 'Create the mailbox a message is delivered to when it does not exist (otherwise it goes to INBOX).',
    },
    recipient_delimiter: {
      type: 'string', loftKind: 'string', default: '+',
      description: 'Characters that separate the user from the detail in user+detail@domain; empty disables detail addressing.',
    },
    lmtp_save_to_detail_mailbox: {
      type: 'boolean', loftKind: 'bool', default: false,
      description: 'Deliver user+detail@domain into the mailbox named detail instead of INBOX.',
    },
    quota_full_tempfail: {
      type: 'boolean', loftKind: 'bool', default: false,
      description: 'A recipient over quota (quota_rule) gets 452 4.2.2 and the MTA retries, instead of 552 5.2.2 and a bounce (Dovecot\'s default).',
    },
    postmaster_address: {
      type: 'string', loftKind: 'string', default: 'postmaster',
      description: 'Address named in error replies as the one to contact.',
    },
    hostname: {
      type: 'string', loftKind: 'string', default: '',
      description: 'Host name in the LMTP greeting and the Received header; empty means the system host name.',
    },
  },
  required: [
    'lmtp_privsep', 'lmtp_privsep_linger', 'lmtp_privsep_max_children', 'lmtp_privsep_seteuid_processes', 'lmtp_privsep_min_spare', 'lmtp_max_message_size', 'lmtp_max_recipients',
    'lda_mailbox_autocreate', 'recipient_delimiter', 'lmtp_save_to_detail_mailbox', 'postmaster_address', 'quota_full_tempfail', 'hostname',
  ],
  additionalProperties: false,
};
