// The RTP session's send path helpers: a ring of reusable send buffers, and the event-loop turn
// counter that tells when a ring slot handed to dgram may be written again. Also its clocks.
import { RTP_HEADER_SIZE } from '../codecs/rtp.js';
import { SRTP_MAX_TRAILER } from './srtp.js';

/** Largest audio frame accepted by send(): 120 ms of G.711. */
export const MAX_FRAME_SAMPLES = 960;
/** Send buffers in rotation (see SendRing). */
const SEND_SLOTS = 16;

// Event-loop turn counter shared by all sessions: advanced by one setImmediate per turn in
// which something was sent (armed lazily, so an idle process has nothing scheduled). By the
// time it runs, every dgram send deferred in earlier callbacks of that turn has been handed to
// libuv.
let turnCount = 0;
let turnArmed = false;
const nextTurn = (): void => {
  turnCount++;
  turnArmed = false;
};
function loopTurn(): number {
  if (!turnArmed) {
    turnArmed = true;
    setImmediate(nextTurn).unref();
  }
  return turnCount;
}

export const monotonicNow = (): number => performance.now();
// Sub-millisecond: an SR and the RR answering it within one Date.now() tick made the round trip
// come out negative (no RTT) on fast links such as loopback.
export const wallNow = (): number => performance.timeOrigin + performance.now();

// Room for an SRTP tag, which is appended in place.
const SLOT_BYTES = RTP_HEADER_SIZE + MAX_FRAME_SAMPLES + SRTP_MAX_TRAILER;

/** SEND_SLOTS send buffers as views of one allocation. */
function sendRing(): Buffer[] {
  const block = Buffer.allocUnsafeSlow(SEND_SLOTS * SLOT_BYTES);
  return Array.from({ length: SEND_SLOTS }, (_, i) => block.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES));
}

// One send buffer shared by every session whose socket is connected. A connected socket's send
// goes to the kernel before dgram returns (the kernel copies the bytes) unless the socket already
// holds queued sends, so the next packet of any session may be written into the same bytes: they
// stay in the CPU's cache. A ring slot of 300 sessions' 16 is cold by its next turn (16 KB a
// session), and writing it cost ~1.2 µs of a ~30 µs echoed packet in perf
// (docs/architecture.md). A send that was queued keeps the buffer: sent() then retires it.
let hot: Buffer | null = null;
/** The hot buffer's last exact-length view (see SendRing.view). */
let hotView: Buffer | null = null;
/** lastSlot value for the hot buffer. */
const HOT = -2;

/** What the ring needs of the session's RTP socket. */
interface SendQueue {
  getSendQueueCount(): number;
}

/**
 * One session's outgoing datagram buffers, without a per-send completion callback (a callback +
 * nextTick per packet was the largest cost of an echo call). dgram defers an unconnected socket's
 * send by one tick (address lookup; a connected socket sends at once), so a ring slot may be reused
 * only in a later event-loop turn, which is safe either way: within one
 * turn at most SEND_SLOTS sends use the ring, more get throwaway buffers. While libuv holds queued
 * datagrams (the kernel pushed back), throwaway buffers are used too, so a queued datagram's bytes
 * are never overwritten. The ring is allocated on the first send.
 */
export class SendRing {
  private slots: Buffer[] | null = null;
  private slot = 0;
  /** The slot the last buffer() handed out, -1 for a throwaway buffer. */
  private lastSlot = -1;
  /** Each slot's last exact-length view (see view()). */
  private views: Array<Buffer | undefined> | null = null;
  private turn = -1;
  private sendsThisTurn = 0;

  constructor(private readonly socket: SendQueue) {}

  /**
   * The buffer for the next outgoing datagram of up to `bytes` bytes (plus an SRTP tag).
   * `connected`: the datagram goes out on the connected socket (no address, sent at once), so the
   * shared hot buffer will do; call sent() after handing it to dgram.
   */
  buffer(bytes: number, connected = false): Buffer {
    if (connected) {
      this.lastSlot = HOT;
      return (hot ??= Buffer.allocUnsafeSlow(SLOT_BYTES));
    }
    const turn = loopTurn();
    if (turn !== this.turn) {
      this.turn = turn;
      this.sendsThisTurn = 0;
    }
    if (++this.sendsThisTurn > SEND_SLOTS || this.socket.getSendQueueCount() > 0) {
      this.lastSlot = -1;
      return Buffer.allocUnsafe(bytes + SRTP_MAX_TRAILER);
    }
    const buf = (this.slots ??= sendRing())[this.slot]!;
    this.lastSlot = this.slot;
    this.slot = (this.slot + 1) % SEND_SLOTS;
    return buf;
  }

  /**
   * buf[0, len) of the last buffer() as a Buffer of exactly that length: dgram slices a (buf,
   * offset, length) send, an object per packet. Each slot keeps its last view, which packets of
   * one size (an echo, a codec's frames) reuse.
   */
  view(buf: Buffer, len: number): Buffer {
    const k = this.lastSlot;
    if (k === HOT) {
      if (hotView === null || hotView.length !== len) hotView = buf.subarray(0, len);
      return hotView;
    }
    if (k < 0) return buf.subarray(0, len);
    const views = (this.views ??= new Array<Buffer | undefined>(SEND_SLOTS));
    let v = views[k];
    if (v === undefined || v.length !== len) views[k] = v = buf.subarray(0, len);
    return v;
  }

  /** The last buffer() was handed to dgram: if that send was queued, the hot buffer is its now. */
  sent(): void {
    if (this.lastSlot === HOT && this.socket.getSendQueueCount() > 0) {
      hot = null;
      hotView = null;
    }
  }
}
