// The MediaLeg of a WebSocket call whose binary frames carry 8 kHz, 16-bit little-endian mono PCM
// (the inbound-call protocol). The same 8 kHz PCM as every other leg, so bridges to SIP legs need
// no resampling: only the byte framing differs.
//
// Receive: the route hands every binary frame to `receive()`; it is cut (or joined) into 20 ms
// frames of 160 samples whatever size the client sends, and a partial frame waits for the next
// message. Nothing is done while nobody listens.
// Send: `write()` copies the frame into a small ring of preallocated buffers and sends it as one
// binary message. A buffer is reused only once the socket has written it; when the ring is full or
// the socket's `bufferedAmount` is over the limit (a slow client), the frame is dropped and counted
// rather than queued without bound.
//
// Jitter buffer: `playout` (src/media/jitter/) gives the same frames paced by the 20 ms pacer,
// underruns concealed: a WebSocket loses nothing, but its messages arrive in bursts.
// DTMF: `sendDtmf()` goes through the call (a `dtmf` message of the inbound-call protocol).
//
// Fast path (issue 20): no closure or array is made per frame in either direction; sent frames are
// written straight to the socket when the route gives it (http/ws-frame-writer.ts).
import { endianness } from 'node:os';
import type { Duplex } from 'node:stream';
import { OPCODE_BINARY, sendDataFrame } from '../http/ws-frame-writer.js';
import { FRAME_SAMPLES, type AudioListener, type MediaLeg } from './leg.js';
import { JitterPlayout } from './jitter/playout.js';
import type { JitterBufferStats } from './jitter/jitter-buffer.js';

const FRAME_BYTES = FRAME_SAMPLES * 2;
// The wire is little-endian; Int16Array views are host order.
const BIG_ENDIAN = endianness() === 'BE';
const NO_LISTENERS: readonly AudioListener[] = Object.freeze([]);
const NO_CLOSERS: ReadonlyArray<() => void> = Object.freeze([]);

/** What the leg needs of a `ws` WebSocket. */
export interface WsLegSocket {
  readonly readyState: number;
  readonly OPEN: number;
  /** Bytes queued on the socket but not yet written (ws's `bufferedAmount`). */
  readonly bufferedAmount: number;
  send(data: Buffer, opts: { binary: boolean }, cb?: (err?: Error) => void): void;
}

/** The leg's call: whether it may carry audio now (the protocol sends audio only after `answer`), and its hangup. */
export interface WsLegCall {
  readonly isActive: boolean;
  hangup(detail?: string): void;
  /** Digits to the client (the call's `sendDtmf`); absent: the leg cannot send DTMF. */
  sendDtmf?(digits: string): void;
}

export interface WsLegOptions {
  /** Frames handed to the socket and not yet written; beyond, `write()` drops (default 16 = 320 ms). */
  maxQueuedFrames?: number;
  /** `write()` drops while the socket's `bufferedAmount` is above this (default 8 KiB ≈ 25 frames). */
  maxBufferedBytes?: number;
  /**
   * Received audio handed to listeners is capped at this many times real time (default 5, like the
   * route's frame rate), with a burst of one second's worth at that rate; the excess is dropped and
   * counted. The route's rate limit counts messages, and one message may hold 64 KiB (~200 frames).
   */
  maxRealtime?: number;
}

export interface WsLegStats {
  kind: 'ws';
  /** 160-sample frames delivered to listeners. */
  framesIn: number;
  /** Frames sent to the client. */
  framesOut: number;
  /** Frames `write()` dropped because the client was not reading fast enough. */
  dropped: number;
  /** Received bytes dropped because the client sent audio faster than `maxRealtime` allows. */
  overrunBytes: number;
  /** The playout path's jitter buffer (depth, concealed frames…), or null while nothing listened through it. */
  jitterBuffer: JitterBufferStats | null;
}

const NO_OPTIONS: WsLegOptions = Object.freeze({});

/** Receive state, made by the first onAudio(): `acc` is the byte view of `frame`. */
class Rx {
  readonly frame = new Int16Array(FRAME_SAMPLES);
  readonly acc = Buffer.from(this.frame.buffer, this.frame.byteOffset, FRAME_BYTES);
  fill = 0;
  // A token bucket of bytes, refilled by the clock.
  readonly bytesPerMs: number;
  readonly burst: number;
  budget: number;
  at = performance.now();

  constructor(maxRealtime: number) {
    this.bytesPerMs = (FRAME_BYTES / 20) * Math.max(0.01, maxRealtime);
    this.burst = this.bytesPerMs * 1000;
    this.budget = this.burst;
  }
}

/** Send state, made by the first write(): ring[i] is the byte view of pcm[i]. */
class Tx {
  readonly ring: Buffer[] = [];
  readonly pcm: Int16Array[] = [];
  next = 0;
  inFlight = 0;
  // Socket writes complete in order, so a count tells which buffers are free again.
  readonly sent = (): void => void this.inFlight--;

  constructor(
    slots: number,
    readonly maxBuffered: number,
  ) {
    const pcm = new Int16Array(FRAME_SAMPLES * slots);
    for (let i = 0; i < slots; i++) {
      this.pcm.push(pcm.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
      this.ring.push(Buffer.from(pcm.buffer, i * FRAME_BYTES, FRAME_BYTES));
    }
  }
}

/**
 * One call's leg. Idle (nobody listening, nothing written: the demo's byte echo) it is one small
 * object: the receive and send state are made on first use.
 */
export class WsLeg implements MediaLeg {
  private isClosed = false;
  private listeners: readonly AudioListener[] = NO_LISTENERS;
  private closers: ReadonlyArray<() => void> = NO_CLOSERS;
  private rx: Rx | undefined;
  private tx: Tx | undefined;
  private jitter: JitterPlayout | undefined;
  framesIn = 0;
  framesOut = 0;
  dropped = 0;
  overrunBytes = 0;

  constructor(
    readonly id: string,
    private readonly ws: WsLegSocket,
    private readonly call: WsLegCall,
    private readonly opts: WsLegOptions = NO_OPTIONS,
    /**
     * The server-side connection's socket (the upgrade's `req.socket`), when no extension was agreed:
     * frames are then written to it directly, one write each. Omitted: they go through `ws.send`.
     */
    private readonly raw?: Duplex,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  stats(): WsLegStats {
    return {
      kind: 'ws',
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      dropped: this.dropped,
      overrunBytes: this.overrunBytes,
      jitterBuffer: this.jitter?.stats() ?? null,
    };
  }

  /** The jitter-buffered receive path (made on first use). */
  get playout(): JitterPlayout {
    if (!this.jitter) {
      this.jitter = new JitterPlayout();
      this.rx ??= new Rx(this.opts.maxRealtime ?? 5);
      if (this.isClosed) this.jitter.close();
    }
    return this.jitter;
  }

  /** DTMF to the client, as the protocol's `dtmf` messages (one per digit). */
  async sendDtmf(digits: string): Promise<void> {
    if (!this.call.sendDtmf) throw new Error('this WebSocket call cannot send DTMF');
    this.call.sendDtmf(digits);
  }

  onAudio(cb: AudioListener): () => void {
    if (this.isClosed) return () => {};
    this.rx ??= new Rx(this.opts.maxRealtime ?? 5);
    this.listeners = [...this.listeners, cb];
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i < 0) return;
      // Copy on write: receive() may be iterating the current array.
      const rest = this.listeners.slice();
      rest.splice(i, 1);
      this.listeners = rest.length ? rest : NO_LISTENERS;
      if (!rest.length && !this.jitter?.wanted) this.rx!.fill = 0; // a partial frame of no one's would be stale later
    };
  }

  /** One binary message from the client (any size, even an odd number of bytes). */
  receive(data: Buffer): void {
    const jitter = this.jitter !== undefined && this.jitter.wanted ? this.jitter : undefined;
    if ((this.listeners.length === 0 && !jitter) || this.isClosed) return;
    const rx = this.rx!;
    const now = performance.now();
    rx.budget = Math.min(rx.burst, rx.budget + (now - rx.at) * rx.bytesPerMs);
    rx.at = now;
    let n = data.length;
    if (n > rx.budget) {
      // Drop an even number of bytes (at most all but the odd one) so the samples that follow keep
      // their byte alignment; the budget may then go one byte below zero.
      const drop = Math.min((n - Math.floor(rx.budget) + 1) & ~1, n & ~1);
      this.overrunBytes += drop;
      n -= drop;
    }
    rx.budget -= n;
    const acc = rx.acc;
    let off = 0;
    while (off < n) {
      const take = Math.min(FRAME_BYTES - rx.fill, n - off);
      data.copy(acc, rx.fill, off, off + take);
      off += take;
      rx.fill += take;
      if (rx.fill < FRAME_BYTES) return;
      rx.fill = 0;
      if (BIG_ENDIAN) acc.swap16();
      this.framesIn++;
      jitter?.pushInOrder(rx.frame);
      const ls = this.listeners;
      for (let i = 0; i < ls.length; i++) ls[i]!(rx.frame);
      if ((this.listeners.length === 0 && !jitter) || this.isClosed) return;
    }
  }

  write(frame: Int16Array): boolean {
    if (this.isClosed || !this.call.isActive) return false;
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return false;
    const tx = (this.tx ??= new Tx(Math.max(1, Math.floor(this.opts.maxQueuedFrames ?? 16)), Math.max(0, this.opts.maxBufferedBytes ?? 8 * 1024)));
    const ring = tx.ring;
    if (tx.inFlight >= ring.length || ws.bufferedAmount > tx.maxBuffered) {
      this.dropped++;
      return false;
    }
    const n = frame.length;
    let out: Buffer;
    if (n <= FRAME_SAMPLES) {
      const i = tx.next;
      tx.next = i + 1 === ring.length ? 0 : i + 1;
      tx.pcm[i]!.set(frame);
      out = n === FRAME_SAMPLES ? ring[i]! : ring[i]!.subarray(0, n * 2);
    } else {
      // Longer than a frame (not what the media actors write): a copy of its own.
      out = Buffer.from(frame.buffer.slice(frame.byteOffset, frame.byteOffset + n * 2));
    }
    if (BIG_ENDIAN) out.swap16();
    tx.inFlight++;
    this.framesOut++;
    // The direct write copies `out`; the ring slot still counts as in flight until the socket wrote it.
    sendDataFrame(ws, this.raw, OPCODE_BINARY, out, tx.sent);
    return true;
  }

  onClose(cb: () => void): () => void {
    if (this.isClosed) {
      queueMicrotask(cb);
      return () => {};
    }
    this.closers = [...this.closers, cb];
    return () => {
      this.closers = this.closers.filter((c) => c !== cb);
    };
  }

  /** The call is over (ended, or its socket closed): listeners go, onClose callbacks run once. */
  end(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.listeners = NO_LISTENERS;
    this.jitter?.close();
    const closers = this.closers;
    this.closers = NO_CLOSERS;
    for (const c of closers) c();
  }

  /**
   * Close the transport: the socket is the call, so the call hangs up (the client gets its
   * `hangup` event, then the socket closes). Idempotent.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.end();
    this.call.hangup('media closed');
  }
}
