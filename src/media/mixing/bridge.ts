// Bridge: two legs hear each other. Frames move leg → leg inside the receive callback (no queue,
// no pacer: each side's own packet clock drives the other side). Codec differences disappear at
// the MediaLeg boundary: an RTP leg decodes its codec to PCM and the other leg encodes its own,
// so PCMU ↔ PCMA transcoding is just the two sessions' codecs. With `passthrough` and matching
// codecs the G.711 bytes are forwarded as they are.
//
// In `pcm` mode each side listens through its leg's jitter buffer (`leg.playout`) unless
// `jitter: false`: the other side then gets ordered, paced frames with losses concealed. A
// pass-through relay stays unbuffered: the far endpoints run their own jitter buffers.
//
// Control events only: the bridge tells the calls' actors MEDIA.STARTED / MEDIA.STOPPED.
import type { MediaLeg } from '../leg.js';
import { onLegAudio } from '../jitter/playout.js';
import type { JitterBufferOptions } from '../jitter/jitter-buffer.js';

/** Anything that accepts the call machine's media events (a call actor ref). */
export interface MediaEventTarget {
  send(event: { type: 'MEDIA.STARTED' } | { type: 'MEDIA.STOPPED' }): void;
}

export interface BridgeOptions {
  /** Call actors to notify (e.g. `call.actor` for each leg's call). */
  notify?: MediaEventTarget[];
  /** Forward G.711 bytes when both legs are RTP with the same codec (default true). */
  passthrough?: boolean;
  /** Stop the bridge when either leg closes (default true). */
  stopOnClose?: boolean;
  /** `pcm` mode: each side's jitter buffer (default on with its defaults; false: frames as they arrive). */
  jitter?: JitterBufferOptions | false;
  onStop?: (reason: BridgeStopReason) => void;
}

export type BridgeStopReason = 'stopped' | 'leg-closed';

export interface BridgeStats {
  /** Frames forwarded a → b and b → a. */
  aToB: number;
  bToA: number;
  mode: 'pcm' | 'passthrough';
}

export interface Bridge {
  readonly active: boolean;
  stats(): BridgeStats;
  /**
   * Mute one side: what leg `a` (or `b`) says reaches the other side as silence (frames keep
   * flowing, so the far end's RTP timeout does not fire), until unmuted.
   */
  mute(side: 'a' | 'b', muted: boolean): void;
  stop(): void;
}

/** G.711 silence per codec (what a muted side's frames become in a pass-through bridge). */
const G711_SILENCE: Record<string, number> = { PCMU: 0xff, PCMA: 0xd5 };

export function bridge(a: MediaLeg, b: MediaLeg, opts: BridgeOptions = {}): Bridge {
  if (a === b) throw new Error('cannot bridge a leg to itself');
  const same = a.payload && b.payload && a.payload.codec === b.payload.codec;
  const mode: BridgeStats['mode'] = (opts.passthrough ?? true) && same ? 'passthrough' : 'pcm';
  let aToB = 0;
  let bToA = 0;
  let muteA = false;
  let muteB = false;
  // A muted side's frames become silence of the same length (one buffer, grown when needed).
  let quiet = new Int16Array(0);
  let quietBytes = new Uint8Array(0);
  const silentPcm = (n: number): Int16Array => (quiet.length >= n ? quiet : (quiet = new Int16Array(n))).subarray(0, n);
  const silentPayload = (n: number, codec: string): Uint8Array => {
    if (quietBytes.length < n || quietBytes[0] !== G711_SILENCE[codec]) quietBytes = new Uint8Array(Math.max(n, quietBytes.length)).fill(G711_SILENCE[codec] ?? 0);
    return quietBytes.subarray(0, n);
  };
  const offs: Array<() => void> = [];
  if (mode === 'passthrough') {
    const pa = a.payload!;
    const pb = b.payload!;
    offs.push(pa.onPayload((p) => void (pb.writePayload(muteA ? silentPayload(p.length, pa.codec) : p) && aToB++)));
    offs.push(pb.onPayload((p) => void (pa.writePayload(muteB ? silentPayload(p.length, pb.codec) : p) && bToA++)));
  } else {
    offs.push(onLegAudio(a, (f) => void (b.write(muteA ? silentPcm(f.length) : f) && aToB++), opts.jitter));
    offs.push(onLegAudio(b, (f) => void (a.write(muteB ? silentPcm(f.length) : f) && bToA++), opts.jitter));
  }
  let active = true;
  const end = (reason: BridgeStopReason): void => {
    if (!active) return;
    active = false;
    for (const off of offs.splice(0)) off();
    for (const t of opts.notify ?? []) t.send({ type: 'MEDIA.STOPPED' });
    opts.onStop?.(reason);
  };
  if (opts.stopOnClose ?? true) {
    offs.push(a.onClose(() => end('leg-closed')));
    offs.push(b.onClose(() => end('leg-closed')));
  }
  for (const t of opts.notify ?? []) t.send({ type: 'MEDIA.STARTED' });
  return {
    get active() {
      return active;
    },
    stats: () => ({ aToB, bToA, mode }),
    mute: (side, muted) => {
      if (side === 'a') muteA = muted;
      else muteB = muted;
    },
    stop: () => end('stopped'),
  };
}
