/**
 * loft/config: parses loft.conf once per generation, validates it against every declared
 * schema (plugins' included, read in sandboxes), and serves settings on config.sock. Runs
 * as root because settings may name files only root reads (TLS keys); it never runs
 * plugin code itself.
 */
import { IpcServer } from '@loft/ipc';
import { ENV, type ConfigDumpParams, type ConfigProtocol } from '@loft/master-protocol';
import { runService } from '@loft/service-runtime';
import { ConfigState } from './config-state.js';

let state: ConfigState | undefined;
let server: IpcServer<ConfigProtocol> | undefined;

function current(): ConfigState {
  if (!state) throw new Error('the config service is still starting');
  return state;
}

await runService({
  fetchSettings: false,
  async start(ctx) {
    state = await ConfigState.create({
      file: process.env[ENV.CONFIG_FILE] ?? '/etc/loft/loft.conf',
      baseDirOverride: process.env[ENV.BASE_DIR] || undefined,
      logger: ctx.logger,
    });
    server = new IpcServer<ConfigProtocol>(
      { 'get-settings': ({ service, filter }) => current().forService(service, filter ?? {}) },
      { logger: ctx.logger, name: 'config.sock' },
    );
  },
  onConnection(socket) {
    server?.handleSocket(socket);
  },
  onRequest(method, params) {
    if (method === 'config-master') return current().forMaster();
    if (method === 'config-reload') return current().reload();
    if (method === 'config-dump') return current().dump(params as ConfigDumpParams);
    throw new Error(`config does not handle ${method}`);
  },
  async onShutdown() {
    await server?.close();
  },
});
