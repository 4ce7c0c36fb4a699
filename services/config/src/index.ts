export { ConfigState, createRegistry } from './config-state.js';
