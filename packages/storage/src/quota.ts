/**
 * Quota as Dovecot's `count` backend keeps it: what a user uses is what their mailboxes hold
 * (bytes and messages, from the STATUS counters), and a save that would take them past a
 * limit is refused. Limits are Dovecot's quota_rule for the whole user (`*`):
 * `*:storage=1G`, `*:messages=10000`, or both (`*:storage=1G:messages=10000`); a bare
 * storage number is KiB and a bare bytes number bytes, as in Dovecot; 0 means no limit.
 * Rules for single mailboxes (`Trash:storage=+100M`) are not supported.
 */
import { LoftError } from '@loft/errors';

/** The quota root clients see in GETQUOTAROOT (Apple Mail shows nothing for an empty name). */
export const QUOTA_ROOT = 'User quota';
/** A delivery may take a user this far past a limit, once (Dovecot's default quota_grace). */
export const QUOTA_GRACE_RATIO = 0.1;

export interface QuotaLimits {
  /** Bytes; 0 = no limit. */
  storage: number;
  /** Messages; 0 = no limit. */
  messages: number;
}

export interface QuotaUsage {
  storage: number;
  messages: number;
}

const UNITS: Readonly<Record<string, number>> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses a quota_rule; throws LOFT_E_STORAGE_INVALID naming what is wrong. '' is no limit. */
export function parseQuotaRule(rule: string): QuotaLimits {
  const limits: QuotaLimits = { storage: 0, messages: 0 };
  const text = rule.trim();
  if (text === '') return limits;
  const [mailbox, ...parts] = text.split(':');
  const fail = (problem: string): never => {
    throw new LoftError('LOFT_E_STORAGE_INVALID', `quota_rule '${rule}': ${problem}`);
  };
  if (mailbox !== '*') fail(`only rules for the whole user (*:storage=…) are supported, not for mailbox '${mailbox}'`);
  if (parts.length === 0) fail('no limit given; write *:storage=1G or *:messages=10000');
  for (const part of parts) {
    const m = /^(storage|bytes|messages)=(\d+)([bkmgt]?)$/i.exec(part.trim());
    if (!m) fail(`'${part}' is not storage=SIZE, bytes=SIZE or messages=COUNT (SIZE takes b, k, M, G, T; % and + are not supported)`);
    const [, name, digits, unit] = m!;
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) fail(`'${part}' is too large`);
    if (name!.toLowerCase() === 'messages') {
      if (unit) fail(`messages takes a count, not '${unit}'`);
      limits.messages = value;
    } else {
      // Dovecot: a bare storage figure is KiB, a bare bytes figure is bytes.
      const multiplier = unit ? UNITS[unit.toLowerCase()]! : name!.toLowerCase() === 'storage' ? 1024 : 1;
      limits.storage = value * multiplier;
      if (!Number.isSafeInteger(limits.storage)) fail(`'${part}' is too large`);
    }
  }
  return limits;
}

export function hasQuota(limits: QuotaLimits): boolean {
  return limits.storage > 0 || limits.messages > 0;
}

/**
 * Throws LOFT_E_QUOTA_EXCEEDED when adding `bytes` in `messages` to `used` passes a limit.
 * With `grace` (deliveries), a user still under a limit may go past it by up to
 * QUOTA_GRACE_RATIO with this one save, so a message slightly too big is not bounced.
 */
export function checkQuota(limits: QuotaLimits, used: QuotaUsage, bytes: number, messages: number, grace = false): void {
  const over = (limit: number, now: number, added: number): boolean => {
    if (limit === 0 || added === 0) return false;
    if (now + added <= limit) return false;
    return !(grace && now < limit && now + added <= limit * (1 + QUOTA_GRACE_RATIO));
  };
  if (over(limits.storage, used.storage, bytes) || over(limits.messages, used.messages, messages)) {
    throw new LoftError('LOFT_E_QUOTA_EXCEEDED', 'Quota exceeded (mailbox for user is full)');
  }
}
