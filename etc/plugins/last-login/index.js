// last-login: records when each user last logged in (and from where), one small file per
// user, like Dovecot's last_login plugin. A template for plugin authors: see README.md.
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';

/**
 * What the config service reads, in a sandbox, before anything of this plugin runs for
 * real. Plain data only: functions here would be dropped.
 */
export const manifest = {
  name: 'last-login',
  version: '1.0.0',
  description: 'Records each user\'s last login time.',
  loft: '>=0.1.0 <1.0.0',
  dependencies: [],
  settingsPrefix: 'last_login_',
  settings: {
    type: 'object',
    properties: {
      last_login_dir: {
        type: 'string', loftKind: 'path', default: '/var/lib/loft/last-login',
        description: 'Directory with one file per user holding the last login.',
      },
      last_login_precision: {
        type: 'string', loftKind: 'enum', enum: ['s', 'ms'], default: 's',
        description: 'Record the time in seconds or milliseconds.',
      },
      last_login_record_remote: {
        type: 'boolean', loftKind: 'bool', default: true,
        description: 'Also record the address the user logged in from.',
      },
      last_login_ignore: {
        type: 'object', loftSection: 'named', default: {},
        description: 'Logins not to record: last_login_ignore NAME { user = … remote = … }.',
        additionalProperties: {
          type: 'object',
          properties: {
            user: { type: 'string', default: '', description: 'User name to ignore; * matches any run of characters.' },
            remote: { type: 'array', items: { type: 'string' }, loftKind: 'list', default: [], description: 'Remote networks (CIDR) to ignore.' },
          },
          required: ['user', 'remote'],
          additionalProperties: false,
        },
      },
    },
    required: ['last_login_dir', 'last_login_precision', 'last_login_record_remote', 'last_login_ignore'],
    additionalProperties: false,
  },
};

/** Runtime hooks, called by Loft's mail processes with this plugin's validated settings. */
export const hooks = {
  /** After a successful login. `settings` holds the last_login_* values, defaults filled in. */
  async login({ user, remoteIp }, { settings, logger }) {
    if (ignored(user, remoteIp, settings.last_login_ignore)) return;
    const now = Date.now();
    const record = {
      user,
      time: settings.last_login_precision === 'ms' ? now : Math.floor(now / 1000),
      ...(settings.last_login_record_remote && remoteIp ? { remote: remoteIp } : {}),
    };
    // The user name never becomes a path: it is hashed.
    const file = path.join(settings.last_login_dir, crypto.createHash('sha256').update(user).digest('hex').slice(0, 32));
    await fs.mkdir(settings.last_login_dir, { recursive: true, mode: 0o750 });
    const temp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o640 });
    await fs.rename(temp, file);
    logger?.debug?.({ user }, 'last login recorded');
  },
};

function ignored(user, remoteIp, rules) {
  for (const rule of Object.values(rules ?? {})) {
    if (rule.user) {
      const pattern = new RegExp(`^${rule.user.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      if (pattern.test(user)) return true;
    }
    if (remoteIp && rule.remote.includes(remoteIp)) return true;
  }
  return false;
}
