// Mixer room: N legs, each hears the sum of all the others (never itself), clipped to int16.
//
// Arrival and playout are decoupled: each leg's received frames go into a small FIFO (drop
// oldest on overflow, counted), and the shared 20 ms pacer pulls at most one frame per leg per
// tick, sums them once, and writes (sum − own) to every leg. Per tick that is O(N × 160) integer
// work, all in preallocated arrays; nothing here touches XState.
import { sharedPacer, type Pacer } from '../pacer.js';
import { FrameQueue, FRAME_SAMPLES, type MediaLeg } from '../leg.js';

export interface MixerOptions {
  pacer?: Pacer;
  /** Frames buffered per leg before the oldest is dropped (default 3 = 60 ms). */
  queueFrames?: number;
  /** Leave a leg's input out of the mix until this many frames are queued (default 1). */
  prefillFrames?: number;
}

export interface MixerLegStats {
  id: string;
  received: number;
  dropped: number;
  underruns: number;
  sent: number;
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
  off: () => void;
}

export class MixerRoom {
  private readonly members = new Map<string, Member>();
  private list: Member[] = [];
  private readonly pacer: Pacer;
  private readonly queueFrames: number;
  private readonly prefill: number;
  private readonly sum = new Int32Array(FRAME_SAMPLES);
  private unsubscribe: (() => void) | null = null;
  private ticks = 0;

  constructor(opts: MixerOptions = {}) {
    this.pacer = opts.pacer ?? sharedPacer();
    this.queueFrames = opts.queueFrames ?? 3;
    this.prefill = Math.min(opts.prefillFrames ?? 1, this.queueFrames);
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
  add(leg: MediaLeg): void {
    if (this.members.has(leg.id)) return;
    const queue = new FrameQueue(this.queueFrames);
    const m: Member = { leg, queue, out: new Int16Array(FRAME_SAMPLES), cur: null, received: 0, sent: 0, underruns: 0, primed: false, off: () => {} };
    const offAudio = leg.onAudio((f) => {
      m.received++;
      queue.push(f);
    });
    const offClose = leg.onClose(() => this.remove(leg.id));
    m.off = () => {
      offAudio();
      offClose();
    };
    this.members.set(leg.id, m);
    this.list = [...this.members.values()];
    this.unsubscribe ??= this.pacer.add(() => this.tick());
  }

  remove(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.off();
    this.members.delete(id);
    this.list = [...this.members.values()];
    if (this.list.length === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
  }

  stats(): MixerLegStats[] {
    return this.list.map((m) => ({ id: m.leg.id, received: m.received, dropped: m.queue.dropped, underruns: m.underruns, sent: m.sent }));
  }

  close(): void {
    for (const id of [...this.members.keys()]) this.remove(id);
  }

  /** One mix step; public so tests can drive it without the clock. */
  tick(): void {
    this.ticks++;
    const list = this.list;
    const sum = this.sum;
    sum.fill(0);
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (!m.primed && m.queue.size >= this.prefill) m.primed = true;
      const f = m.primed ? m.queue.pop() : null;
      if (f === null) {
        if (m.received > 0) m.underruns++;
        m.primed = false; // wait for `prefill` frames again after an underrun
      }
      m.cur = f;
      if (f) for (let k = 0; k < FRAME_SAMPLES; k++) sum[k] += f[k]!;
    }
    if (list.length < 2) return;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      const out = m.out;
      const own = m.cur;
      if (own) {
        for (let k = 0; k < FRAME_SAMPLES; k++) {
          const v = sum[k]! - own[k]!;
          out[k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        }
      } else {
        for (let k = 0; k < FRAME_SAMPLES; k++) {
          const v = sum[k]!;
          out[k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        }
      }
      if (m.leg.write(out)) m.sent++;
    }
  }
}
