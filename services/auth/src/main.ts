/**
 * loft/auth: answers "is this password right?" for login processes on auth-login.sock, and
 * "who is this ticket's user?" for the master on auth-userdb.sock, which login processes
 * cannot reach. Runs as an unprivileged user (`loft` by default).
 */
import path from 'node:path';
import { checkAuthSettings, type AuthSettings } from '@loft/auth';
import { describeError } from '@loft/errors';
import { IpcServer, ReconnectingClient } from '@loft/ipc';
import { EXIT, RUN_FILES, type AnvilProtocol, type AuthLoginProtocol, type AuthUserdbProtocol } from '@loft/master-protocol';
import type { Logger } from '@loft/log';
import { runService, type ServiceContext } from '@loft/service-runtime';
import { AuthEngine, type PenaltySource } from './auth-engine.js';

const ANVIL_TIMEOUT_MS = 5_000;

let engine: AuthEngine | undefined;
let loginServer: IpcServer<AuthLoginProtocol> | undefined;
let userdbServer: IpcServer<AuthUserdbProtocol> | undefined;

function current(): AuthEngine {
  if (!engine) throw new Error('auth is still starting');
  return engine;
}

/**
 * Penalties live in anvil; when it is away, logins go on without them (the log says so once
 * per outage). While anvil's process starts, a call waits for it (ReconnectingClient).
 */
function anvilPenalties(socketPath: string, logger: Logger): PenaltySource {
  const anvil = new ReconnectingClient<AnvilProtocol>(socketPath, { timeoutMs: ANVIL_TIMEOUT_MS });
  let warned = false;
  const call = async <K extends keyof AnvilProtocol & string>(method: K, ip: string): Promise<AnvilProtocol[K]['result'] | undefined> => {
    const connection = anvil.get();
    try {
      const result = await (await connection).request(method, { ip } as never);
      if (warned) logger.info(`anvil reachable again at ${socketPath}: auth-failure penalties are back`);
      warned = false;
      return result;
    } catch (err) {
      anvil.drop(connection);
      if (!warned) logger.warn({ err }, `anvil unreachable at ${socketPath}: auth-failure penalties are off until it is back`);
      warned = true;
      return undefined;
    }
  };
  return {
    get: async (ip) => (await call('penalty-get', ip))?.penaltyMs ?? 0,
    failed: async (ip) => { await call('penalty-inc', ip); },
    succeeded: async (ip) => { await call('penalty-reset', ip); },
  };
}

type AuthServiceSettings = AuthSettings & { base_dir: string; first_valid_uid: number; last_valid_uid: number };

/** The protocols whose requests auth answers; a `protocol NAME { }` filter may set auth_username_format for each. */
const PROTOCOLS = ['imap', 'lmtp', 'adm'] as const;

function usernameFormats(ctx: ServiceContext, global: string): Record<string, string> {
  const formats: Record<string, string> = {};
  for (const [protocol, settings] of Object.entries(ctx.protocolSettings)) {
    const format = settings.auth_username_format;
    if (typeof format === 'string' && format !== global) formats[protocol] = format;
  }
  return formats;
}

function createEngine(settings: AuthServiceSettings, logger: Logger, formats: Record<string, string>): AuthEngine {
  return new AuthEngine(settings, {
    usernameFormats: formats,
    warn: (message) => logger.warn(message),
    uids: { first: settings.first_valid_uid, last: settings.last_valid_uid },
    penalties: anvilPenalties(path.join(settings.base_dir, 'run', RUN_FILES.ANVIL_SOCKET), logger),
  });
}

await runService({
  protocols: PROTOCOLS,
  start(ctx) {
    const settings = ctx.settings as unknown as AuthServiceSettings;
    for (const problem of checkAuthSettings(settings)) ctx.logger.warn(`auth: ${problem}`);
    const formats = usernameFormats(ctx, settings.auth_username_format);
    try {
      engine = createEngine(settings, ctx.logger, formats);
    } catch (err) {
      // A passdb/userdb that cannot even be set up is a configuration error, not a crash.
      ctx.logger.fatal({ err }, `auth cannot start: ${describeError(err)}`);
      process.exit(EXIT.CONFIG);
    }
    loginServer = new IpcServer<AuthLoginProtocol>({

      login: async (request) => {
        const reply = await current().login(request);
        ctx.logger.info({ user: request.user, remote: request.client?.remoteIp, result: reply.result, mechanism: request.mechanism },
          reply.result === 'fail' ? `login failed for ${request.user}: ${reply.message}` : `login ${reply.result} for ${reply.user}`);
        return reply;
      },
    }, { logger: ctx.logger, name: 'auth-login.sock' });
    userdbServer = new IpcServer<AuthUserdbProtocol>({
      redeem: ({ ticket, service }) => current().redeem(String(ticket), String(service)),
      'user-lookup': ({ user, service }) => current().userLookup(String(user), String(service)),
      'auth-test': ({ user, password, service }) => current().test(String(user), String(password), String(service)),
    }, { logger: ctx.logger, name: 'auth-userdb.sock' });
  },
  onConnection(socket, listener, ctx) {
    if (listener.name === 'auth-login') loginServer?.handleSocket(socket);
    else if (listener.name === 'auth-userdb') userdbServer?.handleSocket(socket);
    else {
      ctx.logger.error(`auth: connection on unknown listener ${listener.name}; closing it`);
      socket.destroy();
    }
  },
  async onShutdown(ctx) {
    await Promise.all([loginServer?.close(), userdbServer?.close()]);
    await engine?.close().catch((err) => ctx.logger.error({ err }, `closing passdb/userdb: ${describeError(err)}`));
  },
});
