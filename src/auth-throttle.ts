// Failed password checks per source address (issue 13, finding 7): a password must not be
// guessable at line rate. Used by SIP digest (INVITE → 403) and WebSocket/HTTP Basic (→ 429).
// Each source gets at most `maxFailures` failed attempts per window (counted from its first
// failure); beyond that its attempts are refused without their credentials being checked, until
// the window ends. A success does not reset the count: an
// attacker holding one valid account could otherwise interleave it with guesses at another.
// Memory is bounded: past `maxSources` tracked addresses the oldest entry is dropped.

export interface AuthThrottleOptions {
  /** Failed attempts allowed per source and window (default 5). */
  maxFailures?: number;
  /** The window, from a source's first failure (default 60 s). */
  windowMs?: number;
  /** Sources tracked at most (default 10 000). */
  maxSources?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  since: number;
}

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;

  constructor(o: AuthThrottleOptions = {}) {
    this.maxFailures = o.maxFailures ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxSources = o.maxSources ?? 10_000;
    this.now = o.now ?? (() => performance.now());
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.entries.size;
  }

  private current(source: string): Entry | undefined {
    const e = this.entries.get(source);
    if (e && this.now() - e.since >= this.windowMs) {
      this.entries.delete(source);
      return undefined;
    }
    return e;
  }

  /** Whether `source` used up its failures for this window. */
  locked(source: string): boolean {
    return (this.current(source)?.failures ?? 0) >= this.maxFailures;
  }

  /** Count a failed attempt from `source`; true when this one locked it. */
  failed(source: string): boolean {
    const e = this.current(source);
    if (e) {
      e.failures++;
      return e.failures === this.maxFailures;
    }
    const now = this.now();
    // Entries are never re-inserted, so the map is in window order: expired ones are at its head.
    for (const [k, old] of this.entries) {
      if (now - old.since < this.windowMs && this.entries.size < this.maxSources) break;
      this.entries.delete(k);
    }
    this.entries.set(source, { failures: 1, since: now });
    return this.maxFailures === 1;
  }
}
