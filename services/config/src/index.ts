export { ConfigState, createRegistry, loadConfiguration, LOFT_ROOT, LOFT_VERSION } from './config-state.js';
export { PluginLoader } from './plugin-loader.js';
export { ALLOWED_SCHEMA_KEYWORDS, validateManifest, type PluginManifest } from './plugin-manifest.js';
