export { masterSettingsSchema, CORE_SERVICES, SERVICE_DEFAULTS, type MasterOwnSettings } from './settings.js';
