/** Settings imap-login reads (TLS material arrives as PEM text: config reads `ssl_key = </path` as root). */
import type { JSONSchemaType } from 'ajv';

export interface ImapLoginSettings {
  ssl: 'no' | 'yes' | 'required';
  ssl_cert: string;
  ssl_key: string;
  ssl_min_protocol: 'TLSv1.2' | 'TLSv1.3';
  login_greeting: string;
  login_trusted_networks: string[];
  login_timeout: number;
  imap_max_line_length: number;
}

export const imapLoginSettingsSchema: JSONSchemaType<ImapLoginSettings> = {
  type: 'object',
  properties: {
    ssl: {
      type: 'string', loftKind: 'enum', enum: ['no', 'yes', 'required'], default: 'yes',
      description: 'TLS: no; yes (STARTTLS offered, imaps listeners); required (no login before TLS, even from trusted networks).',
    },
    ssl_cert: { type: 'string', default: '', description: 'PEM certificate chain, usually `ssl_cert = </etc/ssl/certs/mail.pem`.' },
    ssl_key: { type: 'string', loftKind: 'secret', default: '', description: 'PEM private key, usually `ssl_key = </etc/ssl/private/mail.key` (read by config as root).' },
    ssl_min_protocol: { type: 'string', loftKind: 'enum', enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'Oldest TLS version accepted.' },
    login_greeting: { type: 'string', default: 'Loft ready.', description: 'Text of the greeting line.' },
    login_trusted_networks: {
      type: 'array', items: { type: 'string' }, loftKind: 'list', default: [],
      description: 'Networks (CIDR) whose connections count as secured, like loopback: plaintext login is allowed from them.',
    },
    login_timeout: { type: 'integer', loftKind: 'duration', minimum: 1000, default: 60_000, description: 'How long a client may take to log in before it is disconnected.' },
    imap_max_line_length: {
      type: 'integer', loftKind: 'size', minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024,
      description: 'Longest IMAP command line (without literals); a longer one is refused.',
    },
  },
  required: ['ssl', 'ssl_cert', 'ssl_key', 'ssl_min_protocol', 'login_greeting', 'login_trusted_networks', 'login_timeout', 'imap_max_line_length'],
  additionalProperties: false,
};
