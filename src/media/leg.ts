// MediaLeg: the one interface media actors (playback, recording, bridge, mixer, echo) attach to.
//
// A leg is one call leg's audio as 8 kHz, 16-bit mono PCM in 20 ms frames (160 samples), whatever
// carries it. Transports adapt to it: `rtpLeg()` below wraps an RtpSession (G.711 decode/encode
// happens inside the session), a WebSocket call can adapt its L16 frames, tests can use an
// in-memory leg. Keeping actors codec-agnostic makes PCMU↔PCMA bridging free: each side's session
// decodes to PCM and the other side's session encodes.
//
// Fast-path contract: `onAudio` callbacks run once per received frame on the socket's callback;
// the frame array is REUSED for the next frame, so a listener that keeps audio must copy it.
// `write()` encodes and sends synchronously; it must not retain the frame either.
import type { RtpSession } from './rtp/session.js';
import type { G711Law } from './codecs/g711.js';
import type { PlayoutPath } from './jitter/playout.js';

// One definition of the media clock (8 kHz, 20 ms frames) for codecs and actors alike.
import { FRAME_SAMPLES, SAMPLE_RATE, FRAME_MS } from './codecs/tones.js';
export { FRAME_SAMPLES, SAMPLE_RATE, FRAME_MS };

export type AudioListener = (frame: Int16Array) => void;

/**
 * Raw G.711 payload access for legs that are RTP underneath. When two legs share a codec, echo
 * and bridges move payload bytes without the decode → PCM → encode round trip.
 */
export interface PayloadPath {
  readonly codec: G711Law;
  /** Subscribe to received payloads (the bytes are reused: copy to keep). Returns unsubscribe. */
  onPayload(cb: (payload: Uint8Array) => void): () => void;
  /** Send one already-encoded payload (one byte per sample). */
  writePayload(payload: Uint8Array): boolean;
}

export interface MediaLeg {
  /** Stable id (the call id for a SIP/WS call leg); used in logs and by mixers. */
  readonly id: string;
  readonly closed: boolean;
  /** Subscribe to received audio frames (reused array: copy to keep). Returns unsubscribe. */
  onAudio(cb: AudioListener): () => void;
  /** Send one frame (normally 160 samples). Returns false when nothing could be sent. */
  write(frame: Int16Array): boolean;
  /** RFC 4733 / transport DTMF, when the leg supports it. */
  sendDtmf?(digits: string): Promise<void>;
  /** Called once when the leg closes (call dropped, session closed). Returns unsubscribe. */
  onClose(cb: () => void): () => void;
  /** Close the underlying transport. Idempotent. */
  close(): Promise<void>;
  /** Optional G.711 pass-through (present on RTP legs). */
  readonly payload?: PayloadPath;
  /**
   * Optional jitter-buffered receive path (RTP and WebSocket legs): the same audio in order, one
   * frame per pacer tick, losses concealed. Subscribe with `onLegAudio(leg, cb, jitter)`.
   */
  readonly playout?: PlayoutPath;
}

/**
 * Adapt an RtpSession. The leg does not own more than the session: close() closes the session.
 * Several listeners share the session's one decode per packet.
 */
export function rtpLeg(session: RtpSession, id: string = `rtp:${session.localPort}`): MediaLeg {
  return {
    id,
    get closed() {
      return session.closed;
    },
    onAudio(cb) {
      const fn = (frame: Int16Array) => cb(frame);
      session.on('audio', fn);
      return () => session.off('audio', fn);
    },
    write: (frame) => session.send(frame),
    sendDtmf: (digits) => session.sendDtmf(digits),
    onClose(cb) {
      if (session.closed) {
        queueMicrotask(cb);
        return () => {};
      }
      let done = false;
      const fn = () => {
        if (done) return;
        done = true;
        cb();
      };
      // 'closed' fires after the ports are released; react as soon as close() starts as well.
      session.once('closed', fn);
      return () => {
        done = true;
        session.off('closed', fn);
      };
    },
    close: () => session.close(),
    get playout() {
      return session.playout();
    },
    payload: new SessionPayload(session),
  };
}

/**
 * An RtpSession's payload path. A class, so that every leg's writePayload is the same function:
 * a per-leg closure was one more call (and one more object to load) per echoed packet.
 */
class SessionPayload implements PayloadPath {
  constructor(private readonly session: RtpSession) {}
  get codec(): G711Law {
    return this.session.codec;
  }
  onPayload(cb: (payload: Uint8Array) => void): () => void {
    // Registered as it is (it ignores the timestamp and sequence number): a wrapper would be one more call per packet.
    const session = this.session;
    session.on('payload', cb);
    return () => session.off('payload', cb);
  }
  writePayload(p: Uint8Array): boolean {
    return this.session.sendPayload(p);
  }
}

/**
 * An in-process leg pair for tests and local plumbing: what one side writes, the other receives
 * (synchronously). `a.close()` closes both.
 */
export function memoryLegPair(idA = 'mem:a', idB = 'mem:b'): [MediaLeg, MediaLeg] {
  const listeners: [Set<AudioListener>, Set<AudioListener>] = [new Set(), new Set()];
  const closers = new Set<() => void>();
  let closed = false;
  const make = (id: string, mine: 0 | 1): MediaLeg => ({
    id,
    get closed() {
      return closed;
    },
    onAudio(cb) {
      listeners[mine].add(cb);
      return () => listeners[mine].delete(cb);
    },
    write(frame) {
      if (closed) return false;
      for (const l of listeners[mine === 0 ? 1 : 0]) l(frame);
      return true;
    },
    onClose(cb) {
      if (closed) {
        queueMicrotask(cb);
        return () => {};
      }
      closers.add(cb);
      return () => closers.delete(cb);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const c of [...closers]) c();
      closers.clear();
    },
  });
  return [make(idA, 0), make(idB, 1)];
}

/**
 * Fixed-capacity frame FIFO used where audio from several legs must line up on the pacer's clock
 * (mixer, mixed/stereo recording). push() copies; on overflow the OLDEST frame is dropped and
 * counted, so latency stays bounded when a sender runs fast.
 */
export class FrameQueue {
  private readonly frames: Int16Array[];
  private head = 0;
  private count = 0;
  /** Frames dropped on overflow. */
  dropped = 0;
  /** pop() calls that found the queue empty. */
  underruns = 0;

  constructor(readonly capacity = 3, readonly frameSamples = FRAME_SAMPLES) {
    this.frames = Array.from({ length: capacity }, () => new Int16Array(frameSamples));
  }

  get size(): number {
    return this.count;
  }

  push(frame: Int16Array): void {
    if (this.count === this.capacity) {
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.dropped++;
    }
    const slot = this.frames[(this.head + this.count) % this.capacity]!;
    if (frame.length >= this.frameSamples) slot.set(frame.length === this.frameSamples ? frame : frame.subarray(0, this.frameSamples));
    else {
      slot.set(frame);
      slot.fill(0, frame.length);
    }
    this.count++;
  }

  /** The oldest frame (valid until the next push), or null when empty. */
  pop(): Int16Array | null {
    if (this.count === 0) {
      this.underruns++;
      return null;
    }
    const f = this.frames[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return f;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}

/** Clip a 32-bit sum to int16. */
export function clip16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
