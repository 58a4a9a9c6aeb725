// Tone/silence sources producing 20 ms frames, and a Goertzel single-bin detector.

export const FRAME_MS = 20;
export const SAMPLE_RATE = 8000;
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000;

/** Row/column frequencies of the DTMF keypad (ITU-T Q.23). */
export const DTMF_FREQUENCIES: Record<string, readonly [number, number]> = {
  '1': [697, 1209], '2': [697, 1336], '3': [697, 1477], A: [697, 1633],
  '4': [770, 1209], '5': [770, 1336], '6': [770, 1477], B: [770, 1633],
  '7': [852, 1209], '8': [852, 1336], '9': [852, 1477], C: [852, 1633],
  '*': [941, 1209], '0': [941, 1336], '#': [941, 1477], D: [941, 1633],
};

export interface ToneOptions {
  /** Peak amplitude per component, 0–32767. Default 8000 (about −12 dBFS). */
  amplitude?: number;
  sampleRate?: number;
  frameSamples?: number;
}

/**
 * Stateful generator: the phase carries across frames so consecutive frames join without
 * clicks. With no frequencies it produces silence.
 */
export class ToneSource {
  private readonly phaseInc: Float64Array;
  private readonly phase: Float64Array;
  private readonly amplitude: number;
  readonly frameSamples: number;

  constructor(frequencies: readonly number[], opts: ToneOptions = {}) {
    const rate = opts.sampleRate ?? SAMPLE_RATE;
    this.frameSamples = opts.frameSamples ?? Math.round((rate * FRAME_MS) / 1000);
    this.amplitude = opts.amplitude ?? 8000;
    this.phaseInc = Float64Array.from(frequencies, (f) => (2 * Math.PI * f) / rate);
    this.phase = new Float64Array(frequencies.length);
  }

  /** Fill `out` (or a new frame) with the next frame of samples. */
  next(out?: Int16Array): Int16Array {
    const n = this.frameSamples;
    const dst = out ?? new Int16Array(n);
    const k = this.phaseInc.length;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let j = 0; j < k; j++) {
        v += Math.sin(this.phase[j]!);
        this.phase[j]! += this.phaseInc[j]!;
      }
      const s = Math.round(v * this.amplitude);
      dst[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
    }
    // Keep phase bounded so precision does not decay on long tones.
    for (let j = 0; j < k; j++) this.phase[j] = this.phase[j]! % (2 * Math.PI);
    return dst;
  }
}

export function sineTone(hz: number, opts?: ToneOptions): ToneSource {
  return new ToneSource([hz], opts);
}

export function dualTone(hz1: number, hz2: number, opts?: ToneOptions): ToneSource {
  return new ToneSource([hz1, hz2], opts);
}

export function silenceFrame(samples = FRAME_SAMPLES): Int16Array {
  return new Int16Array(samples);
}

/** A contiguous buffer of `durationMs` from a fresh source (fixtures, prompts). */
export function generateTone(frequencies: readonly number[], durationMs: number, opts: ToneOptions = {}): Int16Array {
  const rate = opts.sampleRate ?? SAMPLE_RATE;
  const total = Math.round((rate * durationMs) / 1000);
  const src = new ToneSource(frequencies, { ...opts, frameSamples: total });
  return src.next();
}

/** Split a buffer into frames of `frameSamples` (the last one zero-padded). */
export function toFrames(samples: Int16Array, frameSamples = FRAME_SAMPLES): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let off = 0; off < samples.length; off += frameSamples) {
    const f = new Int16Array(frameSamples);
    f.set(samples.subarray(off, Math.min(off + frameSamples, samples.length)));
    frames.push(f);
  }
  return frames;
}

// ---- detection ------------------------------------------------------------------------------

/**
 * Power of the `hz` component via the Goertzel recurrence, scaled so a sinusoid of amplitude A
 * at that frequency returns ≈ A²/2 (its mean square), independent of block length.
 */
export function detectFrequency(samples: ArrayLike<number>, rate: number, hz: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const w = (2 * Math.PI * hz) / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = samples[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const magSq = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * magSq) / (n * n);
}

export function meanSquare(samples: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < samples.length; i++) acc += samples[i]! * samples[i]!;
  return samples.length ? acc / samples.length : 0;
}

/** Share (≈0–1) of the signal's energy at `hz`: thresholds stay valid whatever the level. */
export function toneRatio(samples: ArrayLike<number>, rate: number, hz: number): number {
  const total = meanSquare(samples);
  return total > 0 ? detectFrequency(samples, rate, hz) / total : 0;
}
