// Token bucket used to cut off floods at the edge before they reach an actor.
import { WS_CLOSE } from './close-codes.js';
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

  /** Take `cost` tokens (default one); false means the caller is over its rate. */
  take(cost = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((t - this.last) / 1000) * this.limit.perSecond);
    this.last = t;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}

/**
 * Frame-rate defaults for every WebSocket route, in one place. Each is a flood cap, several times
 * what a legitimate peer sends, not a fairness scheme; each route takes its own override.
 */
export const DEFAULT_FRAME_RATES = {
  /** Inbound-call protocol: a few control messages, audio at 50 frames/s (20 ms) in real time. */
  inboundCall: { text: { perSecond: 20, burst: 40 }, binary: { perSecond: 250, burst: 500 } },
  /** Rooms: one bucket for every frame a member sends. */
  rooms: { any: { perSecond: 200, burst: 400 } },
  /**
   * jambonz hook (`ws.jambonz.org`): call:status, verb:status, verb hooks, llm/tts events of the
   * sessions on one socket. jambonz sends a handful per second per call; streaming llm/tts events
   * can come in bursts.
   */
  jambonzHook: { text: { perSecond: 200, burst: 400 } },
  /**
   * jambonz audio (`audio.jambonz.org`): L16 at 20 ms is 50 binary frames/s; 5x real time with a
   * 10 s burst absorbs a sender catching up. Text frames are rare (dtmf, marks, playDone).
   */
  jambonzAudio: { text: { perSecond: 20, burst: 40 }, binary: { perSecond: 250, burst: 500 } },
  /**
   * Playback sessions (MoosicBox protocol): control frames, and playlists of up to 1 MiB. Bytes
   * are limited too: a client re-sending a large playlist at the frame rate would otherwise keep
   * every other client's answers waiting behind its JSON.
   */
  playback: { any: { perSecond: 100, burst: 200 }, bytes: { perSecond: 1024 * 1024, burst: 4 * 1024 * 1024 } },
} as const satisfies Record<string, Partial<Record<'text' | 'binary' | 'any' | 'bytes', RateLimit>>>;

/** Every route closes a flooding socket the same way. */
export const RATE_LIMIT_CLOSE = { code: WS_CLOSE.policy, reason: 'rate limit exceeded' } as const;

/** Validate a rate limit given by an embedder; a typo must not silently disable the limit. */
export function checkRateLimit(name: string, r: RateLimit): RateLimit {
  if (!(Number.isFinite(r.perSecond) && r.perSecond > 0 && Number.isFinite(r.burst) && r.burst >= 1)) {
    throw new TypeError(`${name}: perSecond must be > 0 and burst >= 1, got ${JSON.stringify(r)}`);
  }
  return r;
}

export interface FrameRates {
  text?: RateLimit | false;
  binary?: RateLimit | false;
  /** One bucket shared by text and binary frames (used when `text`/`binary` are not given). */
  any?: RateLimit | false;
}

/**
 * Per-socket frame limiter: one bucket per frame kind (or one shared), `false` turns a kind off.
 * Both buckets are plain fields of this one object, not TokenBucket objects: a live call holds
 * one gate (two buckets as objects were 112 B more per socket). Same arithmetic as TokenBucket.
 */
export class FrameGate {
  private readonly text: RateLimit | undefined;
  private readonly binary: RateLimit | undefined;
  /** Text and binary frames draw on one bucket (both fell back to `any`): the text fields. */
  private readonly oneBucket: boolean;
  // Declared without a value (so they start undefined and hold any value as a plain pointer, as
  // TokenBucket's do): a number field that starts as a number gets its own 16 B box per object.
  private textTokens: number;
  private textLast: number;
  private binaryTokens: number;
  private binaryLast: number;

  constructor(rates: FrameRates) {
    const any = rates.any || undefined;
    const text = (this.text = rates.text || (rates.text === false ? undefined : any));
    const binary = (this.binary = rates.binary || (rates.binary === false ? undefined : any));
    this.oneBucket = !rates.text && !rates.binary && rates.text !== false && rates.binary !== false;
    const t = text || binary ? coarseNow() : 0;
    this.textTokens = text ? text.burst : 0;
    this.textLast = t;
    this.binaryTokens = binary ? binary.burst : 0;
    this.binaryLast = t;
  }

  /** Take a token for one frame; false means the socket is over its rate and must be closed. */
  allow(isBinary: boolean): boolean {
    if (isBinary && !this.oneBucket) {
      const l = this.binary;
      if (l === undefined) return true;
      const t = coarseNow();
      const tokens = Math.min(l.burst, this.binaryTokens + ((t - this.binaryLast) / 1000) * l.perSecond);
      this.binaryLast = t;
      if (tokens < 1) {
        this.binaryTokens = tokens;
        return false;
      }
      this.binaryTokens = tokens - 1;
      return true;
    }
    const l = this.text;
    if (l === undefined) return true;
    const t = coarseNow();
    const tokens = Math.min(l.burst, this.textTokens + ((t - this.textLast) / 1000) * l.perSecond);
    this.textLast = t;
    if (tokens < 1) {
      this.textTokens = tokens;
      return false;
    }
    this.textTokens = tokens - 1;
    return true;
  }
}
