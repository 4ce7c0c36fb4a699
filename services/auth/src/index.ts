export { authSettingsSchema, type AuthSettings } from './settings.js';
export { AuthEngine, TICKET_TTL_MS } from './auth-engine.js';
