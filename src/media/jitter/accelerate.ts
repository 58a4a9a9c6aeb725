// Time compression for the jitter buffer (the "accelerate" of WebRTC's NetEQ, in spirit): when
// latency must come down, one 20 ms frame is made from 20 ms plus one pitch period of audio, by
// cross-fading the frame's start into the same waveform one period later. Voiced speech keeps its
// pitch and has no seam; silence gives up a longer stretch. Dropping a whole frame instead (what the
// buffer did before) cuts a syllable and clicks. Pure: arrays in, arrays out, nothing allocated.

const FRAME = 160;
/** Shortest period tried: 2.5 ms (400 Hz). */
const MIN_PERIOD = 20;
/** Longest period tried: 15 ms (~67 Hz), also what a quiet frame gives up. */
export const ACCELERATE_MAX_PERIOD = 120;
/** Input one accelerated frame may need. */
export const ACCELERATE_INPUT = FRAME + ACCELERATE_MAX_PERIOD;
/** Below this mean square (an RMS of ~-50 dBFS) a frame is quiet: no period is needed. */
const QUIET_MEAN_SQUARE = 100 * 100;
/** Normalised correlation a period must reach to be removed unnoticed. */
const MIN_CORRELATION = 0.7;

/**
 * One 160-sample frame from `x[0, ACCELERATE_INPUT)` with `period` samples removed, into `out`.
 * Returns the period removed (the frame consumed 160 + period input samples), or 0 when the audio
 * has no period to remove unnoticed (then `out` is untouched and the caller plays a plain frame).
 */
export function accelerate(x: Int16Array, out: Int16Array): number {
  let energy = 0;
  for (let i = 0; i < ACCELERATE_INPUT; i++) energy += x[i]! * x[i]!;
  let period = 0;
  if (energy / ACCELERATE_INPUT < QUIET_MEAN_SQUARE) period = ACCELERATE_MAX_PERIOD;
  else {
    let best = MIN_CORRELATION;
    for (let t = MIN_PERIOD; t <= ACCELERATE_MAX_PERIOD; t++) {
      let xy = 0;
      let xx = 0;
      let yy = 0;
      for (let i = 0; i < FRAME; i++) {
        const a = x[i]!;
        const b = x[i + t]!;
        xy += a * b;
        xx += a * a;
        yy += b * b;
      }
      if (xy <= 0) continue;
      const c = xy / Math.sqrt(xx * yy);
      if (c > best) {
        best = c;
        period = t;
      }
    }
    if (period === 0) return 0;
  }
  // Cross-fade x[i] into x[i + period] over the first `period` samples, then follow x[i + period].
  for (let i = 0; i < period; i++) out[i] = Math.round((x[i]! * (period - i) + x[i + period]! * i) / period);
  for (let i = period; i < FRAME; i++) out[i] = x[i + period]!;
  return period;
}
