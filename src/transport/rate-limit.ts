// Token bucket used to cut off floods at the edge before they reach an actor.
export interface RateLimit {
  /** Sustained allowance. */
  perSecond: number;
  /** Short burst allowance above the sustained rate. */
  burst: number;
}

// A coarse clock (10 ms resolution) shared by every bucket: the per-frame check on the audio path
// then costs a field read instead of a performance.now() call.
let coarse = performance.now();
let ticker: NodeJS.Timeout | undefined;
function coarseNow(): number {
  if (!ticker) {
    ticker = setInterval(() => (coarse = performance.now()), 10);
    ticker.unref();
  }
  return coarse;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = coarseNow,
  ) {
    this.tokens = limit.burst;
    this.last = now();
  }

  /** Take one token; false means the caller is over its rate. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((t - this.last) / 1000) * this.limit.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
