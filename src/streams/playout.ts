// The bot's audio on its way into the call: a bounded FIFO of μ-law bytes with the bot's marks
// between them, drained one 20 ms frame per pacer tick. Pure (no clock, no socket): the stream
// calls `frame()` on each tick and sends what it returns.
//
// Why a byte queue and not a frame queue: bots send audio in chunks of any length (a whole TTS
// sentence at once is common), so the queue re-frames to 160 bytes. A mark is echoed once every
// byte queued before it has been handed to the call; `clear()` drops the audio at once and returns
// the marks it cut, which are echoed too (as Twilio does).
//
// Why catch-up credit: a bot streaming in real time (an echo, a speech-to-speech model) answers
// each frame of the caller's a round trip later. When the event loop stalls, the pacer's owed
// ticks run before the delayed audio is back, find the queue empty, and the frames that arrive
// next would then sit one tick each behind the ones before them for the rest of the call: every
// stall added latency for good (the media bench saw medians of 70-170 ms). So a tick that finds
// the queue dry in the middle of a stream is remembered (at most MAX_OWED), and audio that arrives
// while one is owed plays at once (the stream asks catchUp() on arrival and after each tick's
// frame), until it is made up. After IDLE_RESET_TICKS dry ticks in a row the bot has paused, the
// credit goes, and a long utterance that follows (TTS sent at once) plays at exactly one frame per
// tick.
//
// Why standing credit: dry ticks are not the only way a backlog forms. Audio that comes in a
// burst without a tick going dry (a stall the pacer skipped, the bot's first answers arriving
// together) leaves a frame or two waiting at every tick for the rest of the call: the media bench
// saw 2-3 frames queued and medians of 40-55 ms where 0.5 frames and 14 ms were possible. So when
// a whole frame has been left over after every tick for STANDING_TICKS ticks and the queue never
// held more than STANDING_MAX_FRAMES, one more frame is owed. A TTS bot that sent its sentence at
// once has a deep queue and is not touched; real-time audio loses one frame of wait per window
// until a tick leaves less than a frame behind.
import { FRAME_SAMPLES } from '../media/leg.js';

/** Dry ticks remembered at most (100 ms): what a stall may be made up by. */
const MAX_OWED = 5;
/** Dry ticks in a row after which the bot is taken to have paused (the credit is dropped). */
const IDLE_RESET_TICKS = 10;
/** Ticks (0.5 s) a whole frame must have been left over after each for one frame to be owed. */
const STANDING_TICKS = 25;
/** Deepest queue (frames) still taken as real-time audio waiting, not a sentence sent ahead. */
const STANDING_MAX_FRAMES = 6;

/** μ-law silence (the code for 0). */
export const ULAW_SILENCE = 0xff;

/** The marks of a tick that completed none (most ticks): shared, so a tick allocates no array. */
const NO_MARKS: readonly string[] = Object.freeze([]);

type Item = { kind: 'audio'; bytes: Uint8Array; off: number } | { kind: 'mark'; name: string };

export interface PlayoutResult {
  /** One frame of μ-law (reused buffer: send or copy it before the next call), or null: nothing to play. */
  frame: Uint8Array | null;
  /** Marks whose audio has now been played, in order. */
  marks: readonly string[];
}

export interface PlayoutStats {
  /** Bytes of audio queued now. */
  queuedBytes: number;
  /** Frames handed to the call. */
  played: number;
  /** Bytes refused because the queue was full. */
  droppedBytes: number;
  /** Bytes dropped by `clear()`. */
  clearedBytes: number;
  /** Ticks that found a partial frame and padded it with silence. */
  padded: number;
  /** Frames played in a tick beyond its own, making up ticks that found the queue dry. */
  caughtUp: number;
}

export class PlayoutQueue {
  // Slots before `head` are null: a played chunk must not stay referenced until the next
  // compaction. A real-time bot keeps the queue from ever running dry, so compaction waited for 64
  // played chunks (1.3 s of audio): every chunk outlived two scavenges and was promoted, and the
  // old generation needed a mark-compact about every second at 250 streams (3-18 ms pauses).
  private items: Array<Item | null> = [];
  private head = 0;
  private queued = 0;
  /** Ticks the queue has held less than one frame with nothing behind it. */
  private partialTicks = 0;
  private readonly out = new Uint8Array(FRAME_SAMPLES);
  readonly stats: PlayoutStats = { queuedBytes: 0, played: 0, droppedBytes: 0, clearedBytes: 0, padded: 0, caughtUp: 0 };
  /** Dry ticks in the middle of a stream not yet made up. */
  private owed = 0;
  /** Dry ticks in a row since the last frame played (IDLE_RESET_TICKS or more: a pause). */
  private dry = IDLE_RESET_TICKS;
  /** Ticks in a row that left a whole frame (and at most STANDING_MAX_FRAMES) queued. */
  private standing = 0;
  /** The next frame() is a catch-up frame in the same tick (not a tick of its own). */
  private catchingUp = false;

  /** @param maxBytes most audio held (bytes = samples at 8 kHz); beyond it new audio is refused. */
  private marks = 0;

  /**
   * @param maxBytes most audio held (bytes = samples at 8 kHz); beyond it new audio is refused.
   * @param maxMarks most marks waiting at once.
   */
  constructor(
    readonly maxBytes: number,
    readonly maxMarks = 1024,
  ) {}

  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Nothing queued and nothing played for IDLE_RESET_TICKS ticks (or ever): the next audio starts
   * an utterance, so the stream may move its tick (no frame went out in the last 200 ms).
   */
  get idle(): boolean {
    return this.queued === 0 && this.dry >= IDLE_RESET_TICKS;
  }

  /** Marks waiting for their audio. */
  get pendingMarks(): number {
    return this.marks;
  }

  /** Queue audio (kept by reference: the caller must not reuse it). False: refused, the queue is full. */
  push(bytes: Uint8Array): boolean {
    if (bytes.length === 0) return true;
    if (this.queued + bytes.length > this.maxBytes) {
      this.stats.droppedBytes += bytes.length;
      return false;
    }
    this.items.push({ kind: 'audio', bytes, off: 0 });
    this.queued += bytes.length;
    this.stats.queuedBytes = this.queued;
    return true;
  }

  /**
   * Queue a mark after the audio queued so far: `due` when nothing is queued (echo it now),
   * `refused` beyond `maxMarks` waiting marks (a mark flood must not grow the queue either).
   */
  mark(name: string): 'queued' | 'due' | 'refused' {
    if (this.head === this.items.length) return 'due';
    if (this.marks >= this.maxMarks) return 'refused';
    this.items.push({ kind: 'mark', name });
    this.marks++;
    return 'queued';
  }

  /** Drop every queued byte; the marks that were waiting are returned (to be echoed). */
  clear(): string[] {
    const marks: string[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i]!;
      if (it.kind === 'mark') marks.push(it.name);
    }
    this.stats.clearedBytes += this.queued;
    this.marks = 0;
    this.items = [];
    this.head = 0;
    this.queued = 0;
    this.partialTicks = 0;
    this.owed = 0;
    this.standing = 0;
    this.stats.queuedBytes = 0;
    return marks;
  }

  /** One pacer tick: the next frame (if any) and the marks it completes. */
  frame(): PlayoutResult {
    let marks = this.takeMarks(NO_MARKS);
    if (this.queued === 0) return this.dryTick(marks);
    // Less than a frame, and no mark behind it to say the utterance is over: give the bot one tick
    // to send the rest before padding (a bot streaming odd-sized chunks in real time is not cut).
    if (this.queued < FRAME_SAMPLES && !this.markAfterAudio() && this.partialTicks++ < 1) return this.dryTick(marks);
    this.partialTicks = 0;
    this.dry = 0;
    let filled = 0;
    while (filled < FRAME_SAMPLES && this.head < this.items.length) {
      const it = this.items[this.head]!;
      if (it.kind === 'mark') break;
      const n = Math.min(FRAME_SAMPLES - filled, it.bytes.length - it.off);
      this.out.set(it.bytes.subarray(it.off, it.off + n), filled);
      filled += n;
      it.off += n;
      this.queued -= n;
      if (it.off === it.bytes.length) this.items[this.head++] = null;
    }
    if (filled < FRAME_SAMPLES) {
      this.out.fill(ULAW_SILENCE, filled);
      this.stats.padded++;
    }
    marks = this.takeMarks(marks);
    this.compact();
    this.stats.played++;
    this.stats.queuedBytes = this.queued;
    if (this.catchingUp) this.catchingUp = false;
    else this.countStanding();
    return { frame: this.out, marks };
  }

  /**
   * True when one more frame should be played now, to make up a dry tick of this stream (see the
   * top of the file): asked after a tick's frame, and when audio arrives between ticks (a frame
   * that came too late for its beat plays on arrival, not a beat later). Only whole frames.
   */
  catchUp(): boolean {
    if (this.owed === 0 || this.queued < FRAME_SAMPLES) return false;
    this.owed--;
    this.stats.caughtUp++;
    this.catchingUp = true;
    return true;
  }

  /**
   * Pacer ticks that never ran (the pacer skips ahead after a stall longer than it makes up):
   * owed like dry ticks while the bot is mid-utterance, or their frames would wait for good.
   */
  missed(ticks: number): void {
    if (this.dry >= IDLE_RESET_TICKS) return;
    this.owed = Math.min(MAX_OWED, this.owed + ticks);
  }

  /** After a tick's own frame: one more tick of standing backlog (see the top of the file). */
  private countStanding(): void {
    if (this.queued < FRAME_SAMPLES || this.queued > STANDING_MAX_FRAMES * FRAME_SAMPLES) {
      this.standing = 0;
    } else if (++this.standing >= STANDING_TICKS) {
      this.standing = 0;
      if (this.owed < MAX_OWED) this.owed++;
    }
  }

  private dryTick(marks: readonly string[]): PlayoutResult {
    this.standing = 0;
    if (++this.dry >= IDLE_RESET_TICKS) this.owed = 0;
    else if (this.owed < MAX_OWED) this.owed++;
    return { frame: null, marks };
  }

  private markAfterAudio(): boolean {
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]!.kind === 'mark') return true;
    return false;
  }

  /** The marks at the head of the queue appended to `marks` (a new array only when there are some). */
  private takeMarks(marks: readonly string[]): readonly string[] {
    // Only this class makes these arrays: any but NO_MARKS is its own, still being filled.
    let out = marks as string[];
    while (this.head < this.items.length) {
      const it = this.items[this.head]!;
      if (it.kind !== 'mark') break;
      if (out === NO_MARKS) out = [];
      out.push(it.name);
      this.marks--;
      this.items[this.head++] = null;
    }
    this.compact();
    return out;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
