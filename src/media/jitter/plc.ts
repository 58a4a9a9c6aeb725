// Packet-loss concealment for 8 kHz PCM, after the scheme of ITU-T G.711 Appendix I (written from
// its description, not its code): on a lost frame, find the pitch period of the last good audio by
// normalised cross-correlation (lags 40..120 samples = 200..66 Hz), and repeat that period,
// continuing its phase across consecutive lost frames. The first 10 ms are played at full level,
// then the level falls by 20 % per 10 ms, so a loss longer than 60 ms becomes silence (a buzz
// held longer sounds worse than a gap). When real audio resumes its first 4 ms are cross-faded
// with the continued synthetic signal, so the join does not click.
//
// Everything is preallocated: conceal() and observe() allocate nothing.

const MIN_LAG = 40;
const MAX_LAG = 120;
/** Correlation window: the last 20 ms. */
const WINDOW = 160;
/** Audio kept for the search: window + largest lag, rounded up (G.711 App. I keeps 390). */
const HISTORY = 400;
/** Full-level concealment, then the fade: samples. */
const HOLD = 80;
/** Gain lost per sample after HOLD: 20 % per 10 ms (80 samples). */
const FADE_PER_SAMPLE = 0.2 / 80;
/** Cross-fade when real audio resumes: 4 ms. */
const RESUME_OLA = 32;

export class Concealer {
  /** The last HISTORY samples of real audio, oldest first. */
  private readonly history = new Int16Array(HISTORY);
  private filled = 0;
  /** The period being repeated (copied out of history when a loss starts). */
  private readonly period = new Int16Array(MAX_LAG);
  private lag = 0;
  private phase = 0;
  /** Samples concealed in the current loss (0: not concealing). */
  private run = 0;
  /** Frames (of any length) concealed since creation. */
  concealedFrames = 0;

  /** Samples concealed in the loss in progress (0 when the last frame was real audio). */
  get concealing(): number {
    return this.run;
  }

  /**
   * A real frame is about to be played: remember it, and if it ends a loss, cross-fade its start
   * with the synthetic signal (in place).
   */
  observe(frame: Int16Array): void {
    const n = frame.length;
    if (this.run > 0) {
      if (this.lag > 0) {
        const m = Math.min(RESUME_OLA, n);
        for (let i = 0; i < m; i++) {
          const w = (i + 1) / (m + 1);
          const synth = this.nextSample();
          frame[i] = Math.round(frame[i]! * w + synth * (1 - w));
        }
      }
      this.run = 0;
    }
    const h = this.history;
    if (n >= HISTORY) {
      h.set(frame.subarray(n - HISTORY));
    } else {
      h.copyWithin(0, n);
      h.set(frame, HISTORY - n);
    }
    this.filled = Math.min(HISTORY, this.filled + n);
  }

  /** Fill `out` with concealment for a missing frame (or part of one). */
  conceal(out: Int16Array): void {
    if (this.run === 0) this.startLoss();
    this.concealedFrames++;
    if (this.lag === 0) {
      out.fill(0);
      this.run += out.length;
      return;
    }
    for (let i = 0; i < out.length; i++) out[i] = Math.round(this.nextSample());
  }

  /** Forget the past (a new source, a new talkspurt after silence). */
  reset(): void {
    this.history.fill(0);
    this.filled = 0;
    this.run = 0;
    this.lag = 0;
  }

  /** One synthetic sample at the current position of the loss, with its fade; advances. */
  private nextSample(): number {
    const t = this.run++;
    const gain = t < HOLD ? 1 : 1 - (t - HOLD) * FADE_PER_SAMPLE;
    if (gain <= 0) return 0;
    const v = this.period[this.phase]! * gain;
    this.phase = this.phase + 1 === this.lag ? 0 : this.phase + 1;
    return v;
  }

  private startLoss(): void {
    this.lag = this.filled >= WINDOW + MAX_LAG ? bestLag(this.history) : 0;
    if (this.lag === 0) return;
    // Repeat the last `lag` samples: phase 0 is the sample one period before the first missing one.
    this.period.set(this.history.subarray(HISTORY - this.lag));
    this.phase = 0;
  }
}

/**
 * The pitch lag (MIN_LAG..MAX_LAG) whose earlier segment best matches the last WINDOW samples by
 * normalised cross-correlation; 0 for silence.
 */
export function bestLag(h: Int16Array): number {
  const end = h.length;
  const start = end - WINDOW;
  let energy = 0;
  for (let i = start; i < end; i++) energy += h[i]! * h[i]!;
  if (energy < WINDOW) return 0; // digital silence (rms < 1): nothing to repeat
  let best = 0;
  let bestScore = -Infinity;
  for (let lag = MIN_LAG; lag <= MAX_LAG; lag++) {
    let corr = 0;
    let e = 0;
    for (let i = start; i < end; i++) {
      const past = h[i - lag]!;
      corr += h[i]! * past;
      e += past * past;
    }
    if (e === 0) continue;
    const score = corr / Math.sqrt(e);
    if (score > bestScore) {
      bestScore = score;
      best = lag;
    }
  }
  return best;
}
