// Receive statistics for one RTP source per RFC 3550 A.1 (sequence validation and extended
// sequence numbers), A.3 (loss) and A.8 (jitter), plus a simplified ITU-T G.107 E-model.
// update() runs once per packet: scalar fields (Smis) and one two-slot Float64Array only.

import type { ReportBlock } from '../codecs/rtcp.js';

const RTP_SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const DEFAULT_MIN_SEQUENTIAL = 2;
/** Duplicates are recognised among the last 64 extended sequence numbers (1.28 s of 20 ms packets): a bitmap in two int32 fields. */
const DUP_WINDOW = 64;
/** RtpReceiveStats.a8 slots. */
const TRANSIT = 0;
const JITTER = 1;

export interface ReceiveStatsOptions {
  /** RTP clock rate of the stream; 8000 for G.711. */
  clockRate?: number;
  /** Sequential packets required before a new source is trusted (A.1 MIN_SEQUENTIAL). */
  minSequential?: number;
}

export interface ReceiveStatsSnapshot {
  ssrc: number | null;
  /** Valid packets counted per A.1 (includes duplicates, as the RFC does). */
  packetsReceived: number;
  octetsReceived: number;
  packetsExpected: number;
  /** expected − received; may be negative with duplicates. */
  cumulativeLost: number;
  lossPercent: number;
  /** Fraction lost (0–1) over the last completed report interval. */
  fractionLost: number;
  extendedHighestSeq: number;
  jitterTs: number;
  jitterMs: number;
  duplicates: number;
  reordered: number;
  /** Packets discarded while the source was on probation or after a sequence jump. */
  discarded: number;
  probation: boolean;
  /** Times the sender restarted its sequence (a confirmed jump beyond MAX_DROPOUT). */
  sequenceResets: number;
}

export class RtpReceiveStats {
  readonly clockRate: number;
  private readonly minSequential: number;

  ssrc: number | null = null;
  // A.1 state
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private probation = 0;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private lastFraction = 0;
  // A.8 state
  /** A.8's transit and jitter, unboxed (a double field is a box of its own, one more load per packet): [TRANSIT], [JITTER]. */
  private readonly a8 = new Float64Array(2);
  private haveTransit = false;
  // extras
  private octets = 0;
  private duplicates = 0;
  private reordered = 0;
  private discarded = 0;
  private resets = 0;
  // Which of the 64 extended sequence numbers up to winTop arrived: bit k of (winHi:winLo) is
  // winTop − k. In the object itself: a per-packet table elsewhere was two more cache lines to load.
  private winTop = -1;
  private winLo = 0;
  private winHi = 0;
  private started = false;

  constructor(opts: ReceiveStatsOptions = {}) {
    this.clockRate = opts.clockRate ?? 8000;
    this.minSequential = opts.minSequential ?? DEFAULT_MIN_SEQUENTIAL;
  }

  /** Forget the source (new SSRC after re-INVITE, say). */
  reset(): void {
    this.ssrc = null;
    this.started = false;
    this.maxSeq = this.cycles = this.baseSeq = 0;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.probation = 0;
    this.received = this.expectedPrior = this.receivedPrior = this.lastFraction = 0;
    this.a8.fill(0);
    this.haveTransit = false;
    this.octets = this.duplicates = this.reordered = this.discarded = 0;
    this.clearWindow();
  }

  private clearWindow(): void {
    this.winTop = -1;
    this.winLo = this.winHi = 0;
  }

  /** Mark extended sequence number `ext` as arrived; true when it had already. */
  private seenBefore(ext: number): boolean {
    const back = this.winTop - ext;
    if (back < 0) {
      // Newer than any: slide the window up by -back and mark bit 0.
      const up = -back;
      if (up >= DUP_WINDOW) this.winHi = this.winLo = 0;
      else if (up >= 32) {
        this.winHi = this.winLo << (up - 32);
        this.winLo = 0;
      } else {
        this.winHi = (this.winHi << up) | (this.winLo >>> (32 - up));
        this.winLo = this.winLo << up;
      }
      this.winLo |= 1;
      this.winTop = ext;
      return false;
    }
    if (back >= DUP_WINDOW) return false; // older than the window: taken as late, not as a duplicate
    if (back < 32) {
      const bit = 1 << back;
      if (this.winLo & bit) return true;
      this.winLo |= bit;
    } else {
      const bit = 1 << (back - 32);
      if (this.winHi & bit) return true;
      this.winHi |= bit;
    }
    return false;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
    this.clearWindow();
  }

  /**
   * Account one packet. `arrivalMs` is the local receive time on any monotonic millisecond clock.
   * Returns false when A.1 says the packet must not count (probation, big jump awaiting
   * confirmation); the caller may still play it.
   */
  update(seq: number, timestamp: number, arrivalMs: number, payloadBytes = 0, ssrc?: number): boolean {
    if (!this.started) {
      this.started = true;
      if (ssrc !== undefined) this.ssrc = ssrc;
      this.initSeq(seq);
      this.maxSeq = (seq - 1) & 0xffff;
      this.probation = this.minSequential;
      if (this.probation <= 0) {
        this.initSeq(seq);
        return this.accept(seq, timestamp, arrivalMs, payloadBytes, false);
      }
    }
    const udelta = (seq - this.maxSeq) & 0xffff;

    if (this.probation > 0) {
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          return this.accept(seq, timestamp, arrivalMs, payloadBytes, false);
        }
      } else {
        this.probation = this.minSequential - 1;
        this.maxSeq = seq;
      }
      this.discarded++;
      return false;
    }

    let outOfOrder = false;
    if (udelta === 0) {
      outOfOrder = true; // same as max: a duplicate, caught below
    } else if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A jump this large is either a restarted sender or garbage: wait for the next in-order
      // packet to confirm before resynchronising.
      if (seq === this.badSeq) {
        this.resets++;
        this.initSeq(seq);
        this.haveTransit = false;
      } else {
        this.badSeq = (seq + 1) & 0xffff;
        this.discarded++;
        return false;
      }
    } else {
      outOfOrder = true;
    }
    return this.accept(seq, timestamp, arrivalMs, payloadBytes, outOfOrder);
  }

  private accept(seq: number, timestamp: number, arrivalMs: number, bytes: number, late: boolean): boolean {
    this.received++;
    this.octets += bytes;

    if (this.seenBefore(this.extendedFor(seq))) {
      this.duplicates++;
      return true;
    }
    if (late) this.reordered++;

    // A.8: transit difference in timestamp units, smoothed with gain 1/16.
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    const transit = arrivalTs - timestamp;
    const a8 = this.a8;
    if (this.haveTransit) {
      // Timestamps wrap at 2^32; fold the difference back into the signed range.
      let d = transit - a8[TRANSIT]!;
      if (d > 0x80000000) d -= 0x100000000;
      else if (d < -0x80000000) d += 0x100000000;
      if (d < 0) d = -d;
      a8[JITTER] = a8[JITTER]! + (d - a8[JITTER]!) / 16;
    }
    a8[TRANSIT] = transit;
    this.haveTransit = true;
    return true;
  }

  /** Extended sequence for a packet near the current maximum (A.1 cycles + seq). */
  private extendedFor(seq: number): number {
    const extMax = this.cycles + this.maxSeq;
    const d = (((seq - this.maxSeq) & 0xffff) << 16) >> 16;
    return extMax + d;
  }

  get extendedHighestSeq(): number {
    return this.cycles + this.maxSeq;
  }

  get expected(): number {
    if (!this.started || this.probation > 0) return 0;
    return this.extendedHighestSeq - this.baseSeq + 1;
  }

  get cumulativeLost(): number {
    return this.expected - this.received;
  }

  get jitterTs(): number {
    return this.a8[JITTER]!;
  }

  get jitterMs(): number {
    return (this.a8[JITTER]! * 1000) / this.clockRate;
  }

  get packetsReceived(): number {
    return this.received;
  }

  /**
   * Produce an RTCP report block and start a new loss interval (A.3). `lsr`/`dlsr` come from
   * the session, which knows when it last heard an SR from this source.
   */
  makeReportBlock(lsr = 0, dlsr = 0): ReportBlock | null {
    if (this.ssrc === null || this.expected === 0) return null;
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    this.expectedPrior = expected;
    const receivedInterval = this.received - this.receivedPrior;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval << 8) / expectedInterval);
    this.lastFraction = Math.min(255, fraction);
    return {
      ssrc: this.ssrc,
      fractionLost: this.lastFraction,
      cumulativeLost: this.cumulativeLost,
      extendedHighestSeq: this.extendedHighestSeq >>> 0,
      jitter: Math.floor(this.a8[JITTER]!),
      lsr,
      dlsr,
    };
  }

  /** Plain object for events, logs and span attributes. Does not advance the report interval. */
  snapshot(): ReceiveStatsSnapshot {
    const expected = this.expected;
    const lost = this.cumulativeLost;
    return {
      ssrc: this.ssrc,
      packetsReceived: this.received,
      octetsReceived: this.octets,
      packetsExpected: expected,
      cumulativeLost: lost,
      lossPercent: expected > 0 ? Math.max(0, (lost / expected) * 100) : 0,
      fractionLost: this.lastFraction / 256,
      extendedHighestSeq: this.extendedHighestSeq,
      jitterTs: Math.round(this.a8[JITTER]! * 100) / 100,
      jitterMs: Math.round(this.jitterMs * 100) / 100,
      duplicates: this.duplicates,
      reordered: this.reordered,
      discarded: this.discarded,
      probation: this.started && this.probation > 0,
      sequenceResets: this.resets,
    };
  }
}

// ---- E-model ------------------------------------------------------------------------------------

export type G711Codec = 'PCMU' | 'PCMA';

export interface MosInput {
  /** One-way mouth-to-ear delay estimate (network + buffering), ms. */
  latencyMs: number;
  jitterMs: number;
  /** Random packet loss, percent (0–100). */
  lossPercent: number;
  codec: G711Codec;
  /** Receiver conceals loss (G.711 Appendix I PLC). We have none, so the default is false. */
  plc?: boolean;
}

/** G.113 Appendix I provisional values for G.711. */
const G711_IE = 0;
const G711_BPL_NO_PLC = 4.3;
const G711_BPL_PLC = 25.1;
/** G.107 default R0 − Is with all other parameters at their defaults. */
const R_DEFAULT = 93.2;

/**
 * Transmission rating R from a reduced E-model: R = 93.2 − Id − Ie,eff, A = 0.
 * Id uses the common piecewise-linear fit of the G.107 delay curve (0.024·Ta, plus
 * 0.11·(Ta − 177.3) beyond 177.3 ms); jitter is counted twice on the assumption that a jitter
 * buffer sized at 2× jitter adds that much delay. Loss is treated as random (BurstR = 1).
 */
export function rFactor(input: MosInput): number {
  const ta = Math.max(0, input.latencyMs) + 2 * Math.max(0, input.jitterMs);
  const id = 0.024 * ta + (ta > 177.3 ? 0.11 * (ta - 177.3) : 0);
  const ppl = Math.min(100, Math.max(0, input.lossPercent));
  const bpl = input.plc ? G711_BPL_PLC : G711_BPL_NO_PLC;
  const ieEff = G711_IE + ((95 - G711_IE) * ppl) / (ppl + bpl);
  return R_DEFAULT - id - ieEff;
}

/** G.107 Annex B conversion of R to an estimated MOS (CQE). */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  // The cubic dips just under 1 for very small R; MOS is defined on [1, 4.5].
  return Math.max(1, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6);
}

export function estimateMos(input: MosInput): number {
  return Math.round(mosFromR(rFactor(input)) * 100) / 100;
}
