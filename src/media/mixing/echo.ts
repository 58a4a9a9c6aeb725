// Echo: whatever a leg receives is sent straight back (the demo app's default for SIP calls).
// Per packet this is one callback; no XState, no timers, no allocation.
import type { MediaLeg } from '../leg.js';
import { onLegAudio } from '../jitter/playout.js';
import type { JitterBufferOptions } from '../jitter/jitter-buffer.js';

export type EchoMode = 'auto' | 'pcm' | 'passthrough';

export interface EchoOptions {
  /**
   * 'passthrough' returns the received G.711 payload bytes unchanged (needs `leg.payload`);
   * 'pcm' goes through the leg's PCM interface (decode + encode); 'auto' (default) picks
   * pass-through when the leg offers it. See docs/media.md for the measured difference.
   */
  mode?: EchoMode;
  /**
   * `pcm` mode: echo what the leg's jitter buffer plays out instead of each frame as it arrives.
   * Default false: buffering adds its depth (and up to a tick) to the echo's latency.
   */
  jitter?: JitterBufferOptions | false;
}

export interface Echo {
  readonly mode: 'pcm' | 'passthrough';
  /** Frames sent back so far. */
  readonly frames: number;
  stop(): void;
}

export function startEcho(leg: MediaLeg, opts: EchoOptions = {}): Echo {
  const want = opts.mode ?? 'auto';
  const payload = leg.payload;
  if (want === 'passthrough' && !payload) throw new Error(`leg ${leg.id} has no payload path for pass-through echo`);
  const mode: Echo['mode'] = want === 'pcm' || !payload ? 'pcm' : 'passthrough';
  let frames = 0;
  let offAudio: () => void;
  if (mode === 'passthrough') {
    offAudio = payload!.onPayload((p) => {
      if (payload!.writePayload(p)) frames++;
    });
  } else {
    offAudio = onLegAudio(leg, (f) => {
      if (leg.write(f)) frames++;
    }, opts.jitter ?? false);
  }
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    offAudio();
    offClose();
  };
  const offClose = leg.onClose(stop);
  return {
    mode,
    get frames() {
      return frames;
    },
    stop,
  };
}
