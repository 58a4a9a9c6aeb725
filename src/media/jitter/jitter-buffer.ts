// An adaptive jitter buffer for one received 8 kHz audio stream. Pure: no sockets, no timers; the
// caller pushes packets as they arrive (with the arrival time) and pops one 20 ms frame per pacer
// tick (src/media/jitter/playout.ts does both for a leg).
//
// - Audio is kept on a timeline of samples indexed by RTP timestamp (a ring of 1 s, with a
//   have-bit per sample), so reordered packets fall into place and any packet size (20 ms, 30 ms
//   pcap packets, odd WebSocket cuts) plays out as 160-sample frames.
// - Target depth: 3 × the RFC 3550 §6.4.1 interarrival jitter estimate, in whole frames, within
//   [minMs, maxMs]. A late packet or an underrun raises it by one frame at once; it comes back down
//   one frame per second once 2 s have passed without either and the estimate allows.
// - A packet whose audio is already past its playout time is dropped and counted (`late`). A hole
//   with audio after it is concealed (plc.ts) and the timeline moves on. When nothing at all is
//   buffered (an underrun: the next packet is late, or the talker paused) concealment is played
//   WITHOUT moving the timeline, so a delayed packet still plays; after `idleMs` of that the buffer
//   goes quiet (pop() returns NONE) until audio returns, and re-anchors on it.
// - More than the target buffered for 200 ms (a delay spike has passed, the sender's clock runs
//   fast): frames are time-compressed (accelerate.ts: one pitch period, or 15 ms of quiet, cut out
//   of a frame without a seam; `accelerated`) until the depth is back. Audio with no period to cut
//   (noise, music) still over for another second loses a whole frame (`discarded`); more than
//   maxMs buffered is dropped at once.
//
// Nothing is allocated per packet or per frame.
import { Concealer } from './plc.js';
import { accelerate, ACCELERATE_INPUT } from './accelerate.js';

const FRAME = 160;
const SAMPLES_PER_MS = 8;
/** Timeline ring: 8192 samples = 1.024 s, a power of two for masking. */
const CAP = 8192;
const MASK = CAP - 1;
/** Largest packet accepted (120 ms). */
const MAX_PACKET = 960;
/** Consecutive late packets after which the sender is taken to have restarted its timestamps. */
const LATE_RESET = 10;
/** Pops with excess depth before frames are time-compressed (200 ms). */
const ACCELERATE_AFTER = 10;
/** Pops with excess depth before a whole frame is dropped instead (1.2 s: time compression found no period). */
const DISCARD_AFTER = 60;

export interface JitterBufferOptions {
  /** Smallest target depth in ms (default 20). */
  minMs?: number;
  /** Largest target depth in ms (default 200, at most 500); audio buffered beyond it is dropped, oldest first. */
  maxMs?: number;
  /** Target depth before any jitter is measured, ms (default 40). */
  startMs?: number;
  /** Concealment (then silence) played while nothing is buffered before the buffer goes quiet, ms (default 100). */
  idleMs?: number;
}

export interface JitterBufferStats {
  /** Audio buffered ahead of playout now, ms. */
  depthMs: number;
  /** The adaptive target depth, ms. */
  targetMs: number;
  /** Interarrival jitter estimate (RFC 3550), ms. */
  jitterMs: number;
  /** Packets (or WebSocket frames) accepted into the buffer. */
  packets: number;
  /** 20 ms frames played out, real and concealed. */
  framesOut: number;
  /** Frames played out that were wholly or partly concealed (loss, late packets, underruns). */
  concealed: number;
  /** Packets dropped because their playout time had passed. */
  late: number;
  /** Packets that arrived out of sequence but in time (put in order). */
  reordered: number;
  /** Packets whose audio was already buffered. */
  duplicates: number;
  /** Frames played time-compressed (a pitch period, or 15 ms of quiet, removed) to bring the depth back to the target. */
  accelerated: number;
  /** Frames dropped whole to bring the depth back to the target (or under maxMs). */
  discarded: number;
  /** Times the buffer re-anchored on a timestamp jump or a restarted sender. */
  resets: number;
}

/** What pop() produced. */
export const POP_NONE = 0;
export const POP_AUDIO = 1;
export const POP_CONCEALED = 2;
export type PopResult = typeof POP_NONE | typeof POP_AUDIO | typeof POP_CONCEALED;

const IDLE = 0;
const BUFFERING = 1;
const PLAYING = 2;

/** Signed distance a − b on the 32-bit RTP timestamp circle. */
const tsDiff = (a: number, b: number): number => (a - b) | 0;
/** Signed distance a − b on the 16-bit sequence circle. */
const seqDiff = (a: number, b: number): number => ((a - b) << 16) >> 16;

export class JitterBuffer {
  private readonly ring = new Int16Array(CAP);
  private readonly have = new Uint8Array(CAP);
  private readonly scratch = new Int16Array(FRAME);
  /** The input of one time-compressed frame. */
  private readonly stretch = new Int16Array(ACCELERATE_INPUT);
  private readonly plc = new Concealer();

  private readonly minS: number;
  private readonly maxS: number;
  private readonly idleS: number;
  private readonly startS: number;

  private mode = IDLE;
  /** Timestamp of the next sample to play. */
  private playTs = 0;
  /** End timestamp (exclusive) of the newest audio buffered. */
  private endTs = 0;
  private highSeq = -1;
  private target: number;
  /** The target before the underrun in progress raised it (-1: none in progress). */
  private underrunFrom = -1;
  /** Lowest target: minMs, or one packet when packets are longer than a frame. */
  private floor: number;
  private waited = 0;
  private lateRun = 0;
  private excessRun = 0;
  private lastBumpAt = -Infinity;
  private lastDecayAt = -Infinity;

  // RFC 3550 jitter, in samples.
  private jitter = 0;
  private prevTransit = NaN;
  /** Sender clock of an in-order stream (pushInOrder), in samples. */
  private streamClock = 0;

  private packets = 0;
  private framesOut = 0;
  private concealed = 0;
  private late = 0;
  private reordered = 0;
  private duplicates = 0;
  private discarded = 0;
  private accelerated = 0;
  private resets = 0;

  constructor(opts: JitterBufferOptions = {}) {
    const ms = (v: number | undefined, d: number, lo: number, hi: number): number => {
      const x = v === undefined || !Number.isFinite(v) ? d : v;
      return Math.round(Math.min(hi, Math.max(lo, x)) * SAMPLES_PER_MS);
    };
    this.maxS = ms(opts.maxMs, 200, 20, 500);
    this.minS = Math.min(this.maxS, ms(opts.minMs, 20, 0, 500));
    this.startS = Math.min(this.maxS, Math.max(this.minS, ms(opts.startMs, 40, 0, 500)));
    this.idleS = ms(opts.idleMs, 100, 20, 2000);
    this.target = this.startS;
    this.floor = this.minS;
  }

  /**
   * One RTP packet's decoded audio (copied), its RTP timestamp and sequence number, and its
   * arrival time in ms.
   */
  push(samples: Int16Array, ts: number, seq: number, nowMs: number): void {
    const n = samples.length;
    if (n === 0 || n > MAX_PACKET) return;
    ts >>>= 0;
    this.measure(nowMs * SAMPLES_PER_MS - ts);
    if (n > this.floor) this.raiseFloor(n);
    if (this.mode === IDLE) this.anchor(ts);
    let rel = tsDiff(ts, this.playTs);
    if (rel < 0 && this.mode === BUFFERING && tsDiff(this.endTs, ts) <= this.maxS) {
      // Not playing yet: an earlier packet that came second moves the start back.
      this.playTs = ts;
      rel = 0;
    }
    if (rel + n <= 0) {
      this.late++;
      this.bump(nowMs);
      if (++this.lateRun < LATE_RESET) return;
      this.resets++;
      this.anchor(ts);
      rel = 0;
    } else if (rel + n > CAP) {
      this.resets++; // a jump past the ring: a new timeline
      this.anchor(ts);
      rel = 0;
    }
    this.lateRun = 0;
    if (this.have[ts & MASK] && this.have[(ts + n - 1) & MASK]) {
      this.duplicates++;
      return;
    }
    if (this.highSeq >= 0 && seqDiff(seq, this.highSeq) < 0) this.reordered++;
    else this.highSeq = seq & 0xffff;
    // Audio before the playout point (a packet straddling it) is late in part: keep the rest.
    const skip = rel < 0 ? -rel : 0;
    this.store(samples, skip, (ts + skip) >>> 0);
    const end = (ts + n) >>> 0;
    if (tsDiff(end, this.endTs) > 0) this.endTs = end;
    this.packets++;
    this.capDepth();
  }

  /**
   * One frame of a stream that has no timestamps and loses nothing (WebSocket audio): it follows
   * the newest audio buffered, whatever its arrival time; jitter is measured against its sample count.
   */
  pushInOrder(samples: Int16Array, nowMs: number): void {
    const n = samples.length;
    if (n === 0 || n > MAX_PACKET) return;
    this.measure(nowMs * SAMPLES_PER_MS - this.streamClock);
    this.streamClock += n;
    if (n > this.floor) this.raiseFloor(n);
    if (this.mode === IDLE) this.anchor(0);
    // After an underrun played past the newest audio, the next frame starts at the playout point.
    const at = tsDiff(this.endTs, this.playTs) < 0 ? this.playTs : this.endTs;
    this.store(samples, 0, at);
    this.endTs = (at + n) >>> 0;
    this.packets++;
    this.capDepth();
  }

  /**
   * The next 20 ms of audio into `out` (160 samples). POP_NONE: nothing to play (not started,
   * still filling to the target, or quiet after an underrun) and `out` is untouched.
   */
  pop(out: Int16Array, nowMs: number): PopResult {
    if (this.mode === IDLE) return POP_NONE;
    const depth = tsDiff(this.endTs, this.playTs);
    if (this.mode === BUFFERING) {
      this.waited += FRAME;
      // Start at the target depth, or once we have waited that long (a talkspurt shorter than it).
      if (depth < this.target && this.waited < this.target) return POP_NONE;
      this.mode = PLAYING;
    }
    this.decay(nowMs);
    // Less than a frame left and nothing after it: wait for the rest rather than cut it.
    if (depth < FRAME) return this.underrun(out, nowMs);

    const have = this.have;
    const ring = this.ring;
    const base = this.playTs;
    let present = 0;
    for (let i = 0; i < FRAME; i++) present += have[(base + i) & MASK]!;
    let result: PopResult;
    let removed = 0;
    if (present === FRAME) {
      if (this.excessRun >= ACCELERATE_AFTER) removed = this.accelerate(out);
      if (removed === 0) for (let i = 0; i < FRAME; i++) out[i] = ring[(base + i) & MASK]!;
      this.plc.observe(out);
      result = POP_AUDIO;
    } else {
      // A hole with audio after it: lost (or so late it will be dropped). Conceal what is missing.
      this.plc.conceal(out);
      if (present > 0) {
        for (let i = 0; i < FRAME; i++) {
          const p = (base + i) & MASK;
          if (have[p]) out[i] = ring[p]!;
        }
      }
      this.concealed++;
      result = POP_CONCEALED;
    }
    this.underrunFrom = -1;
    this.advance(FRAME + removed);
    this.framesOut++;
    this.trim();
    return result;
  }

  /** Forget everything buffered (a new source); statistics are kept. */
  reset(): void {
    this.mode = IDLE;
    this.have.fill(0);
    this.plc.reset();
    this.prevTransit = NaN;
    this.highSeq = -1;
    this.lateRun = 0;
    this.excessRun = 0;
  }

  /** Whether pop() may produce audio now (false when idle: the pacer work can be skipped). */
  get active(): boolean {
    return this.mode !== IDLE;
  }

  stats(): JitterBufferStats {
    const depth = this.mode === IDLE ? 0 : Math.max(0, tsDiff(this.endTs, this.playTs));
    return {
      depthMs: depth / SAMPLES_PER_MS,
      targetMs: this.target / SAMPLES_PER_MS,
      jitterMs: Math.round((this.jitter / SAMPLES_PER_MS) * 100) / 100,
      packets: this.packets,
      framesOut: this.framesOut,
      concealed: this.concealed,
      late: this.late,
      reordered: this.reordered,
      duplicates: this.duplicates,
      accelerated: this.accelerated,
      discarded: this.discarded,
      resets: this.resets,
    };
  }

  // ---- internals --------------------------------------------------------------------------

  /** RFC 3550 §6.4.1: J += (|D| − J) / 16, with D the change in relative transit time. */
  private measure(transit: number): void {
    if (this.prevTransit === this.prevTransit) {
      const d = Math.abs(transit - this.prevTransit);
      // A timestamp jump (new talkspurt after DTX, a restart) is not jitter.
      if (d < CAP) this.jitter += (d - this.jitter) / 16;
    }
    this.prevTransit = transit;
    const fromJitter = this.fromJitter();
    if (fromJitter > this.target) this.target = fromJitter;
  }

  /** The depth the jitter estimate asks for: 3 J in whole frames, at least one packet, within bounds. */
  private fromJitter(): number {
    return Math.min(this.maxS, Math.max(this.floor, Math.ceil((3 * this.jitter) / FRAME) * FRAME));
  }

  /** Packets longer than a frame: the target must hold at least one whole packet. */
  private raiseFloor(n: number): void {
    this.floor = Math.min(this.maxS, Math.max(this.minS, Math.ceil(n / FRAME) * FRAME));
    if (this.target < this.floor) this.target = this.floor;
  }

  private anchor(ts: number): void {
    this.have.fill(0); // once per talkspurt: stale bits would play a second later
    this.mode = BUFFERING;
    this.playTs = ts >>> 0;
    this.endTs = ts >>> 0;
    this.waited = 0;
    this.excessRun = 0;
    this.highSeq = -1;
  }

  private store(samples: Int16Array, from: number, ts: number): void {
    const ring = this.ring;
    const have = this.have;
    for (let i = from, p = ts; i < samples.length; i++, p++) {
      ring[p & MASK] = samples[i]!;
      have[p & MASK] = 1;
    }
  }

  /** Move the playout point on by `n` samples, freeing them. */
  private advance(n: number): void {
    const have = this.have;
    for (let i = 0, p = this.playTs; i < n; i++, p++) have[p & MASK] = 0;
    this.playTs = (this.playTs + n) >>> 0;
  }

  /** Nothing buffered: conceal in place (the timeline waits for the late packet), then go quiet. */
  private underrun(out: Int16Array, nowMs: number): PopResult {
    if (this.underrunFrom < 0) {
      this.underrunFrom = this.target;
      this.bump(nowMs);
    }
    if (this.plc.concealing >= this.idleS) {
      // The talker stopped (or the stream did), no packet was late: take the raise back.
      this.target = Math.max(this.underrunFrom, this.fromJitter());
      this.underrunFrom = -1;
      this.mode = IDLE;
      return POP_NONE;
    }
    this.plc.conceal(out);
    this.concealed++;
    this.framesOut++;
    return POP_CONCEALED;
  }

  /**
   * Counts pops with latency beyond the target: after 200 ms of it pop() time-compresses frames;
   * if that has not brought it down after 1.2 s, a whole frame is dropped.
   */
  private trim(): void {
    // Just after a pop, a buffer at its target holds target − 1 frame: a frame more than that is excess.
    const excess = tsDiff(this.endTs, this.playTs) + FRAME - this.target;
    if (excess < 2 * FRAME) {
      this.excessRun = 0;
      return;
    }
    if (++this.excessRun < DISCARD_AFTER) return;
    this.excessRun = 0;
    this.advance(FRAME);
    this.discarded++;
  }

  /** A time-compressed frame into `out`: the samples removed, or 0 (not all of its input is here, or no period). */
  private accelerate(out: Int16Array): number {
    if (tsDiff(this.endTs, this.playTs) < ACCELERATE_INPUT) return 0;
    const x = this.stretch;
    for (let i = 0, p = this.playTs; i < ACCELERATE_INPUT; i++, p++) {
      if (!this.have[p & MASK]) return 0;
      x[i] = this.ring[p & MASK]!;
    }
    const removed = accelerate(x, out);
    if (removed > 0) this.accelerated++;
    return removed;
  }

  /** Over maxMs (a burst, a fast sender): drop the oldest audio at once, down to the target. */
  private capDepth(): void {
    if (this.mode !== PLAYING) {
      // Still filling: keep at most maxMs (a burst larger than that loses its head).
      const over = tsDiff(this.endTs, this.playTs) - this.maxS;
      if (over > 0) this.advance(over);
      return;
    }
    const depth = tsDiff(this.endTs, this.playTs);
    if (depth <= this.maxS + FRAME) return;
    const drop = Math.ceil((depth - this.target) / FRAME) * FRAME;
    const frames = drop / FRAME;
    this.advance(Math.min(drop, depth));
    this.discarded += frames;
  }

  private bump(nowMs: number): void {
    this.lastBumpAt = nowMs;
    this.target = Math.min(this.maxS, this.target + FRAME);
  }

  private decay(nowMs: number): void {
    if (this.target <= this.floor || nowMs - this.lastBumpAt < 2000 || nowMs - this.lastDecayAt < 1000) return;
    if (this.fromJitter() >= this.target) return;
    this.target = Math.max(this.floor, this.target - FRAME);
    this.lastDecayAt = nowMs;
  }
}
