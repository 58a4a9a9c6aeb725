// A leg's jitter-buffered audio: packets go into a JitterBuffer as they arrive, and on every tick
// of the shared 20 ms pacer one frame comes out to the listeners, in order, gaps concealed.
//
// A MediaLeg offers it as `leg.playout` beside its arrival-order `onAudio`. Which one a consumer
// uses is the consumer's choice (`onLegAudio(leg, cb, jitter)`): bridges, conference rooms and
// recordings take the playout by default (they want continuous, ordered audio); echo does not,
// because buffering there only adds latency to what the talker hears of itself (docs/media.md).
//
// The buffer and its frame are made by the first listener and kept for the statistics; the pacer
// is subscribed only while someone listens. Per packet and per tick nothing is allocated.
import { sharedPacer, type Pacer } from '../pacer.js';
import { JitterBuffer, POP_NONE, type JitterBufferOptions, type JitterBufferStats } from './jitter-buffer.js';

type AudioListener = (frame: Int16Array) => void;

const NO_LISTENERS: readonly AudioListener[] = Object.freeze([]);

/** A leg's jitter-buffered receive path (see `MediaLeg.playout`). */
export interface PlayoutPath {
  /**
   * Subscribe to the leg's audio as played out by its jitter buffer: one 160-sample frame per
   * 20 ms pacer tick while audio flows, in timestamp order, losses concealed (the array is reused:
   * copy to keep). The first subscriber's `opts` size the buffer. Returns unsubscribe.
   */
  onAudio(cb: AudioListener, opts?: JitterBufferOptions): () => void;
  /** The buffer's statistics, or null when nothing has listened yet. */
  stats(): JitterBufferStats | null;
}

export interface JitterPlayoutOptions {
  /** Default: the process-wide shared pacer. */
  pacer?: Pacer;
  /** Monotonic ms clock (default performance.now). */
  clock?: () => number;
}

const now = (): number => performance.now();

export class JitterPlayout implements PlayoutPath {
  private jb: JitterBuffer | null = null;
  private listeners: readonly AudioListener[] = NO_LISTENERS;
  private offTick: (() => void) | null = null;
  private readonly frame = new Int16Array(160);
  private readonly pacer: Pacer | undefined;
  private readonly clock: () => number;
  private closed = false;
  private readonly tick = (): void => this.onTick();

  constructor(opts: JitterPlayoutOptions = {}) {
    this.pacer = opts.pacer;
    this.clock = opts.clock ?? now;
  }

  /** Whether received audio should be pushed (someone listens). */
  get wanted(): boolean {
    return this.listeners.length > 0;
  }

  /** One RTP packet's decoded audio with its timestamp and sequence number (copied). */
  push(frame: Int16Array, ts: number, seq: number, arrivalMs: number = this.clock()): void {
    if (this.listeners.length > 0) this.jb!.push(frame, ts, seq, arrivalMs);
  }

  /** One frame of a stream without timestamps (WebSocket audio; copied). */
  pushInOrder(frame: Int16Array): void {
    if (this.listeners.length > 0) this.jb!.pushInOrder(frame, this.clock());
  }

  /** A new source (SSRC change): forget what is buffered. */
  reset(): void {
    this.jb?.reset();
  }

  onAudio(cb: AudioListener, opts?: JitterBufferOptions): () => void {
    if (this.closed) return () => {};
    this.jb ??= new JitterBuffer(opts);
    this.listeners = [...this.listeners, cb];
    this.offTick ??= (this.pacer ?? sharedPacer()).add(this.tick);
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i < 0) return;
      const rest = this.listeners.slice();
      rest.splice(i, 1);
      this.listeners = rest.length ? rest : NO_LISTENERS;
      if (!rest.length) this.idle();
    };
  }

  stats(): JitterBufferStats | null {
    return this.jb?.stats() ?? null;
  }

  /** The leg closed: listeners go, the pacer is released. */
  close(): void {
    this.closed = true;
    this.listeners = NO_LISTENERS;
    this.idle();
  }

  private idle(): void {
    this.offTick?.();
    this.offTick = null;
    this.jb?.reset(); // what is buffered would be stale by the next listener
  }

  private onTick(): void {
    const jb = this.jb!;
    if (!jb.active) return;
    if (jb.pop(this.frame, this.clock()) === POP_NONE) return;
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(this.frame);
  }
}

/**
 * Subscribe to a leg's audio: through its jitter buffer (`leg.playout`) unless `jitter` is false
 * or the leg has none, else in arrival order. Returns unsubscribe.
 */
export function onLegAudio(
  leg: { onAudio(cb: AudioListener): () => void; readonly playout?: PlayoutPath },
  cb: AudioListener,
  jitter: JitterBufferOptions | false | undefined,
): () => void {
  return jitter !== false && leg.playout ? leg.playout.onAudio(cb, jitter) : leg.onAudio(cb);
}
