/**
 * loft/imap-login: pre-auth IMAP for every client, in a process that owns nothing
 * (`loftnull`). A successful login goes to the master with auth's one-time ticket; the
 * master, not this process, learns from auth who the user is.
 */
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { ReconnectingClient } from '@loft/ipc';
import { RUN_FILES, type AuthLoginProtocol, type ServiceSettings } from '@loft/master-protocol';
import { runService, type ServiceContext } from '@loft/service-runtime';
import { LoginClient, relay, type LoginEnvironment } from './login-client.js';
import { SocketPairFactory } from './socket-pair.js';
import { ipInNetworks } from '@loft/settings';

const AUTH_TIMEOUT_MS = 60_000;

type Settings = LoginEnvironment['settings'] & { base_dir: string; service?: Record<string, ServiceSettings> };

let env: LoginEnvironment | undefined;
/** Every client this process serves, until its connection closes: a stop must end them. */
const clients = new Set<LoginClient>();
const pairs = new SocketPairFactory();
/** Hand-offs the master has not answered yet: a refusal brings the client back to its session. */
const handoffs = new Map<number, { client: LoginClient; tag: string; timer: NodeJS.Timeout }>();
let nextHandoffId = 1;

function secureContext(settings: Settings, ctx: ServiceContext): tls.SecureContext | undefined {
  if (settings.ssl === 'no') return undefined;
  if (!settings.ssl_cert || !settings.ssl_key) {
    if (settings.ssl === 'required') ctx.logger.error('ssl = required but ssl_cert/ssl_key are not set: nobody can log in');
    return undefined;
  }
  try {
    return tls.createSecureContext({ cert: settings.ssl_cert, key: settings.ssl_key, minVersion: settings.ssl_min_protocol });
  } catch (err) {
    ctx.logger.error({ err }, 'ssl_cert/ssl_key could not be loaded: TLS is off');
    return undefined;
  }
}

/** host:port pairs this server listens on, so a proxy to one of them logs in locally. */
function selfTargets(settings: Settings, local: { localIp: string; localPort: number }): string[] {
  const targets = new Set([`${local.localIp}:${local.localPort}`]);
  for (const service of Object.values(settings.service ?? {})) {
    for (const listener of Object.values(service.inet_listener ?? {})) {
      const wildcard = listener.address === '*' || listener.address === '0.0.0.0' || listener.address === '::';
      for (const host of wildcard ? ['127.0.0.1', '::1', local.localIp] : [listener.address]) targets.add(`${host}:${listener.port}`);
    }
  }
  return [...targets];
}

function authClient(socketPath: string): (request: Parameters<LoginEnvironment['authenticate']>[0] & { selfTargets: string[] }) => ReturnType<LoginEnvironment['authenticate']> {
  const auth = new ReconnectingClient<AuthLoginProtocol>(socketPath, { timeoutMs: AUTH_TIMEOUT_MS });
  return async (request) => {
    const connection = auth.get();
    try {
      return await (await connection).request('login', { ...request, service: 'imap' });
    } catch (err) {
      auth.drop(connection);
      throw err;
    }
  };
}

/** `socket` is the connection as accepted: it closes when the client is gone, whatever wraps it. */
function serve(socket: net.Socket, client: LoginClient): void {
  if (socket.destroyed) return;
  clients.add(client);
  socket.once('close', () => clients.delete(client));
}

await runService({
  start(ctx) {
    const settings = ctx.settings as unknown as Settings;
    const authenticate = authClient(path.join(settings.base_dir, 'run', RUN_FILES.AUTH_LOGIN_SOCKET));
    env = {
      settings,
      logger: ctx.logger,
      secureContext: secureContext(settings, ctx),
      trusted: (ip) => ipInNetworks(ip, settings.login_trusted_networks),
      authenticate: (request) => authenticate({ ...request, selfTargets: selfTargets(settings, request.client) }),
      handoff: async (client, ticket, tag, pending) => {
        const handoffId = nextHandoffId++;
        // Forgotten when the master says done; one that never hears within a minute will not.
        const timer = setTimeout(() => handoffs.delete(handoffId), AUTH_TIMEOUT_MS);
        timer.unref();
        handoffs.set(handoffId, { client, tag, timer });
        const message = { handoffId, service: 'imap', ticket, tag, client: client.clientInfo(), pending: pending.toString('base64') };
        if (client.clientInfo().tls) {
          const [ours, theirs] = await pairs.pair();
          client.socket.removeAllListeners('data');
          relay(client.socket, ours);
          ctx.handoff(message, theirs);
        } else {
          ctx.handoff(message, client.socket);
        }
      },
    };
  },
  onConnection(socket, listener, ctx) {
    const environment = env;
    socket.setNoDelay(true); // small request/response lines: see the imap service's note on Nagle
    socket.on('error', () => socket.destroy());
    if (!environment) {
      socket.destroy();
    } else if (!listener.ssl) {
      serve(socket, new LoginClient(socket, environment, false));
    } else if (!environment.secureContext) {
      ctx.logger.error(`listener ${listener.name} has ssl = yes but no TLS certificate is configured; closing the connection`);
      socket.destroy();
    } else {
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: environment.secureContext });
      secure.on('error', () => secure.destroy());
      secure.once('secure', () => serve(socket, new LoginClient(secure, environment, true)));
    }
  },
  onMessage(message, ctx, handle) {
    if (message.type === 'handoff-done') {
      clearTimeout(handoffs.get(message.handoffId)?.timer);
      handoffs.delete(message.handoffId);
      return;
    }
    if (message.type !== 'handoff-failed') return;
    const pending = handoffs.get(message.handoffId);
    clearTimeout(pending?.timer);
    handoffs.delete(message.handoffId);
    if (!pending) {
      if (handle instanceof net.Socket) handle.destroy();
      return;
    }
    ctx.logger.warn({ reason: message.reason }, `hand-off refused by the master: ${message.reason}`);
    // The socket stopped counting as a client when it left; back here, it counts again.
    if (handle instanceof net.Socket) ctx.trackClient(handle);
    pending.client.failedHandoff(pending.tag, message.reason, message.temporary, handle instanceof net.Socket ? handle : undefined);
  },
  async onShutdown() {
    for (const client of clients) client.shutdown();
    await pairs.close();
  },
});
