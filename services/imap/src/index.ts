export { imapSettingsSchema, type ImapSettings } from './settings.js';
