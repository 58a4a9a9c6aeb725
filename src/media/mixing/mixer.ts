// Mixer room: N legs, each hears the sum of all the others (never itself), clipped to int16.
//
// Arrival and playout are decoupled: each leg's received frames go into a small FIFO (drop
// oldest on overflow, counted), and the shared 20 ms pacer pulls at most one frame per leg per
// tick, sums them once, and writes (sum − own) to every leg. Per tick that is O(N × 160) integer
// work, all in preallocated arrays; nothing here touches XState.
//
// Conference controls are per-leg flags read on that same tick: a muted leg's frame stays out of
// the sum (nobody hears it), a deaf leg is written silence. `inject()` adds frames (join/leave
// tones) to what everyone hears, `onMix()` taps the full mix (a room recording), and the talker
// detector turns each leg's frame energy into start/stop callbacks with a hang time, so a speaker's
// short pauses do not flap. Callbacks fire only on a change, never per frame.
import { sharedPacer, type Pacer } from '../pacer.js';
import { FrameQueue, FRAME_MS, FRAME_SAMPLES, type AudioListener, type MediaLeg } from '../leg.js';
import { onLegAudio } from '../jitter/playout.js';
import type { JitterBufferOptions } from '../jitter/jitter-buffer.js';

export interface MixerTalkOptions {
  /** A frame whose RMS exceeds this level (0–32767) counts as speech. Default 300 (≈ −41 dBFS). */
  thresholdRms?: number;
  /** How long a talker stays "talking" after its last loud frame. Default 500 ms. */
  hangMs?: number;
  onChange(legId: string, talking: boolean): void;
}

export interface MixerOptions {
  pacer?: Pacer;
  /** Frames buffered per leg before the oldest is dropped (default 3 = 60 ms). */
  queueFrames?: number;
  /** Leave a leg's input out of the mix until this many frames are queued (default 1). */
  prefillFrames?: number;
  /** Talker detection (off when absent). */
  talk?: MixerTalkOptions;
  /**
   * Each leg is heard through its jitter buffer (`leg.playout`), so a late or lost packet is a
   * concealed frame rather than a hole in the mix (default on; false: frames as they arrive).
   */
  jitter?: JitterBufferOptions | false;
}

export interface MixerLegOptions {
  muted?: boolean;
  deaf?: boolean;
}

export interface MixerLegStats {
  id: string;
  received: number;
  dropped: number;
  underruns: number;
  sent: number;
  muted: boolean;
  deaf: boolean;
  talking: boolean;
}

interface Member {
  leg: MediaLeg;
  queue: FrameQueue;
  out: Int16Array;
  /** This tick's frame (null: nothing contributed). */
  cur: Int16Array | null;
  received: number;
  sent: number;
  /** Ticks in which this leg (having sent audio before) had no frame ready. */
  underruns: number;
  primed: boolean;
  muted: boolean;
  deaf: boolean;
  talking: boolean;
  /** Ticks left before a talker with no loud frame is reported silent. */
  hang: number;
  off: () => void;
}

export class MixerRoom {
  private readonly members = new Map<string, Member>();
  private list: Member[] = [];
  private readonly pacer: Pacer;
  private readonly queueFrames: number;
  private readonly prefill: number;
  private readonly sum = new Int32Array(FRAME_SAMPLES);
  private readonly mix = new Int16Array(FRAME_SAMPLES);
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly injected: Int16Array[] = [];
  private readonly taps = new Set<AudioListener>();
  private readonly talk: { threshold: number; hangTicks: number; onChange: MixerTalkOptions['onChange'] } | undefined;
  private unsubscribe: (() => void) | null = null;
  private ticks = 0;
  private readonly jitter: JitterBufferOptions | false;

  constructor(opts: MixerOptions = {}) {
    this.pacer = opts.pacer ?? sharedPacer();
    this.jitter = opts.jitter ?? {};
    this.queueFrames = opts.queueFrames ?? 3;
    this.prefill = Math.min(opts.prefillFrames ?? 1, this.queueFrames);
    if (opts.talk) {
      const rms = opts.talk.thresholdRms ?? 300;
      const hangMs = opts.talk.hangMs ?? 500;
      if (!(rms >= 0 && rms <= 32767)) throw new RangeError(`talk.thresholdRms must be 0..32767: ${rms}`);
      if (!(hangMs >= 0)) throw new RangeError(`talk.hangMs must be >= 0: ${hangMs}`);
      // Compared with the frame's sum of squares, so the per-frame check needs no division or sqrt.
      this.talk = { threshold: rms * rms * FRAME_SAMPLES, hangTicks: Math.ceil(hangMs / FRAME_MS), onChange: opts.talk.onChange };
    }
  }

  get size(): number {
    return this.list.length;
  }

  get mixedTicks(): number {
    return this.ticks;
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  /** Add a leg (no-op if already present). It leaves by itself when it closes. */
  add(leg: MediaLeg, opts: MixerLegOptions = {}): void {
    if (this.members.has(leg.id)) return;
    const queue = new FrameQueue(this.queueFrames);
    const m: Member = {
      leg,
      queue,
      out: new Int16Array(FRAME_SAMPLES),
      cur: null,
      received: 0,
      sent: 0,
      underruns: 0,
      primed: false,
      muted: opts.muted ?? false,
      deaf: opts.deaf ?? false,
      talking: false,
      hang: 0,
      off: () => {},
    };
    const offAudio = onLegAudio(leg, (f) => {
      m.received++;
      queue.push(f);
    }, this.jitter);
    const offClose = leg.onClose(() => this.remove(leg.id));
    m.off = () => {
      offAudio();
      offClose();
    };
    this.members.set(leg.id, m);
    this.list = [...this.members.values()];
    this.start();
  }

  remove(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.off();
    this.members.delete(id);
    this.list = [...this.members.values()];
    if (m.talking) this.talk?.onChange(id, false);
    this.stopIfIdle();
  }

  /** Keep a leg's audio out of (true) or back in (false) what the others hear. */
  setMuted(id: string, muted: boolean): boolean {
    const m = this.members.get(id);
    if (!m) return false;
    m.muted = muted;
    if (muted && m.talking) {
      m.talking = false;
      m.hang = 0;
      this.talk?.onChange(id, false);
    }
    return true;
  }

  /** Send a leg silence (true) or the mix again (false). */
  setDeaf(id: string, deaf: boolean): boolean {
    const m = this.members.get(id);
    if (!m) return false;
    m.deaf = deaf;
    return true;
  }

  /** Add these frames, one per tick, to what every leg hears (and to the tapped mix). */
  inject(frames: readonly Int16Array[]): void {
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (i < this.injected.length) {
        const acc = this.injected[i]!;
        for (let k = 0; k < FRAME_SAMPLES; k++) acc[k] = clip(acc[k]! + (f[k] ?? 0));
      } else {
        const copy = new Int16Array(FRAME_SAMPLES);
        copy.set(f.length > FRAME_SAMPLES ? f.subarray(0, FRAME_SAMPLES) : f);
        this.injected.push(copy);
      }
    }
    this.start();
  }

  /**
   * Every tick's full mix (all unmuted legs plus injected frames) while there is any leg; the
   * frame is reused, copy to keep. Returns unsubscribe.
   */
  onMix(cb: AudioListener): () => void {
    this.taps.add(cb);
    return () => void this.taps.delete(cb);
  }

  stats(): MixerLegStats[] {
    return this.list.map((m) => ({
      id: m.leg.id,
      received: m.received,
      dropped: m.queue.dropped,
      underruns: m.underruns,
      sent: m.sent,
      muted: m.muted,
      deaf: m.deaf,
      talking: m.talking,
    }));
  }

  close(): void {
    for (const id of [...this.members.keys()]) this.remove(id);
    this.injected.length = 0;
    this.stopIfIdle();
  }

  private start(): void {
    this.unsubscribe ??= this.pacer.add(() => this.tick());
  }

  private stopIfIdle(): void {
    if (this.list.length === 0 && this.unsubscribe && this.injected.length === 0) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
  }

  /** One mix step; public so tests can drive it without the clock. */
  tick(): void {
    this.ticks++;
    const list = this.list;
    const sum = this.sum;
    sum.fill(0);
    const talk = this.talk;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (!m.primed && m.queue.size >= this.prefill) m.primed = true;
      const f = m.primed ? m.queue.pop() : null;
      if (f === null) {
        if (m.received > 0) m.underruns++;
        m.primed = false; // wait for `prefill` frames again after an underrun
      }
      // A muted leg is drained (so its queue does not go stale) but contributes nothing.
      m.cur = m.muted ? null : f;
      const cur = m.cur;
      let energy = 0;
      if (cur) {
        for (let k = 0; k < FRAME_SAMPLES; k++) {
          const s = cur[k]!;
          sum[k] += s;
          energy += s * s;
        }
      }
      if (talk && !m.muted) {
        if (energy > talk.threshold) {
          m.hang = talk.hangTicks;
          if (!m.talking) {
            m.talking = true;
            talk.onChange(m.leg.id, true);
          }
        } else if (m.talking && --m.hang <= 0) {
          m.talking = false;
          talk.onChange(m.leg.id, false);
        }
      }
    }
    // Join/leave tones and other injected audio: heard by everyone (no leg's "own" part).
    const inj = this.injected.shift();
    if (inj) for (let k = 0; k < FRAME_SAMPLES; k++) sum[k] += inj[k]!;
    if (this.taps.size > 0 && list.length > 0) {
      const mix = this.mix;
      for (let k = 0; k < FRAME_SAMPLES; k++) mix[k] = clip(sum[k]!);
      for (const tap of this.taps) tap(mix);
    }
    if (list.length < 2 && !inj) {
      this.stopIfIdle();
      return;
    }
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      let out = m.out;
      const own = m.cur;
      if (m.deaf) out = this.silence;
      else if (own) {
        for (let k = 0; k < FRAME_SAMPLES; k++) out[k] = clip(sum[k]! - own[k]!);
      } else {
        for (let k = 0; k < FRAME_SAMPLES; k++) out[k] = clip(sum[k]!);
      }
      if (m.leg.write(out)) m.sent++;
    }
    this.stopIfIdle();
  }
}

function clip(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
