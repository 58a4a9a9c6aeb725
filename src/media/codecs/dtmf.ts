// RFC 4733 telephone-event: payload codec, a receiver that reports each key press once, and a
// tick-driven sender. Both sides are pure state machines; the RTP session owns sockets/timers.

import { tsDelta } from './rtp.js';

export const DTMF_DIGITS = '0123456789*#ABCD';
/** One DTMF digit as every edge accepts it (WebSocket, SIP INFO, the API). */
export const DTMF_DIGIT = /^[0-9*#A-D]$/;
export const DTMF_STRING = /^[0-9*#A-D]+$/;

export function digitToEvent(digit: string): number {
  const i = DTMF_DIGITS.indexOf(digit.toUpperCase());
  if (i < 0 || digit.length !== 1) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return i;
}

export function eventToDigit(event: number): string | null {
  return event >= 0 && event < 16 ? DTMF_DIGITS[event]! : null;
}

export interface TelephoneEvent {
  event: number;
  end: boolean;
  /** Power level 0–63, expressed as −dBm0 (so 10 means −10 dBm0). */
  volume: number;
  /** Duration in RTP timestamp units since the event's timestamp. */
  duration: number;
}

export const TELEPHONE_EVENT_SIZE = 4;

export function encodeTelephoneEvent(ev: TelephoneEvent, out?: Buffer, offset = 0): Buffer {
  const buf = out ?? Buffer.allocUnsafe(TELEPHONE_EVENT_SIZE);
  buf[offset] = ev.event & 0xff;
  // The R bit (0x40) is reserved and sent as zero.
  buf[offset + 1] = (ev.end ? 0x80 : 0) | (ev.volume & 0x3f);
  buf.writeUInt16BE(Math.min(0xffff, Math.max(0, ev.duration | 0)), offset + 2);
  return buf;
}

/** Decode the first event block; returns null for a truncated payload. */
export function decodeTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < TELEPHONE_EVENT_SIZE) return null;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

// ---- receiver -------------------------------------------------------------------------------

export type DtmfCallback = (digit: string, durationMs: number) => void;

export interface DtmfReceiverOptions {
  clockRate?: number;
  /**
   * With the end packets all lost, report the digit after this long without any packet for it.
   * Updates arrive every ~50 ms during a press, so a few hundred ms of silence means it ended.
   */
  endTimeoutMs?: number;
}

/**
 * One digit per event. An event is identified by its RTP timestamp (RFC 4733 §2.5.1.2): every
 * update and all three end retransmissions share it, so a timestamp we already reported is
 * ignored. A missing start is harmless (any packet opens the event); a missing end is covered
 * by a new timestamp arriving or by checkTimeout().
 */
export class DtmfReceiver {
  private readonly clockRate: number;
  private readonly endTimeoutMs: number;
  private active = false;
  private activeTs = 0;
  private activeEvent = 0;
  private activeDuration = 0;
  private lastPacketMs = 0;
  private haveReported = false;
  private reportedTs = 0;

  constructor(
    private readonly onDigit: DtmfCallback,
    opts: DtmfReceiverOptions = {},
  ) {
    this.clockRate = opts.clockRate ?? 8000;
    this.endTimeoutMs = opts.endTimeoutMs ?? 400;
  }

  /** Feed one telephone-event RTP packet. `nowMs` drives the lost-end timeout. */
  push(timestamp: number, payload: Uint8Array, nowMs = 0): void {
    if (payload.length < TELEPHONE_EVENT_SIZE) return;
    const event = payload[0]!;
    const end = (payload[1]! & 0x80) !== 0;
    const duration = (payload[2]! << 8) | payload[3]!;

    // Retransmitted end packets and stragglers of an event we already reported; also anything
    // older than it (reordered across events). A jump far into the past is a sender that reset
    // its timeline, not a straggler, so it starts afresh.
    if (this.haveReported) {
      const d = tsDelta(timestamp, this.reportedTs);
      if (d <= 0 && d > -this.clockRate * 10) return;
    }

    if (this.active && timestamp !== this.activeTs) {
      if (tsDelta(timestamp, this.activeTs) < 0) return; // straggler from before the current one
      this.finish(); // previous event lost its end packets
    }
    if (!this.active) {
      this.active = true;
      this.activeTs = timestamp;
      this.activeEvent = event;
      this.activeDuration = 0;
    }
    if (duration > this.activeDuration) this.activeDuration = duration;
    this.lastPacketMs = nowMs;
    if (end) this.finish();
  }

  /** Call periodically; reports an event whose end packets never arrived. */
  checkTimeout(nowMs: number): void {
    if (this.active && nowMs - this.lastPacketMs >= this.endTimeoutMs) this.finish();
  }

  /** Forget history, e.g. when the sending SSRC changes. */
  reset(): void {
    this.active = false;
    this.haveReported = false;
  }

  /** Report any event still open (stream closing). */
  flush(): void {
    if (this.active) this.finish();
  }

  private finish(): void {
    this.active = false;
    this.haveReported = true;
    this.reportedTs = this.activeTs;
    const digit = eventToDigit(this.activeEvent);
    // Events outside 0–15 (flash, modem tones) are consumed but not reported as digits.
    if (digit !== null) this.onDigit(digit, (this.activeDuration * 1000) / this.clockRate);
  }
}

// ---- sender ---------------------------------------------------------------------------------

export interface DtmfSenderOptions {
  clockRate?: number;
  /** Interval between packets of one event (RFC 4733 suggests 50 ms). */
  intervalMs?: number;
  /** Tone duration per digit. */
  durationMs?: number;
  /** Silence between digits, after the end retransmissions. */
  gapMs?: number;
  /** −dBm0. */
  volume?: number;
  /** Number of end packets (RFC 4733 §2.5.1.4 recommends 3). */
  endPackets?: number;
}

export interface DtmfPacket {
  digit: string;
  marker: boolean;
  /** RTP timestamp shared by every packet of the event. */
  timestamp: number;
  payload: TelephoneEvent;
}

/**
 * Produces the packet sequence for a digit string, one call to tick() per `intervalMs`. The
 * caller passes the current media timestamp; the first packet of each event captures it as the
 * event timestamp, and the caller advances its timeline by `tickSamples` per tick.
 * Per event: start (marker, duration = one interval), updates every interval, then the same
 * final-duration end packet `endPackets` times on consecutive ticks, then `gapMs` of nothing.
 */
export class DtmfSender {
  readonly tickSamples: number;
  private readonly events: number[];
  private readonly durationUnits: number;
  private readonly volume: number;
  private readonly endPackets: number;
  private readonly gapTicks: number;
  private index = 0;
  private phase: 'tone' | 'end' | 'gap' = 'tone';
  private step = 0;
  private eventTs = 0;

  constructor(digits: string, opts: DtmfSenderOptions = {}) {
    const clockRate = opts.clockRate ?? 8000;
    const intervalMs = opts.intervalMs ?? 50;
    this.tickSamples = Math.round((clockRate * intervalMs) / 1000);
    this.events = [...digits].map(digitToEvent);
    const durationMs = Math.max(intervalMs, opts.durationMs ?? 100);
    this.durationUnits = Math.min(0xffff, Math.round((clockRate * durationMs) / 1000));
    this.volume = opts.volume ?? 10;
    this.endPackets = Math.max(1, opts.endPackets ?? 3);
    this.gapTicks = Math.ceil((opts.gapMs ?? 50) / intervalMs);
  }

  get done(): boolean {
    return this.index >= this.events.length;
  }

  /** Packet to send now, or null for a silent tick (inter-digit gap) or when done. */
  tick(mediaTimestamp: number): DtmfPacket | null {
    if (this.done) return null;
    const event = this.events[this.index]!;
    const digit = DTMF_DIGITS[event]!;

    if (this.phase === 'tone') {
      if (this.step === 0) this.eventTs = mediaTimestamp >>> 0;
      const duration = Math.min(this.durationUnits, (this.step + 1) * this.tickSamples);
      const marker = this.step === 0;
      this.step++;
      if (duration >= this.durationUnits) {
        this.phase = 'end';
        this.step = 0;
        // The tick that reaches the full duration already carries the first end packet.
        return this.endPacket(digit, event, marker);
      }
      return { digit, marker, timestamp: this.eventTs, payload: { event, end: false, volume: this.volume, duration } };
    }

    if (this.phase === 'end') return this.endPacket(digit, event, false);

    // gap
    this.step++;
    if (this.step >= this.gapTicks) this.nextDigit();
    return null;
  }

  private endPacket(digit: string, event: number, marker: boolean): DtmfPacket {
    this.step++;
    const pkt: DtmfPacket = {
      digit,
      marker,
      timestamp: this.eventTs,
      payload: { event, end: true, volume: this.volume, duration: this.durationUnits },
    };
    if (this.step >= this.endPackets) {
      this.step = 0;
      if (this.gapTicks > 0 && this.index < this.events.length - 1) this.phase = 'gap';
      else this.nextDigit();
    }
    return pkt;
  }

  private nextDigit(): void {
    this.index++;
    this.phase = 'tone';
    this.step = 0;
  }
}

/** Whole packet plan for a digit string on a timeline starting at `startTimestamp` (tests, tools). */
export function planDtmf(digits: string, startTimestamp: number, opts: DtmfSenderOptions = {}): DtmfPacket[] {
  const sender = new DtmfSender(digits, opts);
  const out: DtmfPacket[] = [];
  let ts = startTimestamp >>> 0;
  while (!sender.done) {
    const p = sender.tick(ts);
    if (p) out.push(p);
    ts = (ts + sender.tickSamples) >>> 0;
  }
  return out;
}
