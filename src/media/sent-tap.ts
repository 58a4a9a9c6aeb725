// What a leg sends, as a leg of its own: `tapSent(leg)` gives the same leg (every write still goes
// straight through) and a receive-only `sent` leg whose listeners get a copy of each frame written
// to it, so a recorder can take the call's outgoing side ('out', 'mixed', 'stereo' recordings) the
// way it takes the incoming one. G.711 pass-through writes (same-codec bridges, echo) are decoded
// for the listeners only while there are some; with none, the cost is one branch per frame.
import { decodeG711 } from './codecs/g711.js';
import { FRAME_SAMPLES, type AudioListener, type MediaLeg, type PayloadPath } from './leg.js';

export interface TappedLeg {
  /** Behaves as the original leg. */
  leg: MediaLeg;
  /** Receive-only: `onAudio` gets what was written to `leg`; `write` sends nothing. */
  sent: MediaLeg;
}

export function tapSent(base: MediaLeg): TappedLeg {
  const listeners = new Set<AudioListener>();
  const decoded = new Int16Array(FRAME_SAMPLES);
  const emit = (frame: Int16Array) => {
    for (const l of listeners) l(frame);
  };
  const basePayload = base.payload;
  const payload: PayloadPath | undefined = basePayload && {
    get codec() {
      return basePayload.codec;
    },
    onPayload: (cb) => basePayload.onPayload(cb),
    writePayload(p) {
      if (listeners.size > 0) emit(decodeG711(basePayload.codec, p, decoded));
      return basePayload.writePayload(p);
    },
  };
  const leg: MediaLeg = {
    id: base.id,
    get closed() {
      return base.closed;
    },
    onAudio: (cb) => base.onAudio(cb),
    write(frame) {
      if (listeners.size > 0) emit(frame);
      return base.write(frame);
    },
    onClose: (cb) => base.onClose(cb),
    close: () => base.close(),
    ...(base.sendDtmf ? { sendDtmf: (digits: string) => base.sendDtmf!(digits) } : {}),
    ...(payload ? { payload } : {}),
  };
  // The jitter-buffered receive path is the base leg's own (made lazily there): pass it through.
  if ('playout' in base) Object.defineProperty(leg, 'playout', { get: () => base.playout, enumerable: true });
  const sent: MediaLeg = {
    id: `${base.id}:sent`,
    get closed() {
      return base.closed;
    },
    onAudio(cb) {
      listeners.add(cb);
      return () => void listeners.delete(cb);
    },
    write: () => false,
    onClose: (cb) => base.onClose(cb),
    close: () => base.close(),
  };
  return { leg, sent };
}
