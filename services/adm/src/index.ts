export { admSettingsSchema, type AdmSettings } from './settings.js';
