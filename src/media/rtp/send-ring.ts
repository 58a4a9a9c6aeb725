// The RTP session's send path helpers: a ring of reusable send buffers, and the event-loop turn
// counter that tells when a ring slot handed to dgram may be written again. Also its clocks.
import { RTP_HEADER_SIZE } from '../codecs/rtp.js';
import { SRTP_MAX_TRAILER } from './srtp.js';

/** Largest audio frame accepted by send(): 120 ms of G.711. */
export const MAX_FRAME_SAMPLES = 960;
/** Send buffers in rotation (see sendBuffer()). */
export const SEND_SLOTS = 16;

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
export function loopTurn(): number {
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

/** SEND_SLOTS send buffers as views of one allocation. */
export function sendRing(): Buffer[] {
  // Room for an SRTP tag, which is appended in place.
  const size = RTP_HEADER_SIZE + MAX_FRAME_SAMPLES + SRTP_MAX_TRAILER;
  const block = Buffer.allocUnsafeSlow(SEND_SLOTS * size);
  return Array.from({ length: SEND_SLOTS }, (_, i) => block.subarray(i * size, (i + 1) * size));
}
