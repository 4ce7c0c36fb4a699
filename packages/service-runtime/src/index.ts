export { runService, requestSettings } from './run-service.js';
export type { ServiceDefinition, ServiceContext, ListenerInfo } from './run-service.js';
export { dropPrivileges } from './privileges.js';
export { lookupUser, lookupGroup, type UserEntry } from './users.js';
export { startIdleCollector, type IdleCollector } from './idle-collector.js';
export { linkedModule, UNLINKED_ENV, type LinkedModule } from './linked-module.js';
