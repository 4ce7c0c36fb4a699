/**
 * How a delivery gets the user's identity (lmtp_privsep): the interface both modes share and
 * the choice between them. In both, deliveries run in child processes (delivery-child.ts);
 * the lmtp process itself stays root and never changes its uid.
 */
import type { Logger } from '@loft/log';
import type { DeliveryOutcome, DeliveryRequest } from './delivery.js';
import { ForkPrivsep } from './fork-privsep.js';
import type { MessageSpool } from './message-spool.js';
import { SeteuidPrivsep } from './seteuid-privsep.js';
import type { LmtpSettings } from './settings.js';

export interface Deliverer {
  /** Never rejects; `ok` means the message is on disk. */
  deliver(request: DeliveryRequest, spool: MessageSpool): Promise<DeliveryOutcome>;
  /** Stop idle helpers; deliveries still running finish. */
  close(): Promise<void>;
}

export function createDeliverer(settings: LmtpSettings, logger: Logger, systemUser: (uid: number) => Promise<string | undefined>): Deliverer {
  if (settings.lmtp_privsep === 'seteuid') {
    return new SeteuidPrivsep({
      lingerMs: settings.lmtp_privsep_linger,
      maxProcesses: settings.lmtp_privsep_seteuid_processes,
      minSpare: settings.lmtp_privsep_min_spare,
      logger,
    });
  }
  return new ForkPrivsep({
    lingerMs: settings.lmtp_privsep_linger,
    maxChildren: settings.lmtp_privsep_max_children,
    minSpare: settings.lmtp_privsep_min_spare,
    logger,
    systemUser,
  });
}
