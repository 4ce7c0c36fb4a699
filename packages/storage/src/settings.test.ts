import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { isLoftError } from '@loft/errors';
import { STORAGE_SETTINGS_DEFAULTS, checkStorageSettings, parseMailLocation, storageSettingsSchema } from './settings.js';

/** The keywords Loft's settings registry accepts (packages/settings). */
const ALLOWED_KEYWORDS = new Set(['type', 'properties', 'required', 'additionalProperties', 'default', 'description', 'enum', 'minimum', 'maximum', 'loftKind', 'loftSection', 'items']);

function strictAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
  ajv.addKeyword({ keyword: 'loftKind', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'loftSection', schemaType: 'string' });
  return ajv;
}

describe('storage settings', () => {
  it('defaults validate and an unknown key is rejected', () => {
    const validate = strictAjv().compile(storageSettingsSchema);
    assert.ok(validate({ ...STORAGE_SETTINGS_DEFAULTS }), JSON.stringify(validate.errors));
    assert.ok(!validate({ ...STORAGE_SETTINGS_DEFAULTS, mail_fsync_typo: 'always' }));
    assert.ok(!validate({ ...STORAGE_SETTINGS_DEFAULTS, mail_fsync: 'sometimes' }));
    assert.ok(validate({ ...STORAGE_SETTINGS_DEFAULTS, namespace: { inbox: { mailbox: { Sent: { special_use: '\\Sent' } } } } }), JSON.stringify(validate.errors));
    assert.ok(!validate({ ...STORAGE_SETTINGS_DEFAULTS, namespace: { inbox: { mailbox: { Sent: { auto: 'always' } } } } }));
    assert.deepEqual(checkStorageSettings({ ...STORAGE_SETTINGS_DEFAULTS }), []);
  });

  it('uses only the keywords Loft allows, and each property says its kind and default', () => {
    for (const [name, property] of Object.entries(storageSettingsSchema.properties as Record<string, Record<string, unknown>>)) {
      for (const keyword of Object.keys(property)) assert.ok(ALLOWED_KEYWORDS.has(keyword), `${name}.${keyword}`);
      assert.ok(property.loftKind ?? property.loftSection, `${name} has loftKind (or is a section)`);
      assert.ok(property.description, `${name} has a description`);
      assert.deepEqual(property.default, (STORAGE_SETTINGS_DEFAULTS as unknown as Record<string, unknown>)[name]);
    }
  });

  it('parses mail_location and says how to fix a bad one', () => {
    assert.deepEqual(parseMailLocation('sdbox:~/mail', '/home/alice'), { driver: 'sdbox', root: '/home/alice/mail' });
    assert.deepEqual(parseMailLocation('sdbox:/var/mail/alice', '/home/alice'), { driver: 'sdbox', root: '/var/mail/alice' });
    assert.throws(() => parseMailLocation('maildir:~/Maildir', '/h'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID') && /sdbox:~\/mail/.test(err.message));
    assert.throws(() => parseMailLocation('sdbox:mail', '/h'), (err) => isLoftError(err, 'LOFT_E_STORAGE_INVALID'));
    assert.deepEqual(parseMailLocation('mdbox:~/mdbox', '/h'), { driver: 'mdbox', root: '/h/mdbox' });
    assert.match(checkStorageSettings({ ...STORAGE_SETTINGS_DEFAULTS, mail_dir_hash: 3 })[0]!, /mail_dir_hash \(3\)/);
  });
});
