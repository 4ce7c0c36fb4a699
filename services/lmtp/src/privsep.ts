/**
 * How a delivery gets the user's identity (lmtp_privsep): the interface both modes share,
 * the seteuid mode itself, and the choice between them.
 */
import type { Logger } from '@loft/log';
import { deliverMessage, type DeliveryOutcome, type DeliveryRequest } from './delivery.js';
import { EuidSwitch } from './euid-switch.js';
import { ForkPrivsep } from './fork-privsep.js';
import type { MessageSpool } from './message-spool.js';
import type { LmtpSettings } from './settings.js';

export interface Deliverer {
  /** Runs a path-based operation (spool file, userdb connect) with root's identity. */
  asRoot<T>(fn: () => Promise<T>): Promise<T>;
  /** Never rejects; `ok` means the message is on disk. */
  deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome>;
  /** Stop idle helpers; deliveries still running finish. */
  close(): Promise<void>;
}

/** seteuid privsep: deliveries run in this process, one at a time, with the user's euid. */
export class SeteuidPrivsep implements Deliverer {
  private readonly euid: EuidSwitch;

  constructor(private readonly logger: Logger) {
    this.euid = new EuidSwitch(logger);
  }

  asRoot<T>(fn: () => Promise<T>): Promise<T> {
    return this.euid.asRoot(fn);
  }

  async deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome> {
    const log = this.logger.child({ user: request.user, privsep: 'seteuid' });
    try {
      return await this.euid.asUser({ uid: request.uid, gid: request.gid }, () => deliverMessage(request, () => spool.stream(), log));
    } catch (err) {
      log.error({ err }, `delivery to ${request.user} refused`);
      return { ok: false, temporary: true, reason: 'privilege switch refused' };
    }
  }

  async close(): Promise<void> {
    // Nothing lingers in this mode.
  }
}

export function createDeliverer(settings: LmtpSettings, logger: Logger, systemUser: (uid: number) => Promise<string | undefined>): Deliverer {
  if (settings.lmtp_privsep === 'seteuid') return new SeteuidPrivsep(logger);
  return new ForkPrivsep({ lingerMs: settings.lmtp_privsep_linger, maxChildren: settings.lmtp_privsep_max_children, logger, systemUser });
}
