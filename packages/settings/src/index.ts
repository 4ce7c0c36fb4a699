/**
 * @loft/settings: Loft's conf syntax (Dovecot's), settings declared as JSON Schema and
 * checked with ajv, protocol/local/remote filters, and conf output for loftconf.
 */
export { SchemaRegistry, type LoftKind, type SettingDescription } from './schema-registry.js';
export { formatConfError, type ConfError } from './conf-error.js';
export { loadConfig, type ConfigSnapshot, type LoadOptions } from './load-config.js';
export type { ConfFilter, FilterContext } from './resolve.js';
export { formatConf, formatSettings, formatValue, type FormatOptions } from './format.js';
export { parseIp, parseCidr, cidrContains, ipInNetworks, type Cidr } from './ip-address.js';
