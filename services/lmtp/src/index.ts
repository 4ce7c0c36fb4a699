export { lmtpSettingsSchema, type LmtpSettings } from './settings.js';
