export { logSettingsSchema, type LogSettings } from './settings.js';
