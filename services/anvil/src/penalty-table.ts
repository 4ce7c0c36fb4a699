/**
 * Auth-failure penalties per remote IP, as Dovecot's anvil keeps them: after a failure the
 * next attempt from that IP waits 2 s, doubling with each further failure up to 15 s, and a
 * success clears it. The table is bounded: the oldest entries go first, so a spoofed flood
 * of addresses cannot make anvil grow.
 */
export const AUTH_PENALTY_INIT_MS = 2_000;
export const AUTH_PENALTY_MAX_MS = 15_000;
/** A penalty is forgotten after this long without failures. */
export const AUTH_PENALTY_EXPIRE_MS = 60 * 60 * 1000;
export const PENALTY_TABLE_MAX_ENTRIES = 100_000;

interface Entry {
  failures: number;
  last: number;
}

export class PenaltyTable {
  /** Insertion order is age order: Map iteration gives the oldest first. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  get(ip: string): { penaltyMs: number; failures: number } {
    const entry = this.live(ip);
    return { penaltyMs: entry ? penaltyFor(entry.failures) : 0, failures: entry?.failures ?? 0 };
  }

  increment(ip: string): { penaltyMs: number; failures: number } {
    const failures = (this.live(ip)?.failures ?? 0) + 1;
    this.entries.delete(ip);
    this.entries.set(ip, { failures, last: this.now() });
    while (this.entries.size > PENALTY_TABLE_MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return { penaltyMs: penaltyFor(failures), failures };
  }

  reset(ip: string): void {
    this.entries.delete(ip);
  }

  get size(): number {
    return this.entries.size;
  }

  private live(ip: string): Entry | undefined {
    const entry = this.entries.get(ip);
    if (entry && this.now() - entry.last > AUTH_PENALTY_EXPIRE_MS) {
      this.entries.delete(ip);
      return undefined;
    }
    return entry;
  }
}

function penaltyFor(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(AUTH_PENALTY_INIT_MS * 2 ** Math.min(failures - 1, 16), AUTH_PENALTY_MAX_MS);
}
