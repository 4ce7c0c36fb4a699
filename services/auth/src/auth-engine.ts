/**
 * The auth service's logic, apart from its sockets: passdbs and userdbs consulted in order
 * with Dovecot's result_* actions, one-time tickets for the hand-off, proxy decisions, and
 * the delays that slow password guessing. Passwords never reach a log line or an error.
 */
import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import {
  createPassdb, createUserdb, inConsultOrder, type UidRange,
  type AuthRequest, type AuthSettings, type Passdb, type PassdbSettings, type Userdb, type UserdbResult, type UserdbSettings,
} from '@loft/auth';
import type { AuthLoginReply, AuthLoginRequest, AuthTestResult, UserLookupResult } from '@loft/master-protocol';

/** A ticket is redeemed within moments of being issued; one that waits this long is void. */
export const TICKET_TTL_MS = 60_000;
const TICKETS_MAX = 100_000;
const USER_NAME_MAX_CHARS = 255;

interface Ticket {
  identity: Extract<UserLookupResult, { result: 'ok' }>;
  service: string;
  expires: number;
}

type Verdict =
  | { status: 'ok'; user: string; extra: Record<string, string> }
  | { status: 'fail' | 'unknown' | 'tempfail' | 'denied'; user: string; reason?: string };

export interface PenaltySource {
  get(ip: string): Promise<number>;
  failed(ip: string): Promise<void>;
  succeeded(ip: string): Promise<void>;
}

export interface AuthEngineOptions {
  warn?: (message: string) => void;
  penalties?: PenaltySource;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** first_valid_uid / last_valid_uid, for userdbs that list system accounts. */
  uids?: UidRange;
  /**
   * auth_username_format as `protocol NAME { }` sets it, by protocol (imap, lmtp, adm), where
   * it differs from the global one: with system users, Postfix's LMTP client names recipients
   * user@domain and `protocol lmtp { auth_username_format = %Ln }` drops the domain.
   */
  usernameFormats?: Readonly<Record<string, string>>;
}

export class AuthEngine {
  private readonly passdbs: Array<[string, PassdbSettings, Passdb]>;
  private readonly userdbs: Array<[string, UserdbSettings, Userdb]>;
  private readonly tickets = new Map<string, Ticket>();
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly usernameFormats: ReadonlyMap<string, string>;

  constructor(private readonly settings: AuthSettings, private readonly options: AuthEngineOptions = {}) {
    this.passdbs = inConsultOrder(settings.passdb).map(([name, s]) => [name, s, createPassdb(s, { warn: options.warn })]);
    this.userdbs = inConsultOrder(settings.userdb).map(([name, s]) => [name, s, createUserdb(s, { warn: options.warn, uids: options.uids })]);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.usernameFormats = new Map(Object.entries(options.usernameFormats ?? {}));
  }

  async login(request: AuthLoginRequest): Promise<AuthLoginReply> {
    const { client } = request;
    const user = this.formatUser(request.user, request.service);
    if (user === undefined || (request.authzid && request.authzid !== request.user)) {
      return this.failed(client.remoteIp, 'Authentication failed.');
    }
    const penaltyMs = (await this.options.penalties?.get(client.remoteIp)) ?? 0;
    if (penaltyMs > 0) await this.sleep(penaltyMs);
    const authRequest: AuthRequest = { user, service: request.service, remoteIp: client.remoteIp, localIp: client.localIp, localPort: client.localPort, secured: client.secured };
    const verdict = await this.verify(authRequest, request.password);
    if (verdict.status === 'tempfail') return { result: 'fail', temporary: true, message: 'Temporary authentication failure.' };
    if (verdict.status !== 'ok') return this.failed(client.remoteIp, verdict.status === 'denied' && verdict.reason ? verdict.reason : 'Authentication failed.');
    await this.options.penalties?.succeeded(client.remoteIp);
    const extra = verdict.extra;
    if ('nologin' in extra) return { result: 'fail', temporary: false, message: extra.reason || 'Login disabled for this user.' };
    const proxy = this.proxyTarget(extra, verdict.user, request);
    if (proxy) return proxy;
    const identity = await this.lookup({ ...authRequest, user: verdict.user });
    if (identity.result === 'tempfail') return { result: 'fail', temporary: true, message: 'Temporary authentication failure.' };
    if (identity.result !== 'ok') {
      this.options.warn?.(`user ${verdict.user} authenticated but no userdb knows them`);
      return { result: 'fail', temporary: false, message: 'Authenticated user has no mailbox here.' };
    }
    return { result: 'ok', user: identity.user, ticket: this.issueTicket(identity, request.service) };
  }

  /** One-time and short-lived; a ticket for one service does not log in to another. */
  redeem(ticket: string, service: string): UserLookupResult {
    const found = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!found || found.expires < this.now() || found.service !== service) return { result: 'unknown_user', user: '', reason: 'no such ticket' };
    return found.identity;
  }

  async userLookup(user: string, service: string): Promise<UserLookupResult> {
    const formatted = this.formatUser(user, service);
    if (formatted === undefined) return { result: 'unknown_user', user };
    return this.lookup({ user: formatted, service });
  }

  async test(user: string, password: string, service: string): Promise<AuthTestResult> {
    const formatted = this.formatUser(user, service);
    if (formatted === undefined) return { result: 'unknown_user', user };
    const verdict = await this.verify({ user: formatted, service }, password);
    if (verdict.status === 'ok') return { result: 'ok', user: verdict.user, passdbExtra: verdict.extra, userdb: await this.lookup({ user: verdict.user, service }) };
    const result = verdict.status === 'fail' ? 'mismatch' : verdict.status === 'unknown' ? 'unknown_user' : verdict.status === 'denied' ? 'nologin' : 'tempfail';
    return { result, user: verdict.user, reason: verdict.reason };
  }

  async close(): Promise<void> {
    await Promise.all([...this.passdbs.map(([, , db]) => db.close()), ...this.userdbs.map(([, , db]) => db.close())]);
  }

  private async failed(ip: string, message: string): Promise<AuthLoginReply> {
    await this.options.penalties?.failed(ip);
    await this.sleep(this.settings.auth_failure_delay);
    return { result: 'fail', temporary: false, message };
  }

  /** Dovecot's passdb chain: each answer is turned into an action by result_success/failure/internalfail. */
  private async verify(request: AuthRequest, password: string): Promise<Verdict> {
    let verdict: Verdict = { status: 'unknown', user: request.user };
    let tempfailed = false;
    for (const [name, settings, db] of this.passdbs) {
      if ((settings.skip === 'authenticated' && verdict.status === 'ok') || (settings.skip === 'unauthenticated' && verdict.status !== 'ok')) continue;
      const result = await db.verifyPlain(request, password);
      if (result.result === 'tempfail') {
        this.options.warn?.(`passdb ${name}: ${result.reason}`);
        tempfailed = true;
      }
      if (settings.deny) {
        if (result.result === 'ok') return { status: 'denied', user: request.user, reason: 'Login denied.' };
        continue;
      }
      const current: Verdict = result.result === 'ok'
        ? { status: 'ok', user: result.user, extra: { ...result.extra } }
        : { status: result.result === 'tempfail' ? 'tempfail' : result.result === 'mismatch' ? 'fail' : 'unknown', user: request.user };
      const action = result.result === 'ok' ? settings.result_success : result.result === 'tempfail' ? settings.result_internalfail : settings.result_failure;
      if (action === 'return-ok') return current.status === 'ok' ? current : { status: 'fail', user: request.user };
      if (action === 'return-fail') return current.status === 'ok' ? { status: 'fail', user: request.user } : current;
      if (action === 'continue-ok' && current.status === 'ok') verdict = current;
      else if (action === 'continue-fail') verdict = current.status === 'ok' ? { status: 'fail', user: request.user } : current;
      else if (action === 'continue' && (current.status === 'ok' || verdict.status !== 'ok')) verdict = current;
    }
    if (verdict.status !== 'ok' && tempfailed) return { status: 'tempfail', user: request.user };
    return verdict;
  }

  private async lookup(request: AuthRequest): Promise<UserLookupResult> {
    let tempfail: string | undefined;
    for (const [name, settings, db] of this.userdbs) {
      const result: UserdbResult = await db.lookup(request);
      if (result.result === 'ok') {
        // A relative home is relative to base_dir (auth's working directory), as every
        // relative path in settings is; every consumer gets it absolute.
        const home = result.home !== '' && !isAbsolute(result.home) ? resolve(result.home) : result.home;
        return { result: 'ok', user: result.user, uid: result.uid, gid: result.gid, home, mail: result.mail, extra: { ...result.extra } };
      }
      if (result.result === 'tempfail') {
        this.options.warn?.(`userdb ${name}: ${result.reason}`);
        tempfail = result.reason;
        if (settings.result_internalfail.startsWith('return')) break;
      } else if (settings.result_failure.startsWith('return')) break;
    }
    return tempfail ? { result: 'tempfail', user: request.user, reason: tempfail } : { result: 'unknown_user', user: request.user };
  }

  /**
   * passdb `proxy` (or `proxy_maybe`) with `host`: log in on that server instead, unless it
   * is this server itself, where proxying would loop: then the login is local.
   */
  private proxyTarget(extra: Record<string, string>, user: string, request: AuthLoginRequest): AuthLoginReply | undefined {
    if (!('proxy' in extra || 'proxy_maybe' in extra) || !extra.host) return undefined;
    // Dovecot's fields: ssl=yes|any-cert (TLS from the start), starttls=yes|any-cert.
    const ssl = extra.ssl === 'yes' || extra.ssl === 'any-cert' ? 'yes' : extra.starttls === 'yes' || extra.starttls === 'any-cert' ? 'starttls' : 'no';
    const anyCert = extra.ssl === 'any-cert' || extra.starttls === 'any-cert';
    const port = Number(extra.port || (ssl === 'yes' ? 993 : 143));
    const self = new Set(request.selfTargets);
    if (self.has(`${extra.host}:${port}`) || (extra.host === 'localhost' && (self.has(`127.0.0.1:${port}`) || self.has(`::1:${port}`)))) return undefined;
    return { result: 'proxy', user, host: extra.host, port, ssl, anyCert, destuser: extra.destuser || user, password: extra.pass ?? request.password };
  }

  private issueTicket(identity: Extract<UserLookupResult, { result: 'ok' }>, service: string): string {
    const now = this.now();
    for (const [key, ticket] of this.tickets) {
      if (ticket.expires >= now && this.tickets.size < TICKETS_MAX) break; // oldest first: stop at the first live one
      this.tickets.delete(key);
    }
    const ticket = randomBytes(32).toString('hex');
    this.tickets.set(ticket, { identity, service, expires: now + TICKET_TTL_MS });
    return ticket;
  }

  /** auth_username_format: %u as given, %n without the domain, %d the domain; L/U change case. */
  private formatUser(user: string, service: string): string | undefined {
    if (!user || user.length > USER_NAME_MAX_CHARS || /[\p{Cc}\s]/u.test(user)) return undefined;
    const at = user.lastIndexOf('@');
    const parts: Record<string, string> = { u: user, n: at >= 0 ? user.slice(0, at) : user, d: at >= 0 ? user.slice(at + 1) : '' };
    const format = this.usernameFormats.get(service) ?? this.settings.auth_username_format;
    return format.replace(/%([LU]?)([und])/g, (_m, mod: string, v: string) =>
      mod === 'L' ? parts[v].toLowerCase() : mod === 'U' ? parts[v].toUpperCase() : parts[v]);
  }
}
