/**
 * loft/config: parses loft.conf once per generation, validates it against every declared
 * schema, and serves settings on config.sock. Runs as root because settings may name
 * files only root reads (TLS keys); it never runs plugin code itself.
 */
import { IpcServer } from '@loft/ipc';
import { ENV, type ConfigProtocol } from '@loft/master-protocol';
import { runService } from '@loft/service-runtime';
import { ConfigState, createRegistry } from './config-state.js';

const state = new ConfigState(createRegistry(), {
  file: process.env[ENV.CONFIG_FILE] ?? '/etc/loft/loft.conf',
  baseDirOverride: process.env[ENV.BASE_DIR] || undefined,
});

let server: IpcServer<ConfigProtocol> | undefined;

await runService({
  fetchSettings: false,
  start(ctx) {
    server = new IpcServer<ConfigProtocol>(
      { 'get-settings': ({ service, filter }) => state.forService(service, filter ?? {}) },
      { logger: ctx.logger, name: 'config.sock' },
    );
  },
  onConnection(socket) {
    server?.handleSocket(socket);
  },
  onRequest(method) {
    if (method === 'config-master') return state.forMaster();
    if (method === 'config-reload') return state.reload();
    throw new Error(`config does not handle ${method}`);
  },
  async onShutdown() {
    await server?.close();
  },
});
