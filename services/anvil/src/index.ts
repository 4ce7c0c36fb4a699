export { anvilSettingsSchema, type AnvilSettings } from './settings.js';
export { PenaltyTable, AUTH_PENALTY_INIT_MS, AUTH_PENALTY_MAX_MS } from './penalty-table.js';
