export { imapLoginSettingsSchema, type ImapLoginSettings } from './settings.js';
